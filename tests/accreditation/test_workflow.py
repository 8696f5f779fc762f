"""The accreditation workflow: every legal transition, the illegal ones refused,
conflicts of interest, moderation, appeals, referee links and concurrent decisions."""

import datetime as dt
import io
import threading
from unittest import mock

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

import members.services
from accreditation import services
from accreditation.models import (
    Appeal,
    Application,
    Assessment,
    Assignment,
    ConflictOfInterest,
    Level,
    Referee,
    StandardJudgement,
    StandardStatement,
)
from accreditation.services import (
    AccreditationConflict,
    AccreditationError,
    JudgementInput,
    NotEligible,
)
from audit.models import Action, AuditEvent
from cpd import returns as cpd_returns
from members.models import Organisation, Status, StatusEvent
from tests.accreditation.builders import (
    actions,
    assess,
    assessor,
    assign,
    log_cpd,
    make_level,
    ready,
    recommended,
    state_of,
)
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db
State = Application.State


# ---------------------------------------------------------------- the legal path


def test_member_applies_assessor_asks_for_more_and_registrar_approves(member, level, registrar):
    application = ready(member, level)
    mail.outbox.clear()

    services.application_submit(application=application)
    assert state_of(application) == State.SUBMITTED
    assert application.submitted_at is not None
    assert {m.subject for m in mail.outbox} >= {
        "[Institute of Health Service Managers] Your accreditation application is submitted",
        "[Institute of Health Service Managers] Accreditation application waiting for an assessor",
    }
    assert registrar.email in [a for m in mail.outbox for a in m.to]

    who = assessor()
    assignment = services.assessor_assign(application=application, assessor=who, actor=registrar)
    assert state_of(application) == State.IN_ASSESSMENT
    assert mail.outbox[-1].to == [who.email]
    with pytest.raises(AccreditationError, match="Accept the assignment"):
        assess(assignment)
    assignment = services.assignment_accept(assignment=assignment, actor=who, no_conflict=True)
    assert assignment.conflict_declared_none and assignment.accepted_at

    services.information_request(
        assignment=assignment, actor=who, question="Which budget did you hold?"
    )
    assert state_of(application) == State.INFO_REQUESTED
    assert mail.outbox[-1].to == [member.user.email]
    assert "Which budget did you hold?" in mail.outbox[-1].body
    services.information_respond(application=application, response="£4m outpatients.")
    assert state_of(application) == State.IN_ASSESSMENT
    assert mail.outbox[-1].to == [who.email]

    assess(assignment, "approve")
    assert state_of(application) == State.RECOMMENDED
    assert application.recommendation == "approve"
    assert StandardJudgement.objects.filter(assessment__assignment=assignment).count() == 3

    services.application_decide(
        application=application, actor=registrar, approve=True, reasons="Strong portfolio."
    )
    assert state_of(application) == State.APPROVED
    assert application.decision_reasons == "Strong portfolio."
    assert application.decided_by == registrar
    assert mail.outbox[-1].to == [member.user.email]
    assert "Reasons: Strong portfolio." in mail.outbox[-1].body

    assert actions(application) == [
        Action.ACCREDITATION_STARTED,
        Action.ACCREDITATION_REFEREE_INVITED,
        Action.ACCREDITATION_REFEREE_RESPONDED,
        Action.ACCREDITATION_REFEREE_INVITED,
        Action.ACCREDITATION_REFEREE_RESPONDED,
        Action.ACCREDITATION_SUBMITTED,
        Action.ACCREDITATION_ASSIGNED,
        Action.ACCREDITATION_ASSIGNMENT_ACCEPTED,
        Action.ACCREDITATION_INFO_REQUESTED,
        Action.ACCREDITATION_INFO_RESPONDED,
        Action.ACCREDITATION_ASSESSED,
        Action.ACCREDITATION_RECOMMENDED,
        Action.ACCREDITATION_DECIDED,
    ]
    decided = AuditEvent.objects.get(
        subject_id=str(application.public_id), action=Action.ACCREDITATION_DECIDED
    )
    assert (decided.before, decided.after, decided.actor) == (
        {"state": "recommended"},
        {"state": "approved"},
        registrar,
    )


