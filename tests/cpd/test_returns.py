"""Annual CPD returns, their reminders, and the CPD audit: the seeded sample,
deferral, the assessor's outcomes and who may see what."""

import datetime as dt
import io
from decimal import Decimal
from unittest import mock

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from cpd import returns
from cpd.models import AnnualReturn, AuditCase, AuditSample, Entry, ReturnReminder
from cpd.selectors import cpd_year_starting
from cpd.services import CPDError, cpd_entry_create, cpd_entry_delete, cpd_entry_update
from members import services as membership_services
from members.models import Member, MembershipPeriod, Status, StatusEvent, User
from tests.factories import AssessorFactory, GradeFactory, MemberFactory, StaffFactory
from tests.totp import enable_totp

pytestmark = pytest.mark.django_db

YEAR = cpd_year_starting(2026)  # 1 April 2026 to 31 March 2027; return due 30 April 2027
TODAY = dt.date(2027, 4, 10)
LOCKED = "Your 2026/27 return is submitted, so its entries are locked."


@pytest.fixture
def today():
    with mock.patch.object(membership_services, "local_today", return_value=TODAY) as patched:
        yield patched


@pytest.fixture(autouse=True)
def _today(today):
    return today


_numbers = iter(range(100000, 999999))


def make_member(*, joined=dt.date(2020, 1, 1), status=Status.ACTIVE, grade=None, **kwargs):
    member = MemberFactory(status=status, grade=grade or GradeFactory(slug="member"), **kwargs)
    member.membership_number = str(next(_numbers))
    member.save()
    StatusEvent.objects.create(
        member=member, to_status=Status.ACTIVE, effective_date=joined, source="payment"
    )
    MembershipPeriod.objects.create(
        member=member,
        grade=member.grade,
        starts_on=joined,
        ends_on=joined + dt.timedelta(days=364),
    )
    return member


def log(member, *, ends_on=dt.date(2026, 6, 1), hours="2", **extra):
    return cpd_entry_create(
        member=member,
        actor=member.user,
        title=extra.pop("title", "Leading change workshop"),
        starts_on=ends_on,
        ends_on=ends_on,
        hours=hours,
        activity_type="formal",
        participatory=True,
        **extra,
    )


def submit(member, **kwargs):
    kwargs.setdefault("declaration_confirmed", True)
    kwargs.setdefault("shortfall_explanation", "I was on long-term sick leave.")
    return returns.annual_return_submit(member=member, year=YEAR, actor=member.user, **kwargs)


def staff_client(client):
    user = StaffFactory()
    enable_totp(user)
    client.force_login(user)
    return user


# --- Annual returns ---------------------------------------------------------------------


def test_a_submitted_return_locks_its_years_entries(mailoutbox):
    member = make_member()
    entry = log(member)
    annual_return = submit(member)

    assert annual_return.state == AnnualReturn.State.SUBMITTED
    assert annual_return.declared_minutes == 120
    assert annual_return.required_minutes == 30 * 60
    assert not annual_return.meets_requirement
    assert not annual_return.late
    with pytest.raises(CPDError, match=LOCKED):
        log(member, ends_on=dt.date(2026, 7, 1))
    with pytest.raises(CPDError, match=LOCKED):
        cpd_entry_update(entry=entry, actor=member.user, title="Changed")
    with pytest.raises(CPDError, match=LOCKED):
        cpd_entry_delete(entry=entry, actor=member.user)
    assert Entry.objects.get(pk=entry.pk).title == "Leading change workshop"

    # The next year is open; an entry there cannot be moved back into the locked year.
    later = log(member, ends_on=dt.date(2027, 4, 2))
    with pytest.raises(CPDError, match=LOCKED):
        cpd_entry_update(entry=later, actor=member.user, ends_on=dt.date(2027, 3, 1))

    event = AuditEvent.objects.get(action=Action.CPD_RETURN_SUBMITTED)
    assert event.subject_id == str(annual_return.public_id)
    assert event.reason == "I was on long-term sick leave."
    assert mailoutbox[-1].subject.endswith("Your 2026/27 CPD return is submitted")


