"""Query budgets of the hot paths the benchmarks time (timings live in bench/, not here)."""

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse

from bench.seeding import HEAVY_MEMBER_EMAIL, ScaleSeeder
from cpd import returns
from cpd.models import AnnualReturn, ReturnReminder
from cpd.selectors import cpd_year_containing
from members import services as member_services
from members.models import Member

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 26)
YEAR_END = dt.date(2027, 3, 31)


@pytest.fixture
def today(monkeypatch):
    monkeypatch.setattr(member_services, "local_today", lambda: TODAY)
    return TODAY


def seed(members: int, heavy_entries: int = 0, seed: int = 5):
    return ScaleSeeder(members=members, seed=seed, heavy_entries=heavy_entries).run()


@pytest.mark.parametrize(("url_name", "budget"), [("cpd:progress", 10), ("dashboard", 12)])
def test_the_dashboards_take_the_same_queries_with_5_or_500_entries(
    client, today, django_assert_max_num_queries, url_name, budget
):
    """The CPD dashboard (progress) within the issue's 10; the member dashboard's own
    budget is asserted in tests/members, here only that 500 entries change nothing."""
    seed(20, heavy_entries=500)
    heavy = Member.objects.get(user__email=HEAVY_MEMBER_EMAIL)
    light = Member.objects.exclude(pk=heavy.pk).filter(status="active").first()
    year = cpd_year_containing(today)
    assert heavy.cpd_entries.filter(ends_on__gte=year.starts_on).count() == 500
    counts = []
    for member in (light, heavy):
        client.force_login(member.user)
        with django_assert_max_num_queries(budget) as queries:
            response = client.get(reverse(url_name))
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    if url_name == "cpd:progress":
        assert "You have met your CPD requirement" in response.text


def test_progress_counts_each_entry_once_per_domain_through_the_crosswalk(today):
    """The flat read of entries' standards gives the totals the model walk gave."""
    from cpd.models import Entry
    from cpd.selectors import cpd_progress

    seed(5, heavy_entries=60)
    member = Member.objects.get(user__email=HEAVY_MEMBER_EMAIL)
    year = cpd_year_containing(today)
    progress = cpd_progress(member=member, year=year, today=today)
    entries = Entry.objects.filter(member=member, ends_on__gte=year.starts_on).prefetch_related(
        "standards__domain__framework", "standards__counts_towards__framework"
    )
    expected = {}
    for entry in entries:
        keys = set()
        for standard in entry.standards.all():
            keys.add((standard.domain.framework.key, standard.domain.code))
            keys.update((d.framework.key, d.code) for d in standard.counts_towards.all())
        for key in keys:
            expected[key] = expected.get(key, 0) + entry.minutes
    got = {
        (view.framework.key, row.domain.code): row.minutes
        for view in progress.views
        for row in view.domains
        if row.minutes
    }
    assert got == expected and len({key for key, _ in got}) == 3  # every framework counts
    assert progress.minutes == sum(e.minutes for e in entries)


def test_the_cpd_daily_job_takes_the_same_queries_for_10_or_100_members(
    today, django_assert_max_num_queries
):
    seed(10)
    first = returns.cpd_daily_run(today=YEAR_END)
    assert first.returns_opened == first.reminders_sent > 0
    sent = len(mail.outbox)
    assert sent == first.reminders_sent
    seed(90, seed=6)
    mail.outbox.clear()
    # Members, returns there already, the insert, the open returns, the reminders, the
    # task, and the transaction's savepoint: a fixed number per batch of 2,000.
    with django_assert_max_num_queries(15):
        second = returns.cpd_daily_run(today=YEAR_END)
    owing = returns._members_owing_returns(cpd_year_containing(TODAY)).count()
    assert second.returns_opened == owing - first.returns_opened
    assert len(mail.outbox) == second.reminders_sent == second.returns_opened
    assert all("is open" in message.subject for message in mail.outbox)


def test_a_reminder_is_recorded_once_even_when_two_runs_overlap(today):
    seed(5)
    returns.cpd_daily_run(today=YEAR_END)
    year = cpd_year_containing(TODAY)
    ids = list(
        AnnualReturn.objects.filter(year_starts_on=year.starts_on).values_list("pk", flat=True)
    )
    assert ids
    # A second run that read the same returns before the first committed its rows
    # claims nothing: the unique (return, kind) row decides who sends.
    assert returns._reminders_record(return_ids=ids, kind="year_end") == []
    assert returns._reminders_record(return_ids=ids, kind="before_14") == sorted(ids)
    assert ReturnReminder.objects.filter(kind="year_end").count() == len(ids)
