import datetime as dt
import itertools
from unittest import mock

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import Action, AuditEvent
from audit.selectors import audit_chain_verify
from members import services
from members.models import (
    GradeChange,
    Invoice,
    Member,
    MembershipPeriod,
    Reminder,
    Status,
    StatusEvent,
)
from members.numbering import membership_number_is_valid
from members.selectors import member_status_on
from members.services import MembershipError, membership_daily_run
from tests.factories import GradeFactory, MemberFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

JOIN_DAY = dt.date(2026, 3, 10)


@pytest.fixture
def today():
    """Pin the service layer's idea of today; tests move it with today.set(...)."""

    class Clock:
        value = JOIN_DAY

        def set(self, day: dt.date) -> None:
            self.value = day

    clock = Clock()
    with mock.patch.object(services, "local_today", lambda: clock.value):
        yield clock


@pytest.fixture
def registrar():
    return StaffFactory()


def pay(member: Member, registrar, on: dt.date):
    invoice = services.invoice_raise(
        member=member, payer_organisation="Northshire NHS FT", purchase_order="PO-1"
    )
    return services.invoice_record_payment(
        invoice=invoice, received_on=on, reference="BACS 123", actor=registrar
    )


def active_member(registrar, today, *, joined=JOIN_DAY) -> Member:
    today.set(joined)
    member = MemberFactory()
    pay(member, registrar, joined)
    member.refresh_from_db()
    return member


def test_joining_and_paying_an_invoice_makes_an_active_member_with_a_number(today, registrar):
    user = UserFactory()
    grade = GradeFactory(annual_fee_pence=9500)
    member = services.member_join(
        user=user,
        grade=grade,
        job_title="Ward manager",
        management_level="first_line",
        organisation_other="Southshire ICB",
        register_consent=True,
        agreed_code_of_conduct=True,
    )
    assert member.status == Status.APPLICANT and member.membership_number is None

    invoice = services.invoice_raise(
        member=member, payer_organisation="Southshire ICB", purchase_order="PO 77"
    )
    assert (invoice.number, invoice.amount_pence, invoice.state) == (
        "INV000001",
        9500,
        Invoice.State.OPEN,
    )
    assert (
        services.invoice_raise(member=member, payer_organisation="Other") == invoice
    )  # one open at a time

    payment = services.invoice_record_payment(
        invoice=invoice, received_on=JOIN_DAY, reference="BACS", actor=registrar
    )
    member.refresh_from_db()
    assert member.status == Status.ACTIVE
    assert member.membership_number == "1000015"  # 100001 and its Damm check digit
    assert membership_number_is_valid(member.membership_number)
    assert (payment.period.starts_on, payment.period.ends_on) == (JOIN_DAY, dt.date(2027, 3, 9))
    assert member.period_ends_on == dt.date(2027, 3, 9)
    assert [(e.from_status, e.to_status, e.source) for e in member.status_events.all()] == [
        ("", "applicant", "member"),
        ("applicant", "active", "payment"),
    ]
    assert [m.subject for m in mail.outbox] == [
        "[Institute of Health Service Managers] Invoice INV000001 for your membership",
        "[Institute of Health Service Managers] Welcome: you are now a member",
    ]
    assert "1000015" in mail.outbox[1].body

    # Recording the same payment again changes nothing.
    again = services.invoice_record_payment(
        invoice=invoice, received_on=JOIN_DAY, reference="BACS", actor=registrar
    )
    assert again == payment and MembershipPeriod.objects.count() == 1
    assert audit_chain_verify()[1] is None


def test_joining_needs_the_code_of_conduct(today):
    with pytest.raises(MembershipError, match="code of conduct"):
        services.member_join(
            user=UserFactory(),
            grade=GradeFactory(),
            job_title="x",
            management_level="middle",
            organisation_other="Trust",
            register_consent=False,
            agreed_code_of_conduct=False,
        )
    assert not Member.objects.exists()


