"""Every change to membership: joining, paying, renewing, status and grades.

Each service locks the member row, re-checks the state, makes the change,
writes a ``StatusEvent`` (for status changes) and an audit event in the same
transaction, and queues emails so they go out only if the change commits.
"""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Max, Q, Value, When
from django.utils import timezone

from audit.models import Action
from audit.services import EventSpec, audit_record, audit_record_many
from members.models import (
    GOOD_STANDING,
    Grade,
    GradeChange,
    Invoice,
    ManagementLevel,
    Member,
    MembershipPeriod,
    Organisation,
    Payment,
    PaymentMethod,
    Reminder,
    Source,
    Status,
    StatusEvent,
    User,
)
from members.notifications import member_email_enqueue, member_email_send_now
from members.numbering import membership_number_allocate, number_next

SUBJECT_TYPE = "members.member"


class MembershipError(Exception):
    """A change the member's current state does not allow; the message says why."""


class AlreadyJoined(MembershipError):
    """The user has a membership already (a second, concurrent submit of joining)."""


ENDED = (Status.REMOVED, Status.DECEASED)

# The statuses each change may start from. Services enforce it; pages use
# ``member_can`` to offer only the actions that would be accepted.
ALLOWED_FROM: dict[str, tuple[Status, ...]] = {
    "suspend": (*GOOD_STANDING, Status.PAUSED),
    "lift_suspension": (Status.SUSPENDED,),
    "remove": tuple(s for s in Status if s not in ENDED),
    "record_death": tuple(s for s in Status if s != Status.DECEASED),
    "reinstate": ENDED,
    "resign": tuple(s for s in Status if s not in (*ENDED, Status.RESIGNED, Status.SUSPENDED)),
    # Only a running period can be left at its end; from grace, resigning is at once.
    "resign_at_period_end": (Status.ACTIVE,),
    "pause": (Status.ACTIVE,),
    "resume": (Status.PAUSED,),
    "update_profile": tuple(s for s in Status if s not in ENDED),
    "change_grade": tuple(s for s in Status if s not in (*ENDED, Status.SUSPENDED)),
    "raise_invoice": (*GOOD_STANDING, Status.APPLICANT, Status.LAPSED, Status.RESIGNED),
}


def member_can(member: Member, action: str) -> bool:
    return member.status in ALLOWED_FROM[action]


def _require_allowed(member: Member, action: str, message: str) -> None:
    if not member_can(member, action):
        raise MembershipError(message.format(status=member.get_status_display().lower()))


def local_today() -> dt.date:
    return timezone.localdate()


def period_end_for(starts_on: dt.date) -> dt.date:
    """A period runs 12 months: the day before the same date next year."""
    try:
        anniversary = starts_on.replace(year=starts_on.year + 1)
    except ValueError:  # 29 February
        anniversary = dt.date(starts_on.year + 1, 3, 1)
    return anniversary - dt.timedelta(days=1)


def member_lock(member: Member) -> Member:
    """Re-read the member with a row lock; every change to a membership takes it first."""
    return Member.objects.select_for_update().select_related("user", "grade").get(pk=member.pk)


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise MembershipError("Give a reason. It is kept in the member's history.")
    return reason


def _status_change(
    member: Member,
    to_status: Status,
    *,
    actor: User | None,
    reason: str,
    source: Source,
    effective_date: dt.date,
    email: str | None = None,
    email_context: dict | None = None,
) -> None:
    """Move a locked member to a new status, with its event, audit row and email."""
    from_status = member.status
    member.status = to_status
    member.status_since = effective_date
    member.save()
    StatusEvent.objects.create(
        member=member,
        from_status=from_status,
        to_status=to_status,
        effective_date=effective_date,
        actor=actor,
        reason=reason,
        source=source,
    )
    audit_record(
        action=Action.MEMBER_STATUS_CHANGED,
        subject_type=SUBJECT_TYPE,
        subject_id=str(member.public_id),
        actor=actor,
        before={"status": from_status},
        after={"status": to_status, "effective_date": effective_date, "source": source},
        reason=reason,
    )
    _certificates_follow(members=[member], actor=actor, reason=reason)
    if email:
        member_email_enqueue(
            member=member, template=email, context={"reason": reason, **(email_context or {})}
        )


def _certificates_follow(*, members: list[Member], actor: User | None, reason: str) -> None:
    """Every status change passes its members here: their certificates follow
    (suspended, restored or revoked) in the same transaction."""
    from accreditation.certificates import certificates_follow_membership  # imports members

    certificates_follow_membership(members=members, actor=actor, reason=reason)


