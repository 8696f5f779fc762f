"""Build accreditation applications in a given state, through the services."""

import datetime as dt

from django.utils import timezone

from accreditation import services
from accreditation.models import Application, Level
from accreditation.services import JudgementInput
from audit.models import AuditEvent
from cpd.models import Entry
from tests.factories import AssessorFactory

State = Application.State


def make_level(scheme, standards, *, management_level="middle", assessors=1, **kwargs):
    level = Level.objects.create(
        scheme=scheme,
        management_level=management_level,
        name=f"Accredited {management_level} manager",
        assessors_required=assessors,
        **{
            "min_months_in_role": 12,
            "cpd_minutes_last_12_months": 10 * 60,
            "referees_required": 2,
            "fee_pence": 0,
            **kwargs,
        },
    )
    level.required_standards.set(standards)
    return level


def assessor():
    return AssessorFactory()


def log_cpd(member, *, hours=12, days_ago=30):
    on = timezone.localdate() - dt.timedelta(days=days_ago)
    return Entry.objects.create(
        member=member,
        title="Leading change",
        starts_on=on,
        ends_on=on,
        minutes=hours * 60,
        activity_type="formal",
        participatory=True,
    )


def ready(member, level, *, referees=2):
    """A draft that meets every requirement of the level."""
    if member.management_level != level.management_level:
        member.management_level = level.management_level
        member.save(update_fields=["management_level"])
    application = services.application_create(
        member=member,
        level=level,
        career_summary="Ten years running outpatient services.",
        management_since=timezone.localdate() - dt.timedelta(days=3 * 365),
    )
    entry = log_cpd(member)
    for standard in level.required_standards.all():
        services.statement_save(
            application=application,
            standard=standard,
            statement=f"How I meet {standard.code}.",
            entries=[entry],
        )
    for n in range(referees):
        _, token = services.referee_invite(
            application=application, name=f"Referee {n}", email=f"ref{n}@example.org"
        )
        services.referee_respond(token=token, confirm=True, comment="Seen it myself.")
    return application


def assign(application, registrar, *, role="assessor", who=None):
    who = who or assessor()
    assignment = services.assessor_assign(
        application=application, assessor=who, actor=registrar, role=role
    )
    return services.assignment_accept(assignment=assignment, actor=who, no_conflict=True)


def assess(assignment, recommendation="approve", judgement="met"):
    application = assignment.application
    return services.assessment_submit(
        assignment=assignment,
        actor=assignment.assessor,
        judgements=[
            JudgementInput(standard=s.standard, judgement=judgement, comment="Clear evidence.")
            for s in application.statements.select_related("standard")
        ],
        recommendation=recommendation,
        reasons="The portfolio shows the standards in daily practice.",
    )


def state_of(application):
    application.refresh_from_db()
    return application.state


def actions(application):
    return list(
        AuditEvent.objects.filter(subject_id=str(application.public_id)).values_list(
            "action", flat=True
        )
    )


def recommended(member, level, registrar, recommendation="approve"):
    application = services.application_submit(application=ready(member, level))
    assess(assign(application, registrar), recommendation)
    assert state_of(application) == State.RECOMMENDED
    return application