def test_a_grade_that_needs_review_cannot_be_paid_for_until_approved(today, registrar):
    fellow = GradeFactory(name="Fellow", slug="fellow", requires_review=True)
    member = services.member_join(
        user=UserFactory(),
        grade=fellow,
        job_title="Chief operating officer",
        management_level="executive",
        organisation_other="Trust",
        register_consent=True,
        agreed_code_of_conduct=True,
        statement="20 years",
    )
    with pytest.raises(MembershipError, match="waiting for its review"):
        services.invoice_raise(member=member, payer_organisation="Trust")
    change = member.grade_changes.get()
    with pytest.raises(MembershipError, match="Give a reason"):
        services.grade_change_decide(change=change, actor=registrar, approve=True, reason=" ")
    services.grade_change_decide(
        change=change, actor=registrar, approve=True, reason="Meets the criteria"
    )
    assert (
        services.invoice_raise(member=member, payer_organisation="Trust").state
        == Invoice.State.OPEN
    )


def test_a_declined_grade_cannot_be_paid_for(today, registrar):
    fellow = GradeFactory(name="Fellow", slug="fellow", requires_review=True)
    member = services.member_join(
        user=UserFactory(),
        grade=fellow,
        job_title="Deputy director",
        management_level="senior",
        organisation_other="Trust",
        register_consent=True,
        agreed_code_of_conduct=True,
    )
    services.grade_change_decide(
        change=member.grade_changes.get(), actor=registrar, approve=False, reason="Not yet"
    )
    member.refresh_from_db()
    with pytest.raises(MembershipError, match="Choose another grade"):
        services.invoice_raise(member=member, payer_organisation="Trust")
    # Moving to a grade that needs no review lets them pay.
    associate = GradeFactory(name="Associate", slug="associate")
    services.grade_change_request(member=member, to_grade=associate)
    member.refresh_from_db()
    assert services.member_payment_refusal(member) is None
    # A member already at a grade that later starts needing review still renews.
    active = active_member(registrar, today)
    active.grade.requires_review = True
    active.grade.save()
    assert services.member_payment_refusal(active) is None


def test_renewal_starts_the_day_after_the_period_ends_whenever_it_is_paid(today, registrar):
    member = active_member(registrar, today)
    first_end = member.period_ends_on

    # Paid early: the new period still starts after the current one; nothing is lost.
    today.set(first_end - dt.timedelta(days=45))
    pay(member, registrar, today.value)
    member.refresh_from_db()
    periods = list(member.periods.order_by("starts_on"))
    assert periods[1].starts_on == first_end + dt.timedelta(days=1)
    assert periods[1].ends_on == dt.date(2028, 3, 9)

    # Paid late, in grace: no gap, the period does not start on the payment date.
    today.set(dt.date(2028, 3, 20))
    membership_daily_run(today=today.value)
    member.refresh_from_db()
    assert member.status == Status.GRACE
    pay(member, registrar, today.value)
    member.refresh_from_db()
    periods = list(member.periods.order_by("starts_on"))
    assert member.status == Status.ACTIVE
    for earlier, later in itertools.pairwise(periods):
        assert later.starts_on == earlier.ends_on + dt.timedelta(days=1)
    assert member.period_ends_on == dt.date(2029, 3, 9)
    assert member_status_on(member=member, on=dt.date(2028, 3, 15)) == Status.GRACE
    assert member_status_on(member=member, on=dt.date(2028, 3, 20)) == Status.ACTIVE


def test_grace_and_lapse_happen_on_the_exact_boundary_days(today, registrar, settings):
    settings.MEMBERSHIP_GRACE_DAYS = 30
    member = active_member(registrar, today)
    end = member.period_ends_on  # 2027-03-09

    for day, expected in [
        (end, Status.ACTIVE),
        (end + dt.timedelta(days=1), Status.GRACE),
        (end + dt.timedelta(days=30), Status.GRACE),
        (end + dt.timedelta(days=31), Status.LAPSED),
    ]:
        today.set(day)
        membership_daily_run(today=day)
        member.refresh_from_db()
        assert member.status == expected, day

    assert [(e.to_status, e.effective_date, e.source) for e in member.status_events.all()][-2:] == [
        ("grace", dt.date(2027, 3, 10), "schedule"),
        ("lapsed", dt.date(2027, 4, 9), "schedule"),
    ]
    assert member.status_since == dt.date(2027, 4, 9)
    assert member_status_on(member=member, on=dt.date(2027, 4, 8)) == Status.GRACE


