"""Who sees what: the assessor queue and its target, scoped reads, and the admin."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accreditation import selectors, services
from accreditation.models import Application, StandardJudgement
from accreditation.selectors import working_days_between
from accreditation.services import AccreditationError
from cpd.models import Standard
from tests.accreditation.builders import assess, assessor, assign, log_cpd, ready, state_of
from tests.factories import MemberFactory, StaffFactory
from tests.totp import enable_totp

pytestmark = pytest.mark.django_db


def test_working_days_skip_weekends():
    friday = dt.date(2026, 11, 20)
    assert working_days_between(friday, friday) == 0
    assert working_days_between(friday, dt.date(2026, 11, 23)) == 1  # the Monday
    assert working_days_between(friday, dt.date(2026, 12, 18)) == 20
    assert working_days_between(friday, dt.date(2026, 12, 21)) == 21


def test_the_queue_shows_what_waits_on_each_assessor_and_what_is_overdue(member, level, registrar):
    application = services.application_submit(application=ready(member, level))
    mine = assign(application, registrar)
    other = assessor()

    queue = selectors.assessor_queue(assessor=mine.assessor)
    assert [item.application for item in queue] == [application]
    assert queue[0].waiting_working_days == 0 and not queue[0].overdue
    assert selectors.assessor_queue(assessor=other) == []

    later = timezone.localdate() + dt.timedelta(days=35)  # five weeks: 25 working days
    (item,) = selectors.assessor_queue(assessor=mine.assessor, today=later)
    assert item.waiting_working_days == 25 and item.overdue

    assess(mine)
    assert selectors.assessor_queue(assessor=mine.assessor) == []


def test_an_assessor_reads_only_applications_assigned_to_them(member, level, registrar):
    application = services.application_submit(application=ready(member, level))
    mine = assign(application, registrar)
    assert (
        selectors.application_for_assessor(public_id=application.public_id, assessor=mine.assessor)
        == application
    )
    with pytest.raises(Application.DoesNotExist):
        selectors.application_for_assessor(public_id=application.public_id, assessor=assessor())


def test_a_member_reads_only_their_own_applications(member, level):
    application = services.application_create(member=member, level=level)
    assert selectors.application_for_member(public_id=application.public_id, member=member)
    with pytest.raises(Application.DoesNotExist):
        selectors.application_for_member(public_id=application.public_id, member=MemberFactory())
    assert selectors.applications_for_member(member=member) == [application]
    assert "Write a career summary." in selectors.application_missing(application=application)


def test_statements_only_for_the_levels_standards_and_own_entries(member, level, standards):
    application = services.application_create(member=member, level=level)
    elsewhere = Standard.objects.create(
        framework=standards[0].framework, domain=standards[0].domain, code="D1.9", title="Other"
    )
    with pytest.raises(AccreditationError, match=r"D1\.9 is not one of this level's standards"):
        services.statement_save(application=application, standard=elsewhere, statement="x")
    someone_elses = log_cpd(MemberFactory())
    with pytest.raises(AccreditationError, match="only your own CPD entries"):
        services.statement_save(
            application=application,
            standard=standards[0],
            statement="x",
            entries=[someone_elses],
        )


def test_only_an_assessor_still_judging_may_ask_for_more(member, executive_level, registrar):
    application = services.application_submit(application=ready(member, executive_level))
    first, second = assign(application, registrar), assign(application, registrar)
    assess(first)
    with pytest.raises(AccreditationError, match="still judging"):
        services.information_request(assignment=first, actor=first.assessor, question="More?")
    services.information_request(assignment=second, actor=second.assessor, question="More?")
    assert state_of(application) == Application.State.INFO_REQUESTED


def test_a_referee_cannot_answer_for_a_withdrawn_application(member, level):
    application = services.application_create(member=member, level=level)
    _, token = services.referee_invite(application=application, name="R", email="r@example.org")
    services.application_withdraw(application=application)
    with pytest.raises(AccreditationError, match="closed"):
        services.referee_respond(token=token, confirm=True)


def test_the_accreditation_admin_pages_load_for_a_registrar(client, member, level, registrar):
    application = services.application_submit(application=ready(member, level))
    assess(assign(application, registrar))
    superuser = StaffFactory(is_superuser=True)
    enable_totp(superuser)
    client.force_login(superuser)
    for model in ("scheme", "level", "application", "assessment", "appeal", "conflictofinterest"):
        response = client.get(reverse(f"admin:accreditation_{model}_changelist"))
        assert response.status_code == 200, model
    response = client.get(reverse("admin:accreditation_application_change", args=[application.pk]))
    assert response.status_code == 200
    assert b"How I meet D1.1." in response.content
    response = client.get(reverse("admin:accreditation_level_change", args=[level.pk]))
    assert response.status_code == 200


def test_a_moderator_can_ask_for_more_and_the_answer_returns_to_moderation(
    member, executive_level, registrar
):
    application = services.application_submit(application=ready(member, executive_level))
    first, second = assign(application, registrar), assign(application, registrar)
    assess(first, "approve")
    assess(second, "decline")
    moderation = assign(application, registrar, role="moderator")
    with pytest.raises(AccreditationError, match="still judging"):
        services.information_request(assignment=first, actor=first.assessor, question="?")
    services.information_request(
        assignment=moderation, actor=moderation.assessor, question="Which team?"
    )
    assert state_of(application) == Application.State.INFO_REQUESTED
    services.information_respond(application=application, response="Outpatients.")
    assert state_of(application) == Application.State.IN_MODERATION
    assess(moderation, "approve")
    assert state_of(application) == Application.State.RECOMMENDED


def test_an_assignment_cannot_be_accepted_once_the_application_is_withdrawn(
    member, level, registrar
):
    application = services.application_submit(application=ready(member, level))
    who = assessor()
    assignment = services.assessor_assign(application=application, assessor=who, actor=registrar)
    services.application_withdraw(application=application)
    with pytest.raises(AccreditationError, match="withdrawn; there is nothing to assess"):
        services.assignment_accept(assignment=assignment, actor=who, no_conflict=True)


def test_the_database_keeps_one_judgement_per_standard(member, level, registrar):
    application = services.application_submit(application=ready(member, level))
    assessment = assess(assign(application, registrar))
    judgement = assessment.judgements.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        StandardJudgement.objects.create(
            assessment=assessment, standard=judgement.standard, judgement="met"
        )