def status_implied_by_periods(member: Member, today: dt.date) -> Status:
    """Where the member stands on today's date from their paid periods alone."""
    if member.period_ends_on is None:
        return Status.APPLICANT
    if today <= member.period_ends_on:
        return Status.ACTIVE
    if today <= member.period_ends_on + dt.timedelta(days=settings.MEMBERSHIP_GRACE_DAYS):
        return Status.GRACE
    return Status.LAPSED


# --- Joining ------------------------------------------------------------------


@transaction.atomic
def member_join(
    *,
    user: User,
    grade: Grade,
    job_title: str,
    management_level: ManagementLevel,
    organisation: Organisation | None = None,
    organisation_other: str = "",
    register_consent: bool,
    agreed_code_of_conduct: bool,
    statement: str = "",
) -> Member:
    """Start an application. A grade that needs review waits for a registrar
    before an invoice can be raised; any other can be paid for at once."""
    if not agreed_code_of_conduct:
        raise MembershipError("You must agree to the code of conduct to join.")
    if not grade.is_open:
        raise MembershipError("That grade is not open to new members.")
    if organisation is None and not organisation_other.strip():
        raise MembershipError("Tell us which organisation you work for.")
    User.objects.select_for_update().filter(pk=user.pk).first()
    if Member.objects.filter(user=user).exists():
        raise AlreadyJoined("You have already joined.")
    today = local_today()
    member = Member.objects.create(
        user=user,
        grade=grade,
        status=Status.APPLICANT,
        status_since=today,
        organisation=organisation,
        organisation_other="" if organisation else organisation_other.strip(),
        job_title=job_title,
        management_level=management_level,
        register_consent=register_consent,
        code_of_conduct_agreed_at=timezone.now(),
    )
    StatusEvent.objects.create(
        member=member,
        to_status=Status.APPLICANT,
        effective_date=today,
        actor=user,
        source=Source.MEMBER,
    )
    audit_record(
        action=Action.MEMBER_JOINED,
        subject_type=SUBJECT_TYPE,
        subject_id=str(member.public_id),
        actor=user,
        after={"grade": grade.name, "status": Status.APPLICANT},
    )
    if grade.requires_review:
        GradeChange.objects.create(member=member, to_grade=grade, statement=statement)
    return member


def member_awaiting_grade_review(member: Member) -> bool:
    return member.grade_changes.filter(state=GradeChange.State.PENDING).exists()


def member_grade_unapproved(member: Member) -> bool:
    """An applicant at a grade that needs a registrar's approval and never got it
    (the registrar declined): they must choose another grade before paying."""
    return (
        member.status == Status.APPLICANT
        and member.grade.requires_review
        and not member.grade_changes.filter(
            to_grade=member.grade, state=GradeChange.State.APPROVED
        ).exists()
    )


def member_payment_refusal(member: Member) -> str | None:
    """Why the member cannot pay for membership now, or None if they can.

    Every way of paying (invoice, card, Direct Debit) asks this first, so a
    grade is never paid for without the approval it needs.
    """
    if not member_can(member, "raise_invoice"):
        return f"Payment is not possible while membership is {member.get_status_display().lower()}."
    if member_awaiting_grade_review(member):
        return "Your grade is waiting for its review; you can pay once it is approved."
    if member_grade_unapproved(member):
        return (
            f"The {member.grade.name} grade needs a registrar's approval, which it does not have. "
            "Choose another grade, then pay."
        )
    return None


# --- Paying and renewing --------------------------------------------------------


def payment_renews(member: Member, *, received_on: dt.date) -> bool:
    """Whether money received on ``received_on`` renews the member's current period.

    It does for a member in good standing (or paused), and for any money that
    arrived before the grace period ran out, however late it is recorded: the
    member paid in time, so the new period follows the old one with no gap.
    Otherwise (a first payment, rejoining after a lapse) a new period starts
    on the day paid.
    """
    if member.period_ends_on is None:
        return False
    if member.status in (*GOOD_STANDING, Status.PAUSED):
        return True
    grace = dt.timedelta(days=settings.MEMBERSHIP_GRACE_DAYS)
    return received_on <= member.period_ends_on + grace


