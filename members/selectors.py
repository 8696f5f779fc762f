"""Reads shared by pages and other apps, each in a fixed number of queries.

``member_dashboard`` gathers everything the member's dashboard shows and works
out the one thing the member should do next; nothing here changes data.
"""

import datetime as dt
import enum
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, JSONField, OuterRef, QuerySet, Subquery
from django.db.models.functions import JSONObject
from django.utils.dateformat import format as date_format

from members import services
from members.models import (
    GradeChange,
    Invoice,
    Member,
    MembershipPeriod,
    Payment,
    PaymentMethod,
    Source,
    Status,
    StatusEvent,
    User,
    pounds,
)


def _status_events_in_force_by(on: dt.date) -> QuerySet[StatusEvent]:
    """Events in effect by a date, the latest recorded first: the first one for a
    member is their status on that date (see ``member_status_on``)."""
    return StatusEvent.objects.filter(effective_date__lte=on).order_by("-id")


def member_status_on(*, member: Member, on: dt.date) -> Status | None:
    """The member's status on a date, from the event history (None before joining).

    The answer is the latest event *recorded* among those in effect by that
    date. A change recorded late and dated back (a payment received before the
    member went into grace, a death reported after a lapse) therefore replaces
    what was recorded before it from its effective date on, and the status on
    today's date is always the stored ``Member.status``.
    """
    event = (
        _status_events_in_force_by(on)
        .filter(member=member)
        .values_list("to_status", flat=True)
        .first()
    )
    return Status(event) if event else None


def member_status_on_annotations(*, on: dt.date) -> dict[str, Subquery]:
    """``member_status_on`` as an expression on ``Member``, to read the status on
    a date of any number of members in one query: ``status_on_event`` is the
    in-force event as ``{"status", "since", "reason"}`` (``since`` an ISO date),
    or None before joining. One subquery, not one per field: a bulk check pays
    for each subquery once per member."""
    events = _status_events_in_force_by(on).filter(member=OuterRef("pk"))
    event = JSONObject(status=F("to_status"), since=F("effective_date"), reason=F("reason"))
    return {"status_on_event": Subquery(events.values(item=event)[:1], output_field=JSONField())}


def member_period_on_annotations(*, on: dt.date) -> dict[str, Subquery]:
    """``valid_until_on``: the end of the latest paid period that had started by
    the date (None if none had), as an expression on ``Member``."""
    periods = MembershipPeriod.objects.filter(member=OuterRef("pk"), starts_on__lte=on)
    return {"valid_until_on": Subquery(periods.order_by("-ends_on").values("ends_on")[:1])}


def member_status_history(*, member: Member) -> list[StatusEvent]:
    """The member's status changes still in force, oldest first (one query).

    The same rule as ``member_status_on``: a change recorded later replaces
    whatever was recorded before it from its effective date on, so events it
    overrides are left out. Walking the result gives the status on any date.
    """
    in_force: list[StatusEvent] = []
    for event in member.status_events.order_by("-id"):
        if not in_force or event.effective_date < in_force[-1].effective_date:
            in_force.append(event)
    return in_force[::-1]


# Renewal is offered from the day the first reminder goes out.
RENEWAL_OPENS_DAYS_BEFORE = -min(services.REMINDER_OFFSETS.values())


class NextStep(enum.StrEnum):
    JOIN = "join"
    AWAITING_REVIEW = "awaiting_review"
    CHOOSE_GRADE = "choose_grade"  # an applicant whose grade a registrar did not approve
    PAY = "pay"  # an applicant whose grade needs no review, with no invoice yet
    PAY_INVOICE = "pay_invoice"  # an invoice is open
    RENEW = "renew"  # active, near the end of the period, or in grace
    REJOIN = "rejoin"  # lapsed or resigned
    RESIGNING = "resigning"  # active, leaving when the period ends
    PAUSED = "paused"
    SUSPENDED = "suspended"
    REMOVED = "removed"
    NOTHING = "nothing"  # active with time to run


def member_for_user(*, user: User, annotations: dict | None = None) -> Member | None:
    """The signed-in person's membership, with what every member page shows (one
    query). ``annotations`` read more in that same query (the dashboard adds who
    checked the member)."""
    if not user.is_authenticated:
        return None
    members = Member.objects.select_related("user", "grade", "organisation")
    return members.annotate(**(annotations or {})).filter(user=user).first()


def member_pending_grade_change(*, member: Member) -> GradeChange | None:
    return (
        member.grade_changes.filter(state=GradeChange.State.PENDING)
        .select_related("to_grade")
        .first()
    )


