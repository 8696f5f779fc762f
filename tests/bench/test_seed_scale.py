"""seed_scale: realistic, self-consistent data written in bulk."""

import datetime as dt
import itertools
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Max
from django.test import override_settings

from audit.models import Action, AuditEvent
from audit.selectors import audit_chain_verify
from bench.seeding import HEAVY_MEMBER_EMAIL, ScaleSeeder
from cpd.models import AnnualReturn, Entry
from cpd.selectors import cpd_year_containing
from members import services as member_services
from members.models import (
    GOOD_STANDING,
    Member,
    MembershipPeriod,
    NumberCounter,
    Organisation,
    Payment,
    Reminder,
    Status,
    StatusEvent,
)
from members.numbering import membership_number_is_valid

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 26)


@pytest.fixture
def today(monkeypatch):
    monkeypatch.setattr(member_services, "local_today", lambda: TODAY)
    return TODAY


@pytest.fixture
def seeded(today):
    report = ScaleSeeder(members=300, seed=3, heavy_entries=40).run()
    return report


def test_members_histories_agree_with_their_periods_and_events(seeded, today):
    members = list(Member.objects.select_related("grade"))
    assert len(members) == 301 and seeded.members == 300
    last_period = dict(
        MembershipPeriod.objects.values("member")
        .annotate(last=Max("ends_on"))
        .values_list("member", "last")
    )
    events = {}
    for event in StatusEvent.objects.order_by("effective_date", "id"):
        events.setdefault(event.member_id, []).append(event)
    yesterday = today - dt.timedelta(days=1)
    statuses = Counter(m.status for m in members)
    # A realistic mix: mostly active, some in grace, lapsed, resigned, a few applicants.
    assert statuses[Status.ACTIVE] > 180
    assert statuses[Status.LAPSED] + statuses[Status.RESIGNED] > 10
    assert statuses[Status.APPLICANT] > 0

    for member in members:
        history = events[member.pk]
        assert history[0].to_status == Status.APPLICANT and history[0].from_status == ""
        assert history[-1].to_status == member.status
        assert member.status_since == history[-1].effective_date
        for before, after in itertools.pairwise(history):
            assert after.from_status == before.to_status
        if member.status == Status.APPLICANT:
            assert member.membership_number is None and member.pk not in last_period
            continue
        assert membership_number_is_valid(member.membership_number)
        assert member.period_ends_on == last_period[member.pk]
        if member.status == Status.ACTIVE:
            assert member.period_ends_on >= yesterday  # the job ran yesterday
        if member.status == Status.GRACE:
            assert yesterday - dt.timedelta(days=30) <= member.period_ends_on < yesterday
        if member.status == Status.LAPSED:
            assert member.period_ends_on < yesterday - dt.timedelta(days=30)

    numbers = [m.membership_number for m in members if m.membership_number]
    assert len(set(numbers)) == len(numbers)
    counter = NumberCounter.objects.get(name="membership").last_value
    assert str(counter) == max(numbers)[:-1]
    # Each period was paid for, with its own receipt.
    assert Payment.objects.count() == MembershipPeriod.objects.count()


def test_periods_run_back_to_back_and_never_overlap(seeded):
    previous = {}
    for period in MembershipPeriod.objects.order_by("member", "starts_on"):
        assert period.ends_on > period.starts_on
        if period.member_id in previous:
            assert period.starts_on == previous[period.member_id] + dt.timedelta(days=1)
        previous[period.member_id] = period.ends_on


def test_about_25_cpd_entries_a_member_each_mapped_to_standards(seeded, today):
    paid = Member.objects.exclude(status=Status.APPLICANT).exclude(user__email=HEAVY_MEMBER_EMAIL)
    entries = Entry.objects.filter(member__in=paid)
    average = entries.count() / paid.count()
    assert 20 <= average <= 32
    mapped = entries.annotate(n=Count("standards")).values_list("n", flat=True)
    assert set(mapped) <= {1, 2, 3} and Counter(mapped)[2] > Counter(mapped)[3]
    assert not entries.filter(ends_on__gt=today).exists()
    assert not entries.filter(minutes__lte=0).exists()
    # Submitted returns declare the minutes logged in their year.
    annual_return = AnnualReturn.objects.filter(state="submitted").first()
    logged = sum(
        Entry.objects.filter(
            member=annual_return.member,
            ends_on__range=(annual_return.year_starts_on, annual_return.year_ends_on),
        ).values_list("minutes", flat=True)
    )
    assert annual_return.declared_minutes == logged


def test_the_heavy_member_has_a_long_log_this_year(seeded, today):
    member = Member.objects.get(user__email=HEAVY_MEMBER_EMAIL)
    year = cpd_year_containing(today)
    assert member.status == Status.ACTIVE and member.period_ends_on >= today
    assert member.cpd_entries.filter(ends_on__range=(year.starts_on, year.ends_on)).count() == 40
    assert seeded.heavy_member_email == HEAVY_MEMBER_EMAIL


