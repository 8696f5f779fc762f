"""Realistic data at national scale for the benchmarks (``manage.py seed_scale``).

Every row is written in bulk (``bench.bulk``): members with their accounts,
grades and organisations; status histories and membership periods that agree
with each other as if the daily job had run every day up to yesterday (so
today's run does one day's work); payments, invoices and the renewal reminders
already sent; about 25 CPD entries a member mapped to the current standards;
annual returns for the CPD years that have ended; and the audit chain those
changes would have written, hash-linked like the real one.

The same seed gives the same data. It is for benchmarking only: the accounts
have unusable passwords and the command refuses to run in production.
Generation is the slow part at this scale, so the hot loops build rows as
ready-to-store text (see bench/bulk.py) from one random number per row.
"""

import datetime as dt
import hashlib
import itertools
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import transaction

from accreditation.certificates import MEMBERSHIP_KEEPS, STATUS_LIST_SIZE, add_years
from accreditation.certificates import SUBJECT_TYPE as CERTIFICATE_SUBJECT
from accreditation.models import Application, Certificate, Level, Scheme
from api import services as api_services
from api.models import RegisterName
from audit.models import GENESIS_HASH, Action, AuditEvent
from bench import names
from bench.bulk import BulkLoader
from cpd.models import AnnualReturn, Entry, Framework, Standard
from cpd.selectors import cpd_year_containing
from members import services as member_services
from members.models import (
    Grade,
    Invoice,
    ManagementLevel,
    Member,
    MembershipPeriod,
    NumberCounter,
    Organisation,
    Payment,
    PaymentMethod,
    Reminder,
    StatusEvent,
    User,
)
from members.numbering import MEMBERSHIP_NUMBER_START, damm_check_digit
from members.services import REMINDER_OFFSETS, SUBJECT_TYPE, period_end_for

HEAVY_MEMBER_EMAIL = "bench.heavy.cpd@example.org"
MEMBERS_PER_CHUNK = 2000
ORGANISATIONS = 500
ACCREDITED_SHARE = 0.2
EMPLOYERS = 500
WATCHED = 50_000  # watch-list entries at 100,000 members; in proportion for other sizes

# (grade slug, share of members, the management levels people at that grade hold)
GRADE_MIX = (
    ("affiliate", 0.15, ("first_line",)),
    ("associate", 0.35, ("first_line", "middle")),
    ("member", 0.40, ("middle", "senior")),
    ("fellow", 0.10, ("senior", "executive")),
)
ACTIVITY_MINUTES = tuple(range(30, 7 * 60 + 1, 15))
# Working-day times of day, for created_at columns.
TIMES = tuple(f"{h:02d}:{m:02d}:00" for h in range(8, 18) for m in range(60))
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant

# Plain strings (not enum members) for the hot rows.
ACTIVE, APPLICANT, GRACE, LAPSED = "active", "applicant", "grace", "lapsed"
PAUSED, RESIGNED, SUSPENDED = "paused", "resigned", "suspended"


