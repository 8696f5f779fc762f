"""Annual CPD returns and the CPD audit: the services that change them and the
selectors that read them.

A return is one per member per CPD year. Submitting it freezes the declared
figures and locks the year's entries (``cpd.services`` refuses changes). The
audit sample is drawn once per year from a recorded seed, so anyone can redraw
it and get the same members. Every transition locks its row, re-checks the
state, writes an audit event in the same transaction and queues its email.
"""

import datetime as dt
import random
import secrets
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import JSONObject
from django.template.loader import render_to_string
from django.utils import timezone

from audit.models import Action
from audit.services import EventSpec, audit_record, audit_record_many
from cpd.models import AnnualReturn, AuditCase, AuditSample, ReturnReminder
from cpd.selectors import CPDYear, Progress, cpd_progress, cpd_year_containing, cpd_year_starting
from cpd.services import CPDError
from members import services as membership
from members.expressions import JSONArraySubquery
from members.models import Member, Status, StatusEvent, User
from members.tasks import send_email

RETURN_SUBJECT = "cpd.return"
SAMPLE_SUBJECT = "cpd.audit_sample"
CASE_SUBJECT = "cpd.audit_case"

# Who is asked for a return, and who can be drawn for audit.
RETURN_STATUSES = (Status.ACTIVE, Status.GRACE, Status.SUSPENDED, Status.PAUSED)
AUDIT_STATUSES = (Status.ACTIVE, Status.GRACE)

# The states in which a case waits for the member, and for an assessor.
WITH_MEMBER = (AuditCase.State.SELECTED, AuditCase.State.DEFERRED, AuditCase.State.MORE_INFORMATION)
OUTCOMES = (
    AuditCase.State.MEETS,
    AuditCase.State.MORE_INFORMATION,
    AuditCase.State.DOES_NOT_MEET,
)


# --- Email -------------------------------------------------------------------------


def cpd_email_enqueue(*, member: Member, template: str, context: dict | None = None) -> None:
    """Queue an email rendered from templates/cpd/email/<template>_subject/_message.txt
    (the same shape as members.notifications, for CPD's own messages)."""
    context = {
        "member": member,
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        **(context or {}),
    }
    subject = render_to_string(f"cpd/email/{template}_subject.txt", context)
    send_email.enqueue(
        subject=f"[{settings.SITE_NAME}] " + " ".join(subject.split()),
        body=render_to_string(f"cpd/email/{template}_message.txt", context).strip() + "\n",
        to=[member.user.email],
    )


# --- Annual returns: reads ---------------------------------------------------------


def return_due_on(year: CPDYear) -> dt.date:
    return year.ends_on + dt.timedelta(days=settings.CPD_RETURN_DUE_DAYS)


def return_year(annual_return: AnnualReturn) -> CPDYear:
    return cpd_year_containing(annual_return.year_starts_on)


def return_is_open(*, year: CPDYear, today: dt.date) -> bool:
    """A return can be submitted from the last day of its year."""
    return today >= year.ends_on


@dataclass
class ReturnView:
    year: CPDYear
    annual_return: AnnualReturn | None
    progress: Progress
    due_on: dt.date
    is_open: bool

    @property
    def submitted(self) -> bool:
        return bool(self.annual_return and self.annual_return.state == AnnualReturn.State.SUBMITTED)


def return_for_member(*, member: Member, year: CPDYear, today: dt.date) -> ReturnView:
    """The member's return for a year (saved or not yet), with live progress."""
    annual_return = AnnualReturn.objects.filter(
        member=member, year_starts_on=year.starts_on
    ).first()
    return ReturnView(
        year=year,
        annual_return=annual_return,
        progress=cpd_progress(member=member, year=year, today=today),
        due_on=annual_return.due_on if annual_return else return_due_on(year),
        is_open=return_is_open(year=year, today=today),
    )


def returns_for_member(*, member: Member) -> QuerySet[AnnualReturn]:
    return AnnualReturn.objects.filter(member=member).order_by("-year_starts_on")