def test_withdraw_is_allowed_at_any_point_before_a_decision(member, level, registrar):
    draft = services.application_create(member=member, level=level)
    services.application_withdraw(application=draft, reason="Not ready yet.")
    assert state_of(draft) == State.WITHDRAWN
    services.application_withdraw(application=draft)  # a repeat is a no-op
    assert actions(draft).count(Action.ACCREDITATION_WITHDRAWN) == 1

    application = recommended(member, level, registrar)
    assessor_email = application.assignments.get().assessor.email
    services.application_withdraw(application=application)
    assert state_of(application) == State.WITHDRAWN
    assert mail.outbox[-1].to == [assessor_email]


def test_one_open_application_per_member_and_level(member, level):
    first = services.application_create(member=member, level=level)
    with pytest.raises(AccreditationError, match="already have an application"):
        services.application_create(member=member, level=level)
    with pytest.raises(IntegrityError), transaction.atomic():
        Application.objects.create(member=member, level=level)
    services.application_withdraw(application=first)
    services.application_create(member=member, level=level)  # a new start after withdrawing


# ---------------------------------------------------------------- illegal transitions


def _submit(app, **_):
    services.application_submit(application=app)


def _withdraw(app, **_):
    services.application_withdraw(application=app)


def _decide(app, registrar, **_):
    services.application_decide(application=app, actor=registrar, approve=True, reasons="Yes.")


def _appeal(app, **_):
    services.appeal_lodge(application=app, grounds="Unfair.")


def _respond(app, **_):
    services.information_respond(application=app, response="Here it is.")


def _assign(app, registrar, **_):
    services.assessor_assign(application=app, assessor=assessor(), actor=registrar)


def _moderator(app, registrar, **_):
    services.assessor_assign(application=app, assessor=registrar, actor=registrar, role="moderator")


def _appeal_assessor(app, registrar, **_):
    services.assessor_assign(application=app, assessor=assessor(), actor=registrar, role="appeal")


def _invite(app, **_):
    services.referee_invite(application=app, name="Late referee", email="late@example.org")


def _statement(app, standards, **_):
    services.statement_save(application=app, standard=standards[0], statement="Changed.")


def _accepted_assignment(app, registrar, role="assessor"):
    return Assignment.objects.create(
        application=app,
        assessor=assessor(),
        role=role,
        assigned_by=registrar,
        accepted_at=timezone.now(),
        conflict_declared_none=True,
    )


def _assess(app, registrar, **_):
    assess(_accepted_assignment(app, registrar))


def _moderate(app, registrar, **_):
    assess(_accepted_assignment(app, registrar, role="moderator"))


def _ask(app, registrar, **_):
    assignment = _accepted_assignment(app, registrar)
    services.information_request(assignment=assignment, actor=assignment.assessor, question="?")


def _hear_appeal(app, registrar, **_):
    assignment = _accepted_assignment(app, registrar, role="appeal")
    services.appeal_decide(
        assignment=assignment, actor=assignment.assessor, upheld=True, reasons="Yes."
    )