def test_submitting_twice_changes_nothing():
    member = make_member()
    first = submit(member)
    again = submit(member, shortfall_explanation="Something else")
    assert again.submitted_at == first.submitted_at
    assert again.shortfall_explanation == "I was on long-term sick leave."
    assert AuditEvent.objects.filter(action=Action.CPD_RETURN_SUBMITTED).count() == 1


def test_a_short_return_needs_an_explanation_and_a_declaration():
    member = make_member()
    with pytest.raises(CPDError, match="Explain why"):
        submit(member, shortfall_explanation="  ")
    with pytest.raises(CPDError, match="Confirm the declaration"):
        submit(member, declaration_confirmed=False)
    assert not AnnualReturn.objects.filter(state=AnnualReturn.State.SUBMITTED).exists()


def test_a_return_opens_on_the_last_day_of_the_year(today):
    member = make_member()
    today.return_value = dt.date(2027, 3, 30)
    with pytest.raises(CPDError, match="from 31 March 2027"):
        submit(member)
    today.return_value = dt.date(2027, 3, 31)
    assert submit(member).state == AnnualReturn.State.SUBMITTED


def test_a_return_after_its_due_date_is_late(today):
    member = make_member()
    today.return_value = dt.date(2027, 5, 1)
    assert submit(member).late