def membership_payment_apply(
    *,
    member: Member,
    method: PaymentMethod,
    amount_pence: int,
    received_on: dt.date,
    reference: str = "",
    invoice: Invoice | None = None,
    stripe_invoice_id: str | None = None,
    actor: User | None = None,
) -> Payment:
    """Turn money received into a membership period, whatever the payment method.

    A renewal (``payment_renews``) starts the day after the latest period
    ends, so it never shortens a period and, paid in time or in grace, leaves
    no gap. Anyone else (applicant, lapsed, resigned) starts a new period on
    the day paid, keeping their number.
    Call inside a transaction with the member locked (``member_lock``).
    """
    if member.status in (Status.SUSPENDED, Status.REMOVED, Status.DECEASED):
        raise MembershipError(f"A {member.get_status_display().lower()} member cannot renew.")
    if payment_renews(member, received_on=received_on):
        starts_on = member.period_ends_on + dt.timedelta(days=1)
    else:
        starts_on = received_on
    period = MembershipPeriod.objects.create(
        member=member, grade=member.grade, starts_on=starts_on, ends_on=period_end_for(starts_on)
    )
    member.period_ends_on = period.ends_on
    member.resign_at_period_end = False
    if not member.membership_number:
        member.membership_number = membership_number_allocate()
    member.save()
    payment = Payment.objects.create(
        receipt_number=f"R{number_next(series='receipt'):06d}",
        member=member,
        method=method,
        amount_pence=amount_pence,
        received_on=received_on,
        reference=reference,
        invoice=invoice,
        stripe_invoice_id=stripe_invoice_id,
        period=period,
        recorded_by=actor,
    )
    audit_record(
        action=Action.MEMBER_PERIOD_STARTED,
        subject_type=SUBJECT_TYPE,
        subject_id=str(member.public_id),
        actor=actor,
        after={
            "starts_on": period.starts_on,
            "ends_on": period.ends_on,
            "grade": member.grade.name,
            "receipt": payment.receipt_number,
            "method": method,
        },
    )
    if member.status != Status.ACTIVE and member.status != Status.PAUSED:
        was_applicant = member.status == Status.APPLICANT
        _status_change(
            member,
            Status.ACTIVE,
            actor=actor,
            reason="Payment received",
            source=Source.PAYMENT,
            effective_date=received_on,
            email="welcome" if was_applicant else "reactivated",
            email_context={"period": period},
        )
    else:
        member_email_enqueue(member=member, template="renewed", context={"period": period})
    return payment


@transaction.atomic
def invoice_raise(
    *,
    member: Member,
    payer_organisation: str,
    purchase_order: str = "",
    payer_email: str = "",
    actor: User | None = None,
) -> Invoice:
    """Raise an invoice for the member's next period at their grade.

    Only one invoice is open at a time; asking again returns the open one.
    """
    member = member_lock(member)
    open_invoice = member.invoices.filter(state=Invoice.State.OPEN).first()
    if open_invoice:
        return open_invoice
    if refusal := member_payment_refusal(member):
        raise MembershipError(refusal)
    if not payer_organisation.strip():
        raise MembershipError("Name the organisation that will pay the invoice.")
    today = local_today()
    invoice = Invoice.objects.create(
        number=f"INV{number_next(series='invoice'):06d}",
        member=member,
        grade=member.grade,
        amount_pence=member.grade.annual_fee_pence,
        payer_organisation=payer_organisation.strip(),
        purchase_order=purchase_order.strip(),
        payer_email=payer_email.strip(),
        issued_on=today,
        due_on=today + dt.timedelta(days=settings.INVOICE_DUE_DAYS),
    )
    audit_record(
        action=Action.INVOICE_RAISED,
        subject_type=SUBJECT_TYPE,
        subject_id=str(member.public_id),
        actor=actor,
        after={
            "invoice": invoice.number,
            "amount_pence": invoice.amount_pence,
            "payer": invoice.payer_organisation,
        },
    )
    member_email_enqueue(member=member, template="invoice_raised", context={"invoice": invoice})
    return invoice