ILLEGAL = [
    (_assess, State.SUBMITTED),
    (_assess, State.INFO_REQUESTED),
    (_assess, State.IN_MODERATION),
    (_assess, State.RECOMMENDED),
    (_moderate, State.IN_ASSESSMENT),
    (_ask, State.SUBMITTED),
    (_ask, State.INFO_REQUESTED),
    (_ask, State.RECOMMENDED),
    (_hear_appeal, State.DECLINED),
    (_hear_appeal, State.APPROVED),
    (_submit, State.IN_ASSESSMENT),
    (_submit, State.APPROVED),
    (_submit, State.WITHDRAWN),
    (_withdraw, State.APPROVED),
    (_withdraw, State.DECLINED),
    (_withdraw, State.APPEALED),
    (_withdraw, State.APPEAL_DISMISSED),
    (_decide, State.DRAFT),
    (_decide, State.SUBMITTED),
    (_decide, State.IN_ASSESSMENT),
    (_decide, State.INFO_REQUESTED),
    (_decide, State.IN_MODERATION),
    (_decide, State.WITHDRAWN),
    (_decide, State.APPEALED),
    (_appeal, State.DRAFT),
    (_appeal, State.RECOMMENDED),
    (_appeal, State.APPROVED),
    (_appeal, State.WITHDRAWN),
    (_respond, State.IN_ASSESSMENT),
    (_respond, State.DRAFT),
    (_assign, State.DRAFT),
    (_assign, State.RECOMMENDED),
    (_assign, State.WITHDRAWN),
    (_moderator, State.IN_ASSESSMENT),
    (_appeal_assessor, State.DECLINED),
    (_invite, State.SUBMITTED),
    (_statement, State.RECOMMENDED),
]


@pytest.mark.parametrize(("change", "state"), ILLEGAL, ids=lambda v: getattr(v, "__name__", v))
def test_illegal_transitions_are_refused_with_a_clear_error(
    change, state, member, level, registrar, standards
):
    application = services.application_create(member=member, level=level)
    Application.objects.filter(pk=application.pk).update(
        state=state, decided_at=timezone.now(), decision_reasons="Set for this test."
    )
    before = AuditEvent.objects.count()
    with pytest.raises(AccreditationError, match=r"You cannot .* while the application is"):
        change(application, registrar=registrar, standards=standards)
    assert state_of(application) == state
    assert AuditEvent.objects.count() == before


def test_decide_needs_a_registrar_and_reasons(member, level, registrar):
    application = recommended(member, level, registrar)
    with pytest.raises(AccreditationError, match="Only a registrar"):
        services.application_decide(
            application=application, actor=assessor(), approve=True, reasons="Yes."
        )
    with pytest.raises(AccreditationError, match="Give reasons"):
        services.application_decide(
            application=application, actor=registrar, approve=True, reasons="  "
        )
    assert state_of(application) == State.RECOMMENDED


def test_a_second_decision_gets_a_conflict(member, level, registrar):
    application = recommended(member, level, registrar)
    services.application_decide(
        application=application, actor=registrar, approve=False, reasons="Thin evidence."
    )
    with pytest.raises(AccreditationConflict, match="already declined"):
        services.application_decide(
            application=application, actor=StaffFactory(), approve=True, reasons="Good."
        )
    application.refresh_from_db()
    assert (application.state, application.decision_reasons) == (State.DECLINED, "Thin evidence.")
    assert actions(application).count(Action.ACCREDITATION_DECIDED) == 1


# ---------------------------------------------------------------- eligibility


def test_eligibility_failures_are_all_listed(level, trust):
    member = MemberFactory(status=Status.LAPSED, organisation=trust, management_level="first_line")
    # A member since 2020 who never sent the return for the last CPD year that fell due.
    StatusEvent.objects.create(
        member=member, to_status=Status.ACTIVE, effective_date=dt.date(2020, 1, 1), source="payment"
    )
    last_year = cpd_returns.last_due_year(member=member, today=timezone.localdate())
    application = services.application_create(
        member=member,
        level=level,
        management_since=timezone.localdate() - dt.timedelta(days=200),
    )
    log_cpd(member, hours=4)
    log_cpd(member, hours=20, days_ago=400)  # older than 12 months: does not count
    services.statement_save(
        application=application, standard=level.required_standards.first(), statement="Mine."
    )
    _, token = services.referee_invite(application=application, name="R", email="r@example.org")
    services.referee_respond(token=token, confirm=False, comment="I do not know their work.")

    with pytest.raises(NotEligible) as refused:
        services.application_submit(application=application)

    assert refused.value.failures == [
        "Your membership must be active.",
        "Accredited middle manager is at the “Middle manager” level and your profile says "
        "“First-line manager”. If your role has changed, update your profile first.",
        "You need at least 12 months in a management role; you have 6.",
        "You need 10 hours of CPD in the last 12 months; you have logged 4.",
        f"Your last annual CPD return ({last_year.label}) must be accepted; it was not returned.",
        "Write a career summary.",
        "Write a statement for D1.2 Coaching.",
        "Write a statement for D2.1 Budgets.",
        "You need 2 referees to confirm; 0 have.",
    ]
    assert state_of(application) == State.DRAFT
    assert Action.ACCREDITATION_SUBMITTED not in actions(application)