def test_the_return_page_shows_the_pro_rated_requirement(client):
    # Joined half way through the year: owes 182 of 365 days' CPD.
    member = make_member(joined=dt.date(2026, 10, 1))
    client.force_login(member.user)
    response = client.get(reverse("cpd:return_detail", args=[2026]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Your requirement is pro-rated" in body
    assert "182 of the year's 365 days" in body
    assert "15 hours rather than the 30 hours" in body  # 30 * 182/365 = 14.96, up to 15

    response = client.post(
        reverse("cpd:return_detail", args=[2026]),
        {"declaration": "on", "shortfall_explanation": "I joined in October."},
    )
    assert response.status_code == 302
    annual_return = AnnualReturn.objects.get(member=member)
    assert annual_return.required_minutes == 15 * 60
    assert "Its entries are locked" in client.get(response.url).content.decode()


def test_the_return_page_shows_the_services_refusal(client):
    member = make_member()
    client.force_login(member.user)
    response = client.post(reverse("cpd:return_detail", args=[2026]), {"declaration": "on"})
    assert response.status_code == 200
    assert "Explain why you have not met the requirement" in response.content.decode()


def test_registrar_sees_late_and_short_returns_with_explanations(client, today):
    on_time, late, missing = make_member(), make_member(), make_member()
    submit(on_time, shortfall_explanation="Parental leave for most of the year.")
    today.return_value = dt.date(2027, 5, 3)
    submit(late)
    AnnualReturn.objects.create(
        member=missing,
        year_starts_on=YEAR.starts_on,
        year_ends_on=YEAR.ends_on,
        due_on=returns.return_due_on(YEAR),
    )
    staff_client(client)
    url = reverse("registrar_cpd:returns")
    late_page = client.get(url, {"year": 2026, "show": "late"}).content.decode()
    assert late.membership_number in late_page
    assert missing.membership_number in late_page
    assert on_time.membership_number not in late_page
    short_page = client.get(url, {"year": 2026, "show": "short"}).content.decode()
    assert "Parental leave for most of the year." in short_page
    assert missing.membership_number not in short_page


# --- Reminders ---------------------------------------------------------------------------


def test_reminders_go_out_once_per_kind_however_often_the_job_runs(mailoutbox):
    member, submitted = make_member(), make_member()
    make_member(status=Status.LAPSED)
    make_member(joined=dt.date(2027, 4, 5))  # joined after the year: owes no return

    call_command("cpd_daily", "--date", "2027-03-31", stdout=io.StringIO())
    call_command("cpd_daily", "--date", "2027-03-31", stdout=io.StringIO())
    assert [m.to for m in mailoutbox] == [[member.user.email], [submitted.user.email]]
    assert "is open" in mailoutbox[0].subject
    assert AnnualReturn.objects.count() == 2

    mailoutbox.clear()
    submit(submitted)
    mailoutbox.clear()
    call_command("cpd_daily", "--date", "2027-04-16", stdout=io.StringIO())
    call_command("cpd_daily", "--date", "2027-04-17", stdout=io.StringIO())
    assert [m.to for m in mailoutbox] == [[member.user.email]]
    assert "due on 30 April 2027" in mailoutbox[0].subject

    mailoutbox.clear()
    for day in ("2027-04-30", "2027-04-30", "2027-05-01"):
        call_command("cpd_daily", "--date", day, stdout=io.StringIO())
    assert [m.subject.split("] ")[1] for m in mailoutbox] == [
        "Your 2026/27 CPD return is due today"
    ]
    assert set(
        ReturnReminder.objects.filter(annual_return__member=member).values_list("kind", flat=True)
    ) == {"year_end", "before_14", "on_day"}


# --- The audit sample --------------------------------------------------------------------


def bulk_members(count: int, *, first_started_on: dt.date, status=Status.ACTIVE) -> list[Member]:
    grade = GradeFactory(slug="member")
    start = User.objects.count()
    users = User.objects.bulk_create(
        User(email=f"bulk{start + i}@example.org", given_name="Bulk") for i in range(count)
    )
    members = Member.objects.bulk_create(
        Member(
            user=user,
            grade=grade,
            status=status,
            status_since=first_started_on,
            job_title="Manager",
            management_level="middle",
            code_of_conduct_agreed_at=timezone.now(),
        )
        for user in users
    )
    MembershipPeriod.objects.bulk_create(
        MembershipPeriod(
            member=m,
            grade=grade,
            starts_on=first_started_on,
            ends_on=first_started_on + dt.timedelta(days=364),
        )
        for m in members
    )
    return members


def test_the_same_seed_draws_the_same_sample_and_another_seed_another():
    bulk_members(200, first_started_on=dt.date(2024, 1, 1))
    ids = list(returns.audit_eligible_members(year=YEAR).values_list("pk", flat=True))
    assert len(ids) == 200
    size = returns.audit_sample_size(eligible=200, percent=Decimal("2.5"))
    assert size == 5

    first = returns.audit_draw(candidate_ids=ids, seed="2027-audit", size=size)
    assert returns.audit_draw(candidate_ids=list(reversed(ids)), seed="2027-audit", size=size) == (
        first
    )
    assert returns.audit_draw(candidate_ids=ids, seed="another seed", size=size) != first

    registrar = StaffFactory()
    sample = returns.audit_sample_draw(year=YEAR, actor=registrar, seed="2027-audit")
    assert sorted(sample.cases.values_list("member_id", flat=True)) == first
    assert sample.seed == "2027-audit"
    assert sample.eligible_count == 200
    assert "2.5% of the 200 eligible members" in sample.rule
    assert set(sample.cases.values_list("respond_by", flat=True)) == {TODAY + dt.timedelta(days=91)}
    event = AuditEvent.objects.get(action=Action.CPD_AUDIT_SAMPLED)
    assert event.after["seed"] == "2027-audit"
    assert event.reason == sample.rule
    assert AuditEvent.objects.filter(action=Action.CPD_AUDIT_SELECTED).count() == 5

    with pytest.raises(CPDError, match="already been drawn"):
        returns.audit_sample_draw(year=YEAR, actor=registrar, seed="again")


def test_first_year_and_lapsed_members_are_never_sampled(mailoutbox):
    veterans = bulk_members(3, first_started_on=dt.date(2026, 3, 31))  # 12 months before the end
    bulk_members(30, first_started_on=dt.date(2026, 4, 2))  # their first year is this one
    bulk_members(5, first_started_on=dt.date(2020, 1, 1), status=Status.LAPSED)
    added = make_member(joined=dt.date(2026, 9, 1))
    sample = returns.audit_sample_draw(
        year=YEAR,
        actor=StaffFactory(),
        seed="x",
        percent=Decimal("100"),
        extra_members=[added],
    )
    drawn = set(sample.cases.filter(added_by_registrar=False).values_list("member_id", flat=True))
    assert drawn == {m.pk for m in veterans}
    assert sample.cases.get(added_by_registrar=True).member == added
    assert sorted(m.to[0] for m in mailoutbox) == sorted(
        [m.user.email for m in veterans] + [added.user.email]
    )


def test_at_least_one_member_is_drawn_when_any_is_eligible():
    bulk_members(3, first_started_on=dt.date(2020, 1, 1))
    sample = returns.audit_sample_draw(year=YEAR, actor=StaffFactory(), seed="s")
    assert sample.cases.count() == 1
    assert returns.audit_sample_size(eligible=0, percent=Decimal("2.5")) == 0


def test_the_registrar_draws_a_sample_and_adds_a_member_on_the_page(client):
    members = [make_member() for _ in range(4)]
    staff_client(client)
    url = reverse("registrar_cpd:audit") + "?year=2026"
    response = client.post(
        url,
        {
            "action": "draw",
            "seed": "page-seed",
            "percent": "25",
            "add_members": members[0].membership_number,
        },
    )
    assert response.status_code == 302
    sample = AuditSample.objects.get()
    assert sample.seed == "page-seed"
    assert sample.cases.count() in (1, 2)
    outsider = next(m for m in members if not sample.cases.filter(member=m).exists())
    client.post(url, {"action": "add", "membership_number": outsider.membership_number})
    assert sample.cases.filter(member=outsider, added_by_registrar=True).exists()
    page = client.get(url).content.decode()
    assert "page-seed" in page and outsider.membership_number in page


# --- Deferral and the assessor's review --------------------------------------------------


@pytest.fixture
def case():
    member = make_member()
    sample = returns.audit_sample_draw(year=YEAR, actor=StaffFactory(), seed="s")
    return sample.cases.get(member=member)


def assessor_client(client, user=None):
    if user is None:
        user = AssessorFactory()
        enable_totp(user)
    client.force_login(user)
    return user


def test_deferral_asked_by_the_member_and_granted_by_the_registrar(client, case, mailoutbox):
    client.force_login(case.member.user)
    url = reverse("cpd:audit_case", args=[case.public_id])
    client.post(url, {"action": "defer", "reason": "Surgery in May."})
    case.refresh_from_db()
    assert case.deferral_reason == "Surgery in May."
    assert case.deferral_requested_on == TODAY

    staff_client(client)
    assert "Surgery in May." in client.get(reverse("registrar_cpd:audit")).content.decode()
    new_date = case.respond_by + dt.timedelta(days=60)
    response = client.post(
        reverse("registrar_cpd:case_defer", args=[case.public_id]),
        {
            "respond_by_day": new_date.day,
            "respond_by_month": new_date.month,
            "respond_by_year": new_date.year,
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == AuditCase.State.DEFERRED
    assert case.respond_by == new_date
    assert mailoutbox[-1].subject.endswith("More time for your CPD audit")
    assert AuditEvent.objects.filter(
        action=Action.CPD_AUDIT_DEFERRED, subject_id=str(case.public_id)
    ).exists()


def test_the_outcome_workflow(client, case, mailoutbox):
    member = case.member
    client.force_login(member.user)
    url = reverse("cpd:audit_case", args=[case.public_id])
    # The audit reviews the return, so it must be submitted first.
    response = client.post(url, {"action": "submit"})
    assert "Submit your 2026/27 annual return first" in response.content.decode()
    submit(member)
    client.post(url, {"action": "submit"})
    case.refresh_from_db()
    assert case.state == AuditCase.State.IN_REVIEW

    assessor = assessor_client(client)
    queue = client.get(reverse("cpd:assess_queue")).content.decode()
    assert reverse("cpd:assess_case", args=[case.public_id]) in queue
    review_url = reverse("cpd:assess_case", args=[case.public_id])
    page = client.get(review_url).content.decode()
    assert "Leading change" not in page  # no entries: the page shows the record as it is
    assert "I was on long-term sick leave." in page

    response = client.post(review_url, {"outcome": "more_information", "reasons": ""})
    assert "Give your reasons" in response.content.decode()
    mailoutbox.clear()
    client.post(
        review_url, {"outcome": "more_information", "reasons": "Add evidence for the course."}
    )
    case.refresh_from_db()
    assert case.state == AuditCase.State.MORE_INFORMATION
    assert case.assessor == assessor
    assert mailoutbox[-1].to == [member.user.email]
    assert "more information needed" in mailoutbox[-1].subject
    assert "Add evidence for the course." in mailoutbox[-1].body

    client.force_login(member.user)
    page = client.get(url).content.decode()
    assert "Add evidence for the course." in page
    response = client.post(url, {"action": "submit", "response": ""})
    assert "Give the more information" in response.content.decode()
    client.post(url, {"action": "submit", "response": "Certificate uploaded to the entry."})
    case.refresh_from_db()
    assert case.state == AuditCase.State.IN_REVIEW
    assert case.member_response == "Certificate uploaded to the entry."

    assessor_client(client, assessor)
    assert "Certificate uploaded" in client.get(review_url).content.decode()
    client.post(review_url, {"outcome": "does_not_meet", "reasons": "Still no evidence."})
    case.refresh_from_db()
    assert case.state == AuditCase.State.DOES_NOT_MEET
    assert "does not meet the standard" in mailoutbox[-1].subject
    assert list(returns.audit_follow_ups()) == [case]

    staff_client(client)
    assert "Still no evidence." in client.get(reverse("registrar_cpd:audit")).content.decode()
    actions = list(
        AuditEvent.objects.filter(subject_id=str(case.public_id)).values_list("action", flat=True)
    )
    assert actions == [
        Action.CPD_AUDIT_SELECTED,
        Action.CPD_AUDIT_SUBMITTED,
        Action.CPD_AUDIT_OUTCOME,
        Action.CPD_AUDIT_SUBMITTED,
        Action.CPD_AUDIT_OUTCOME,
    ]


def test_meets_is_final(case, mailoutbox):
    submit(case.member)
    returns.audit_case_submit(case=case, actor=case.member.user)
    assessor = AssessorFactory()
    returns.audit_case_decide(
        case=case, assessor=assessor, outcome=AuditCase.State.MEETS, reasons="A full record."
    )
    assert "meets the standard" in mailoutbox[-1].subject
    with pytest.raises(CPDError, match="not waiting for review"):
        returns.audit_case_decide(
            case=case, assessor=assessor, outcome=AuditCase.State.DOES_NOT_MEET, reasons="No."
        )
    with pytest.raises(CPDError, match="finished"):
        returns.audit_case_submit(case=case, actor=case.member.user, response="More")


# --- Who may see what ---------------------------------------------------------------------


def test_members_see_only_their_own_cases_and_returns(client, case):
    other = make_member()
    client.force_login(other.user)
    assert client.get(reverse("cpd:audit_case", args=[case.public_id])).status_code == 404
    submit(case.member)
    page = client.get(reverse("cpd:return_detail", args=[2026])).content.decode()
    assert "You submitted this return" not in page  # their own, unsubmitted, return
    assert (
        client.post(
            reverse("cpd:audit_case", args=[case.public_id]), {"action": "submit"}
        ).status_code
        == 404
    )


def test_non_assessors_get_404_and_an_assessor_cannot_review_themselves(client, case):
    client.force_login(case.member.user)
    assert client.get(reverse("cpd:assess_queue")).status_code == 404
    assert client.get(reverse("cpd:assess_case", args=[case.public_id])).status_code == 404
    staff_client(client)
    assert client.get(reverse("cpd:assess_queue")).status_code == 404

    # The member becomes an assessor: their own case is hidden and refused.
    user = case.member.user
    user.is_assessor = True
    user.save()
    enable_totp(user)
    submit(case.member)
    returns.audit_case_submit(case=case, actor=user)
    assessor_client(client, user)
    assert reverse("cpd:assess_case", args=[case.public_id]) not in (
        client.get(reverse("cpd:assess_queue")).content.decode()
    )
    assert client.get(reverse("cpd:assess_case", args=[case.public_id])).status_code == 404
    with pytest.raises(CPDError, match="your own"):
        returns.audit_case_decide(
            case=case, assessor=user, outcome=AuditCase.State.MEETS, reasons="Fine."
        )


def test_registrar_audit_pages_are_for_staff_only(client, case):
    client.force_login(case.member.user)
    for url in (
        reverse("registrar_cpd:returns"),
        reverse("registrar_cpd:audit"),
        reverse("registrar_cpd:case_defer", args=[case.public_id]),
    ):
        assert client.get(url).status_code == 404


# --- CPD standing: the last return that fell due -------------------------------------------


def _easy_grade():
    return GradeFactory(
        slug="easy", cpd_reflections_required=0, cpd_domains_required=0, cpd_hours_required=2
    )


def test_standing_looks_at_the_year_just_ended_once_its_return_is_due(today):
    member = make_member(grade=_easy_grade())
    log(member)
    # 10 April 2027: the 2026/27 return is not yet due, so 2025/26 is the last due year.
    standing = returns.return_standing(member=member, today=TODAY)
    assert standing.year.label == "2025/26"
    assert standing.standing == returns.Standing.NOT_RETURNED
    assert not standing.accepted
    submit(member)
    # Sent early: the year just ended now counts.
    standing = returns.return_standing(member=member, today=TODAY)
    assert (standing.year.label, standing.standing) == ("2026/27", returns.Standing.ACCEPTED)
    assert standing.accepted


def test_standing_after_the_due_date_without_a_return_is_not_returned():
    member = make_member()
    standing = returns.return_standing(member=member, today=dt.date(2027, 5, 1))
    assert (standing.year.label, standing.words) == ("2026/27", "not returned")


def test_standing_needs_no_return_for_a_year_before_joining():
    member = make_member(joined=dt.date(2027, 4, 2))
    standing = returns.return_standing(member=member, today=dt.date(2027, 5, 1))
    assert standing.standing == returns.Standing.NOT_REQUIRED
    assert standing.accepted


def test_standing_of_a_short_return_and_of_a_failed_audit(today):
    member = make_member()
    submit(member)  # nothing logged: below the requirement, with an explanation
    assert returns.return_standing(member=member, today=TODAY).standing == returns.Standing.SHORT
    other = make_member(grade=_easy_grade())
    log(other)
    submit(other)
    sample = AuditSample.objects.create(
        year_starts_on=YEAR.starts_on, seed="x", rule="test", percentage=5, eligible_count=1
    )
    AuditCase.objects.create(
        sample=sample,
        member=other,
        respond_by=TODAY,
        state=AuditCase.State.DOES_NOT_MEET,
    )
    standing = returns.return_standing(member=other, today=TODAY)
    assert standing.standing == returns.Standing.FAILED_AUDIT
    assert not standing.accepted
