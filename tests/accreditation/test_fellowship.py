"""Fellowship, a grade that needs review, is decided through an accreditation
application at the level that awards it: assessors, reasons and appeals."""

import pytest
from django.urls import reverse
from django.utils import timezone

from accreditation import services
from accreditation.models import Level
from audit.models import Action, AuditEvent
from members import services as member_services
from members.models import Grade, GradeChange, Status
from tests.accreditation.builders import assess, assign, ready, recommended, state_of
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fellowship():
    """The level the migration creates for the seeded Fellow grade."""
    level = Level.objects.get(grants_grade__slug="fellow")
    level.min_months_in_role = 24  # the builders' applicants have three years
    level.save()
    return level


@pytest.fixture
def joining_fellow():
    """Someone joining at the Fellow grade: an applicant whose grade waits for review."""
    return member_services.member_join(
        user=UserFactory(given_name="Fiona", family_name="Fellow"),
        grade=Grade.objects.get(slug="fellow"),
        job_title="Chief operating officer",
        management_level="executive",
        organisation_other="Westvale Mental Health NHS Foundation Trust",
        register_consent=True,
        agreed_code_of_conduct=True,
        statement="I have led three trusts through merger.",
    )


def test_the_fellow_grade_is_awarded_by_the_application_decision(joining_fellow, fellowship):
    member = joining_fellow
    assert member_services.member_payment_refusal(member)  # cannot pay before the review
    registrar = StaffFactory()
    # An applicant may apply at the level that awards the grade they asked for.
    application = recommended(member, fellowship, registrar)
    services.application_decide(
        application=application, actor=registrar, approve=True, reasons="A substantial record."
    )
    change = member.grade_changes.get()
    assert (change.state, change.decided_by, change.decision_reason) == (
        GradeChange.State.APPROVED,
        registrar,
        "A substantial record.",
    )
    member.refresh_from_db()
    assert member_services.member_payment_refusal(member) is None  # now they can pay
    assert AuditEvent.objects.filter(
        action=Action.MEMBER_GRADE_CHANGED, subject_id=str(member.public_id), actor=registrar
    ).exists()


def test_a_declined_fellowship_declines_the_request_and_an_upheld_appeal_awards_it(
    joining_fellow, fellowship
):
    member = joining_fellow
    registrar = StaffFactory()
    application = recommended(member, fellowship, registrar, recommendation="decline")
    services.application_decide(
        application=application, actor=registrar, approve=False, reasons="Not yet at board level."
    )
    change = member.grade_changes.get()
    assert (change.state, change.decision_reason) == (
        GradeChange.State.DECLINED,
        "Not yet at board level.",
    )
    member.refresh_from_db()
    assert "Choose another grade" in member_services.member_payment_refusal(member)

    services.appeal_lodge(application=application, grounds="My board role was overlooked.")
    appeal = assign(application, registrar, role="appeal")
    services.appeal_decide(
        assignment=appeal, actor=appeal.assessor, upheld=True, reasons="The board role counts."
    )
    assert state_of(application) == application.State.APPEAL_UPHELD
    awarded = member.grade_changes.get(state=GradeChange.State.APPROVED)
    assert awarded.decision_reason == "The board role counts."
    member.refresh_from_db()
    assert member.grade.slug == "fellow"
    assert member_services.member_payment_refusal(member) is None


def test_a_member_moving_up_to_fellow_is_moved_on_approval(member, fellowship):
    member.grade = Grade.objects.get(slug="member")
    member.save()
    change = member_services.grade_change_request(
        member=member, to_grade=Grade.objects.get(slug="fellow"), statement="Ready for it."
    )
    assert change.state == GradeChange.State.PENDING
    registrar = StaffFactory()
    application = services.application_submit(application=ready(member, fellowship))
    assess(assign(application, registrar))
    services.application_decide(
        application=application, actor=registrar, approve=True, reasons="Well evidenced."
    )
    change.refresh_from_db()
    member.refresh_from_db()
    assert change.state == GradeChange.State.APPROVED
    assert (member.grade.slug, member.status) == ("fellow", Status.ACTIVE)


def test_an_ordinary_level_leaves_the_grade_alone(member, level):
    registrar = StaffFactory()
    grade = member.grade
    application = recommended(member, level, registrar)
    services.application_decide(
        application=application, actor=registrar, approve=True, reasons="Good."
    )
    member.refresh_from_db()
    assert member.grade == grade and not member.grade_changes.exists()


def test_a_lapsed_member_without_a_request_cannot_apply_for_fellowship(fellowship, trust):
    from tests.factories import MemberFactory

    lapsed = MemberFactory(status=Status.LAPSED, organisation=trust)
    application = services.application_create(member=lapsed, level=fellowship)
    assert "Your membership must be active." in services.application_eligibility_failures(
        application=application
    )


def test_approving_for_a_member_suspended_since_is_refused_and_changes_nothing(member, fellowship):
    member.grade = Grade.objects.get(slug="member")
    member.save()
    member_services.grade_change_request(member=member, to_grade=Grade.objects.get(slug="fellow"))
    registrar = StaffFactory()
    application = recommended(member, fellowship, registrar)
    member_services.member_suspend(
        member=member,
        actor=registrar,
        reason="Under investigation.",
        starts_on=timezone.localdate(),
    )
    with pytest.raises(services.AccreditationError, match="suspended"):
        services.application_decide(
            application=application, actor=registrar, approve=True, reasons="Good."
        )
    assert state_of(application) == application.State.RECOMMENDED
    assert member.grade_changes.get().state == GradeChange.State.PENDING


def test_withdrawing_the_fellowship_application_withdraws_the_grade_request(
    joining_fellow, fellowship
):
    application = services.application_create(member=joining_fellow, level=fellowship)
    services.application_withdraw(application=application)
    change = joining_fellow.grade_changes.get()
    assert (change.state, change.decision_reason) == (
        GradeChange.State.DECLINED,
        "Application for the grade withdrawn",
    )
    joining_fellow.refresh_from_db()
    assert "Choose another grade" in member_services.member_payment_refusal(joining_fellow)


def test_a_member_withdraws_their_grade_request_from_the_grade_page(client, joining_fellow):
    client.force_login(joining_fellow.user)
    page = client.get(reverse("membership_grade_change")).content.decode()
    assert "Withdraw my request for the Fellow grade" in page
    response = client.post(reverse("membership_grade_change_withdraw"), follow=True)
    assert "Your request for the Fellow grade is withdrawn." in response.content.decode()
    assert joining_fellow.grade_changes.get().state == GradeChange.State.DECLINED


def test_a_suspended_member_with_a_request_is_not_let_through_as_an_applicant(member, fellowship):
    member.grade = Grade.objects.get(slug="member")
    member.save()
    member_services.grade_change_request(member=member, to_grade=Grade.objects.get(slug="fellow"))
    member_services.member_suspend(
        member=member, actor=StaffFactory(), reason="Investigation.", starts_on=timezone.localdate()
    )
    member.refresh_from_db()
    application = services.application_create(member=member, level=fellowship)
    assert "Your membership must be active." in services.application_eligibility_failures(
        application=application
    )