def test_per_domain_minimum_needs_that_many_statements_in_each_domain(scheme, standards, member):
    level = make_level(scheme, standards, management_level="senior", per_domain_minimum=1)
    application = ready(member, level)
    StandardStatement.objects.filter(application=application, standard=standards[1]).delete()
    assert services.application_eligibility_failures(application=application) == []
    StandardStatement.objects.filter(application=application, standard=standards[2]).delete()
    assert services.application_eligibility_failures(application=application) == [
        "Write statements for at least 1 standards in D2 Using resources; you have 0."
    ]


# ---------------------------------------------------------------- referees


def test_referee_link_is_single_use_and_stored_only_as_a_hash(member, level):
    application = services.application_create(member=member, level=level)
    referee, token = services.referee_invite(
        application=application, name="Dr Ada Lane", email="Ada@Example.org"
    )
    assert token not in referee.token_hash and len(referee.token_hash) == 64
    assert referee.email == "ada@example.org"
    assert mail.outbox[-1].to == ["ada@example.org"]
    assert f"/accreditation/referee/{token}/" in mail.outbox[-1].body
    assert referee.expires_at - timezone.now() > dt.timedelta(days=13, hours=23)

    services.referee_respond(token=token, confirm=True, comment="I managed them.")
    referee.refresh_from_db()
    assert (referee.response, referee.comment) == ("confirm", "I managed them.")
    assert mail.outbox[-1].to == [member.user.email]

    with pytest.raises(AccreditationError, match="already been used"):
        services.referee_respond(token=token, confirm=False)
    referee.refresh_from_db()
    assert referee.response == "confirm"
    with pytest.raises(AccreditationError, match="not recognised"):
        services.referee_respond(token="not-a-token", confirm=True)


def test_referee_link_expires_after_14_days(member, level):
    application = services.application_create(member=member, level=level)
    referee, token = services.referee_invite(
        application=application, name="Dr Ada Lane", email="ada@example.org"
    )
    later = timezone.now() + dt.timedelta(days=14, minutes=1)
    with (
        mock.patch("django.utils.timezone.now", return_value=later),
        pytest.raises(AccreditationError, match="expired"),
    ):
        services.referee_respond(token=token, confirm=True)
    referee.refresh_from_db()
    assert referee.responded_at is None and referee.response == ""


# ---------------------------------------------------------------- conflicts of interest


def test_the_applicant_cannot_assess_themselves(member, level, registrar):
    application = services.application_submit(application=ready(member, level))
    member.user.is_assessor = True
    member.user.save()
    with pytest.raises(AccreditationError, match="their own application"):
        services.assessor_assign(application=application, assessor=member.user, actor=registrar)
    assert not Assignment.objects.exists()


def test_an_assessor_at_the_applicants_organisation_is_refused(member, level, registrar, trust):
    application = services.application_submit(application=ready(member, level))
    colleague = MemberFactory(status=Status.ACTIVE, organisation=trust).user
    colleague.is_assessor = True
    colleague.save()
    with pytest.raises(AccreditationError, match="works at the applicant's organisation"):
        services.assessor_assign(application=application, assessor=colleague, actor=registrar)
    elsewhere = MemberFactory(
        status=Status.ACTIVE,
        organisation=Organisation.objects.get_or_create(name="Southshire ICB")[0],
    ).user
    elsewhere.is_assessor = True
    elsewhere.save()
    services.assessor_assign(application=application, assessor=elsewhere, actor=registrar)