def test_a_missed_month_of_daily_runs_still_dates_each_change_exactly(today, registrar):
    member = active_member(registrar, today)
    membership_daily_run(today=dt.date(2027, 6, 1))
    member.refresh_from_db()
    assert member.status == Status.LAPSED
    assert [(e.to_status, e.effective_date) for e in member.status_events.all()][-2:] == [
        ("grace", dt.date(2027, 3, 10)),
        ("lapsed", dt.date(2027, 4, 9)),
    ]


def test_rejoining_after_a_lapse_starts_a_new_period_with_the_same_number(today, registrar):
    member = active_member(registrar, today)
    number = member.membership_number
    membership_daily_run(today=dt.date(2027, 6, 1))
    today.set(dt.date(2027, 9, 1))
    pay(member, registrar, dt.date(2027, 9, 1))
    member.refresh_from_db()
    assert member.status == Status.ACTIVE
    assert member.membership_number == number
    assert (member.periods.last().starts_on, member.period_ends_on) == (
        dt.date(2027, 9, 1),
        dt.date(2028, 8, 31),
    )


def test_the_daily_job_changes_status_with_set_based_queries(
    today, registrar, django_assert_max_num_queries
):
    members = [active_member(registrar, today) for _ in range(5)]
    mail.outbox.clear()
    # Reminders are sent one by one (each is its own transaction), so count without them.
    with mock.patch.object(services, "reminders_send", return_value=(0, 0)):
        # 22 (23 on PostgreSQL, whose audit chain takes an advisory lock): two of them
        # look for certificates to move with the members and to expire.
        with django_assert_max_num_queries(23) as few:
            membership_daily_run(today=dt.date(2027, 3, 10))
        few_count = len(few.captured_queries)
    assert Member.objects.filter(status=Status.GRACE).count() == 5
    more = [active_member(registrar, today) for _ in range(15)]
    with mock.patch.object(services, "reminders_send", return_value=(0, 0)):
        with django_assert_max_num_queries(100) as many:
            membership_daily_run(today=dt.date(2027, 4, 20))
    # 20 lapses cost the same statements as 5 grace moves, plus one email task each.
    assert len(many.captured_queries) - len(members + more) <= few_count - len(members) + 2
    assert Member.objects.filter(status=Status.LAPSED).count() == 20


def test_reminders_go_out_once_even_if_the_job_runs_twice(today, registrar):
    member = active_member(registrar, today)
    mail.outbox.clear()
    day = member.period_ends_on - dt.timedelta(days=60)
    membership_daily_run(today=day)
    membership_daily_run(today=day)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.endswith("Your membership ends on 9 March 2027")
    reminder = Reminder.objects.get()
    assert (
        reminder.kind == Reminder.Kind.DAYS_60_BEFORE
        and reminder.sent_at
        and reminder.attempts == 1
    )


def test_after_missed_days_only_the_latest_reminder_is_sent(today, registrar):
    member = active_member(registrar, today)
    mail.outbox.clear()
    membership_daily_run(today=member.period_ends_on - dt.timedelta(days=20))
    assert list(Reminder.objects.values_list("kind", flat=True)) == [Reminder.Kind.DAYS_30_BEFORE]
    membership_daily_run(today=member.period_ends_on - dt.timedelta(days=10))
    assert sorted(Reminder.objects.values_list("kind", flat=True)) == ["before_14", "before_30"]
    assert len(mail.outbox) == 2


def test_a_failed_reminder_is_retried_on_the_next_run(today, registrar):
    member = active_member(registrar, today)
    mail.outbox.clear()
    day = member.period_ends_on - dt.timedelta(days=14)
    with mock.patch(
        "django.core.mail.EmailMultiAlternatives.send",
        side_effect=ConnectionRefusedError("smtp down"),
    ):
        report = membership_daily_run(today=day)
    assert (report.reminders_sent, report.reminders_failed) == (0, 1)
    reminder = Reminder.objects.get()
    assert reminder.sent_at is None and "smtp down" in reminder.last_error

    report = membership_daily_run(today=day + dt.timedelta(days=1))
    reminder.refresh_from_db()
    assert (report.reminders_sent, reminder.attempts, reminder.last_error) == (1, 2, "")
    assert len(mail.outbox) == 1


