"""Members see on their dashboard which employers checked them."""

import datetime as dt

import pytest
from django.urls import reverse

from api import services
from api.models import LookupChannel
from tests.api.builders import make_active_member, make_employer

pytestmark = pytest.mark.django_db


def check(employer, member, family_name=None, channel=LookupChannel.API):
    services.members_verify(
        employer=employer,
        pairs=[(member.membership_number, family_name or member.user.family_name)],
        on=dt.date(2026, 6, 1),
        channel=channel,
    )


def test_the_dashboard_lists_who_checked_the_member(client, clock, registrar):
    member = make_active_member(clock, registrar)
    clock.set(dt.date(2026, 6, 1))
    client.force_login(member.user)
    assert "No employer has checked your membership yet" in client.get(reverse("dashboard")).text
    check(make_employer("Eastshire Hospital HR"), member)
    check(make_employer("Southshire ICB"), member, channel=LookupChannel.PORTAL)
    # A check with the wrong name found nobody, so it is not this member's.
    check(make_employer("Nosy Recruiters Ltd"), member, family_name="Wrong")
    page = client.get(reverse("dashboard")).text
    assert "Eastshire Hospital HR" in page and "Southshire ICB" in page
    assert "Employer portal" in page and "1 Jun 2026" in page
    assert "Nosy Recruiters" not in page
    assert page.index("Southshire ICB") < page.index("Eastshire Hospital HR")


def test_the_dashboard_shows_the_latest_ten_in_one_query_however_many(
    client, clock, registrar, django_assert_num_queries
):
    member = make_active_member(clock, registrar)
    clock.set(dt.date(2026, 6, 1))
    client.force_login(member.user)
    # The dashboard's own budget (see tests/members): the checks add none to it.
    with django_assert_num_queries(11):
        client.get(reverse("dashboard"))
    employers = [make_employer(f"Trust {index:02d}") for index in range(15)]
    for employer in employers:
        check(employer, member)
    with django_assert_num_queries(11):
        page = client.get(reverse("dashboard")).text
    assert "Trust 14" in page and "Trust 05" in page and "Trust 04" not in page
    assert "The latest 10 checks that found you" in page


def test_another_members_checks_are_not_shown(client, clock, registrar):
    member = make_active_member(clock, registrar)
    other = make_active_member(clock, registrar)
    clock.set(dt.date(2026, 6, 1))
    check(make_employer("Westshire Trust"), other)
    client.force_login(member.user)
    assert "Westshire Trust" not in client.get(reverse("dashboard")).text