@transaction.atomic
def invoice_record_payment(
    *, invoice: Invoice, received_on: dt.date, reference: str, actor: User
) -> Payment:
    """Record that an invoice was paid; the member's period starts or renews.

    Recording the same invoice twice returns the first payment and changes nothing.
    """
    member = member_lock(invoice.member)
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.state == Invoice.State.PAID:
        return invoice.payment
    if invoice.state == Invoice.State.CANCELLED:
        raise MembershipError("This invoice was cancelled; raise a new one.")
    if received_on > local_today():
        raise MembershipError("The payment date cannot be in the future.")
    invoice.state = Invoice.State.PAID
    invoice.save(update_fields=["state"])
    audit_record(
        action=Action.INVOICE_PAID,
        subject_type=SUBJECT_TYPE,
        subject_id=str(member.public_id),
        actor=actor,
        after={"invoice": invoice.number, "received_on": received_on, "reference": reference},
    )
    return membership_payment_apply(
        member=member,
        method=PaymentMethod.INVOICE,
        amount_pence=invoice.amount_pence,
        received_on=received_on,
        reference=reference,
        invoice=invoice,
        actor=actor,
    )


@transaction.atomic
def invoice_cancel(*, invoice: Invoice, actor: User, reason: str) -> Invoice:
    """Cancel an open invoice. Takes the member's lock first, like every other
    change to a membership, so it cannot interleave with raising or paying one."""
    reason = _require_reason(reason)
    member_lock(invoice.member)
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.state == Invoice.State.CANCELLED:
        return invoice
    if invoice.state == Invoice.State.PAID:
        raise MembershipError("A paid invoice cannot be cancelled.")
    invoice.state = Invoice.State.CANCELLED
    invoice.save(update_fields=["state"])
    audit_record(
        action=Action.INVOICE_CANCELLED,
        subject_type=SUBJECT_TYPE,
        subject_id=str(invoice.member.public_id),
        actor=actor,
        after={"invoice": invoice.number},
        reason=reason,
    )
    return invoice


# --- Staff actions --------------------------------------------------------------


@transaction.atomic
def member_suspend(
    *, member: Member, actor: User, reason: str, starts_on: dt.date, ends_on: dt.date | None = None
) -> Member:
    """Suspend a member. The reason is shown on the public register; a suspension
    with an end date is lifted by the daily job on the day after it ends."""
    reason = _require_reason(reason)
    member = member_lock(member)
    if starts_on > local_today():
        raise MembershipError("The suspension must start today or earlier.")
    if ends_on is not None and ends_on < starts_on:
        raise MembershipError("The suspension cannot end before it starts.")
    _require_allowed(
        member,
        "suspend",
        "Only a member in good standing can be suspended, not one who is {status}.",
    )
    member.suspended_until = ends_on
    member.suspension_reason = reason
    _status_change(
        member,
        Status.SUSPENDED,
        actor=actor,
        reason=reason,
        source=Source.STAFF,
        effective_date=starts_on,
        email="suspended",
        email_context={"ends_on": ends_on},
    )
    return member


@transaction.atomic
def member_suspension_lift(*, member: Member, actor: User | None, reason: str) -> Member:
    reason = _require_reason(reason)
    member = member_lock(member)
    _require_allowed(member, "lift_suspension", "This member is not suspended.")
    return _reinstate(
        member,
        actor=actor,
        reason=reason,
        source=Source.STAFF if actor else Source.SCHEDULE,
        on=local_today(),
    )


def _reinstate(
    member: Member, *, actor: User | None, reason: str, source: Source, on: dt.date
) -> Member:
    """Return a locked member to the status their paid periods give them on ``on``,
    the date the change takes effect."""
    member.suspended_until = None
    member.suspension_reason = ""
    member.reapply_after = None
    _status_change(
        member,
        status_implied_by_periods(member, on),
        actor=actor,
        reason=reason,
        source=source,
        effective_date=on,
        email="reinstated",
    )
    return member


@transaction.atomic
def member_remove(
    *, member: Member, actor: User, reason: str, reapply_after: dt.date | None = None
) -> Member:
    """Remove a member from the register; they may not reapply before ``reapply_after``."""
    reason = _require_reason(reason)
    member = member_lock(member)
    _require_allowed(member, "remove", "This member is already {status}.")
    member.reapply_after = reapply_after
    member.resign_at_period_end = False
    _status_change(
        member,
        Status.REMOVED,
        actor=actor,
        reason=reason,
        source=Source.STAFF,
        effective_date=local_today(),
        email="removed",
        email_context={"reapply_after": reapply_after},
    )
    return member


@transaction.atomic
def member_record_death(*, member: Member, actor: User, reason: str, died_on: dt.date) -> Member:
    reason = _require_reason(reason)
    member = member_lock(member)
    if member.status == Status.DECEASED:
        return member
    if died_on > local_today():
        raise MembershipError("The date of death cannot be in the future.")
    member.resign_at_period_end = False
    # No email to a person who has died; the record says who told us.
    _status_change(
        member,
        Status.DECEASED,
        actor=actor,
        reason=reason,
        source=Source.STAFF,
        effective_date=died_on,
    )
    return member