def returns_for_registrar(*, year: CPDYear, show: str, today: dt.date) -> QuerySet[AnnualReturn]:
    """Returns for a year: ``due`` (not submitted, not yet due), ``late`` (submitted
    late, or not submitted and past due), ``short`` (submitted below the requirement)."""
    returns = AnnualReturn.objects.filter(year_starts_on=year.starts_on).select_related(
        "member__user", "member__grade"
    )
    draft = Q(state=AnnualReturn.State.DRAFT)
    if show == "due":
        returns = returns.filter(draft, due_on__gte=today)
    elif show == "late":
        returns = returns.filter(Q(late=True) | (draft & Q(due_on__lt=today)))
    elif show == "short":
        returns = returns.filter(state=AnnualReturn.State.SUBMITTED, meets_requirement=False)
    return returns.order_by("member__user__family_name", "member__user__given_name", "pk")


class Standing(StrEnum):
    ACCEPTED = "accepted"
    NOT_REQUIRED = "not_required"
    NOT_RETURNED = "not_returned"
    SHORT = "short"
    FAILED_AUDIT = "failed_audit"


STANDING_WORDS = {
    Standing.ACCEPTED: "returned and accepted",
    Standing.NOT_REQUIRED: "not required (not a member that year)",
    Standing.NOT_RETURNED: "not returned",
    Standing.SHORT: "returned below the requirement",
    Standing.FAILED_AUDIT: "returned, but the audit found it did not meet the standard",
}


@dataclass(frozen=True)
class ReturnStanding:
    """A member's CPD standing: how their last return that fell due was received."""

    year: CPDYear
    standing: Standing

    @property
    def accepted(self) -> bool:
        return self.standing in (Standing.ACCEPTED, Standing.NOT_REQUIRED)

    @property
    def words(self) -> str:
        return STANDING_WORDS[self.standing]


def _standing_years(today: dt.date) -> tuple[CPDYear, CPDYear]:
    """The CPD year just ended and the one before: the last due year is one of them."""
    just_ended = cpd_year_containing(cpd_year_containing(today).starts_on - dt.timedelta(days=1))
    return just_ended, cpd_year_containing(just_ended.starts_on - dt.timedelta(days=1))


def return_standing_annotations(*, today: dt.date) -> dict:
    """What ``return_standing`` reads, as expressions on ``Member``: annotate a
    queryset with them to know the standing of any number of members in the
    same one query (the employer API does, for 1,000 members at once).

    Three subqueries cover both candidate years, each reading a member's few
    rows by index: ``EXISTS`` per year and fact would be six, and PostgreSQL
    turns an ``EXISTS`` over many members into a hashed subplan that reads
    the whole table."""
    starts = [year.starts_on for year in _standing_years(today)]
    return {
        # The returns sent for those years, and whether each met the requirement.
        "cpd_returns": JSONArraySubquery(
            AnnualReturn.objects.filter(
                member=OuterRef("pk"),
                year_starts_on__in=starts,
                state=AnnualReturn.State.SUBMITTED,
            ).values(item=JSONObject(year=F("year_starts_on"), met=F("meets_requirement")))
        ),
        # A year ending before this date needed no return.
        "cpd_first_active": Subquery(
            StatusEvent.objects.filter(member=OuterRef("pk"), to_status=Status.ACTIVE)
            .order_by("effective_date")
            .values("effective_date")[:1]
        ),
        "cpd_failed_audits": JSONArraySubquery(
            AuditCase.objects.filter(
                member=OuterRef("pk"),
                sample__year_starts_on__in=starts,
                state=AuditCase.State.DOES_NOT_MEET,
            ).values(item=JSONObject(year=F("sample__year_starts_on")))
        ),
    }


def return_standing_from(values, *, today: dt.date) -> ReturnStanding:
    """The standing from the values of ``return_standing_annotations`` (a dict
    from ``.values()`` or an annotated instance), with no further query.

    The last due year is the year just ended once its return is due, or earlier
    if sent early; otherwise the year before. A year before they first joined
    needs no return."""

    def get(name: str):
        return values[name] if isinstance(values, dict) else getattr(values, name)

    # JSON has the dates as ISO strings; SQLite's booleans are 0 and 1.
    met = {row["year"]: bool(row["met"]) for row in get("cpd_returns")}
    failed = {row["year"] for row in get("cpd_failed_audits")}
    first_active = get("cpd_first_active")
    just_ended, before = _standing_years(today)
    if today > return_due_on(just_ended) or just_ended.starts_on.isoformat() in met:
        year = just_ended
    else:
        year = before
    key = year.starts_on.isoformat()
    if key not in met:
        was_member = first_active is not None and first_active <= year.ends_on
        return ReturnStanding(year, Standing.NOT_RETURNED if was_member else Standing.NOT_REQUIRED)
    if key in failed:
        return ReturnStanding(year, Standing.FAILED_AUDIT)
    if not met[key]:
        return ReturnStanding(year, Standing.SHORT)
    return ReturnStanding(year, Standing.ACCEPTED)


