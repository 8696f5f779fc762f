"""Every change to an accreditation application, from draft to appeal.

Each transition locks the application row (``select_for_update``), re-checks
its state, writes the change and its audit event in one transaction, and
emails whoever must act next. A transition the current state does not allow
raises ``AccreditationError`` with a message a person can act on; a decision
that lost a race to another raises ``AccreditationConflict``.
"""

import datetime as dt
import hashlib
import hmac
import secrets
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.template.loader import render_to_string
from django.utils import timezone

import members.services
from accreditation import certificates, fees
from accreditation.models import (
    Appeal,
    AppealOutcome,
    Application,
    ApplicationFee,
    ApplicationState,
    Assessment,
    Assignment,
    AssignmentRole,
    ConflictOfInterest,
    InformationRequest,
    Judgement,
    Level,
    Recommendation,
    Referee,
    StandardJudgement,
    StandardStatement,
)
from audit.models import Action
from audit.services import audit_record
from cpd import returns as cpd_returns
from cpd.models import Entry, Standard
from members.models import GradeChange, ManagementLevel, Member, Status, User
from members.selectors import registrar_emails
from members.tasks import send_email

SUBJECT_TYPE = "accreditation.application"
REFEREE_LINK_DAYS = 14
APPEAL_WINDOW_DAYS = 28
# Lowest to highest: a member may be accredited at or below the level they work at.
MANAGEMENT_ORDER = list(ManagementLevel.values)

State = ApplicationState


class AccreditationError(Exception):
    """A change the application's current state (or the people involved) does not allow."""


class AccreditationConflict(AccreditationError):
    """Someone else changed the application first (for example, a concurrent decision)."""


class NotEligible(AccreditationError):
    """Submission refused; ``failures`` lists every unmet requirement."""

    def __init__(self, failures: list[str]):
        self.failures = failures
        super().__init__("This application cannot be submitted yet: " + "; ".join(failures))


# ---------------------------------------------------------------- helpers


def _lock(application: Application) -> Application:
    return (
        Application.objects.select_for_update(of=("self",))
        .select_related("member__user", "member__organisation", "level__scheme")
        .get(pk=application.pk)
    )


def _require_state(application: Application, allowed: tuple[str, ...], doing: str) -> None:
    if application.state not in allowed:
        raise AccreditationError(
            f"You cannot {doing} while the application is "
            f"{application.get_state_display().lower()}."
        )


def _audit(
    application: Application,
    action: Action,
    *,
    actor: User | None,
    before: str | None = None,
    reason: str = "",
    **after,
) -> None:
    audit_record(
        action=action,
        subject_type=SUBJECT_TYPE,
        subject_id=str(application.public_id),
        actor=actor,
        before={"state": before} if before else {},
        after={"state": application.state, **after},
        reason=reason,
    )


def _email(*, to: list[str], template: str, context: dict) -> None:
    """Queue an email from templates/accreditation/email/; commits with the change."""
    if not to:
        return
    context = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **context}
    subject = render_to_string(f"accreditation/email/{template}_subject.txt", context)
    send_email.enqueue(
        subject=f"[{settings.SITE_NAME}] " + " ".join(subject.split()),
        body=render_to_string(f"accreditation/email/{template}_message.txt", context).strip()
        + "\n",
        to=to,
    )


def _email_member(application: Application, template: str, **context) -> None:
    _email(
        to=[application.member.user.email],
        template=template,
        context={"application": application, "member": application.member, **context},
    )


def _email_registrars(application: Application, template: str, **context) -> None:
    _email(
        to=registrar_emails(),
        template=template,
        context={"application": application, **context},
    )