@transaction.atomic
def member_reinstate(*, member: Member, actor: User, reason: str) -> Member:
    """Undo a removal (or a death recorded in error); suspensions are lifted instead.

    The member returns to the status their paid periods imply today.
    """
    reason = _require_reason(reason)
    member = member_lock(member)
    _require_allowed(
        member,
        "reinstate",
        "Only a removed member (or a death recorded in error) can be reinstated.",
    )
    return _reinstate(member, actor=actor, reason=reason, source=Source.STAFF, on=local_today())


# --- Member actions -------------------------------------------------------------


@transaction.atomic
def member_resign(*, member: Member, at_period_end: bool, reason: str = "") -> Member:
    """Resign now, or let the membership end with the current period."""
    member = member_lock(member)
    if member.status == Status.SUSPENDED:
        raise MembershipError("You cannot resign while suspended. Contact the registrar.")
    _require_allowed(member, "resign", "Your membership has already ended ({status}).")
    reason = reason.strip() or "Resigned by the member"
    if at_period_end and member_can(member, "resign_at_period_end"):
        member.resign_at_period_end = True
        member.save(update_fields=["resign_at_period_end"])
        audit_record(
            action=Action.MEMBER_STATUS_CHANGED,
            subject_type=SUBJECT_TYPE,
            subject_id=str(member.public_id),
            actor=member.user,
            after={"resign_at_period_end": member.period_ends_on},
            reason=reason,
        )
        member_email_enqueue(member=member, template="resignation_scheduled")
        return member
    member.resign_at_period_end = False
    _status_change(
        member,
        Status.RESIGNED,
        actor=member.user,
        reason=reason,
        source=Source.MEMBER,
        effective_date=local_today(),
        email="resigned",
    )
    return member


@transaction.atomic
def member_pause(*, member: Member, reason: str) -> Member:
    """Pause for a career break or parental leave: fees stop and no reminders go out.

    The rest of the paid period is kept and added back on resuming.
    """
    reason = _require_reason(reason)
    member = member_lock(member)
    _require_allowed(member, "pause", "Only an active membership can be paused.")
    member.paused_on = local_today()
    _status_change(
        member,
        Status.PAUSED,
        actor=member.user,
        reason=reason,
        source=Source.MEMBER,
        effective_date=member.paused_on,
        email="paused",
    )
    return member


@transaction.atomic
def member_resume(*, member: Member) -> Member:
    """End a pause; the current period is extended by the days spent paused."""
    member = member_lock(member)
    _require_allowed(member, "resume", "Your membership is not paused.")
    today = local_today()
    paused_days = (today - member.paused_on).days
    period = member.periods.order_by("-ends_on").first()
    if period and paused_days:
        period.ends_on += dt.timedelta(days=paused_days)
        period.save(update_fields=["ends_on"])
        member.period_ends_on = period.ends_on
    member.paused_on = None
    _status_change(
        member,
        status_implied_by_periods(member, today),
        actor=member.user,
        reason=f"Resumed after {paused_days} days paused",
        source=Source.MEMBER,
        effective_date=today,
        email="resumed",
    )
    return member


@transaction.atomic
def member_profile_update(*, member: Member, actor: User, **changes) -> Member:
    allowed = {
        "job_title",
        "management_level",
        "organisation",
        "organisation_other",
        "register_consent",
        "register_show_workplace",
        "town",
    }
    if unknown := set(changes) - allowed:
        raise ValueError(f"Not profile fields: {sorted(unknown)}")
    member = member_lock(member)
    _require_allowed(
        member, "update_profile", "Details cannot be changed while membership is {status}."
    )
    before, after = {}, {}
    for name, value in changes.items():
        old = getattr(member, name)
        if old != value:
            before[name] = str(old) if old is not None else None
            after[name] = str(value) if value is not None else None
            setattr(member, name, value)
    if member.organisation_id is None and not member.organisation_other.strip():
        raise MembershipError("Tell us which organisation you work for.")
    if after:
        member.save()
        audit_record(
            action=Action.MEMBER_PROFILE_UPDATED,
            subject_type=SUBJECT_TYPE,
            subject_id=str(member.public_id),
            actor=actor,
            before=before,
            after=after,
        )
    return member


