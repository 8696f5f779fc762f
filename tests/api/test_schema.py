"""The OpenAPI schema builds without warnings, and schemathesis, run in-process
over every operation, finds no server error and no response that breaks the
schema (status codes, content types, headers and bodies)."""

import datetime as dt
import warnings
from unittest import mock

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.throttles import KeyRateThrottle, KeyScopeRateThrottle
from tests.api.builders import make_active_member, make_certificate, make_employer, make_key

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_the_schema_builds_without_warnings_or_errors(tmp_path, capsys):
    out = tmp_path / "schema.yaml"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/v1/verify/{membership_number}" in out.read_text()
    assert "/api/v1/register" in out.read_text()


schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Calls go straight to the WSGI app, whose request signals would close the
    database connection mid-test (on PostgreSQL); Django's test client stops
    that the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(clock, registrar):
    """A member to find, and a key with every scope."""
    member = make_active_member(clock, registrar)
    clock.set(dt.date(2026, 6, 1))
    made = make_key(make_employer(), scopes=["verify", "watchlist", "webhooks"])
    return member, made.raw


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_keeps_to_the_schema(case, world):
    _member, raw = world
    rates = {scope: "100000/minute" for scope in KeyScopeRateThrottle.THROTTLE_RATES}
    with (
        mock.patch.object(KeyScopeRateThrottle, "THROTTLE_RATES", rates),
        mock.patch.object(KeyRateThrottle, "THROTTLE_RATES", {"key": "100000/minute"}),
    ):
        case.call_and_validate(headers={"Authorization": f"Bearer {raw}"}, checks=CHECKS)


def test_successful_answers_keep_to_the_schema(world, clock, registrar):
    """Generated numbers rarely match a member, so the answers with the most in
    them (a full verification, a bulk result, register entries) are checked here."""
    member, raw = world
    headers = {"Authorization": f"Bearer {raw}"}
    number, family_name = member.membership_number, member.user.family_name
    cases = [
        schema["/api/v1/verify/{membership_number}"]["GET"].Case(
            path_parameters={"membership_number": number},
            query={"family_name": family_name, "on": "2026-05-01"},
            headers=headers,
        ),
        schema["/api/v1/verify/bulk"]["POST"].Case(
            body={
                "checks": [
                    {"membership_number": number, "family_name": family_name},
                    {"membership_number": "1", "family_name": "Nobody"},
                ]
            },
            media_type="application/json",
            headers=headers,
        ),
        schema["/api/v1/register"]["GET"].Case(query={"q": family_name[:4]}),
        schema["/api/v1/certificates/{public_id}"]["GET"].Case(
            path_parameters={"public_id": str(make_certificate(member).public_id)},
            headers=headers,
        ),
    ]
    for case in cases:
        response = case.call_and_validate(checks=CHECKS)
        assert response.status_code == 200, response.text
        if case.path == "/api/v1/register":
            assert response.json()["results"], "the register search found nobody"