@dataclass
class SeedReport:
    members: int = 0
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    # Seconds spent writing each table (the rest is generating the rows).
    write_seconds: dict[str, float] = field(default_factory=dict)
    heavy_member_email: str = ""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _dashed(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


def _email_local(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


class _AuditChain:
    """Appends events to the hash chain exactly as audit.services does, in memory."""

    COLUMNS = [
        "sequence",
        "occurred_at",
        "actor_id",
        "actor_label",
        "subject_type",
        "subject_id",
        "action",
        "before",
        "after",
        "reason",
        "request_id",
        "previous_hash",
        "hash",
    ]

    def __init__(self):
        head = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
        self.sequence, self.previous_hash = head or (0, GENESIS_HASH)
        self.rows: list[tuple] = []

    def add(
        self,
        *,
        at: str,
        actor_id,
        actor_label,
        subject_id,
        action,
        after,
        before=None,
        reason="",
        subject_type=SUBJECT_TYPE,
    ):
        """``at`` is "YYYY-MM-DD HH:MM:SS" in UTC; before/after hold JSON-ready values."""
        self.sequence += 1
        before = before or {}
        content = {
            "sequence": self.sequence,
            # As the model's content() reads it back: an aware UTC datetime's isoformat.
            "occurred_at": at.replace(" ", "T") + "+00:00",
            "actor_id": actor_id,
            "actor_label": actor_label,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "action": action,
            "before": before,
            "after": after,
            "reason": reason,
            "request_id": "",
        }
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(f"{self.previous_hash}\n{canonical}".encode()).hexdigest()
        self.rows.append(
            (
                self.sequence,
                at,
                actor_id,
                actor_label,
                subject_type,
                subject_id,
                action,
                json.dumps(before),
                json.dumps(after),
                reason,
                "",
                self.previous_hash,
                digest,
            )
        )
        self.previous_hash = digest

    def take(self) -> list[tuple]:
        rows, self.rows = self.rows, []
        return rows


class _Counter:
    """A numbering series (membership, receipt, invoice), advanced in memory."""

    def __init__(self, name: str, start: int = 0):
        self.name = name
        row = NumberCounter.objects.filter(name=name).values_list("last_value", flat=True).first()
        self.value = row if row is not None else start

    def next(self) -> int:
        self.value += 1
        return self.value

    def save(self) -> None:
        NumberCounter.objects.update_or_create(name=self.name, defaults={"last_value": self.value})


class ScaleSeeder:
    """Generates ``members`` members and everything that hangs off them."""

    COLUMNS = {
        User: (
            "id password is_superuser email given_name family_name is_staff is_assessor "
            "is_active date_joined"
        ),
        EmailAddress: "user_id email verified primary",
        Member: (
            "id public_id user_id membership_number grade_id status status_since "
            "organisation_id organisation_other job_title management_level register_consent "
            "code_of_conduct_agreed_at period_ends_on resign_at_period_end paused_on "
            "suspended_until suspension_reason reapply_after stripe_customer_id created_at"
        ),
        StatusEvent: "member_id from_status to_status effective_date actor_id reason source created_at",
        MembershipPeriod: "id member_id grade_id starts_on ends_on created_at",
        Invoice: (
            "id public_id number member_id grade_id amount_pence payer_organisation "
            "purchase_order payer_email issued_on due_on state pdf"
        ),
        Payment: (
            "public_id receipt_number member_id method amount_pence received_on reference "
            "stripe_invoice_id invoice_id period_id recorded_by_id created_at pdf"
        ),
        Reminder: "period_id kind due_on sent_at attempts last_error",
        Entry: (
            "id public_id member_id title starts_on ends_on minutes activity_type provider "
            "participatory reflection_learned reflection_applied reflection_impact link "
            "created_at updated_at"
        ),
        Entry.standards.through: "entry_id standard_id",
        AnnualReturn: (
            "public_id member_id year_starts_on year_ends_on due_on state required_minutes "
            "declared_minutes declared_participatory_minutes declared_reflections "
            "declared_domains meets_requirement shortfall_explanation declaration_confirmed "
            "submitted_at late"
        ),
    }
    ORDER = (
        ("users", User),
        ("emails", EmailAddress),
        ("members", Member),
        ("events", StatusEvent),
        ("periods", MembershipPeriod),
        ("invoices", Invoice),
        ("payments", Payment),
        ("reminders", Reminder),
        ("entries", Entry),
        ("entry_standards", Entry.standards.through),
        ("returns", AnnualReturn),
    )

    def __init__(self, *, members: int, seed: int = 1, heavy_entries: int = 500, log=None):
        self.n = members
        self.rnd = random.Random(seed)
        self.heavy_entries = heavy_entries
        self.log: Callable[[str], None] = log or (lambda message: None)
        self.loader = BulkLoader()
        self.today = member_services.local_today()
        self.yesterday = self.today - dt.timedelta(days=1)
        self.grace = dt.timedelta(days=settings.MEMBERSHIP_GRACE_DAYS)
        self._iso: dict[int, str] = {}

    # --- Small helpers -------------------------------------------------------------------

    def iso(self, ordinal: int) -> str:
        """ "YYYY-MM-DD" for a date's ordinal, cached: the hot loops work in ordinals."""
        text = self._iso.get(ordinal)
        if text is None:
            text = self._iso[ordinal] = dt.date.fromordinal(ordinal).isoformat()
        return text

    def at(self, day: dt.date) -> str:
        """A time during that working day, as stored ("YYYY-MM-DD HH:MM:SS", UTC)."""
        return f"{self.iso(day.toordinal())} {TIMES[self.rnd.randrange(len(TIMES))]}"

    def uuid_hex(self) -> str:
        return f"{(self.rnd.getrandbits(128) & _UUID_CLEAR) | _UUID_SET:032x}"

    # --- Reference data ------------------------------------------------------------------

    def _reference_data(self) -> None:
        grades = {g.slug: g for g in Grade.objects.all()}
        missing = [slug for slug, _, _ in GRADE_MIX if slug not in grades]
        if missing:
            raise RuntimeError(f"Grades missing (run migrate first): {', '.join(missing)}")
        self.grades = [(grades[slug], share, levels) for slug, share, levels in GRADE_MIX]
        framework = Framework.objects.filter(
            is_primary=True, status=Framework.Status.CURRENT
        ).first()
        standard_ids = (
            list(Standard.objects.filter(framework=framework).values_list("pk", flat=True))
            if framework
            else []
        )
        # Every set of one, two or three standards an entry can map to, weighted 2:3:1.
        self.standard_sets = (
            [(s,) for s in standard_ids] * 6
            + [c for c in itertools.combinations(standard_ids, 2)][: len(standard_ids) * 9]
            + [c for c in itertools.combinations(standard_ids, 3)][: len(standard_ids) * 3]
        )
        self.rnd.shuffle(self.standard_sets)
        self.organisations = self._organisations()
        self.counters = {
            "membership": _Counter("membership", MEMBERSHIP_NUMBER_START),
            "receipt": _Counter("receipt"),
            "invoice": _Counter("invoice"),
        }
        self.chain = _AuditChain()
        # (member id, management level, status, first paid, organisation id, number,
        # family name) of every paying member.
        self.paid: list[tuple] = []

    def _organisations(self) -> list[tuple[int, str]]:
        """Up to 500 employers (trusts, boards, networks) beside the ones already listed."""
        existing = {name.lower() for name in Organisation.objects.values_list("name", flat=True)}
        wanted = [
            f"{place} {kind}"
            for place in names.PLACES
            for kind in names.ORGANISATION_KINDS
            if f"{place} {kind}".lower() not in existing
        ]
        self.rnd.shuffle(wanted)
        wanted = wanted[: max(0, ORGANISATIONS - len(existing))]
        first = self.loader.allocate(Organisation, len(wanted))
        self.loader.write(
            Organisation,
            ("id", "name", "ods_code"),
            [(first + i, name, f"R{first + i:04d}") for i, name in enumerate(wanted)],
            clean=True,
        )
        return list(Organisation.objects.values_list("pk", "name"))

    # --- One member's life ---------------------------------------------------------------

    def _member_life(
        self, member_id: int, user_id: int, buffers: dict, *, email: str = "", steady=None
    ) -> None:
        """A member's history up to today. ``steady`` (a grade) makes a long-standing
        active member at that grade, who has always renewed."""
        rnd = self.rnd
        today, yesterday = self.today, self.yesterday
        grade, level = (steady, ManagementLevel.MIDDLE.value) if steady else self._grade_and_level()
        given = rnd.choice(names.GIVEN_NAMES)
        family = rnd.choices(names.FAMILY_NAMES, names.FAMILY_WEIGHTS)[0]
        email = email or f"{_email_local(given)}.{_email_local(family)}.{user_id}@example.org"
        joined_on = today - dt.timedelta(days=rnd.randint(400 if steady else 3, 6 * 365))
        joined_at = self.at(joined_on)
        public_hex = self.uuid_hex()
        subject = _dashed(public_hex)
        org_id, org_name = rnd.choice(self.organisations)
        if rnd.random() < 0.12:
            org_id, org_name = None, f"{rnd.choice(names.PLACES)} Care Home"

        password = f"!{rnd.getrandbits(160):040x}"  # unusable: nobody signs in with it
        buffers["users"].append(
            (user_id, password, False, email, given, family, False, False, True, joined_at)
        )
        buffers["emails"].append((user_id, email, True, True))
        buffers["events"].append(
            (member_id, "", APPLICANT, joined_on.isoformat(), user_id, "", "member", joined_at)
        )
        self.chain.add(
            at=joined_at,
            actor_id=user_id,
            actor_label=email,
            subject_id=subject,
            action=Action.MEMBER_JOINED.value,
            after={"grade": grade.name, "status": APPLICANT},
        )
        life = {
            "buffers": buffers,
            "member_id": member_id,
            "subject": subject,
            "status": APPLICANT,
            "since": joined_on,
        }

        number = period_end = paused_on = suspended_until = None
        resign_at_end, suspension_reason = False, ""
        active_from = active_until = None
        applicant = not steady and (
            rnd.random() < 0.04 or ((today - joined_on).days < 14 and rnd.random() < 0.5)
        )
        if not applicant:
            base = str(self.counters["membership"].next())
            number = base + damm_check_digit(base)
            paid_on = min(joined_on + dt.timedelta(days=rnd.randint(0, 14)), yesterday)
            active_from = paid_on
            start, received_on = paid_on, paid_on
            # Most members keep renewing; the rest stop at some point.
            renews = steady or rnd.random() < 0.93
            while True:
                end = period_end_for(start)
                self._period(life, grade, start, end, received_on, org_name)
                if life["status"] == APPLICANT:
                    self._status(life, ACTIVE, received_on, "Payment received", "payment")
                period_end = end
                if end >= yesterday or not (steady or (renews and rnd.random() < 0.9)):
                    break
                start = end + dt.timedelta(days=1)
                received_on = max(start - dt.timedelta(days=rnd.randint(0, 40)), paid_on)
            active_until = min(period_end, today)
            after_end = period_end + dt.timedelta(days=1)
            if period_end >= yesterday:
                roll = 1.0 if steady else rnd.random()
                if roll < 0.02:
                    resign_at_end = True
                elif roll < 0.03:
                    paused_on = max(today - dt.timedelta(days=rnd.randint(1, 200)), life["since"])
                    self._status(
                        life, PAUSED, paused_on, "Career break", "member", actor=(user_id, email)
                    )
                elif roll < 0.036:
                    since = max(today - dt.timedelta(days=rnd.randint(1, 60)), life["since"])
                    suspended_until = today + dt.timedelta(days=rnd.randint(10, 180))
                    suspension_reason = "Under investigation following a complaint."
                    self._status(life, SUSPENDED, since, suspension_reason, "staff")
            elif rnd.random() < 0.2:
                self._status(life, RESIGNED, after_end, "Resigned at the end of the period")
            else:
                reason = "The membership period ended without renewal"
                self._status(life, GRACE, after_end, reason)
                if period_end < yesterday - self.grace:
                    lapsed_on = period_end + self.grace + dt.timedelta(days=1)
                    reason = "Not renewed by the end of the grace period"
                    self._status(life, LAPSED, lapsed_on, reason)
            if life["status"] in (ACTIVE, GRACE) and not resign_at_end:
                self._reminder_sent(buffers, life["period_id"], period_end)

        iso = dt.date.isoformat
        buffers["members"].append(
            (
                member_id,
                public_hex,
                user_id,
                number,
                grade.pk,
                life["status"],
                iso(life["since"]),
                org_id,
                "" if org_id else org_name,
                rnd.choice(names.JOB_TITLES[level]),
                level,
                rnd.random() < 0.8,
                joined_at,
                period_end and iso(period_end),
                resign_at_end,
                paused_on and iso(paused_on),
                suspended_until and iso(suspended_until),
                suspension_reason,
                None,
                None,
                joined_at,
            )
        )
        if active_from is not None and not steady:
            self.paid.append(
                (member_id, level, life["status"], active_from, org_id, number, family)
            )
        if active_from is not None:
            count = 0 if steady else max(0, round(rnd.gauss(26.5, 9)))
            self._entries(buffers, member_id, grade, active_from, active_until, count)

    def _grade_and_level(self):
        roll, total = self.rnd.random(), 0.0
        for grade, share, levels in self.grades:
            total += share
            if roll < total:
                return grade, self.rnd.choice(levels)
        grade, _, levels = self.grades[-1]
        return grade, self.rnd.choice(levels)

    def _status(self, life, to_status, on, reason, source="schedule", actor=(None, "system")):
        at = self.at(on)
        life["buffers"]["events"].append(
            (
                life["member_id"],
                life["status"],
                to_status,
                on.isoformat(),
                actor[0],
                reason,
                source,
                at,
            )
        )
        self.chain.add(
            at=at,
            actor_id=actor[0],
            actor_label=actor[1],
            subject_id=life["subject"],
            action=Action.MEMBER_STATUS_CHANGED.value,
            before={"status": life["status"]},
            after={
                "status": to_status,
                "effective_date": on.isoformat(),
                "source": source,
            },
            reason=reason,
        )
        life["status"], life["since"] = to_status, on

    def _period(self, life, grade, start, end, received_on, org_name):
        rnd, buffers, member_id = self.rnd, life["buffers"], life["member_id"]
        period_id = life["period_id"] = self.loader.allocate(MembershipPeriod, 1)
        created = self.at(received_on)
        buffers["periods"].append(
            (period_id, member_id, grade.pk, start.isoformat(), end.isoformat(), created)
        )
        roll = rnd.random()
        method = (
            PaymentMethod.CARD.value
            if roll < 0.45
            else PaymentMethod.BACS_DEBIT.value
            if roll < 0.6
            else PaymentMethod.INVOICE.value
        )
        invoice_id = None
        if method == PaymentMethod.INVOICE:
            invoice_id = self.loader.allocate(Invoice, 1)
            issued = received_on - dt.timedelta(days=rnd.randint(5, 25))
            buffers["invoices"].append(
                (
                    invoice_id,
                    self.uuid_hex(),
                    f"INV{self.counters['invoice'].next():06d}",
                    member_id,
                    grade.pk,
                    grade.annual_fee_pence,
                    org_name,
                    f"PO-{rnd.randrange(10**6)}",
                    "",
                    issued.isoformat(),
                    (issued + dt.timedelta(days=30)).isoformat(),
                    Invoice.State.PAID.value,
                    "",
                )
            )
        receipt = f"R{self.counters['receipt'].next():06d}"
        buffers["payments"].append(
            (
                self.uuid_hex(),
                receipt,
                member_id,
                method,
                grade.annual_fee_pence,
                received_on.isoformat(),
                "BACS" if invoice_id else "",
                None,
                invoice_id,
                period_id,
                None,
                created,
                "",
            )
        )
        self.chain.add(
            at=created,
            actor_id=None,
            actor_label="system",
            subject_id=life["subject"],
            action=Action.MEMBER_PERIOD_STARTED.value,
            after={
                "starts_on": start.isoformat(),
                "ends_on": end.isoformat(),
                "grade": grade.name,
                "receipt": receipt,
                "method": method,
            },
        )

    def _reminder_sent(self, buffers, period_id: int, period_end: dt.date) -> None:
        """The latest renewal reminder due by yesterday, already sent, as the job would have."""
        earliest = self.yesterday - dt.timedelta(days=max(REMINDER_OFFSETS.values()))
        latest = self.yesterday - dt.timedelta(days=min(REMINDER_OFFSETS.values()))
        if not earliest <= period_end <= latest:
            return
        due = [
            (period_end + dt.timedelta(days=offset), kind)
            for kind, offset in REMINDER_OFFSETS.items()
            if period_end + dt.timedelta(days=offset) <= self.yesterday
        ]
        if due:
            due_on, kind = max(due)
            sent_at = f"{due_on.isoformat()} 06:30:00"
            buffers["reminders"].append((period_id, kind.value, due_on.isoformat(), sent_at, 1, ""))

    def _entries(self, buffers, member_id, grade, first_day, last_day, count):
        """``count`` CPD entries between two days, each mapped to one to three standards.

        The hot loop: one random number decides most of a row."""
        if not count:
            return
        getrandbits, iso = self.rnd.getrandbits, self.iso
        first, span = first_day.toordinal(), max((last_day - first_day).days, 0) + 1
        entries, links = buffers["entries"], buffers["entry_standards"]
        totals = buffers["return_totals"].setdefault(member_id, {})
        buffers["grade_of"][member_id] = grade
        activities, providers = names.CPD_ACTIVITIES, names.PROVIDERS
        learned, applied, impact = (
            names.REFLECTIONS_LEARNED,
            names.REFLECTIONS_APPLIED,
            names.REFLECTIONS_IMPACT,
        )
        sets, minutes_choices = self.standard_sets, ACTIVITY_MINUTES
        start_month = settings.CPD_YEAR_START_MONTH
        entry_id = self.loader.allocate(Entry, count)
        for _ in range(count):
            r = getrandbits(64)
            ends = first + r % span
            r //= span
            title, kind, participatory = activities[r % len(activities)]
            r //= len(activities)
            minutes = minutes_choices[r % len(minutes_choices)]
            r //= len(minutes_choices)
            reflective = r % 20  # 0-8: all three parts; 9-13: what was learned; else none
            r //= 20
            back = (0, 0, 0, 0, 1, 2)[r % 6]
            r //= 6
            created = f"{iso(ends)} {TIMES[r % 600]}"
            r //= 600
            entries.append(
                (
                    entry_id,
                    f"{getrandbits(128) & _UUID_CLEAR | _UUID_SET:032x}",
                    member_id,
                    title,
                    iso(ends - back),
                    iso(ends),
                    minutes,
                    kind,
                    providers[r % len(providers)],
                    participatory,
                    learned[r % 5] if reflective < 14 else "",
                    applied[r % 4] if reflective < 9 else "",
                    impact[r % 4] if reflective < 9 else "",
                    "",
                    created,
                    created,
                )
            )
            r //= 11
            if sets:
                for standard_id in sets[r % len(sets)]:
                    links.append((entry_id, standard_id))
            day = dt.date.fromordinal(ends)
            year = day.year if day.month >= start_month else day.year - 1
            total = totals.get(year)
            if total is None:
                total = totals[year] = [0, 0, 0]
            total[0] += minutes
            total[1] += minutes if participatory else 0
            total[2] += reflective < 9
            entry_id += 1

    def _annual_returns(self, buffers) -> None:
        """A return for each CPD year that has ended in which the member logged CPD."""
        rnd = self.rnd
        due_days = dt.timedelta(days=settings.CPD_RETURN_DUE_DAYS)
        for member_id, years in buffers["return_totals"].items():
            required = buffers["grade_of"][member_id].cpd_hours_required * 60
            for start_year, (minutes, participatory, reflections) in years.items():
                year = cpd_year_containing(dt.date(start_year, settings.CPD_YEAR_START_MONTH, 1))
                if year.ends_on >= self.today:
                    continue
                due_on = year.ends_on + due_days
                dates = (year.starts_on.isoformat(), year.ends_on.isoformat(), due_on.isoformat())
                if rnd.random() < 0.88:
                    late = rnd.random() < 0.05
                    submitted = due_on + dt.timedelta(days=9 if late else rnd.randint(-40, -1))
                    buffers["returns"].append(
                        (
                            self.uuid_hex(),
                            member_id,
                            *dates,
                            "submitted",
                            required,
                            minutes,
                            participatory,
                            reflections,
                            rnd.randint(1, 5),
                            minutes >= required,
                            "" if minutes >= required else "Long-term sickness absence.",
                            True,
                            self.at(submitted),
                            late,
                        )
                    )
                else:
                    buffers["returns"].append(
                        (
                            self.uuid_hex(),
                            member_id,
                            *dates,
                            "draft",
                            0,
                            0,
                            0,
                            0,
                            0,
                            False,
                            "",
                            False,
                            None,
                            False,
                        )
                    )

    # --- Writing -------------------------------------------------------------------------

    def _new_buffers(self) -> dict:
        buffers = {key: [] for key, _ in self.ORDER}
        buffers.update(return_totals={}, grade_of={})
        return buffers

    def _flush(self, buffers: dict) -> None:
        self._annual_returns(buffers)
        for key, model in self.ORDER:
            self.loader.write(model, self.COLUMNS[model].split(), buffers[key], clean=True)
        self.loader.write(AuditEvent, _AuditChain.COLUMNS, self.chain.take(), clean=True)

    def _accreditations(self) -> None:
        """20% of paying members hold an accreditation: an approved application and its
        certificate, following the membership as certificates do (valid while active,
        in grace or paused; suspended by the membership otherwise), its PDF not yet
        rendered, and the certificate.issued event webhooks are built from."""
        rnd = self.rnd
        # Accredited after at least six months of membership.
        eligible = [p for p in self.paid if (self.yesterday - p[3]).days >= 180]
        wanted = min(len(eligible), round(self.n * ACCREDITED_SHARE))
        chosen = sorted(rnd.sample(eligible, wanted))
        if not chosen:
            return
        scheme, _ = Scheme.objects.get_or_create(
            slug="accredited-manager",
            defaults={
                "name": "Accredited Manager",
                "description": "Independent recognition that a manager meets our standards.",
            },
        )
        levels = {}
        for level in ManagementLevel:
            levels[level.value], _ = Level.objects.get_or_create(
                scheme=scheme,
                management_level=level,
                defaults={
                    "name": f"Accredited Manager ({level.label.lower()})",
                    "min_months_in_role": 12,
                    "assessors_required": 2 if level == ManagementLevel.EXECUTIVE else 1,
                },
            )
        used = set(Certificate.objects.values_list("status_list_index", flat=True))
        free = rnd.sample(sorted(set(range(STATUS_LIST_SIZE)) - used), len(chosen))
        counter = _Counter("certificate")
        first_application = self.loader.allocate(Application, len(chosen))
        first_certificate = self.loader.allocate(Certificate, len(chosen))
        applications, certificates = [], []
        for i, (member_id, management_level, status, paid_on, *_) in enumerate(chosen):
            level = levels[management_level]
            # Decided at least six months after joining, and recently enough to be current.
            earliest = max(
                paid_on + dt.timedelta(days=180),
                add_years(self.today, -level.validity_years) + dt.timedelta(days=30),
            )
            decided_on = earliest + dt.timedelta(
                days=rnd.randint(0, max((self.yesterday - earliest).days, 0))
            )
            decided = dt.datetime.combine(decided_on, dt.time(15, rnd.randrange(60)), dt.UTC)
            applications.append(
                Application(
                    pk=first_application + i,
                    member_id=member_id,
                    level=level,
                    state="approved",
                    career_summary="Leads a service and its budget; manages managers.",
                    management_since=paid_on - dt.timedelta(days=rnd.randint(365, 15 * 365)),
                    recommendation="approve",
                    submitted_at=decided - dt.timedelta(days=rnd.randint(20, 90)),
                    decided_at=decided,
                    decision_reasons="Meets every required standard, with strong evidence.",
                )
            )
            number = counter.next()
            keeps = status in MEMBERSHIP_KEEPS
            certificate = Certificate(
                pk=first_certificate + i,
                serial=f"AC-{decided_on.year}-{number:06d}-"
                + damm_check_digit(f"{decided_on.year}{number:06d}"),
                member_id=member_id,
                level=level,
                application_id=first_application + i,
                valid_from=decided_on,
                valid_until=add_years(decided_on, level.validity_years) - dt.timedelta(days=1),
                status="valid" if keeps else "suspended",
                suspended_by="" if keeps else "membership",
                status_reason="" if keeps else f"Membership {status}",
                status_changed_at=decided,
                status_list_index=free[i],
            )
            certificates.append(certificate)
            self.chain.add(
                at=decided.strftime("%Y-%m-%d %H:%M:%S"),
                actor_id=None,
                actor_label="system",
                subject_type=CERTIFICATE_SUBJECT,
                subject_id=str(certificate.pk),
                action=Action.CERTIFICATE_ISSUED.value,
                after={
                    "status": "valid",
                    "member": member_id,
                    "public_id": str(certificate.public_id),
                    "level": level.pk,
                    "serial": certificate.serial,
                    "valid_from": certificate.valid_from.isoformat(),
                    "valid_until": certificate.valid_until.isoformat(),
                    "suspended_by": "",
                },
            )
        self._bulk(Application, applications)
        self._bulk(Certificate, certificates)
        counter.save()
        self.loader.write(AuditEvent, _AuditChain.COLUMNS, self.chain.take(), clean=True)

    def _employers(self) -> None:
        """500 employers (one per organisation) with one or two API keys each, and, once
        watch lists exist, 50,000 watch-list entries: each employer watching up to 100
        of its own staff. Nobody holds these keys (only digests of random secrets are
        stored); the benchmark makes its own."""
        from api.models import ApiKey, EmployerClient
        from api.services import EMPLOYER_SUBJECT, KEY_PREFIX_START, KEY_SUBJECT

        rnd = self.rnd
        organisations = self.organisations[:EMPLOYERS]
        first_employer = self.loader.allocate(EmployerClient, len(organisations))
        employers, keys = [], []
        at = self.at(self.today - dt.timedelta(days=400))
        for i, (org_id, name) in enumerate(organisations):
            employer = EmployerClient(
                pk=first_employer + i,
                public_id=uuid.UUID(self.uuid_hex()),
                name=name,
                contact_email=f"hr{first_employer + i}@example.org",
            )
            employers.append((employer, org_id))
            self.chain.add(
                at=at, actor_id=None, actor_label="system", subject_type=EMPLOYER_SUBJECT,
                subject_id=str(employer.public_id), action=Action.EMPLOYER_CREATED.value,
                after={"name": employer.name, "contact_email": employer.contact_email},
            )  # fmt: skip
            for name_of_key in ("HR system", "Recruitment")[: rnd.choice((1, 1, 2))]:
                prefix = f"{KEY_PREFIX_START}{rnd.getrandbits(32):08x}"
                secret = f"{prefix}.{rnd.getrandbits(256):064x}"
                key = ApiKey(
                    public_id=uuid.UUID(self.uuid_hex()),
                    employer=employer,
                    name=name_of_key,
                    prefix=prefix,
                    digest=hashlib.sha256(secret.encode()).hexdigest(),
                    scopes=["verify", "watchlist", "webhooks"],
                )
                keys.append(key)
                self.chain.add(
                    at=at, actor_id=None, actor_label="system", subject_type=KEY_SUBJECT,
                    subject_id=str(key.public_id), action=Action.API_KEY_CREATED.value,
                    after={"employer": str(employer.public_id), "name": key.name,
                           "prefix": prefix, "scopes": key.scopes, "expires_at": None},
                )  # fmt: skip
        self._bulk(EmployerClient, [employer for employer, _ in employers])
        self._bulk(ApiKey, keys)
        self.loader.write(AuditEvent, _AuditChain.COLUMNS, self.chain.take(), clean=True)
        self._watch_lists(employers)

    def _watch_lists(self, employers) -> None:
        from api import models as api_models

        watch_entry = getattr(api_models, "WatchEntry", None)
        if watch_entry is None:  # watch lists not built yet
            return
        staff: dict[int, list[tuple]] = {}
        for member_id, _, _, _, org_id, number, family in self.paid:
            if org_id is not None:
                staff.setdefault(org_id, []).append((member_id, number, family))
        wanted = round(WATCHED * self.n / 100_000)
        per_employer = -(-wanted // max(len(employers), 1))  # rounded up
        entries = []
        for employer, org_id in employers:
            people = staff.get(org_id, [])
            take = min(per_employer, len(people), wanted - len(entries))
            for member_id, number, family in self.rnd.sample(people, max(take, 0)):
                entries.append(
                    watch_entry(
                        public_id=uuid.UUID(self.uuid_hex()),
                        employer=employer,
                        member_id=member_id,
                        membership_number=number,
                        family_name=family,
                    )
                )
        self._bulk(watch_entry, entries)

    def _bulk(self, model, objects: list) -> None:
        """Smaller tables, written with bulk_create (defaults filled in by the model)."""
        started = time.perf_counter()
        model.objects.bulk_create(objects, batch_size=2000)
        table = model._meta.db_table
        self.loader.counts[table] = self.loader.counts.get(table, 0) + len(objects)
        self.loader.seconds[table] = self.loader.seconds.get(table, 0.0) + (
            time.perf_counter() - started
        )
        self.loader._touched.add(model)

    def _heavy_member(self) -> str:
        """One active member with a long CPD log this year: the dashboard's worst case."""
        if self.heavy_entries <= 0 or User.objects.filter(email=HEAVY_MEMBER_EMAIL).exists():
            return ""
        buffers = self._new_buffers()
        user_id = self.loader.allocate(User, 1)
        member_id = self.loader.allocate(Member, 1)
        grade = Grade.objects.get(slug="member")
        self._member_life(member_id, user_id, buffers, email=HEAVY_MEMBER_EMAIL, steady=grade)
        year = cpd_year_containing(self.today)
        last = min(year.ends_on, self.today)
        self._entries(buffers, member_id, grade, year.starts_on, last, self.heavy_entries)
        self._flush(buffers)
        return HEAVY_MEMBER_EMAIL

    def run(self) -> SeedReport:
        started = time.perf_counter()
        with transaction.atomic():
            self.loader.defer_checks()
            rebuild = self.loader.indexes_dropped(
                [Entry, Entry.standards.through, AuditEvent, AnnualReturn, Payment]
            )
            self._reference_data()
            done = 0
            while done < self.n:
                size = min(MEMBERS_PER_CHUNK, self.n - done)
                first_user = self.loader.allocate(User, size)
                first_member = self.loader.allocate(Member, size)
                buffers = self._new_buffers()
                for i in range(size):
                    self._member_life(first_member + i, first_user + i, buffers)
                self._flush(buffers)
                done += size
                if done % 20000 == 0 or done == self.n:
                    self.log(f"  {done:,} members ({time.perf_counter() - started:.0f} s)")
            self._accreditations()
            self._employers()
            heavy = self._heavy_member()
            rebuilding = time.perf_counter()
            self.loader.rebuild(rebuild)
            if rebuild:
                self.log(f"  indexes rebuilt ({time.perf_counter() - rebuilding:.0f} s)")
            for counter in self.counters.values():
                counter.save()
            self.loader.finish()
            # COPY ran with triggers off (defer_checks): the register search's names.
            names = api_services.register_names_refresh()
            if names:
                self.loader.counts[RegisterName._meta.db_table] = names
        if self.loader.vendor == "postgresql":
            analyzed = time.perf_counter()
            self.loader.analyze()
            self.log(f"  planner statistics refreshed ({time.perf_counter() - analyzed:.0f} s)")
        return SeedReport(
            members=self.n,
            seconds=time.perf_counter() - started,
            rows=dict(self.loader.counts),
            write_seconds={t: round(v, 2) for t, v in self.loader.seconds.items()},
            heavy_member_email=heavy,
        )