@transaction.atomic
def grade_change_request(*, member: Member, to_grade: Grade, statement: str = "") -> GradeChange:
    """Move to another grade: at once if it needs no review, else ask a registrar.

    The new grade's fee applies from the next invoice or renewal.
    """
    member = member_lock(member)
    if to_grade == member.grade:
        raise MembershipError("You are already at that grade.")
    if not to_grade.is_open:
        raise MembershipError("That grade is not open.")
    _require_allowed(
        member, "change_grade", "Your grade cannot change while membership is {status}."
    )
    if member_awaiting_grade_review(member):
        raise MembershipError("You already have a grade change waiting for review.")
    change = GradeChange.objects.create(
        member=member, from_grade=member.grade, to_grade=to_grade, statement=statement
    )
    if not to_grade.requires_review:
        _grade_change_apply(change, actor=member.user, reason="Requested by the member")
    return change


def _grade_change_apply(change: GradeChange, *, actor: User, reason: str) -> None:
    member = change.member
    from_grade = member.grade
    member.grade = change.to_grade
    member.save(update_fields=["grade"])
    if member.stripe_customer_id:
        # Card and Direct Debit payers move to the new price through Stripe, after commit.
        from members.tasks import stripe_subscription_price_sync

        transaction.on_commit(
            lambda: stripe_subscription_price_sync.enqueue(
                member_id=member.pk, grade_change_id=change.pk
            )
        )
    # An open invoice at the old fee no longer matches; the member raises a new one.
    for invoice in member.invoices.filter(state=Invoice.State.OPEN):
        invoice_cancel(
            invoice=invoice, actor=actor, reason=f"Grade changed to {change.to_grade.name}"
        )
    change.state = GradeChange.State.APPROVED
    change.decided_by = actor
    change.decided_at = timezone.now()
    change.decision_reason = reason
    change.save()
    audit_record(
        action=Action.MEMBER_GRADE_CHANGED,
        subject_type=SUBJECT_TYPE,
        subject_id=str(member.public_id),
        actor=actor,
        before={"grade": from_grade.name},
        after={"grade": change.to_grade.name},
        reason=reason,
    )


@transaction.atomic
def grade_change_decide(
    *, change: GradeChange, actor: User, approve: bool, reason: str
) -> GradeChange:
    """Approve or decline a grade that needs review. Called through
    ``grade_review_settle`` when the application that assesses it is decided."""
    reason = _require_reason(reason)
    member_lock(change.member)
    change = (
        GradeChange.objects.select_for_update()
        .select_related("member", "to_grade")
        .get(pk=change.pk)
    )
    if change.state != GradeChange.State.PENDING:
        raise MembershipError("This request has already been decided.")
    if approve:
        # The member may have been suspended or removed since asking.
        _require_allowed(
            change.member,
            "change_grade",
            "The grade cannot change while membership is {status}; decline the request instead.",
        )
        _grade_change_apply(change, actor=actor, reason=reason)
    else:
        change.state = GradeChange.State.DECLINED
        change.decided_by = actor
        change.decided_at = timezone.now()
        change.decision_reason = reason
        change.save()
        audit_record(
            action=Action.MEMBER_GRADE_CHANGED,
            subject_type=SUBJECT_TYPE,
            subject_id=str(change.member.public_id),
            actor=actor,
            after={"declined": change.to_grade.name},
            reason=reason,
        )
    member_email_enqueue(
        member=change.member,
        template="grade_decision",
        context={"change": change, "reason": reason},
    )
    return change


@transaction.atomic
def grade_change_withdraw(*, member: Member, reason: str) -> GradeChange | None:
    """The member withdraws their pending request for a grade that needs review
    (or their application for it was withdrawn); None if nothing was pending."""
    member = member_lock(member)
    change = (
        member.grade_changes.select_for_update().filter(state=GradeChange.State.PENDING).first()
    )
    if change is None:
        return None
    change.state = GradeChange.State.DECLINED
    change.decided_by = member.user
    change.decided_at = timezone.now()
    change.decision_reason = reason
    change.save()
    audit_record(
        action=Action.MEMBER_GRADE_CHANGED,
        subject_type=SUBJECT_TYPE,
        subject_id=str(member.public_id),
        actor=member.user,
        after={"withdrawn": change.to_grade.name},
        reason=reason,
    )
    return change


