"""Reads of accreditation data that pages, the API and other apps share.

Assessor reads are scoped to the assessor: an application they are not
assigned to is ``Application.DoesNotExist`` (a 404 to the caller).
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q, QuerySet

import members.services
from accreditation.models import (
    Application,
    ApplicationState,
    Assignment,
    AssignmentRole,
    Certificate,
    CertificateStatus,
    Referee,
)
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


# ---------------------------------------------------------------- certificates


def current_certificates(*, on: dt.date) -> QuerySet[Certificate]:
    """Certificates current on a date: valid now, and their validity covers it.
    The one rule ``current_certificates_for`` applies, as a queryset that can
    also be filtered by ``OuterRef`` (the employer API reads a member's current
    accreditations in the same query as the member)."""
    return Certificate.objects.filter(
        status=CertificateStatus.VALID, valid_from__lte=on, valid_until__gte=on
    )


def current_certificates_for(
    member_ids: Iterable[int], *, on: dt.date | None = None
) -> dict[int, list[Certificate]]:
    """Current accreditations for many members at once, in one query.

    ``member_ids`` are ``Member`` primary keys; ``on`` defaults to today
    (``members.services.local_today()``). Returns a dict with every requested
    member id as a key, mapping to a list (possibly empty) of that member's
    certificates whose status is valid now and whose validity covers ``on``,
    newest first, each with ``level`` and ``level.scheme`` loaded (so
    ``certificate.level.post_nominals`` and ``certificate.level.scheme.name``
    cost no further query). Suspended, revoked and expired certificates are
    never current.

    Example::

        from accreditation.selectors import current_certificates_for
        current = current_certificates_for([m.pk for m in members])
        current[member.pk]  # -> [Certificate, ...]
    """
    on = on or members.services.local_today()
    ids = {int(member_id) for member_id in member_ids}
    result: dict[int, list[Certificate]] = {member_id: [] for member_id in ids}
    if not ids:
        return result
    certificates = (
        current_certificates(on=on)
        .filter(member_id__in=ids)
        .select_related("level__scheme")
        .order_by("member_id", "-valid_from", "-pk")
    )
    for certificate in certificates:
        result[certificate.member_id].append(certificate)
    return result


def member_certificates(*, member: Member) -> list[Certificate]:
    """All of the member's certificates, newest first, in one query (for their own pages)."""
    return list(
        Certificate.objects.filter(member=member)
        .select_related("level__scheme")
        .order_by("-valid_from", "-pk")
    )


def certificate_for_member(*, member: Member, public_id) -> Certificate:
    """One of the member's own certificates; ``Certificate.DoesNotExist`` for anyone else's."""
    return Certificate.objects.select_related("level__scheme", "member__user", "member__grade").get(
        member=member, public_id=public_id
    )


def certificate_for_verification(*, public_id) -> Certificate:
    """A certificate by its public id, for the public verification page (one query)."""
    return Certificate.objects.select_related("level__scheme", "member__user").get(
        public_id=public_id
    )


def certificates_for_registrar(*, status: str, query: str = "", limit: int = 200):
    """Certificates in one status, newest first, matching a serial or a name (one query)."""
    rows = Certificate.objects.filter(status=status).select_related("member__user", "level__scheme")
    if query:
        rows = rows.filter(
            Q(serial__icontains=query)
            | Q(member__user__given_name__icontains=query)
            | Q(member__user__family_name__icontains=query)
            | Q(member__membership_number=query)
        )
    return list(rows.order_by("-issued_at", "-pk")[:limit])


def certificate_history(*, certificate: Certificate) -> list:
    """The certificate's audit events, oldest first (one query)."""
    from accreditation.certificates import SUBJECT_TYPE
    from audit.selectors import audit_events_for_subject

    return list(
        audit_events_for_subject(
            subject_type=SUBJECT_TYPE, subject_id=str(certificate.pk)
        ).order_by("sequence")
    )