def test_a_declared_conflict_ends_the_assignment_and_bars_the_assessor(member, level, registrar):
    application = services.application_submit(application=ready(member, level))
    who = assessor()
    assignment = services.assessor_assign(application=application, assessor=who, actor=registrar)
    assert state_of(application) == State.IN_ASSESSMENT
    with pytest.raises(AccreditationError, match="Declare that you have no conflict"):
        services.assignment_accept(assignment=assignment, actor=who, no_conflict=False)
    with pytest.raises(AccreditationError, match="Only the assigned assessor"):
        services.assignment_accept(assignment=assignment, actor=assessor(), no_conflict=True)

    services.assignment_declare_conflict(
        assignment=assignment, actor=who, reason="I line-managed them until last year."
    )
    assert ConflictOfInterest.objects.filter(assessor=who, member=member).exists()
    assert state_of(application) == State.SUBMITTED  # waiting for another assessor
    assert Action.ACCREDITATION_CONFLICT_DECLARED in actions(application)

    # Barred from this member's later applications too.
    services.application_withdraw(application=application)
    again = services.application_submit(application=ready(member, level))
    with pytest.raises(AccreditationError, match="declared a conflict of interest"):
        services.assessor_assign(application=again, assessor=who, actor=registrar)


def test_a_non_assessor_cannot_be_assigned(member, level, registrar):
    application = services.application_submit(application=ready(member, level))
    with pytest.raises(AccreditationError, match="is not an assessor"):
        services.assessor_assign(
            application=application, assessor=MemberFactory().user, actor=registrar
        )


# ---------------------------------------------------------------- executive: two assessors


def test_executive_level_needs_two_assessors_who_agree(member, executive_level, registrar):
    with pytest.raises(IntegrityError), transaction.atomic():
        Level.objects.filter(pk=executive_level.pk).update(assessors_required=1)

    application = services.application_submit(application=ready(member, executive_level))
    first = assign(application, registrar)
    assert state_of(application) == State.SUBMITTED  # one of two
    second = assign(application, registrar)
    assert state_of(application) == State.IN_ASSESSMENT
    with pytest.raises(
        AccreditationError, match="cannot assign assessors while the application is in assessment"
    ):
        services.assessor_assign(application=application, assessor=assessor(), actor=registrar)

    assess(first, "approve")
    assert state_of(application) == State.IN_ASSESSMENT
    with pytest.raises(AccreditationError, match="already submitted"):
        assess(first, "approve")
    assess(second, "approve")
    assert state_of(application) == State.RECOMMENDED
    assert application.recommendation == "approve"


def test_disagreement_goes_to_moderation_by_someone_fresh(member, executive_level, registrar):
    application = services.application_submit(application=ready(member, executive_level))
    first, second = assign(application, registrar), assign(application, registrar)
    assess(first, "approve")
    mail.outbox.clear()
    assess(second, "decline", judgement="partly_met")
    assert state_of(application) == State.IN_MODERATION
    assert application.recommendation == ""
    assert registrar.email in mail.outbox[-1].to
    assert "moderation" in mail.outbox[-1].subject.lower()

    with pytest.raises(AccreditationError, match="already assigned"):
        services.assessor_assign(
            application=application, assessor=first.assessor, actor=registrar, role="moderator"
        )
    moderation = assign(application, registrar, role="moderator", who=registrar)
    with pytest.raises(AccreditationError, match="A moderator is already assigned"):
        services.assessor_assign(
            application=application, assessor=assessor(), actor=registrar, role="moderator"
        )
    assess(moderation, "decline", judgement="not_met")
    assert state_of(application) == State.RECOMMENDED
    assert application.recommendation == "decline"
    assert Assessment.objects.filter(assignment__application=application).count() == 3
    assert actions(application)[-4:] == [
        Action.ACCREDITATION_ASSIGNED,
        Action.ACCREDITATION_ASSIGNMENT_ACCEPTED,
        Action.ACCREDITATION_ASSESSED,
        Action.ACCREDITATION_RECOMMENDED,
    ]
    assert Action.ACCREDITATION_MODERATION in actions(application)


