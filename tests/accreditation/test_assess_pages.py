"""The assessor's and the registrar's accreditation pages: access, assignment, assessment, decision."""

import pytest
from django.urls import reverse

from accreditation import services
from accreditation.models import Application, Assignment
from audit.models import Action
from tests.accreditation.builders import actions, assessor, assign, ready, recommended, state_of
from tests.factories import AssessorFactory, MemberFactory, StaffFactory
from tests.totp import enable_totp

pytestmark = pytest.mark.django_db

State = Application.State


def _sign_in(client, user):
    enable_totp(user)
    client.force_login(user)


def _assess_url(application):
    return reverse("accreditation_assess:application", kwargs={"public_id": application.public_id})


def _registrar_url(application):
    return reverse(
        "registrar_accreditation:application", kwargs={"public_id": application.public_id}
    )


@pytest.fixture
def submitted(member, level):
    return services.application_submit(application=ready(member, level))


@pytest.fixture
def assigned(submitted, registrar):
    """An assignment not yet accepted."""
    who = assessor()
    return services.assessor_assign(application=submitted, assessor=who, actor=registrar)


# --- Access ---------------------------------------------------------------------------


def test_assessor_pages_are_404_for_members_registrars_and_unassigned_assessors(
    client, submitted, assigned, member
):
    for user in (member.user, StaffFactory(), AssessorFactory()):
        client.logout()
        _sign_in(client, user)
        assert client.get(_assess_url(submitted)).status_code == 404
    client.force_login(member.user)
    assert client.get(reverse("accreditation_assess:queue")).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client, submitted):
    for url in (_assess_url(submitted), _registrar_url(submitted)):
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("account_login") in response["Location"]


def test_registrar_pages_are_404_for_assessors_and_members(client, submitted, member):
    for user in (member.user, AssessorFactory()):
        client.logout()
        _sign_in(client, user)
        assert client.get(reverse("registrar_accreditation:list")).status_code == 404
        assert client.get(_registrar_url(submitted)).status_code == 404


def test_an_assessor_who_declared_a_conflict_no_longer_sees_the_application(client, assigned):
    _sign_in(client, assigned.assessor)
    response = client.post(
        _assess_url(assigned.application),
        {"action": "conflict", "reason": "I line-manage their partner."},
    )
    assert response.status_code == 302
    assert client.get(_assess_url(assigned.application)).status_code == 404


# --- The assessor -----------------------------------------------------------------


def test_queue_shows_what_waits_and_for_how_long(client, assigned):
    _sign_in(client, assigned.assessor)
    page = client.get(reverse("accreditation_assess:queue")).content.decode()
    assert assigned.application.member.user.get_full_name() in page
    assert "0 working days" in page
    assert "not accepted yet" in page


def test_accepting_needs_the_no_conflict_declaration(client, assigned):
    _sign_in(client, assigned.assessor)
    url = _assess_url(assigned.application)
    page = client.post(url, {"action": "accept"}).content.decode()
    assert "Declare that you have no conflict of interest to accept." in page
    assigned.refresh_from_db()
    assert assigned.accepted_at is None
    assert client.post(url, {"action": "accept", "no_conflict": "on"}).status_code == 302
    assigned.refresh_from_db()
    assert assigned.accepted_at is not None and assigned.conflict_declared_none


def test_application_is_shown_read_only_with_statements_entries_and_referees(client, assigned):
    _sign_in(client, assigned.assessor)
    page = client.get(_assess_url(assigned.application)).content.decode()
    assert "How I meet D1.1." in page
    assert "Leading change" in page  # the linked CPD entry
    assert "Seen it myself." in page  # a referee's comment
    assert 'id="assessment"' not in page  # nothing to judge until accepted