@transaction.atomic
def grade_review_settle(
    *, member: Member, grade: Grade, actor: User, approve: bool, reason: str
) -> GradeChange | None:
    """Settle a grade that needs review from the decision on the member's application
    at the accreditation level that awards it: the pending request is approved or
    declined; an approval with no request (the member applied from the accreditation
    pages) moves them to the grade all the same."""
    member = member_lock(member)
    change = (
        member.grade_changes.select_for_update()
        .filter(state=GradeChange.State.PENDING, to_grade=grade)
        .first()
    )
    if change is None:
        already = member.grade_id == grade.pk and not member_grade_unapproved(member)
        if not approve or already:
            return None
        change = GradeChange.objects.create(member=member, from_grade=member.grade, to_grade=grade)
    return grade_change_decide(change=change, actor=actor, approve=approve, reason=reason)


# --- The daily job --------------------------------------------------------------


def _bulk_status_change(
    members: list[Member],
    to_status: Status,
    *,
    reason: str,
    effective_dates: dict[int, dt.date],
    email: str,
) -> None:
    """Set-based status change for the daily job, on members it has locked:
    one UPDATE, one INSERT of events, one append to the audit chain."""
    if not members:
        return
    Member.objects.filter(pk__in=[m.pk for m in members]).update(
        status=to_status,
        status_since=Case(*(When(pk=m.pk, then=Value(effective_dates[m.pk])) for m in members)),
    )
    StatusEvent.objects.bulk_create(
        StatusEvent(
            member=m,
            from_status=m.status,
            to_status=to_status,
            effective_date=effective_dates[m.pk],
            reason=reason,
            source=Source.SCHEDULE,
        )
        for m in members
    )
    audit_record_many(
        events=[
            EventSpec(
                action=Action.MEMBER_STATUS_CHANGED,
                subject_type=SUBJECT_TYPE,
                subject_id=str(m.public_id),
                before={"status": m.status},
                after={
                    "status": to_status,
                    "effective_date": effective_dates[m.pk],
                    "source": Source.SCHEDULE,
                },
                reason=reason,
            )
            for m in members
        ]
    )
    for member in members:
        member.status = to_status
        member_email_enqueue(member=member, template=email)
    _certificates_follow(members=members, actor=None, reason=reason)


@dataclass
class DailyRunReport:
    suspensions_lifted: int = 0
    to_grace: int = 0
    resigned: int = 0
    lapsed: int = 0
    certificates_expired: int = 0
    reminders_sent: int = 0
    reminders_failed: int = 0


def membership_daily_run(*, today: dt.date | None = None) -> DailyRunReport:
    """Move members on by date: end suspensions, active -> grace (or resigned),
    grace -> lapsed; expire certificates past their validity; then send renewal
    reminders. Safe to run twice a day or
    after missed days: each step selects only members still due, and
    effective dates come from the period, not from when the job ran."""
    today = today or local_today()
    report = DailyRunReport()
    grace = dt.timedelta(days=settings.MEMBERSHIP_GRACE_DAYS)
    one_day = dt.timedelta(days=1)

    with transaction.atomic():
        # A suspension ends the day after its last day, whenever the job gets to
        # it; the steps below then move the member on from there (to grace, to
        # lapsed) with their own dates.
        for member in (
            Member.objects.select_for_update()
            .select_related("user")
            .filter(status=Status.SUSPENDED, suspended_until__lt=today)
        ):
            _reinstate(
                member,
                actor=None,
                reason="The suspension ended",
                source=Source.SCHEDULE,
                on=member.suspended_until + one_day,
            )
            report.suspensions_lifted += 1

    with transaction.atomic():
        ended = list(
            Member.objects.select_for_update()
            .select_related("user")
            .filter(status=Status.ACTIVE, period_ends_on__lt=today)
        )
        resigning = [m for m in ended if m.resign_at_period_end]
        dates = {m.pk: m.period_ends_on + one_day for m in ended}
        _bulk_status_change(
            resigning,
            Status.RESIGNED,
            reason="Resigned at the end of the period",
            effective_dates=dates,
            email="resigned",
        )
        _bulk_status_change(
            [m for m in ended if not m.resign_at_period_end],
            Status.GRACE,
            reason="The membership period ended without renewal",
            effective_dates=dates,
            email="grace",
        )
        report.resigned, report.to_grace = len(resigning), len(ended) - len(resigning)

    with transaction.atomic():
        lapsing = list(
            Member.objects.select_for_update()
            .select_related("user")
            .filter(status=Status.GRACE, period_ends_on__lt=today - grace)
        )
        _bulk_status_change(
            lapsing,
            Status.LAPSED,
            reason="Not renewed by the end of the grace period",
            effective_dates={m.pk: m.period_ends_on + grace + one_day for m in lapsing},
            email="lapsed",
        )
        report.lapsed = len(lapsing)

    from accreditation.certificates import certificates_expire  # imports members

    report.certificates_expired = certificates_expire(today=today)

    reminders_schedule(today=today)
    report.reminders_sent, report.reminders_failed = reminders_send(today=today)
    return report