def test_an_assessment_must_judge_every_evidenced_standard_once(member, level, registrar):
    application = services.application_submit(application=ready(member, level))
    assignment = assign(application, registrar)
    statements = list(application.statements.select_related("standard"))
    with pytest.raises(AccreditationError, match="every standard the applicant evidenced"):
        services.assessment_submit(
            assignment=assignment,
            actor=assignment.assessor,
            judgements=[JudgementInput(standard=statements[0].standard, judgement="met")],
            recommendation="approve",
            reasons="Fine.",
        )
    with pytest.raises(AccreditationError, match="met, partly met or not met"):
        services.assessment_submit(
            assignment=assignment,
            actor=assignment.assessor,
            judgements=[JudgementInput(standard=s.standard, judgement="great") for s in statements],
            recommendation="approve",
            reasons="Fine.",
        )
    assert not Assessment.objects.exists()


# ---------------------------------------------------------------- appeals


def test_appeal_within_28_days_heard_only_by_a_fresh_assessor(member, level, registrar):
    application = recommended(member, level, registrar, "decline")
    original = application.assignments.get().assessor
    services.application_decide(
        application=application, actor=registrar, approve=False, reasons="D2.1 not shown."
    )
    services.appeal_lodge(application=application, grounds="My budget evidence was missed.")
    assert state_of(application) == State.APPEALED
    assert registrar.email in mail.outbox[-1].to

    with pytest.raises(AccreditationError, match="took part in this application"):
        services.assessor_assign(
            application=application, assessor=original, actor=registrar, role="appeal"
        )
    hearing = assign(application, registrar, role="appeal")
    with pytest.raises(AccreditationError, match="appeal_decide"):
        assess(hearing)
    with pytest.raises(AccreditationError, match="Only the assigned assessor"):
        services.appeal_decide(assignment=hearing, actor=original, upheld=True, reasons="Yes.")

    appeal = services.appeal_decide(
        assignment=hearing, actor=hearing.assessor, upheld=True, reasons="Evidence was there."
    )
    assert (appeal.outcome, appeal.decided_by) == ("upheld", hearing.assessor)
    assert state_of(application) == State.APPEAL_UPHELD
    assert mail.outbox[-2].to == [member.user.email]
    assert "Evidence was there." in mail.outbox[-2].body
    with pytest.raises(AccreditationConflict, match="already been decided"):
        services.appeal_decide(
            assignment=hearing, actor=hearing.assessor, upheld=False, reasons="No."
        )
    assert actions(application)[-1] == Action.ACCREDITATION_APPEAL_DECIDED


def test_an_appeal_can_be_dismissed(member, level, registrar):
    application = recommended(member, level, registrar, "decline")
    services.application_decide(
        application=application, actor=registrar, approve=False, reasons="Not shown."
    )
    services.appeal_lodge(application=application, grounds="Please look again.")
    hearing = assign(application, registrar, role="appeal")
    services.appeal_decide(
        assignment=hearing, actor=hearing.assessor, upheld=False, reasons="Decision stands."
    )
    assert state_of(application) == State.APPEAL_DISMISSED
    assert Appeal.objects.get(application=application).outcome == "dismissed"