def return_standing(*, member: Member, today: dt.date) -> ReturnStanding:
    """Whether the member's last due return was sent, met the requirement and
    survived any audit (one query)."""
    annotations = return_standing_annotations(today=today)
    values = Member.objects.filter(pk=member.pk).annotate(**annotations).values(*annotations).get()
    return return_standing_from(values, today=today)


def last_due_year(*, member: Member, today: dt.date) -> CPDYear:
    """The latest finished CPD year whose return has fallen due, or been sent early."""
    return return_standing(member=member, today=today).year


# --- Annual returns: writes ---------------------------------------------------------


def _return_get_or_create(*, member: Member, year: CPDYear) -> AnnualReturn:
    """The member's return row for the year, locked (made as a draft if missing)."""
    defaults = {"year_ends_on": year.ends_on, "due_on": return_due_on(year)}
    try:
        with transaction.atomic():
            AnnualReturn.objects.get_or_create(
                member=member, year_starts_on=year.starts_on, defaults=defaults
            )
    except IntegrityError:
        pass  # made by a concurrent request; locked and read below
    return AnnualReturn.objects.select_for_update().get(
        member=member, year_starts_on=year.starts_on
    )


@transaction.atomic
def annual_return_submit(
    *,
    member: Member,
    year: CPDYear,
    actor: User,
    declaration_confirmed: bool,
    shortfall_explanation: str = "",
) -> AnnualReturn:
    """Declare the year's CPD: freeze the totals and the requirement, flag it late
    if past its due date, and lock the year's entries. Submitting twice changes nothing."""
    # The member row is the lock entry writes take too, so no entry can slip
    # into the year between the totals being counted and the return being saved.
    member = Member.objects.select_for_update().select_related("grade", "user").get(pk=member.pk)
    annual_return = _return_get_or_create(member=member, year=year)
    if annual_return.state == AnnualReturn.State.SUBMITTED:
        return annual_return
    today = membership.local_today()
    if not return_is_open(year=year, today=today):
        raise CPDError(
            f"You can submit your {year.label} return from {year.ends_on:%-d %B %Y}, "
            "the last day of the CPD year."
        )
    if not declaration_confirmed:
        raise CPDError("Confirm the declaration to submit your return.")
    progress = cpd_progress(member=member, year=year, today=today)
    explanation = shortfall_explanation.strip()
    if not progress.all_met and not explanation:
        raise CPDError(
            "Explain why you have not met the requirement: the registrar reads this with your "
            "return."
        )
    annual_return.required_minutes = progress.requirement.minutes
    annual_return.declared_minutes = progress.minutes
    annual_return.declared_participatory_minutes = progress.participatory_minutes
    annual_return.declared_reflections = progress.reflections
    annual_return.declared_domains = progress.domains_touched
    annual_return.meets_requirement = progress.all_met
    annual_return.shortfall_explanation = "" if progress.all_met else explanation
    annual_return.declaration_confirmed = True
    annual_return.state = AnnualReturn.State.SUBMITTED
    annual_return.submitted_at = timezone.now()
    annual_return.late = today > annual_return.due_on
    annual_return.save()
    audit_record(
        action=Action.CPD_RETURN_SUBMITTED,
        subject_type=RETURN_SUBJECT,
        subject_id=str(annual_return.public_id),
        actor=actor,
        before={"state": AnnualReturn.State.DRAFT},
        after={
            "state": annual_return.state,
            "member": member.membership_number,
            "year": year.label,
            "required_minutes": annual_return.required_minutes,
            "declared_minutes": annual_return.declared_minutes,
            "meets_requirement": annual_return.meets_requirement,
            "late": annual_return.late,
        },
        reason=annual_return.shortfall_explanation,
    )
    cpd_email_enqueue(
        member=member,
        template="return_submitted",
        context={"annual_return": annual_return, "year": year},
    )
    return annual_return