# Days relative to the end of the period on which each reminder is due.
REMINDER_OFFSETS = {
    Reminder.Kind.DAYS_60_BEFORE: -60,
    Reminder.Kind.DAYS_30_BEFORE: -30,
    Reminder.Kind.DAYS_14_BEFORE: -14,
    Reminder.Kind.ON_THE_DAY: 0,
    Reminder.Kind.DAYS_7_AFTER: 7,
    Reminder.Kind.DAYS_30_AFTER: 30,
}
REMINDER_MAX_ATTEMPTS = 5


def reminders_schedule(*, today: dt.date) -> int:
    """Create the reminder rows now due, at most one per period per kind.

    After missed days only the latest due reminder is created: a member is
    never sent "60 days to go" and "30 days to go" on the same morning.
    """
    earliest_end = today - dt.timedelta(days=max(REMINDER_OFFSETS.values()))
    latest_end = today - dt.timedelta(days=min(REMINDER_OFFSETS.values()))
    periods = MembershipPeriod.objects.filter(
        member__status__in=GOOD_STANDING,
        member__resign_at_period_end=False,
        member__period_ends_on=F("ends_on"),
        ends_on__range=(earliest_end, latest_end),
    ).values_list("pk", "ends_on")
    rows = []
    for period_id, ends_on in periods:
        due = [
            (ends_on + dt.timedelta(days=offset), kind)
            for kind, offset in REMINDER_OFFSETS.items()
            if ends_on + dt.timedelta(days=offset) <= today
        ]
        if due:
            due_on, kind = max(due)
            rows.append(Reminder(period_id=period_id, kind=kind, due_on=due_on))
    # Earlier kinds that were skipped are never created, so a later run cannot send them:
    # only a reminder due after the period's latest one is new. (One pass, not a scan
    # of every existing reminder for every period.)
    latest = dict(
        Reminder.objects.filter(period_id__in=[r.period_id for r in rows])
        .values("period_id")
        .annotate(last=Max("due_on"))
        .values_list("period_id", "last")
    )
    rows = [r for r in rows if r.period_id not in latest or latest[r.period_id] < r.due_on]
    Reminder.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def reminders_send(*, today: dt.date) -> tuple[int, int]:
    """Send each unsent reminder once, marking it sent in the same transaction.

    A failed send is recorded and retried on the next run (up to 5 attempts),
    but only while it still applies: a member who has since renewed, resigned
    or left the register is not told to renew.
    Rows are locked with SKIP LOCKED, so two overlapping runs never both send one.
    """
    sent = failed = 0
    still_due = Q(
        sent_at__isnull=True,
        period__member__status__in=GOOD_STANDING,
        period__member__resign_at_period_end=False,
        period__member__period_ends_on=F("period__ends_on"),
    )
    pending = Reminder.objects.filter(
        still_due, attempts__lt=REMINDER_MAX_ATTEMPTS, due_on__lte=today
    ).values_list("pk", flat=True)
    for reminder_id in list(pending):
        with transaction.atomic():
            reminder = (
                Reminder.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("period__member__user", "period__member__grade")
                .filter(still_due, pk=reminder_id)
                .first()
            )
            if reminder is None:
                continue
            member = reminder.period.member
            reminder.attempts += 1
            try:
                member_email_send_now(
                    member=member,
                    template="renewal_reminder",
                    context={"reminder": reminder, "period": reminder.period},
                )
            except Exception as exc:  # any mail failure: keep the row for the next run
                reminder.last_error = f"{type(exc).__name__}: {exc}"[:1000]
                reminder.save(update_fields=["attempts", "last_error"])
                failed += 1
                continue
            reminder.sent_at = timezone.now()
            reminder.last_error = ""
            reminder.save(update_fields=["attempts", "sent_at", "last_error"])
            sent += 1
    return sent, failed