def test_no_reminders_for_members_resigning_at_period_end(today, registrar):
    member = active_member(registrar, today)
    services.member_resign(member=member, at_period_end=True)
    mail.outbox.clear()
    membership_daily_run(today=member.period_ends_on - dt.timedelta(days=30))
    assert mail.outbox == []
    membership_daily_run(today=member.period_ends_on + dt.timedelta(days=1))
    member.refresh_from_db()
    assert member.status == Status.RESIGNED
    assert member.status_since == member.period_ends_on + dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("action", "kwargs", "to_status"),
    [
        (
            "member_suspend",
            {"starts_on": JOIN_DAY, "ends_on": JOIN_DAY + dt.timedelta(days=90)},
            Status.SUSPENDED,
        ),
        ("member_remove", {"reapply_after": dt.date(2028, 1, 1)}, Status.REMOVED),
        ("member_record_death", {"died_on": JOIN_DAY}, Status.DECEASED),
    ],
)
# Every staff action: refused without a reason, then recorded with actor, reason and source.
def test_staff_actions_demand_a_reason_and_write_an_event(
    today, registrar, action, kwargs, to_status
):
    member = active_member(registrar, today)
    service = getattr(services, action)
    with pytest.raises(MembershipError, match="Give a reason"):
        service(member=member, actor=registrar, reason="  ", **kwargs)
    member.refresh_from_db()
    assert member.status == Status.ACTIVE

    service(
        member=member, actor=registrar, reason="Decision of the conduct panel, ref 12", **kwargs
    )
    member.refresh_from_db()
    assert member.status == to_status
    event = member.status_events.last()
    assert (event.to_status, event.actor, event.reason, event.source) == (
        to_status,
        registrar,
        "Decision of the conduct panel, ref 12",
        "staff",
    )
    audit = AuditEvent.objects.filter(action=Action.MEMBER_STATUS_CHANGED).last()
    assert audit.actor == registrar and audit.after["status"] == to_status

    undo = (
        services.member_suspension_lift
        if to_status == Status.SUSPENDED
        else services.member_reinstate
    )
    with pytest.raises(MembershipError, match="Give a reason"):
        undo(member=member, actor=registrar, reason="")
    undo(member=member, actor=registrar, reason="Appeal upheld")
    member.refresh_from_db()
    assert member.status == Status.ACTIVE
    assert member.status_events.last().reason == "Appeal upheld"


def test_suspension_is_emailed_and_lifted_by_the_daily_job_after_its_end(today, registrar):
    member = active_member(registrar, today)
    mail.outbox.clear()
    services.member_suspend(
        member=member,
        actor=registrar,
        reason="Under investigation",
        starts_on=JOIN_DAY,
        ends_on=JOIN_DAY + dt.timedelta(days=10),
    )
    assert "Under investigation" in mail.outbox[0].body
    today.set(JOIN_DAY + dt.timedelta(days=10))
    membership_daily_run(today=today.value)
    member.refresh_from_db()
    assert member.status == Status.SUSPENDED
    today.set(JOIN_DAY + dt.timedelta(days=11))
    membership_daily_run(today=today.value)
    member.refresh_from_db()
    assert member.status == Status.ACTIVE and member.status_events.last().source == "schedule"


def test_pause_stops_the_clock_and_resume_adds_the_time_back(today, registrar):
    member = active_member(registrar, today)
    today.set(dt.date(2026, 6, 1))
    services.member_pause(member=member, reason="Parental leave")
    membership_daily_run(today=dt.date(2027, 5, 1))  # long after the period's end
    member.refresh_from_db()
    assert member.status == Status.PAUSED
    today.set(dt.date(2026, 12, 1))
    services.member_resume(member=member)
    member.refresh_from_db()
    assert member.status == Status.ACTIVE
    assert member.period_ends_on == dt.date(2027, 3, 9) + dt.timedelta(days=183)