# --- Reminders (the daily job) -------------------------------------------------------


@dataclass
class DailyReport:
    returns_opened: int = 0
    reminders_sent: int = 0


def _reminder_kind(*, year: CPDYear, due_on: dt.date, today: dt.date):
    """The reminder that applies today: the latest whose day has come, while the
    return is not yet overdue. A missed day is caught up on the next run."""
    schedule = [
        (year.ends_on, ReturnReminder.Kind.YEAR_END),
        (due_on - dt.timedelta(days=14), ReturnReminder.Kind.DAYS_14_BEFORE),
        (due_on, ReturnReminder.Kind.ON_THE_DAY),
    ]
    if today > due_on:
        return None
    applicable = [kind for day, kind in schedule if day <= today]
    return applicable[-1] if applicable else None


def _members_owing_returns(year: CPDYear) -> QuerySet[Member]:
    """Members still with us who were members on some day of the year."""
    joined_by_year_end = StatusEvent.objects.filter(
        member=OuterRef("pk"),
        to_status=Status.ACTIVE,
        effective_date__lte=year.ends_on,
    )
    return (
        Member.objects.filter(status__in=RETURN_STATUSES)
        .filter(Exists(joined_by_year_end))
        .select_related("user")
        .order_by("pk")
    )


# Members handled per transaction by the daily job: a few statements each, however many members.
DAILY_BATCH = 2000


def _reminders_record(*, return_ids: list[int], kind: str) -> list[int]:
    """Insert the (return, kind) reminder rows not there yet and return the ids of the
    returns that got one: the unique row, claimed with ON CONFLICT DO NOTHING, is what
    makes each reminder go out once even when two runs overlap."""
    if not return_ids:
        return []
    table = connection.ops.quote_name(ReturnReminder._meta.db_table)
    now = timezone.now()
    rows = ", ".join(["(%s, %s, %s)"] * len(return_ids))
    params = [value for pk in return_ids for value in (pk, kind, now)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (annual_return_id, kind, sent_at) VALUES {rows} "  # noqa: S608
            "ON CONFLICT (annual_return_id, kind) DO NOTHING RETURNING annual_return_id",
            params,
        )
        return sorted(row[0] for row in cursor.fetchall())


def cpd_daily_run(*, today: dt.date | None = None) -> DailyReport:
    """Open returns for the year just ended and send each reminder once.

    Safe to run more than once a day, and set-based so it takes seconds for the
    whole register: per batch of members, one insert of the returns not yet
    opened, one insert of the reminders not yet sent, and one task that writes
    that batch's emails (queued in the same transaction as the reminder rows)."""
    from cpd.tasks import cpd_return_reminders_send

    today = today or membership.local_today()
    report = DailyReport()
    # The latest year that has ended (or ends today), and the one before, in
    # case its return is still due.
    latest = cpd_year_containing(today)
    if today != latest.ends_on:
        latest = cpd_year_containing(latest.starts_on - dt.timedelta(days=1))
    for year in (latest, cpd_year_containing(latest.starts_on - dt.timedelta(days=1))):
        due_on = return_due_on(year)
        kind = _reminder_kind(year=year, due_on=due_on, today=today)
        if kind is None:
            continue
        kind = str(kind)  # the stored value, for SQL and the task's arguments
        member_ids = list(_members_owing_returns(year).values_list("pk", flat=True))
        for first in range(0, len(member_ids), DAILY_BATCH):
            batch = member_ids[first : first + DAILY_BATCH]
            with transaction.atomic():
                returns = AnnualReturn.objects.filter(
                    member_id__in=batch, year_starts_on=year.starts_on
                )
                opened = set(batch) - set(returns.values_list("member_id", flat=True))
                AnnualReturn.objects.bulk_create(
                    [
                        AnnualReturn(
                            member_id=member_id,
                            year_starts_on=year.starts_on,
                            year_ends_on=year.ends_on,
                            due_on=due_on,
                        )
                        for member_id in sorted(opened)
                    ],
                    ignore_conflicts=True,  # opened meanwhile by the member: theirs stands
                )
                report.returns_opened += len(opened)
                reminded = _reminders_record(
                    return_ids=list(
                        returns.exclude(state=AnnualReturn.State.SUBMITTED)
                        .order_by("member_id")
                        .values_list("pk", flat=True)
                    ),
                    kind=kind,
                )
                if reminded:
                    cpd_return_reminders_send.enqueue(annual_return_ids=reminded, kind=kind)
                report.reminders_sent += len(reminded)
    return report


