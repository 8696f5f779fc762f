"""Reads of accreditation data that pages, the API and other apps share.

Assessor reads are scoped to the assessor: an application they are not
assigned to is ``Application.DoesNotExist`` (a 404 to the caller).
"""

import datetime as dt
from dataclasses import dataclass

import members.services
from accreditation.models import Application, ApplicationState, Assignment, AssignmentRole, Referee
from members.models import Member, User

# The target for an assessor to finish, in working days (Monday to Friday).
TARGET_WORKING_DAYS = 20

# What waits on an assessor in each state, by their role.
WAITING_ON = {
    AssignmentRole.ASSESSOR: (ApplicationState.SUBMITTED, ApplicationState.IN_ASSESSMENT),
    AssignmentRole.MODERATOR: (ApplicationState.IN_MODERATION,),
    AssignmentRole.APPEAL: (ApplicationState.APPEALED,),
}


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Weekdays after ``start`` up to and including ``end`` (bank holidays are not counted out)."""
    if end <= start:
        return 0
    days = (end - start).days
    weeks, extra = divmod(days, 7)
    count = weeks * 5
    for offset in range(1, extra + 1):
        if (start + dt.timedelta(days=offset)).weekday() < 5:
            count += 1
    return count


@dataclass(frozen=True)
class QueueItem:
    assignment: Assignment
    application: Application
    waiting_working_days: int
    overdue: bool


def assessor_queue(*, assessor: User, today: dt.date | None = None) -> list[QueueItem]:
    """What waits on this assessor, oldest first, with how long and whether it is overdue.

    Two queries however long the queue; an assignment whose assessment is in
    (or that was declined) is no longer waiting.
    """
    today = today or members.services.local_today()
    assignments = (
        Assignment.objects.filter(
            assessor=assessor, declined_at__isnull=True, assessment__isnull=True
        )
        .select_related("application__level__scheme", "application__member__user")
        .order_by("assigned_at")
    )
    items = []
    for assignment in assignments:
        application = assignment.application
        if application.state not in WAITING_ON[assignment.role]:
            continue
        waited = working_days_between(assignment.assigned_at.date(), today)
        items.append(
            QueueItem(
                assignment=assignment,
                application=application,
                waiting_working_days=waited,
                overdue=waited > TARGET_WORKING_DAYS,
            )
        )
    return items


def application_for_assessor(*, public_id, assessor: User) -> Application:
    """The application if this user is (or was) assigned to it; otherwise DoesNotExist."""
    return (
        Application.objects.filter(
            public_id=public_id,
            assignments__assessor=assessor,
            assignments__declined_at__isnull=True,
        )
        .select_related("level__scheme", "member__user")
        .distinct()
        .get()
    )


def application_for_member(*, public_id, member: Member) -> Application:
    """The member's own application; another member's is DoesNotExist."""
    return Application.objects.select_related("level__scheme").get(
        public_id=public_id, member=member
    )


def applications_for_member(*, member: Member) -> list[Application]:
    return list(
        Application.objects.filter(member=member)
        .select_related("level__scheme")
        .order_by("-created_at")
    )


def application_missing(*, application: Application) -> list[str]:
    """What still stops a draft being submitted, for the "what is missing" panel."""
    from accreditation.services import application_eligibility_failures

    return application_eligibility_failures(application=application)


def referee_for_token(*, token: str) -> Referee | None:
    """The referee an emailed link belongs to, with what their page shows."""
    from accreditation.services import referee_token_hash

    return (
        Referee.objects.select_related("application__member__user", "application__level__scheme")
        .filter(token_hash=referee_token_hash(token))
        .first()
    )