def test_an_appeal_after_28_days_is_refused(member, level, registrar):
    application = recommended(member, level, registrar, "decline")
    services.application_decide(
        application=application, actor=registrar, approve=False, reasons="Not shown."
    )
    decided_on = timezone.localdate(application.decided_at)
    with mock.patch.object(
        members.services, "local_today", return_value=decided_on + dt.timedelta(days=29)
    ):
        with pytest.raises(AccreditationError, match="within 28 days"):
            services.appeal_lodge(application=application, grounds="Late.")
    assert state_of(application) == State.DECLINED
    with mock.patch.object(
        members.services, "local_today", return_value=decided_on + dt.timedelta(days=28)
    ):
        services.appeal_lodge(application=application, grounds="Just in time.")
    assert state_of(application) == State.APPEALED


def test_an_approved_application_cannot_be_appealed(member, level, registrar):
    application = recommended(member, level, registrar)
    services.application_decide(application=application, actor=registrar, approve=True, reasons="Y")
    with pytest.raises(AccreditationError, match="cannot appeal while the application is approved"):
        services.appeal_lodge(application=application, grounds="?")


# ---------------------------------------------------------------- concurrency


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_decisions_record_one_and_refuse_the_rest(standards, scheme, trust):
    level = make_level(scheme, standards)
    member = MemberFactory(status=Status.ACTIVE, organisation=trust)
    registrars = [StaffFactory() for _ in range(4)]
    application = recommended(member, level, registrars[0])

    barrier = threading.Barrier(len(registrars))
    results, lock = [], threading.Lock()

    def decide(registrar, approve):
        try:
            barrier.wait()
            outcome = services.application_decide(
                application=application,
                actor=registrar,
                approve=approve,
                reasons=f"Decided by {registrar.email}.",
            )
        except Exception as error:  # only AccreditationConflict is expected; asserted below
            outcome = error
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [
        threading.Thread(target=decide, args=(r, n % 2 == 0)) for n, r in enumerate(registrars)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    decided = [r for r in results if isinstance(r, Application)]
    refused = [r for r in results if not isinstance(r, Application)]
    assert len(decided) == 1 and len(refused) == 3
    assert all(isinstance(r, AccreditationConflict) for r in refused), refused
    application.refresh_from_db()
    assert application.state == decided[0].state
    assert application.decided_by_id == decided[0].decided_by_id
    assert application.decision_reasons == f"Decided by {application.decided_by.email}."
    assert actions(application).count(Action.ACCREDITATION_DECIDED) == 1
    assert Referee.objects.filter(application=application).count() == 2


# ---------------------------------------------------------------- referee reminders and replacement


def _invite(member, level, name="Dr Ada Lane", email="ada@example.org"):
    application = services.application_create(member=member, level=level)
    referee, token = services.referee_invite(application=application, name=name, email=email)
    return application, referee, token


def test_referees_are_reminded_twice_each_with_a_fresh_link(member, level):
    application, referee, first_token = _invite(member, level)
    invited = referee.invited_at
    assert services.referee_reminders_send(now=invited + dt.timedelta(days=4)) == 0

    day5 = invited + dt.timedelta(days=5)
    mail.outbox.clear()
    assert services.referee_reminders_send(now=day5) == 1
    assert services.referee_reminders_send(now=day5) == 0  # once only
    [reminder] = mail.outbox
    assert reminder.to == ["ada@example.org"]
    assert "earlier email, which no longer works" in reminder.body
    second_token = reminder.body.split("/accreditation/referee/")[1].split("/")[0]
    assert second_token != first_token
    with pytest.raises(AccreditationError, match="not recognised"):
        services.referee_respond(token=first_token, confirm=True)

    assert services.referee_reminders_send(now=invited + dt.timedelta(days=10)) == 1
    assert services.referee_reminders_send(now=invited + dt.timedelta(days=11)) == 0
    referee.refresh_from_db()
    assert referee.reminders_sent == 2
    assert actions(application).count(Action.ACCREDITATION_REFEREE_REMINDED) == 2
    # Only the newest link works, and only once.
    third_token = mail.outbox[-1].body.split("/accreditation/referee/")[1].split("/")[0]
    services.referee_respond(token=third_token, confirm=True)
    assert services.referee_reminders_send(now=invited + dt.timedelta(days=13)) == 0


def test_no_reminders_for_answered_replaced_expired_or_submitted(member, level, scheme, standards):
    _application, _answered, token = _invite(member, level)
    services.referee_respond(token=token, confirm=True)
    _, declined, token = _invite(MemberFactory(status=Status.ACTIVE), level, email="b@example.org")
    services.referee_respond(token=token, confirm=False)
    services.referee_replace(referee=declined, name="Someone Else", email="c@example.org")
    later = timezone.now() + dt.timedelta(days=15)  # everything unanswered has expired
    assert services.referee_reminders_send(now=later) == 0
    submitted = services.application_submit(
        application=ready(MemberFactory(status=Status.ACTIVE), level)
    )
    Referee.objects.filter(application=submitted).update(responded_at=None, response="")
    mail.outbox.clear()
    # Six days on, only the replacement (invited today, on a draft) is waiting.
    assert services.referee_reminders_send(now=timezone.now() + dt.timedelta(days=6)) == 1
    assert [m.to for m in mail.outbox] == [["c@example.org"]]


def test_a_declined_or_silent_referee_can_be_replaced_but_not_a_confirmed_one(member, level):
    application, declined, token = _invite(member, level)
    services.referee_respond(token=token, confirm=False, comment="I do not know their work.")
    _new, _ = services.referee_replace(
        referee=declined, name="Dr Ben Cole", email="ben@example.org"
    )
    declined.refresh_from_db()
    assert declined.replaced_at is not None and declined.response == "decline"  # kept
    assert mail.outbox[-1].to == ["ben@example.org"]
    assert Action.ACCREDITATION_REFEREE_REPLACED in actions(application)
    with pytest.raises(AccreditationError, match="only if they declined"):
        services.referee_replace(referee=declined, name="Again", email="again@example.org")

    _, confirmed, token = _invite(MemberFactory(status=Status.ACTIVE), level)
    services.referee_respond(token=token, confirm=True)
    with pytest.raises(AccreditationError, match="only if they declined"):
        services.referee_replace(referee=confirmed, name="X", email="x@example.org")

    _, silent, _ = _invite(MemberFactory(status=Status.ACTIVE), level)
    with pytest.raises(AccreditationError, match="only if they declined"):
        services.referee_replace(referee=silent, name="X", email="x@example.org")
    with mock.patch(
        "django.utils.timezone.now", return_value=timezone.now() + dt.timedelta(days=15)
    ):
        services.referee_replace(referee=silent, name="X", email="x@example.org")


def test_a_replaced_referee_does_not_count_towards_the_referees_needed(member, level):
    application = ready(member, level)
    first = application.referees.first()
    Referee.objects.filter(pk=first.pk).update(response="decline")
    first.refresh_from_db()
    services.referee_replace(referee=first, name="Dr Ben Cole", email="ben@example.org")
    # The replaced row keeps its answer on the record but no longer counts.
    Referee.objects.filter(pk=first.pk).update(response="confirm")
    assert "You need 2 referees to confirm; 1 have." in services.application_eligibility_failures(
        application=application
    )


def test_accreditation_daily_command_sends_reminders(member, level):
    from django.core.management import call_command

    _invite(member, level)
    later = timezone.now() + dt.timedelta(days=6)
    out = io.StringIO()
    with mock.patch("django.utils.timezone.now", return_value=later):
        call_command("accreditation_daily", stdout=out)
    assert out.getvalue().strip() == "Referee reminders sent: 1"


def test_a_missed_run_sends_only_the_latest_reminder(member, level):
    _, referee, _ = _invite(member, level)
    mail.outbox.clear()
    assert services.referee_reminders_send(now=referee.invited_at + dt.timedelta(days=11)) == 1
    assert len(mail.outbox) == 1
    referee.refresh_from_db()
    assert referee.reminders_sent == 2
    assert services.referee_reminders_send(now=referee.invited_at + dt.timedelta(days=12)) == 0