# --- The audit sample ----------------------------------------------------------------


def audit_eligible_members(*, year: CPDYear) -> QuerySet[Member]:
    """Active or in-grace members past their first year: their first membership
    period started at least 12 months before the year ends. Ordered by pk, the
    stable order the seeded draw relies on."""
    cutoff = _one_year_before(year.ends_on)
    return (
        Member.objects.filter(status__in=AUDIT_STATUSES)
        .annotate(first_started_on=Min("periods__starts_on"))
        .filter(first_started_on__lte=cutoff)
        .order_by("pk")
    )


def _one_year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def audit_sample_size(*, eligible: int, percent: Decimal) -> int:
    if not eligible:
        return 0
    size = (Decimal(eligible) * percent / 100).to_integral_value(rounding=ROUND_HALF_UP)
    return min(eligible, max(1, int(size)))


def audit_draw(*, candidate_ids: list[int], seed: str, size: int) -> list[int]:
    """The seeded draw: the same candidates (in pk order) and seed give the same ids."""
    # Reproducibility is the point, not secrecy: anyone with the seed can check the draw.
    return sorted(random.Random(seed).sample(sorted(candidate_ids), size))  # noqa: S311


def _respond_by(today: dt.date) -> dt.date:
    return today + dt.timedelta(days=settings.CPD_AUDIT_WINDOW_DAYS)


@transaction.atomic
def audit_sample_draw(
    *,
    year: CPDYear,
    actor: User,
    seed: str = "",
    percent: Decimal | None = None,
    extra_members: list[Member] = (),
) -> AuditSample:
    """Draw the year's audit sample and open a case for each member chosen, plus
    any the registrar adds. One sample per year (the database holds to it); the
    seed, the rule and the selection are recorded."""
    if AuditSample.objects.filter(year_starts_on=year.starts_on).exists():
        raise CPDError(f"The {year.label} sample has already been drawn.")
    seed = seed.strip() or secrets.token_hex(8)
    percent = settings.CPD_AUDIT_PERCENT if percent is None else Decimal(percent)
    today = membership.local_today()
    # Lock the eligible members so their status cannot change under the draw.
    eligible_ids = list(audit_eligible_members(year=year).values_list("pk", flat=True))
    list(Member.objects.select_for_update().filter(pk__in=eligible_ids).values_list("pk"))
    size = audit_sample_size(eligible=len(eligible_ids), percent=percent)
    drawn = audit_draw(candidate_ids=eligible_ids, seed=seed, size=size)
    cutoff = _one_year_before(year.ends_on)
    rule = (
        f"{percent}% of the {len(eligible_ids)} eligible members, rounded, at least one if any: "
        f"members active or in grace on {today:%-d %B %Y} whose first membership period started "
        f"on or before {cutoff:%-d %B %Y}, ordered by their internal id, drawn with Python's "
        f"random.Random(seed).sample; seed {seed!r}."
    )
    try:
        with transaction.atomic():
            sample = AuditSample.objects.create(
                year_starts_on=year.starts_on,
                seed=seed,
                rule=rule,
                percentage=percent,
                eligible_count=len(eligible_ids),
                drawn_by=actor,
            )
    except IntegrityError as error:
        raise CPDError(f"The {year.label} sample has already been drawn.") from error
    members = {m.pk: m for m in Member.objects.filter(pk__in=drawn).select_related("user")}
    cases = [
        AuditCase(sample=sample, member=members[pk], respond_by=_respond_by(today)) for pk in drawn
    ]
    drawn_set = set(drawn)
    for member in extra_members:
        if member.pk not in drawn_set:
            drawn_set.add(member.pk)
            cases.append(
                AuditCase(
                    sample=sample,
                    member=member,
                    respond_by=_respond_by(today),
                    added_by_registrar=True,
                )
            )
    AuditCase.objects.bulk_create(cases)
    audit_record_many(
        events=[
            EventSpec(
                action=Action.CPD_AUDIT_SAMPLED,
                subject_type=SAMPLE_SUBJECT,
                subject_id=str(sample.pk),
                actor=actor,
                after={
                    "year": year.label,
                    "seed": seed,
                    "percentage": str(percent),
                    "eligible": len(eligible_ids),
                    "drawn": [members[pk].membership_number for pk in drawn],
                    "added": [c.member.membership_number for c in cases if c.added_by_registrar],
                },
                reason=rule,
            ),
            *(_selected_event(case, actor) for case in cases),
        ]
    )
    for case in cases:
        _email_selected(case, year)
    return sample