def test_status_on_date_answers_from_history(today, registrar):
    member = active_member(registrar, today)
    today.set(dt.date(2026, 5, 1))
    services.member_suspend(
        member=member, actor=registrar, reason="Investigation", starts_on=dt.date(2026, 5, 1)
    )
    today.set(dt.date(2026, 6, 1))
    services.member_suspension_lift(member=member, actor=registrar, reason="Cleared")
    assert member_status_on(member=member, on=dt.date(2026, 1, 1)) is None
    assert member_status_on(member=member, on=dt.date(2026, 3, 10)) == Status.ACTIVE
    assert member_status_on(member=member, on=dt.date(2026, 5, 15)) == Status.SUSPENDED
    assert member_status_on(member=member, on=dt.date(2026, 6, 1)) == Status.ACTIVE
    assert StatusEvent.objects.filter(member=member).count() == 3


def test_daily_command_runs_for_a_given_date(today, registrar, capsys):
    from django.core.management import call_command

    member = active_member(registrar, today)
    call_command("membership_daily", "--date", "2027-03-10")
    member.refresh_from_db()
    assert member.status == Status.GRACE
    assert "to grace: 1" in capsys.readouterr().out


def test_changing_grade_cancels_the_open_invoice_at_the_old_fee(today, registrar):
    member = active_member(registrar, today)
    invoice = services.invoice_raise(member=member, payer_organisation="Trust")
    services.grade_change_request(member=member, to_grade=GradeFactory(annual_fee_pence=20000))
    invoice.refresh_from_db()
    member.refresh_from_db()
    assert invoice.state == Invoice.State.CANCELLED
    assert services.invoice_raise(member=member, payer_organisation="Trust").amount_pence == 20000
    assert (
        AuditEvent.objects.filter(action=Action.INVOICE_CANCELLED)
        .get()
        .reason.startswith("Grade changed to")
    )


def test_a_death_cannot_be_recorded_in_the_future(today, registrar):
    member = active_member(registrar, today)
    with pytest.raises(MembershipError, match="cannot be in the future"):
        services.member_record_death(
            member=member, actor=registrar, reason="Family", died_on=JOIN_DAY + dt.timedelta(days=1)
        )


@pytest.mark.parametrize("status", list(Status))
def test_pages_offer_exactly_what_the_services_accept(today, registrar, status):
    """member_can is the services' own rule: pause is offered iff pausing works."""
    member = active_member(registrar, today)
    Member.objects.filter(pk=member.pk).update(status=status, paused_on=JOIN_DAY)
    member.refresh_from_db()
    try:
        services.member_pause(member=member, reason="Career break")
        accepted = True
    except MembershipError:
        accepted = False
    assert accepted == services.member_can(member, "pause")


def test_a_late_recorded_back_dated_change_overrides_the_history_from_its_date(today, registrar):
    """Regression: status on date D ordered events by effective date, so a payment
    or death recorded after the daily job had moved the member on was hidden by
    the job's later-dated event, and the history disagreed with the stored status."""
    member = active_member(registrar, today)
    end = member.period_ends_on
    invoice = services.invoice_raise(member=member, payer_organisation="Trust")
    # The money arrived before the period ended; finance recorded it after grace began.
    today.set(end + dt.timedelta(days=5))
    membership_daily_run(today=today.value)
    services.invoice_record_payment(
        invoice=invoice, received_on=end - dt.timedelta(days=3), reference="BACS", actor=registrar
    )
    member.refresh_from_db()
    assert member.status == Status.ACTIVE
    assert member_status_on(member=member, on=today.value) == Status.ACTIVE
    assert member_status_on(member=member, on=end + dt.timedelta(days=1)) == Status.ACTIVE

    # A death reported after the membership had lapsed, dated before the lapse.
    other = active_member(registrar, today)
    today.set(other.period_ends_on + dt.timedelta(days=60))
    membership_daily_run(today=today.value)
    other.refresh_from_db()
    assert other.status == Status.LAPSED
    died_on = other.period_ends_on - dt.timedelta(days=10)
    services.member_record_death(member=other, actor=registrar, reason="Family", died_on=died_on)
    other.refresh_from_db()
    assert member_status_on(member=other, on=today.value) == other.status == Status.DECEASED
    assert member_status_on(member=other, on=died_on) == Status.DECEASED
    assert member_status_on(member=other, on=died_on - dt.timedelta(days=1)) == Status.ACTIVE