def test_the_audit_chain_is_intact_and_records_every_change(seeded):
    checked, broken = audit_chain_verify()
    assert broken is None and checked == AuditEvent.objects.count()
    changes = AuditEvent.objects.filter(action=Action.MEMBER_STATUS_CHANGED).count()
    assert changes == StatusEvent.objects.exclude(to_status=Status.APPLICANT).count()
    assert AuditEvent.objects.filter(action=Action.MEMBER_JOINED).count() == Member.objects.count()


def test_todays_daily_job_does_one_days_work(seeded, today):
    """The data is as the job left it yesterday: today only what falls due today moves."""
    yesterday = today - dt.timedelta(days=1)
    due_to_grace = Member.objects.filter(
        status=Status.ACTIVE, period_ends_on=yesterday, resign_at_period_end=False
    ).count()
    report = member_services.membership_daily_run(today=today)
    assert report.to_grace == due_to_grace
    assert report.lapsed == 0 or report.lapsed <= 3
    assert report.reminders_sent <= 10  # a day's share of 300 members, not a backlog
    assert report.reminders_failed == 0
    # Reminders already sent are not sent again.
    assert not Reminder.objects.filter(sent_at__isnull=True).exists()


def test_seeding_again_adds_more_without_collisions(seeded, today):
    before = Member.objects.count()
    ScaleSeeder(members=20, seed=4, heavy_entries=40).run()
    assert Member.objects.count() == before + 20  # the heavy member exists already
    _checked, broken = audit_chain_verify()
    assert broken is None
    good = Member.objects.filter(status__in=GOOD_STANDING).count()
    assert good > 0


def test_the_command_prints_a_summary_and_refuses_production(today, capsys):
    call_command("seed_scale", members=5, heavy_entries=0, json=True)
    out = capsys.readouterr().out
    assert '"members": 5' in out and '"members_member": 5' in out
    with override_settings(PRODUCTION=True), pytest.raises(CommandError, match="production"):
        call_command("seed_scale", members=5)


def _index_definitions() -> set[str]:
    from django.db import connection

    tables = ["cpd_entry", "cpd_entry_standards", "audit_auditevent", "cpd_annualreturn"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [tables])
        else:
            cursor.execute(
                "SELECT sql, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        return {row[0] for row in cursor.fetchall() if len(row) == 1 or row[1] in tables}


def test_indexes_dropped_for_the_load_are_all_rebuilt(today):
    before = _index_definitions()
    assert len(before) >= 8
    ScaleSeeder(members=30, seed=8, heavy_entries=0).run()
    assert _index_definitions() == before
    # The unique constraints hold again after the load.
    from django.db import IntegrityError, transaction

    entry = Entry.objects.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Entry.objects.create(
            public_id=entry.public_id,
            member=entry.member,
            title="Copy",
            starts_on=entry.starts_on,
            ends_on=entry.ends_on,
            minutes=60,
            activity_type="formal",
            participatory=True,
        )


def test_a_fifth_are_accredited_with_certificates_that_follow_the_membership(seeded, today):
    from accreditation.certificates import MEMBERSHIP_KEEPS
    from accreditation.models import Certificate
    from members.numbering import damm_check_digit

    certificates = list(Certificate.objects.select_related("member", "application"))
    assert len(certificates) == 60  # 20% of 300
    for certificate in certificates:
        member = certificate.member
        assert certificate.application.state == "approved"
        assert certificate.application.member_id == member.pk
        assert certificate.valid_from <= today <= certificate.valid_until
        if member.status in MEMBERSHIP_KEEPS:
            assert certificate.status == "valid" and certificate.suspended_by == ""
        else:
            assert certificate.status == "suspended"
            assert certificate.suspended_by == "membership"
        _, year, number, check = certificate.serial.split("-")
        assert damm_check_digit(year + number) == check
    assert len({c.status_list_index for c in certificates}) == len(certificates)
    issued = AuditEvent.objects.filter(action=Action.CERTIFICATE_ISSUED)
    assert issued.count() == 60
    assert set(issued.values_list("subject_id", flat=True)) == {str(c.pk) for c in certificates}


def test_employers_with_api_keys_that_nobody_holds(seeded):
    from api.models import ApiKey, EmployerClient

    employers = EmployerClient.objects.count()
    assert employers == Organisation.objects.count() >= 300
    keys = list(ApiKey.objects.all())
    assert employers <= len(keys) < 2 * employers
    assert len({k.digest for k in keys}) == len(keys)
    assert all(k.prefix.startswith("ihsm_") and k.is_usable() for k in keys)
    assert AuditEvent.objects.filter(action=Action.API_KEY_CREATED).count() == len(keys)
    _checked, broken = audit_chain_verify()
    assert broken is None


def test_employers_watch_their_own_staff(seeded):
    from api.models import WatchEntry

    entries = list(WatchEntry.objects.select_related("employer", "member__organisation"))
    assert 100 <= len(entries) <= 150  # 50,000 at 100,000 members, in proportion
    for entry in entries:
        assert entry.member.organisation.name == entry.employer.name
        assert entry.membership_number == entry.member.membership_number
    pairs = {(e.employer_id, e.member_id) for e in entries}
    assert len(pairs) == len(entries)