def _selected_event(case: AuditCase, actor: User) -> EventSpec:
    return EventSpec(
        action=Action.CPD_AUDIT_SELECTED,
        subject_type=CASE_SUBJECT,
        subject_id=str(case.public_id),
        actor=actor,
        after={
            "member": case.member.membership_number,
            "member_id": str(case.member.public_id),
            "state": case.state,
            "respond_by": case.respond_by,
            "added_by_registrar": case.added_by_registrar,
        },
    )


def _email_selected(case: AuditCase, year: CPDYear) -> None:
    cpd_email_enqueue(
        member=case.member, template="audit_selected", context={"case": case, "year": year}
    )


@transaction.atomic
def audit_case_add(*, sample: AuditSample, member: Member, actor: User) -> AuditCase:
    """Add a member to a drawn sample by hand; adding someone already in it changes nothing."""
    sample = AuditSample.objects.select_for_update().get(pk=sample.pk)
    existing = AuditCase.objects.filter(sample=sample, member=member).first()
    if existing:
        return existing
    case = AuditCase.objects.create(
        sample=sample,
        member=member,
        respond_by=_respond_by(membership.local_today()),
        added_by_registrar=True,
    )
    audit_record_many(events=[_selected_event(case, actor)])
    _email_selected(case, cpd_year_starting(sample.year_starts_on.year))
    return case


def _locked_case(case: AuditCase) -> AuditCase:
    return (
        AuditCase.objects.select_for_update(of=("self",))
        .select_related("member__user", "sample")
        .get(pk=case.pk)
    )


def _case_event(
    case: AuditCase, action: Action, actor: User, before: dict, reason: str = ""
) -> None:
    audit_record(
        action=action,
        subject_type=CASE_SUBJECT,
        subject_id=str(case.public_id),
        actor=actor,
        before=before,
        after={"state": case.state, "respond_by": case.respond_by},
        reason=reason.strip(),
    )


@transaction.atomic
def audit_case_deferral_request(*, case: AuditCase, actor: User, reason: str) -> AuditCase:
    """The member asks for more time; a registrar decides."""
    case = _locked_case(case)
    if case.state not in (AuditCase.State.SELECTED, AuditCase.State.DEFERRED):
        raise CPDError("You can ask for more time only before your record goes for review.")
    if not reason.strip():
        raise CPDError("Tell us why you need more time.")
    case.deferral_requested_on = membership.local_today()
    case.deferral_reason = reason.strip()
    case.save()
    _case_event(
        case, Action.CPD_AUDIT_DEFERRAL_REQUESTED, actor, {"state": case.state}, reason=reason
    )
    return case


@transaction.atomic
def audit_case_defer(*, case: AuditCase, actor: User, respond_by: dt.date) -> AuditCase:
    """A registrar grants more time: a new date to respond by."""
    case = _locked_case(case)
    if case.state not in (AuditCase.State.SELECTED, AuditCase.State.DEFERRED):
        raise CPDError("Only a case still waiting for the member can be deferred.")
    if respond_by <= case.respond_by:
        raise CPDError(f"Choose a date after the current one, {case.respond_by:%-d %B %Y}.")
    before = {"state": case.state, "respond_by": case.respond_by}
    case.state = AuditCase.State.DEFERRED
    case.respond_by = respond_by
    case.deferral_requested_on = None
    case.save()
    _case_event(case, Action.CPD_AUDIT_DEFERRED, actor, before)
    cpd_email_enqueue(member=case.member, template="audit_deferred", context={"case": case})
    return case