def test_assessment_submission_judges_every_standard(client, submitted, registrar):
    assignment = assign(submitted, registrar)
    _sign_in(client, assignment.assessor)
    url = _assess_url(submitted)
    statements = list(submitted.statements.select_related("standard"))
    data = {"action": "assess", "recommendation": "approve", "reasons": "Strong portfolio."}
    # One standard left unjudged: a form error, nothing recorded.
    for statement in statements[1:]:
        data[f"judgement_{statement.standard.pk}"] = "met"
    page = client.post(url, data).content.decode()
    assert f"Judge {statements[0].standard.code} as met, partly or not met." in page
    assert state_of(submitted) == State.IN_ASSESSMENT
    data[f"judgement_{statements[0].standard.pk}"] = "partly_met"
    data[f"comment_{statements[0].standard.pk}"] = "Thin on coaching."
    response = client.post(url, data)
    assert response.status_code == 302
    assert state_of(submitted) == State.RECOMMENDED
    judgements = assignment.assessment.judgements.all()
    assert {j.judgement for j in judgements} == {"met", "partly_met"}


def test_assessor_asks_for_more_information(client, submitted, registrar):
    assignment = assign(submitted, registrar)
    _sign_in(client, assignment.assessor)
    response = client.post(
        _assess_url(submitted), {"action": "info", "question": "Which budget did you hold?"}
    )
    assert response.status_code == 302
    assert state_of(submitted) == State.INFO_REQUESTED
    assert "Which budget did you hold?" in client.get(_assess_url(submitted)).content.decode()


# --- The registrar ----------------------------------------------------------------


def test_list_by_state(client, submitted, registrar):
    _sign_in(client, registrar)
    page = client.get(reverse("registrar_accreditation:list") + "?state=submitted")
    assert _registrar_url(submitted) in page.content.decode()
    page = client.get(reverse("registrar_accreditation:list") + "?state=approved")
    assert _registrar_url(submitted) not in page.content.decode()


def test_registrar_assigns_an_assessor(client, submitted, registrar):
    who = AssessorFactory()
    _sign_in(client, registrar)
    response = client.post(_registrar_url(submitted), {"action": "assign", "assessors": [who.pk]})
    assert response.status_code == 302
    assert Assignment.objects.filter(application=submitted, assessor=who).exists()
    assert state_of(submitted) == State.IN_ASSESSMENT


def test_assignment_refusal_is_shown_on_the_form(client, submitted, registrar, trust):
    colleague = AssessorFactory()
    MemberFactory(user=colleague, organisation=trust, organisation_other="")
    _sign_in(client, registrar)
    response = client.post(
        _registrar_url(submitted), {"action": "assign", "assessors": [colleague.pk]}
    )
    assert response.status_code == 200
    assert "works at the applicant&#x27;s organisation" in response.content.decode()
    assert not Assignment.objects.filter(application=submitted).exists()


def test_registrar_decides_a_recommended_application(client, member, level, registrar):
    application = recommended(member, level, registrar)
    _sign_in(client, registrar)
    url = _registrar_url(application)
    page = client.post(url, {"action": "decide", "decision": "approve"}).content.decode()
    assert "Give reasons for the decision" in page
    response = client.post(
        url, {"action": "decide", "decision": "approve", "reasons": "Meets every standard."}
    )
    assert response.status_code == 302
    assert state_of(application) == State.APPROVED
    assert "Meets every standard." in client.get(url).content.decode()


