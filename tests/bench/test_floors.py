"""The benchmark floors: absent unless BENCH_ENDPOINTS is set, and as cheap as they claim."""

import importlib

import pytest
from django.test import override_settings
from django.urls import clear_url_caches

import config.urls
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bench_urls():
    """The site's URLs as built with BENCH_ENDPOINTS=1; rebuilt as configured afterwards."""
    with override_settings(BENCH_ENDPOINTS=True):
        importlib.reload(config.urls)
        clear_url_caches()
        yield
    importlib.reload(config.urls)
    clear_url_caches()


def test_the_floors_are_not_mounted_by_default(client, settings):
    assert settings.BENCH_ENDPOINTS is False
    assert client.get("/bench/floor/static").status_code == 404
    assert client.get("/bench/floor/row/1000009").status_code == 404


def test_floor_a_answers_fixed_json_without_the_database(
    bench_urls, client, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get("/bench/floor/static")
    assert response.status_code == 200
    assert response.json() == {"service": "register", "status": "ok", "version": 1}


def test_floor_b_reads_one_row_in_one_query(bench_urls, client, django_assert_num_queries):
    member = MemberFactory(membership_number="1000009")
    with django_assert_num_queries(1):
        response = client.get("/bench/floor/row/1000009")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "membership_number": "1000009",
        "status": member.status,
        "status_since": member.status_since.isoformat(),
        "period_ends_on": member.period_ends_on.isoformat() if member.period_ends_on else None,
        "public_id": str(member.public_id),
    }
    with django_assert_num_queries(1):
        assert client.get("/bench/floor/row/999").status_code == 404