def test_a_suspension_ended_during_missed_days_is_lifted_on_its_own_date(today, registrar):
    """Regression: the daily job lifted a suspension as of the real today, not the
    day after it ended, so after missed runs (or a --date rehearsal) the member
    went straight to the status of the run date, with the wrong effective date."""
    member = active_member(registrar, today)
    end = member.period_ends_on
    services.member_suspend(
        member=member,
        actor=registrar,
        reason="Investigation",
        starts_on=JOIN_DAY,
        ends_on=end - dt.timedelta(days=5),
    )
    # The job next runs well after the period and the grace period have ended.
    run_day = end + dt.timedelta(days=40)
    today.set(run_day)
    report = membership_daily_run(today=run_day)
    member.refresh_from_db()
    assert (report.suspensions_lifted, report.to_grace, report.lapsed) == (1, 1, 1)
    assert member.status == Status.LAPSED
    assert [(e.to_status, e.effective_date) for e in member.status_events.all()][-3:] == [
        (Status.ACTIVE, end - dt.timedelta(days=4)),
        (Status.GRACE, end + dt.timedelta(days=1)),
        (Status.LAPSED, end + dt.timedelta(days=31)),
    ]
    assert member_status_on(member=member, on=end) == Status.ACTIVE

    # Rehearsing a date with --date uses that date, not the real one.
    other = active_member(registrar, today)
    services.member_suspend(
        member=other,
        actor=registrar,
        reason="Investigation",
        starts_on=JOIN_DAY,
        ends_on=JOIN_DAY + dt.timedelta(days=10),
    )
    membership_daily_run(today=JOIN_DAY + dt.timedelta(days=20))
    other.refresh_from_db()
    assert other.status == Status.ACTIVE
    assert other.status_since == JOIN_DAY + dt.timedelta(days=11)


def test_money_received_in_grace_but_recorded_after_the_lapse_renews_without_a_gap(
    today, registrar
):
    """Regression: a payment recorded after the member had lapsed started a new
    period on the day received, leaving a gap (or an overlap) although the
    money arrived in time."""
    member = active_member(registrar, today)
    end = member.period_ends_on
    invoice = services.invoice_raise(member=member, payer_organisation="Trust")
    today.set(end + dt.timedelta(days=45))
    membership_daily_run(today=today.value)
    member.refresh_from_db()
    assert member.status == Status.LAPSED

    services.invoice_record_payment(
        invoice=invoice, received_on=end + dt.timedelta(days=10), reference="BACS", actor=registrar
    )
    member.refresh_from_db()
    first, second = member.periods.order_by("starts_on")
    assert second.starts_on == first.ends_on + dt.timedelta(days=1)
    assert member.status == Status.ACTIVE
    assert member.period_ends_on == dt.date(2028, 3, 9)
    assert member_status_on(member=member, on=end + dt.timedelta(days=40)) == Status.ACTIVE


def test_money_received_after_the_lapse_starts_a_new_period(today, registrar):
    member = active_member(registrar, today)
    end = member.period_ends_on
    today.set(end + dt.timedelta(days=45))
    membership_daily_run(today=today.value)
    member.refresh_from_db()
    assert not services.payment_renews(member, received_on=today.value)
    pay(member, registrar, end + dt.timedelta(days=31))
    member.refresh_from_db()
    assert member.periods.last().starts_on == end + dt.timedelta(days=31)