def _required_text(text: str, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise AccreditationError(f"Give {what}. The member and the record keep it.")
    return text


def _active_assignments(application: Application, role: str):
    return application.assignments.filter(role=role, declined_at__isnull=True)


def referee_token_hash(token: str) -> str:
    """Only this hash of a referee's link is stored; lookups hash the token the same way."""
    return hashlib.sha256(token.encode()).hexdigest()


def _months_between(start: dt.date, end: dt.date) -> int:
    months = (end.year - start.year) * 12 + (end.month - start.month)
    return months - 1 if end.day < start.day else months


# ---------------------------------------------------------------- the application


@transaction.atomic
def application_create(
    *,
    member: Member,
    level: Level,
    career_summary: str = "",
    management_since: dt.date | None = None,
) -> Application:
    """Start a draft; refused if the member already has an open application at the level."""
    member = members.services.member_lock(member)
    if not level.scheme.is_open:
        raise AccreditationError(f"{level.scheme} is not taking applications.")
    open_one = (
        Application.objects.filter(member=member, level=level)
        .exclude(state__in=Application.CLOSED)
        .first()
    )
    if open_one is not None:
        raise AccreditationError(
            f"You already have an application for {level.name} "
            f"({open_one.get_state_display().lower()})."
        )
    application = Application.objects.create(
        member=member,
        level=level,
        career_summary=career_summary,
        management_since=management_since,
    )
    _audit(application, Action.ACCREDITATION_STARTED, actor=member.user, level=level.name)
    return application


@transaction.atomic
def statement_save(
    *,
    application: Application,
    standard: Standard,
    statement: str,
    entries: list[Entry] = (),
) -> StandardStatement:
    """Write (or rewrite) the draft's statement for one standard with its CPD entries."""
    application = _lock(application)
    _require_state(application, (State.DRAFT, State.INFO_REQUESTED), "change statements")
    if not application.level.required_standards.filter(pk=standard.pk).exists():
        raise AccreditationError(f"{standard.code} is not one of this level's standards.")
    if any(entry.member_id != application.member_id for entry in entries):
        raise AccreditationError("Link only your own CPD entries.")
    row, _ = StandardStatement.objects.update_or_create(
        application=application,
        standard=standard,
        defaults={"statement": statement.strip()},
    )
    row.entries.set(entries)
    return row


@transaction.atomic
def application_details_save(
    *, application: Application, career_summary: str, management_since: dt.date | None
) -> Application:
    """Write the draft's career summary and when the member started managing."""
    application = _lock(application)
    _require_state(application, (State.DRAFT,), "change your career summary")
    application.career_summary = career_summary.strip()
    application.management_since = management_since
    application.save(update_fields=["career_summary", "management_since"])
    return application


def application_eligibility_failures(*, application: Application) -> list[str]:
    """Every requirement of the level the application does not yet meet, in words."""
    if hasattr(application, "renewal"):
        # A renewal needs lighter evidence: CPD returns and one statement.
        from accreditation.renewals import renewal_eligibility_failures

        return renewal_eligibility_failures(application=application)
    level = application.level
    member = application.member
    today = members.services.local_today()
    failures = []
    applying_to_join_at_grade = (
        level.grants_grade_id is not None
        and member.status == Status.APPLICANT
        and member.grade_changes.filter(
            state=GradeChange.State.PENDING, to_grade_id=level.grants_grade_id
        ).exists()
    )
    if not member.in_good_standing and not applying_to_join_at_grade:
        failures.append("Your membership must be active.")
    if MANAGEMENT_ORDER.index(member.management_level) < MANAGEMENT_ORDER.index(
        level.management_level
    ):
        failures.append(
            f"{level.name} is at the “{ManagementLevel(level.management_level).label}” level "
            f"and your profile says “{ManagementLevel(member.management_level).label}”. "
            "If your role has changed, update your profile first."
        )
    if application.management_since is None:
        failures.append("Say when you started in a management role.")
    elif _months_between(application.management_since, today) < level.min_months_in_role:
        failures.append(
            f"You need at least {level.min_months_in_role} months in a management role; "
            f"you have {max(_months_between(application.management_since, today), 0)}."
        )
    since = today - dt.timedelta(days=365)
    minutes = (
        Entry.objects.filter(member=member, ends_on__gt=since, ends_on__lte=today).aggregate(
            total=Sum("minutes")
        )["total"]
        or 0
    )
    if minutes < level.cpd_minutes_last_12_months:
        failures.append(
            f"You need {level.cpd_minutes_last_12_months / 60:g} hours of CPD in the last "
            f"12 months; you have logged {minutes / 60:g}."
        )
    if level.requires_last_return_accepted:
        standing = cpd_returns.return_standing(member=member, today=today)
        if not standing.accepted:
            failures.append(
                f"Your last annual CPD return ({standing.year.label}) must be accepted; "
                f"it was {standing.words}."
            )
    if not application.career_summary.strip():
        failures.append("Write a career summary.")
    written = set(
        application.statements.exclude(statement="").values_list("standard_id", flat=True)
    )
    required = list(level.required_standards.select_related("domain").order_by("order", "code"))
    if level.per_domain_minimum is None:
        missing = [s for s in required if s.pk not in written]
        failures.extend(f"Write a statement for {s.code} {s.title}." for s in missing)
    else:
        by_domain = defaultdict(list)
        for standard in required:
            by_domain[standard.domain].append(standard)
        for domain, standards in by_domain.items():
            needed = min(level.per_domain_minimum, len(standards))
            have = sum(1 for s in standards if s.pk in written)
            if have < needed:
                failures.append(
                    f"Write statements for at least {needed} standards in "
                    f"{domain.code} {domain.title}; you have {have}."
                )
    confirmed = application.referees.filter(
        response=Referee.Response.CONFIRM, replaced_at__isnull=True
    ).count()
    if confirmed < level.referees_required:
        failures.append(
            f"You need {level.referees_required} referees to confirm; {confirmed} have."
        )
    return failures


@transaction.atomic
def application_submit(*, application: Application) -> Application:
    """Submit a draft once every requirement is met; ``NotEligible`` lists what fails."""
    application = _lock(application)
    if application.state == State.SUBMITTED:
        return application
    _require_state(application, (State.DRAFT,), "submit")
    failures = application_eligibility_failures(application=application)
    if failures:
        raise NotEligible(failures)
    application.state = State.SUBMITTED
    application.submitted_at = timezone.now()
    application.save(update_fields=["state", "submitted_at"])
    fee = fees.fee_raise(application=application)
    _audit(
        application,
        Action.ACCREDITATION_SUBMITTED,
        actor=application.member.user,
        before=State.DRAFT,
    )
    _email_member(application, "submitted", fee=fee)
    if fee is None:
        _email_registrars(application, "to_assign")  # else once the fee is settled
    return application


@transaction.atomic
def application_withdraw(*, application: Application, reason: str = "") -> Application:
    """The member withdraws; allowed at any point before a decision."""
    application = _lock(application)
    if application.state == State.WITHDRAWN:
        return application
    _require_state(application, Application.UNDECIDED, "withdraw")
    before = application.state
    application.state = State.WITHDRAWN
    application.withdrawn_at = timezone.now()
    application.save(update_fields=["state", "withdrawn_at"])
    fees.fee_cancel(application=application)
    if application.level.grants_grade_id is not None:
        # The case for the grade is withdrawn with it.
        members.services.grade_change_withdraw(
            member=application.member, reason="Application for the grade withdrawn"
        )
    _audit(
        application,
        Action.ACCREDITATION_WITHDRAWN,
        actor=application.member.user,
        before=before,
        reason=reason,
    )
    assessors = list(
        application.assignments.filter(declined_at__isnull=True).values_list(
            "assessor__email", flat=True
        )
    )
    _email(to=assessors, template="withdrawn", context={"application": application})
    return application


# ---------------------------------------------------------------- referees


def _referee_link(token: str) -> str:
    return f"{settings.SITE_URL}/accreditation/referee/{token}/"


def _referee_create(application: Application, name: str, email: str) -> tuple[Referee, str]:
    token = secrets.token_urlsafe(32)
    referee = Referee.objects.create(
        application=application,
        name=_required_text(name, "the referee's name"),
        email=_required_text(email, "the referee's email address").lower(),
        token_hash=referee_token_hash(token),
        expires_at=timezone.now() + dt.timedelta(days=REFEREE_LINK_DAYS),
    )
    _email(
        to=[referee.email],
        template="referee_invite",
        context={"application": application, "referee": referee, "link": _referee_link(token)},
    )
    return referee, token


@transaction.atomic
def referee_invite(*, application: Application, name: str, email: str) -> tuple[Referee, str]:
    """Invite a referee; return the row and the link token, which is never stored or shown again."""
    application = _lock(application)
    _require_state(application, (State.DRAFT,), "invite referees")
    referee, token = _referee_create(application, name, email)
    _audit(
        application,
        Action.ACCREDITATION_REFEREE_INVITED,
        actor=application.member.user,
        referee=str(referee.public_id),
    )
    return referee, token


def referee_replaceable(referee: Referee) -> bool:
    """A referee who declined, or whose link expired unanswered, may be replaced."""
    if referee.replaced_at is not None:
        return False
    if referee.response == Referee.Response.DECLINE:
        return True
    return referee.responded_at is None and referee.expires_at <= timezone.now()


@transaction.atomic
def referee_replace(*, referee: Referee, name: str, email: str) -> tuple[Referee, str]:
    """Replace a referee who declined or never answered; the old one stays on the record."""
    application = _lock(referee.application)
    _require_state(application, (State.DRAFT,), "replace referees")
    referee = Referee.objects.select_for_update().get(pk=referee.pk)
    if not referee_replaceable(referee):
        raise AccreditationError(
            "You can replace a referee only if they declined or their link expired unanswered."
        )
    referee.replaced_at = timezone.now()
    referee.save(update_fields=["replaced_at"])
    new, token = _referee_create(application, name, email)
    _audit(
        application,
        Action.ACCREDITATION_REFEREE_REPLACED,
        actor=application.member.user,
        referee=str(referee.public_id),
        replacement=str(new.public_id),
    )
    return new, token


# Reminders go this many days after the invitation, each once; the link lasts 14.
REFEREE_REMINDER_DAYS = (5, 10)


def referee_reminders_send(*, now: dt.datetime | None = None) -> int:
    """Remind referees who have not answered a draft's invitation, with a fresh link.

    Only the token's hash is stored, so the reminder carries a new token and the
    earlier link stops working; the email says so. A referee gets at most one
    reminder a run (the latest one due), so a missed run does not send two at
    once. Safe to run more than once a day: each reminder is counted on the row,
    under its lock.
    """
    now = now or timezone.now()
    sent = 0
    reminded: set[int] = set()
    for number in range(len(REFEREE_REMINDER_DAYS), 0, -1):
        due = Referee.objects.filter(
            responded_at__isnull=True,
            replaced_at__isnull=True,
            expires_at__gt=now,
            reminders_sent__lt=number,
            invited_at__lte=now - dt.timedelta(days=REFEREE_REMINDER_DAYS[number - 1]),
            application__state=State.DRAFT,
        ).values_list("pk", flat=True)
        for pk in [pk for pk in due if pk not in reminded]:
            reminded.add(pk)
            sent += _referee_remind(pk, number, now)
    return sent


@transaction.atomic
def _referee_remind(pk: int, number: int, now: dt.datetime) -> int:
    referee = (
        Referee.objects.select_for_update(of=("self",))
        .select_related("application__member__user", "application__level__scheme")
        .get(pk=pk)
    )
    if (
        referee.reminders_sent >= number
        or referee.responded_at
        or referee.replaced_at
        or referee.expires_at <= now
        or referee.application.state != State.DRAFT
    ):
        return 0  # another run got here first, or things changed meanwhile
    token = secrets.token_urlsafe(32)
    referee.token_hash = referee_token_hash(token)
    referee.reminders_sent = number
    referee.last_reminded_at = now
    referee.save(update_fields=["token_hash", "reminders_sent", "last_reminded_at"])
    application = referee.application
    _audit(
        application,
        Action.ACCREDITATION_REFEREE_REMINDED,
        actor=None,
        referee=str(referee.public_id),
        reminder=number,
    )
    _email(
        to=[referee.email],
        template="referee_reminder",
        context={"application": application, "referee": referee, "link": _referee_link(token)},
    )
    return 1


@transaction.atomic
def referee_respond(*, token: str, confirm: bool, comment: str = "") -> Referee:
    """Record a referee's answer: the link works once, and not after it expires."""
    digest = referee_token_hash(token)
    referee = (
        Referee.objects.select_for_update(of=("self",))
        .select_related("application__member__user")
        .filter(token_hash=digest)
        .first()
    )
    if referee is None or not hmac.compare_digest(referee.token_hash, digest):
        raise AccreditationError("This referee link is not recognised.")
    if referee.responded_at is not None:
        raise AccreditationError("This referee link has already been used.")
    if referee.application.state in Application.CLOSED:
        raise AccreditationError("This application is closed; no reference is needed.")
    if referee.expires_at <= timezone.now():
        raise AccreditationError(
            "This referee link has expired. Ask the applicant to send a new one."
        )
    referee.response = Referee.Response.CONFIRM if confirm else Referee.Response.DECLINE
    referee.comment = comment.strip()
    referee.responded_at = timezone.now()
    referee.save(update_fields=["response", "comment", "responded_at"])
    application = referee.application
    _audit(
        application,
        Action.ACCREDITATION_REFEREE_RESPONDED,
        actor=None,
        referee=str(referee.public_id),
        response=referee.response,
    )
    _email_member(application, "referee_responded", referee=referee)
    return referee


# ---------------------------------------------------------------- assessors


def _same_organisation(one: Member, other: Member) -> bool:
    if one.organisation_id or other.organisation_id:
        return one.organisation_id == other.organisation_id
    # Neither chose from the list: compare what they typed.
    name = one.organisation_other.strip().lower()
    return bool(name) and name == other.organisation_other.strip().lower()


def _assignment_refusal(application: Application, assessor: User, role: str) -> str | None:
    member = application.member
    if role == AssignmentRole.MODERATOR:
        if not (assessor.is_assessor or assessor.is_staff):
            return f"{assessor.email} is neither an assessor nor a registrar."
    elif not assessor.is_assessor:
        return f"{assessor.email} is not an assessor."
    if assessor.pk == member.user_id:
        return "An assessor cannot assess their own application."
    own = getattr(assessor, "member", None)  # None for an assessor who is not a member
    if own is not None and _same_organisation(own, member):
        return f"{assessor.email} works at the applicant's organisation."
    if ConflictOfInterest.objects.filter(assessor=assessor, member=member).exists():
        return f"{assessor.email} has declared a conflict of interest with this applicant."
    if application.assignments.filter(assessor=assessor).exists():
        if role == AssignmentRole.APPEAL:
            return f"{assessor.email} took part in this application; an appeal needs someone new."
        return f"{assessor.email} is already assigned to this application."
    return None


@transaction.atomic
def assessor_assign(
    *,
    application: Application,
    assessor: User,
    actor: User,
    role: str = AssignmentRole.ASSESSOR,
) -> Assignment:
    """A registrar assigns an assessor, moderator or appeal assessor.

    Refuses the applicant, anyone at the applicant's organisation, anyone with a
    declared conflict, and (for moderation and appeals) anyone who took part.
    """
    application = _lock(application)
    if role == AssignmentRole.ASSESSOR:
        _require_state(application, (State.SUBMITTED,), "assign assessors")
        fee = ApplicationFee.objects.filter(application=application).first()
        if fee is not None and not fee.settled:
            raise AccreditationError(
                f"The {fee.amount_display} application fee is not paid yet; assign assessors "
                "once it is paid or waived."
            )
        if _active_assignments(application, role).count() >= application.level.assessors_required:
            raise AccreditationError(
                f"This level needs {application.level.assessors_required} assessor(s), "
                "and they are assigned."
            )
    elif role == AssignmentRole.MODERATOR:
        _require_state(application, (State.IN_MODERATION,), "assign a moderator")
        if _active_assignments(application, role).exists():
            raise AccreditationError("A moderator is already assigned.")
    elif role == AssignmentRole.APPEAL:
        _require_state(application, (State.APPEALED,), "assign an appeal assessor")
        if _active_assignments(application, role).exists():
            raise AccreditationError("An appeal assessor is already assigned.")
    else:
        raise AccreditationError(f"Unknown role {role!r}.")
    refusal = _assignment_refusal(application, assessor, role)
    if refusal:
        raise AccreditationError(refusal)
    assignment = Assignment.objects.create(
        application=application, assessor=assessor, role=role, assigned_by=actor
    )
    before = application.state
    if (
        role == AssignmentRole.ASSESSOR
        and _active_assignments(application, role).count() == application.level.assessors_required
    ):
        application.state = State.IN_ASSESSMENT
        application.save(update_fields=["state"])
    _audit(
        application,
        Action.ACCREDITATION_ASSIGNED,
        actor=actor,
        before=before if before != application.state else None,
        assessor=assessor.email,
        role=role,
    )
    _email(
        to=[assessor.email],
        template="assigned",
        context={"application": application, "assignment": assignment},
    )
    return assignment


def _lock_assignment(assignment: Assignment, actor: User) -> tuple[Assignment, Application]:
    application = _lock(assignment.application)
    assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
    if assignment.assessor_id != actor.pk:
        raise AccreditationError("Only the assigned assessor can do this.")
    if assignment.declined_at is not None:
        raise AccreditationError("You declined this assignment.")
    return assignment, application


@transaction.atomic
def assignment_accept(*, assignment: Assignment, actor: User, no_conflict: bool) -> Assignment:
    """The assessor accepts, declaring they have no conflict of interest."""
    assignment, application = _lock_assignment(assignment, actor)
    if assignment.accepted_at is not None:
        return assignment
    if not no_conflict:
        raise AccreditationError(
            "Declare that you have no conflict of interest, or declare the conflict."
        )
    if application.state in Application.CLOSED:
        raise AccreditationError(
            f"This application is {application.get_state_display().lower()}; "
            "there is nothing to assess."
        )
    assignment.accepted_at = timezone.now()
    assignment.conflict_declared_none = True
    assignment.save(update_fields=["accepted_at", "conflict_declared_none"])
    _audit(
        application,
        Action.ACCREDITATION_ASSIGNMENT_ACCEPTED,
        actor=actor,
        role=assignment.role,
    )
    return assignment


@transaction.atomic
def assignment_declare_conflict(
    *, assignment: Assignment, actor: User, reason: str
) -> ConflictOfInterest:
    """The assessor declares a conflict: the assignment ends and they are never assigned again."""
    assignment, application = _lock_assignment(assignment, actor)
    if assignment.accepted_at is not None:
        raise AccreditationError("You accepted this assignment; ask the registrar to reassign.")
    reason = _required_text(reason, "the nature of the conflict")
    conflict, _ = ConflictOfInterest.objects.get_or_create(
        assessor=actor, member=application.member, defaults={"reason": reason}
    )
    assignment.declined_at = timezone.now()
    assignment.save(update_fields=["declined_at"])
    before = application.state
    if assignment.role == AssignmentRole.ASSESSOR and application.state == State.IN_ASSESSMENT:
        application.state = State.SUBMITTED  # needs another assessor before work goes on
        application.save(update_fields=["state"])
    _audit(
        application,
        Action.ACCREDITATION_CONFLICT_DECLARED,
        actor=actor,
        before=before if before != application.state else None,
        reason=reason,
    )
    _email_registrars(application, "to_assign")
    return conflict


def _accepted(assignment: Assignment, actor: User) -> tuple[Assignment, Application]:
    assignment, application = _lock_assignment(assignment, actor)
    if assignment.accepted_at is None:
        raise AccreditationError("Accept the assignment (declaring no conflict) first.")
    return assignment, application


# ---------------------------------------------------------------- more information


@transaction.atomic
def information_request(
    *, assignment: Assignment, actor: User, question: str
) -> InformationRequest:
    """An assessor asks the member for more; the application waits for the answer."""
    assignment, application = _accepted(assignment, actor)
    _require_state(application, (State.IN_ASSESSMENT, State.IN_MODERATION), "ask for more")
    # Whoever is judging now may ask: the assessors before moderation, the moderator during it.
    judging = (
        AssignmentRole.MODERATOR
        if application.state == State.IN_MODERATION
        else AssignmentRole.ASSESSOR
    )
    if assignment.role != judging or hasattr(assignment, "assessment"):
        raise AccreditationError("Only an assessor still judging the application can ask for more.")
    question = _required_text(question, "the question")
    request = InformationRequest.objects.create(
        application=application, requested_by=actor, question=question
    )
    before = application.state
    application.state = State.INFO_REQUESTED
    application.save(update_fields=["state"])
    _audit(application, Action.ACCREDITATION_INFO_REQUESTED, actor=actor, before=before)
    _email_member(application, "info_requested", question=question)
    return request


@transaction.atomic
def information_respond(*, application: Application, response: str) -> InformationRequest:
    """The member answers; the application goes back to its assessors."""
    application = _lock(application)
    _require_state(application, (State.INFO_REQUESTED,), "answer a question")
    request = (
        InformationRequest.objects.select_for_update(of=("self",))
        .select_related("requested_by")
        .get(application=application, responded_at__isnull=True)
    )
    request.response = _required_text(response, "your answer")
    request.responded_at = timezone.now()
    request.save(update_fields=["response", "responded_at"])
    moderating = _active_assignments(application, AssignmentRole.MODERATOR).exists()
    application.state = State.IN_MODERATION if moderating else State.IN_ASSESSMENT
    application.save(update_fields=["state"])
    _audit(
        application,
        Action.ACCREDITATION_INFO_RESPONDED,
        actor=application.member.user,
        before=State.INFO_REQUESTED,
    )
    _email(
        to=[request.requested_by.email],
        template="info_responded",
        context={"application": application, "request": request},
    )
    return request


# ---------------------------------------------------------------- assessment


@dataclass(frozen=True, kw_only=True)
class JudgementInput:
    standard: Standard
    judgement: str
    comment: str = ""


@transaction.atomic
def assessment_submit(
    *,
    assignment: Assignment,
    actor: User,
    judgements: list[JudgementInput],
    recommendation: str,
    reasons: str,
) -> Assessment:
    """An assessor (or moderator) judges every evidenced standard and recommends.

    When every assessor has reported: if they agree the application is
    recommended; if not, it goes to moderation, whose assessment settles it.
    """
    assignment, application = _accepted(assignment, actor)
    if assignment.role == AssignmentRole.APPEAL:
        raise AccreditationError("An appeal is decided with appeal_decide, not an assessment.")
    expected = State.IN_MODERATION if assignment.role == AssignmentRole.MODERATOR else None
    _require_state(application, (expected or State.IN_ASSESSMENT,), "submit an assessment")
    if Assessment.objects.filter(assignment=assignment).exists():
        raise AccreditationError("You have already submitted your assessment.")
    if recommendation not in Recommendation.values:
        raise AccreditationError("Recommend approve or decline.")
    reasons = _required_text(reasons, "reasons for your recommendation")
    evidenced = set(application.statements.values_list("standard_id", flat=True))
    judged = [j.standard.pk for j in judgements]
    if len(judged) != len(set(judged)):
        raise AccreditationError("Judge each standard once.")
    if set(judged) != evidenced:
        raise AccreditationError("Judge every standard the applicant evidenced, and only those.")
    if any(j.judgement not in Judgement.values for j in judgements):
        raise AccreditationError("Judge each standard as met, partly met or not met.")
    assessment = Assessment.objects.create(
        assignment=assignment, recommendation=recommendation, reasons=reasons
    )
    StandardJudgement.objects.bulk_create(
        StandardJudgement(
            assessment=assessment,
            standard=j.standard,
            judgement=j.judgement,
            comment=j.comment.strip(),
        )
        for j in judgements
    )
    _audit(
        application,
        Action.ACCREDITATION_ASSESSED,
        actor=actor,
        role=assignment.role,
        recommendation=recommendation,
    )
    before = application.state
    if assignment.role == AssignmentRole.MODERATOR:
        _recommend(application, recommendation, before=before)
        return assessment
    assessors = _active_assignments(application, AssignmentRole.ASSESSOR)
    done = list(
        Assessment.objects.filter(assignment__in=assessors).values_list("recommendation", flat=True)
    )
    if len(done) < application.level.assessors_required:
        return assessment
    if len(set(done)) == 1:
        _recommend(application, done[0], before=before)
    else:
        application.state = State.IN_MODERATION
        application.save(update_fields=["state"])
        _audit(application, Action.ACCREDITATION_MODERATION, actor=None, before=before)
        _email_registrars(application, "moderation")
    return assessment


def _recommend(application: Application, recommendation: str, *, before: str) -> None:
    application.state = State.RECOMMENDED
    application.recommendation = recommendation
    application.save(update_fields=["state", "recommendation"])
    _audit(
        application,
        Action.ACCREDITATION_RECOMMENDED,
        actor=None,
        before=before,
        recommendation=recommendation,
    )
    _email_registrars(application, "recommended")


# ---------------------------------------------------------------- decision and appeal


def _grade_settle(application: Application, *, actor: User, approve: bool, reasons: str) -> None:
    """A level that awards a membership grade (such as Fellow) settles the member's
    request for it with the same decision and reasons."""
    grade = application.level.grants_grade
    if grade is None:
        return
    try:
        members.services.grade_review_settle(
            member=application.member, grade=grade, actor=actor, approve=approve, reason=reasons
        )
    except members.services.MembershipError as error:
        # E.g. suspended since applying: refuse the decision, changing nothing.
        raise AccreditationError(str(error)) from error


@transaction.atomic
def application_decide(
    *, application: Application, actor: User, approve: bool, reasons: str
) -> Application:
    """The registrar approves or declines a recommended application, with reasons.

    Of two decisions made at once, the first to lock the row is recorded; the
    other raises ``AccreditationConflict``.
    """
    if not actor.is_staff:
        raise AccreditationError("Only a registrar can decide an application.")
    reasons = _required_text(reasons, "reasons for the decision")
    application = _lock(application)
    if application.state in (State.APPROVED, State.DECLINED):
        raise AccreditationConflict(
            f"This application was already {application.get_state_display().lower()} "
            "by someone else."
        )
    _require_state(application, (State.RECOMMENDED,), "decide")
    application.state = State.APPROVED if approve else State.DECLINED
    application.decided_at = timezone.now()
    application.decided_by = actor
    application.decision_reasons = reasons
    application.save(update_fields=["state", "decided_at", "decided_by", "decision_reasons"])
    _audit(
        application,
        Action.ACCREDITATION_DECIDED,
        actor=actor,
        before=State.RECOMMENDED,
        reason=reasons,
    )
    _grade_settle(application, actor=actor, approve=approve, reasons=reasons)
    if approve:
        certificates.certificate_on_approval(application=application, actor=actor)
    _email_member(application, "decision", reasons=reasons)
    return application


@transaction.atomic
def appeal_lodge(*, application: Application, grounds: str) -> Appeal:
    """The member appeals a decline, within 28 days of the decision."""
    application = _lock(application)
    _require_state(application, (State.DECLINED,), "appeal")
    grounds = _required_text(grounds, "your grounds for appeal")
    decided_on = timezone.localdate(application.decided_at)
    last_day = decided_on + dt.timedelta(days=APPEAL_WINDOW_DAYS)
    if members.services.local_today() > last_day:
        raise AccreditationError(
            f"Appeals must be lodged within {APPEAL_WINDOW_DAYS} days of the decision; "
            f"the last day was {last_day:%-d %B %Y}."
        )
    if (
        Application.objects.filter(member=application.member, level=application.level)
        .exclude(state__in=Application.CLOSED)
        .exists()
    ):
        raise AccreditationError("Withdraw your new application at this level before appealing.")
    try:
        with transaction.atomic():
            appeal = Appeal.objects.create(application=application, grounds=grounds)
    except IntegrityError:
        raise AccreditationError("This decision has already been appealed.") from None
    application.state = State.APPEALED
    application.save(update_fields=["state"])
    _audit(
        application,
        Action.ACCREDITATION_APPEAL_LODGED,
        actor=application.member.user,
        before=State.DECLINED,
        reason=grounds,
    )
    _email_registrars(application, "appeal_lodged")
    return appeal


@transaction.atomic
def appeal_decide(*, assignment: Assignment, actor: User, upheld: bool, reasons: str) -> Appeal:
    """The appeal assessor (someone who took no part) upholds or dismisses the appeal."""
    assignment, application = _accepted(assignment, actor)
    if assignment.role != AssignmentRole.APPEAL:
        raise AccreditationError("Only the appeal assessor can decide the appeal.")
    reasons = _required_text(reasons, "reasons for the appeal outcome")
    if application.state in (State.APPEAL_UPHELD, State.APPEAL_DISMISSED):
        raise AccreditationConflict("This appeal has already been decided.")
    _require_state(application, (State.APPEALED,), "decide an appeal")
    appeal = Appeal.objects.select_for_update().get(application=application)
    appeal.outcome = AppealOutcome.UPHELD if upheld else AppealOutcome.DISMISSED
    appeal.outcome_reasons = reasons
    appeal.decided_at = timezone.now()
    appeal.decided_by = actor
    appeal.save(update_fields=["outcome", "outcome_reasons", "decided_at", "decided_by"])
    application.state = State.APPEAL_UPHELD if upheld else State.APPEAL_DISMISSED
    application.save(update_fields=["state"])
    _audit(
        application,
        Action.ACCREDITATION_APPEAL_DECIDED,
        actor=actor,
        before=State.APPEALED,
        reason=reasons,
        outcome=appeal.outcome,
    )
    if upheld:
        _grade_settle(application, actor=actor, approve=True, reasons=reasons)
        certificates.certificate_on_approval(application=application, actor=actor)
    _email_member(application, "appeal_decided", appeal=appeal)
    _email_registrars(application, "appeal_decided", appeal=appeal)
    return appeal