def test_a_second_decision_is_shown_as_a_conflict(client, member, level, registrar):
    application = recommended(member, level, registrar)
    services.application_decide(
        application=application, actor=StaffFactory(), approve=False, reasons="Too thin."
    )
    _sign_in(client, registrar)
    # The page was loaded before the other registrar decided; the form is posted after.
    response = client.post(
        _registrar_url(application),
        {"action": "decide", "decision": "approve", "reasons": "Fine."},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Your decision was not recorded" in page
    assert "already declined by someone else" in page
    assert state_of(application) == State.DECLINED


def test_registrar_assigns_an_appeal_assessor(client, member, level, registrar):
    application = recommended(member, level, registrar, recommendation="decline")
    services.application_decide(
        application=application, actor=registrar, approve=False, reasons="Too thin."
    )
    services.appeal_lodge(application=application, grounds="My coaching evidence was missed.")
    first = application.assignments.get().assessor
    _sign_in(client, registrar)
    url = _registrar_url(application)
    page = client.post(url, {"action": "assign", "assessors": [first.pk]}).content.decode()
    assert "an appeal needs someone new" in page
    fresh = AssessorFactory()
    assert client.post(url, {"action": "assign", "assessors": [fresh.pk]}).status_code == 302
    assert application.assignments.get(assessor=fresh).role == "appeal"


@pytest.fixture
def appeal_hearing(member, level, registrar):
    """A declined, appealed application with an accepted appeal assignment."""
    application = recommended(member, level, registrar, recommendation="decline")
    services.application_decide(
        application=application, actor=registrar, approve=False, reasons="D2.1 not shown."
    )
    services.appeal_lodge(application=application, grounds="My budget evidence was missed.")
    return assign(application, registrar, role="appeal")


@pytest.mark.parametrize(
    ("outcome", "state"),
    [("upheld", State.APPEAL_UPHELD), ("dismissed", State.APPEAL_DISMISSED)],
)
def test_appeal_assessor_sees_the_grounds_and_decides(client, appeal_hearing, outcome, state):
    application = appeal_hearing.application
    _sign_in(client, appeal_hearing.assessor)
    url = _assess_url(application)
    page = client.get(url).content.decode()
    assert 'id="appeal"' in page
    assert "My budget evidence was missed." in page
    assert "D2.1 not shown." in page
    assert "nothing for you to do" not in page
    response = client.post(
        url, {"action": "appeal", "outcome": outcome, "reasons": "Weighed the evidence."}
    )
    assert response.status_code == 302
    assert response.url == reverse("accreditation_assess:queue")
    assert state_of(application) == state
    assert Action.ACCREDITATION_APPEAL_DECIDED in actions(application)
    application.appeal.refresh_from_db()
    assert application.appeal.outcome_reasons == "Weighed the evidence."


def test_appeal_decision_needs_reasons(client, appeal_hearing):
    application = appeal_hearing.application
    _sign_in(client, appeal_hearing.assessor)
    response = client.post(_assess_url(application), {"action": "appeal", "outcome": "upheld"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Give reasons for the appeal outcome." in page
    assert state_of(application) == State.APPEALED


def test_appeal_service_refusal_is_shown_on_the_form(client, appeal_hearing, registrar):
    application = appeal_hearing.application
    services.appeal_decide(
        assignment=appeal_hearing, actor=appeal_hearing.assessor, upheld=False, reasons="No."
    )
    _sign_in(client, appeal_hearing.assessor)
    # Decided already: the form is gone, and a stale post changes nothing.
    response = client.post(
        _assess_url(application), {"action": "appeal", "outcome": "upheld", "reasons": "Yes."}
    )
    assert response.status_code == 200
    assert "already been decided" in response.content.decode()
    assert state_of(application) == State.APPEAL_DISMISSED


def test_appeal_page_is_404_for_another_assessor(client, appeal_hearing):
    _sign_in(client, AssessorFactory())
    url = _assess_url(appeal_hearing.application)
    assert client.get(url).status_code == 404
    response = client.post(url, {"action": "appeal", "outcome": "upheld", "reasons": "Yes."})
    assert response.status_code == 404
    assert state_of(appeal_hearing.application) == State.APPEALED


def test_the_registrar_sees_every_step_in_the_audit_history(
    client, member, level, registrar, django_assert_max_num_queries
):
    application = recommended(member, level, registrar)
    services.application_decide(
        application=application, actor=registrar, approve=True, reasons="Clear evidence."
    )
    _sign_in(client, registrar)
    with django_assert_max_num_queries(30):
        page = client.get(_registrar_url(application)).content.decode()
    history = page[page.index('id="audit-history"') :]
    for label in (
        "Accreditation application started",
        "Referee invited",
        "Referee responded",
        "Accreditation application submitted",
        "Assessor assigned",
        "Assignment accepted",
        "Assessment submitted",
        "Recommendation made",
        "Accreditation decided",
    ):
        assert label in history, label
    assert "Reason: Clear evidence." in history