@pytest.mark.parametrize("change", ["renewed", "resigned", "died"])
def test_a_failed_reminder_is_not_retried_once_it_no_longer_applies(today, registrar, change):
    """Regression: a reminder whose first send failed was retried even after the
    member had renewed, resigned or died, telling them to renew."""
    member = active_member(registrar, today)
    day = member.period_ends_on - dt.timedelta(days=14)
    with mock.patch(
        "django.core.mail.EmailMultiAlternatives.send",
        side_effect=ConnectionRefusedError("smtp down"),
    ):
        assert membership_daily_run(today=day).reminders_failed == 1
    today.set(day)
    if change == "renewed":
        pay(member, registrar, day)
    elif change == "resigned":
        services.member_resign(member=member, at_period_end=False)
    else:
        services.member_record_death(member=member, actor=registrar, reason="HR", died_on=day)
    mail.outbox.clear()

    report = membership_daily_run(today=day + dt.timedelta(days=1))

    assert (report.reminders_sent, report.reminders_failed) == (0, 0)
    assert not [m for m in mail.outbox if "membership ends" in m.subject]
    assert Reminder.objects.get().sent_at is None


@pytest.mark.parametrize("status", list(Status))
def test_resign_page_offers_the_period_end_exactly_when_the_service_books_it(
    today, registrar, status
):
    """The resign form's choices and the service share ALLOWED_FROM (they had
    separate copies of the rule)."""
    from members.forms import ResignForm

    member = active_member(registrar, today)
    Member.objects.filter(pk=member.pk).update(status=status)
    member.refresh_from_db()
    offered = ResignForm.AT_PERIOD_END in dict(ResignForm(member=member).fields["when"].choices)
    try:
        booked = services.member_resign(member=member, at_period_end=True).resign_at_period_end
    except MembershipError:
        booked = False
    assert offered == booked


def test_status_history_in_force_agrees_with_status_on_every_day(today, registrar):
    """The history other apps walk (CPD owed days) follows the same rule as
    member_status_on: a late, back-dated change replaces what it overrides."""
    from members.selectors import member_status_history

    member = active_member(registrar, today)
    end = member.period_ends_on
    today.set(end + dt.timedelta(days=60))
    membership_daily_run(today=today.value)
    services.member_record_death(
        member=member, actor=registrar, reason="HR", died_on=end - dt.timedelta(days=10)
    )
    history = member_status_history(member=member)
    assert [e.to_status for e in history] == [Status.ACTIVE, Status.DECEASED]
    day = JOIN_DAY - dt.timedelta(days=1)
    while day <= today.value:
        walked = next((e.to_status for e in reversed(history) if e.effective_date <= day), None)
        assert walked == member_status_on(member=member, on=day), day
        day += dt.timedelta(days=7)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_cancelling_an_invoice_takes_the_member_lock_first(today, registrar):
    """Regression: invoice_cancel locked only the invoice, so it could interleave
    with invoice_raise (which reads the open invoice under the member's lock) and
    hand the member an invoice that was being cancelled."""
    member = MemberFactory()
    invoice = services.invoice_raise(member=member, payer_organisation="Trust")
    with CaptureQueriesContext(connection) as queries:
        services.invoice_cancel(invoice=invoice, actor=registrar, reason="Wrong grade")
    locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert '"members_member"' in locks[0] and '"members_invoice"' in locks[1]


def test_a_grade_request_cannot_be_approved_once_the_member_is_suspended(today, registrar):
    """Regression: approving applied the grade whatever had happened since the
    request, changing the grade of a suspended member, which ALLOWED_FROM forbids."""
    member = active_member(registrar, today)
    fellow = GradeFactory(name="Fellow", slug="fellow", requires_review=True)
    change = services.grade_change_request(member=member, to_grade=fellow, statement="Board")
    services.member_suspend(member=member, actor=registrar, reason="Complaint", starts_on=JOIN_DAY)
    with pytest.raises(MembershipError, match="decline the request instead"):
        services.grade_change_decide(change=change, actor=registrar, approve=True, reason="OK")
    member.refresh_from_db()
    change.refresh_from_db()
    assert member.grade != fellow and change.state == GradeChange.State.PENDING
    services.grade_change_decide(change=change, actor=registrar, approve=False, reason="Suspended")
    change.refresh_from_db()
    assert change.state == GradeChange.State.DECLINED