@dataclass(frozen=True)
class MemberDashboard:
    member: Member
    invoices: list[Invoice]
    payments: list[Payment]
    status_events: list[StatusEvent]
    pending_grade_change: GradeChange | None
    next_step: NextStep
    today: dt.date

    @property
    def open_invoice(self) -> Invoice | None:
        return _open_invoice(self.invoices)

    @property
    def grace_ends_on(self) -> dt.date | None:
        if self.member.period_ends_on is None:
            return None
        return self.member.period_ends_on + dt.timedelta(days=settings.MEMBERSHIP_GRACE_DAYS)

    @property
    def renewal_starts_on(self) -> dt.date | None:
        """Where a payment today would start the next period, if it renews the current one."""
        if services.payment_renews(self.member, received_on=self.today):
            return self.member.period_ends_on + dt.timedelta(days=1)
        return None

    # Which actions to offer: the services' own rules, so a button is never
    # offered that the service would refuse.
    @property
    def can_update_profile(self) -> bool:
        return services.member_can(self.member, "update_profile")

    @property
    def can_change_grade(self) -> bool:
        return self.pending_grade_change is None and services.member_can(
            self.member, "change_grade"
        )

    @property
    def can_pause(self) -> bool:
        return services.member_can(self.member, "pause")

    @property
    def can_resume(self) -> bool:
        return services.member_can(self.member, "resume")

    @property
    def can_resign(self) -> bool:
        return services.member_can(self.member, "resign")

    @property
    def renewal_opens_on(self) -> dt.date | None:
        if self.member.period_ends_on is None:
            return None
        return self.member.period_ends_on - dt.timedelta(days=RENEWAL_OPENS_DAYS_BEFORE)


def _open_invoice(invoices: list[Invoice]) -> Invoice | None:
    return next((i for i in invoices if i.state == Invoice.State.OPEN), None)


def member_next_step(
    *,
    member: Member,
    open_invoice: Invoice | None,
    pending_grade_change: GradeChange | None,
    grade_unapproved: bool,
    today: dt.date,
) -> NextStep:
    """The one thing the member should do next, from their state alone."""
    status = member.status
    if status == Status.SUSPENDED:
        return NextStep.SUSPENDED
    if status in (Status.REMOVED, Status.DECEASED):
        return NextStep.REMOVED
    if status == Status.PAUSED:
        return NextStep.PAUSED
    if open_invoice is not None:
        return NextStep.PAY_INVOICE
    if status == Status.APPLICANT:
        if pending_grade_change:
            return NextStep.AWAITING_REVIEW
        return NextStep.CHOOSE_GRADE if grade_unapproved else NextStep.PAY
    if status == Status.GRACE:
        return NextStep.RENEW
    if status in (Status.LAPSED, Status.RESIGNED):
        return NextStep.REJOIN
    # Active.
    if member.resign_at_period_end:
        return NextStep.RESIGNING
    opens = member.period_ends_on - dt.timedelta(days=RENEWAL_OPENS_DAYS_BEFORE)
    return NextStep.RENEW if today >= opens else NextStep.NOTHING


def member_dashboard(*, member: Member) -> MemberDashboard:
    """Everything on the dashboard in five queries, however long the history."""
    invoices = list(member.invoices.select_related("grade"))
    payments = list(member.payments.select_related("period", "invoice").prefetch_related("refunds"))
    events = list(member.status_events.order_by("-effective_date", "-id"))
    pending = member_pending_grade_change(member=member)
    today = services.local_today()
    open_invoice = _open_invoice(invoices)
    return MemberDashboard(
        member=member,
        invoices=invoices,
        payments=payments,
        status_events=events,
        pending_grade_change=pending,
        next_step=member_next_step(
            member=member,
            open_invoice=open_invoice,
            pending_grade_change=pending,
            # Asked only of an applicant at a reviewed grade with nothing pending.
            grade_unapproved=pending is None and services.member_grade_unapproved(member),
            today=today,
        ),
        today=today,
    )


# --- Audit history, as people read it ----------------------------------------


def _audit_value_readable(key: str, value) -> str:
    """One value from an audit event, as a member would read it."""
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key in ("status", "from_status", "to_status") and value in Status.values:
        return Status(value).label
    if key == "source" and value in Source.values:
        return Source(value).label
    if key == "method" and value in PaymentMethod.values:
        return PaymentMethod(value).label
    if key.endswith("_pence") and isinstance(value, int):
        return pounds(value)
    if isinstance(value, str) and len(value) == 10:
        try:
            return date_format(dt.date.fromisoformat(value), "j F Y")
        except ValueError:
            pass
    return str(value)


def audit_event_changes(event) -> list[tuple[str, str | None, str]]:
    """(what, before, after) for each value an audit event records."""
    keys = list(dict.fromkeys([*event.before, *event.after]))
    return [
        (
            key.removesuffix("_pence").replace("_", " ").capitalize(),
            _audit_value_readable(key, event.before[key]) if key in event.before else None,
            _audit_value_readable(key, event.after[key]) if key in event.after else "",
        )
        for key in keys
    ]


def registrar_emails() -> list[str]:
    """Where news for the registrars goes: every active staff user."""
    return list(
        User.objects.filter(is_staff=True, is_active=True)
        .order_by("email")
        .values_list("email", flat=True)
    )