@transaction.atomic
def audit_case_submit(*, case: AuditCase, actor: User, response: str = "") -> AuditCase:
    """The member sends their record for review (the first time, or with the more
    information an assessor asked for). The year's return must be submitted."""
    case = _locked_case(case)
    if case.state == AuditCase.State.IN_REVIEW:
        return case
    if case.state not in WITH_MEMBER:
        raise CPDError("This audit is finished.")
    year = cpd_year_starting(case.sample.year_starts_on.year)
    if not AnnualReturn.objects.filter(
        member=case.member, year_starts_on=year.starts_on, state=AnnualReturn.State.SUBMITTED
    ).exists():
        raise CPDError(f"Submit your {year.label} annual return first: the audit reviews it.")
    response = response.strip()
    if case.state == AuditCase.State.MORE_INFORMATION and not response:
        raise CPDError("Give the more information the assessor asked for.")
    before = {"state": case.state}
    case.state = AuditCase.State.IN_REVIEW
    if response:
        case.member_response = response
    case.save()
    _case_event(case, Action.CPD_AUDIT_SUBMITTED, actor, before, reason=response)
    return case


@transaction.atomic
def audit_case_decide(
    *, case: AuditCase, assessor: User, outcome: AuditCase.State, reasons: str
) -> AuditCase:
    """An assessor's outcome, with reasons, for a case under review. An assessor
    never reviews their own record."""
    case = _locked_case(case)
    if not assessor.is_assessor:
        raise CPDError("Only an assessor can record an audit outcome.")
    if case.member.user_id == assessor.pk:
        raise CPDError("You cannot review your own audit.")
    if outcome not in OUTCOMES:
        raise CPDError("Choose an outcome.")
    if not reasons.strip():
        raise CPDError("Give your reasons: the member reads them.")
    if case.state != AuditCase.State.IN_REVIEW:
        raise CPDError("This case is not waiting for review.")
    before = {"state": case.state}
    case.state = outcome
    case.assessor = assessor
    case.outcome_reasons = reasons.strip()
    case.decided_at = timezone.now()
    case.save()
    _case_event(case, Action.CPD_AUDIT_OUTCOME, assessor, before, reason=case.outcome_reasons)
    cpd_email_enqueue(member=case.member, template="audit_outcome", context={"case": case})
    return case


# --- Audit reads ---------------------------------------------------------------------


def _cases() -> QuerySet[AuditCase]:
    return AuditCase.objects.select_related("member__user", "member__grade", "sample", "assessor")


def audit_cases_for_member(*, member: Member) -> QuerySet[AuditCase]:
    return _cases().filter(member=member).order_by("-sample__year_starts_on")


def audit_case_for_member(*, member: Member, public_id) -> AuditCase:
    """One of the member's own cases; anyone else's does not exist (404)."""
    return audit_cases_for_member(member=member).get(public_id=public_id)


def audit_queue_for_assessor(*, assessor: User) -> dict[str, list[AuditCase]]:
    """Cases an assessor may work, never their own: ready for review, and
    waiting for the member."""
    cases = list(_cases().exclude(member__user=assessor).filter(~Q(state__in=_FINAL)))
    return {
        "ready": [c for c in cases if c.state == AuditCase.State.IN_REVIEW],
        "waiting": [c for c in cases if c.state != AuditCase.State.IN_REVIEW],
    }


_FINAL = (AuditCase.State.MEETS, AuditCase.State.DOES_NOT_MEET)


def audit_case_for_assessor(*, assessor: User, public_id) -> AuditCase:
    """A case an assessor may open: any but their own (404)."""
    return _cases().exclude(member__user=assessor).get(public_id=public_id)


def audit_cases_for_registrar(*, sample: AuditSample) -> QuerySet[AuditCase]:
    return _cases().filter(sample=sample).order_by("member__pk")


def audit_follow_ups() -> QuerySet[AuditCase]:
    """Cases that did not meet the standard: the registrar follows them up."""
    return _cases().filter(state=AuditCase.State.DOES_NOT_MEET).order_by("decided_at")


def audit_deferral_requests() -> QuerySet[AuditCase]:
    return (
        _cases()
        .filter(deferral_requested_on__isnull=False, state__in=WITH_MEMBER)
        .order_by("deferral_requested_on")
    )
