"""Reads for the API and the employer portal, each in a fixed number of queries.

Verification answers "was this person, named so, a member in good standing on
this date, and what are they accredited for" for one or a thousand people in
the same one query: the status comes from the status history
(``members.selectors``), the CPD standing from the annual returns
(``cpd.returns``), both as expressions on the member rows.
"""

import datetime as dt
import json
import operator
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from functools import reduce

from django.db import connection
from django.db.models import (
    BooleanField,
    Expression,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Collate, JSONObject, Upper

from accreditation.selectors import current_certificates
from api.compiled import PLACEHOLDER, compiled
from api.models import (
    ApiKey,
    EmployerClient,
    LookupChannel,
    LookupResult,
    RegisterName,
    VerificationLookup,
    api_key_digest,
)
from cpd.returns import ReturnStanding, return_standing_annotations, return_standing_from
from members import services as member_services
from members.expressions import JSONArraySubquery
from members.models import GOOD_STANDING, Member, Status, User
from members.selectors import member_period_on_annotations, member_status_on_annotations

# --- Keys -------------------------------------------------------------------------


KEY_FIELDS = [field.attname for field in ApiKey._meta.concrete_fields]
EMPLOYER_FIELDS = [field.attname for field in EmployerClient._meta.concrete_fields]


def _key_query() -> QuerySet:
    employer = [f"employer__{name}" for name in EMPLOYER_FIELDS]
    return ApiKey.objects.filter(digest=PLACEHOLDER).values(*KEY_FIELDS, *employer)


def api_key_find(*, raw: str) -> ApiKey | None:
    """The key whose digest matches, with its employer (one query), or None.
    Every API call starts here, so the query is compiled once (``api.compiled``)."""
    if len(raw) > 200:
        return None
    query = compiled("api_key_find", None, _key_query)
    rows = query.rows(api_key_digest(raw))
    if not rows:
        return None
    [row] = rows
    key = ApiKey.from_db(query.using, KEY_FIELDS, [row[name] for name in KEY_FIELDS])
    key.employer = EmployerClient.from_db(
        query.using, EMPLOYER_FIELDS, [row[f"employer__{name}"] for name in EMPLOYER_FIELDS]
    )
    return key


# --- Verification -----------------------------------------------------------------

NOT_A_MEMBER = "not_a_member"
NOT_A_MEMBER_WORDS = "Not a member on this date"

STATUS_MEANING = {
    Status.APPLICANT: "Has applied to join but is not yet a member.",
    Status.ACTIVE: "A member in good standing.",
    Status.GRACE: "A member in good standing whose renewal is due (grace period).",
    Status.LAPSED: "No longer a member: the membership was not renewed.",
    Status.SUSPENDED: "Suspended: not in good standing while the suspension lasts.",
    Status.RESIGNED: "No longer a member: resigned.",
    Status.REMOVED: "Removed from membership by the registrar.",
    Status.DECEASED: "Deceased.",
    Status.PAUSED: "A member on a career break (membership paused).",
}


def normalise_number(number: str) -> str:
    """Membership numbers are letters and digits; anything else (a NUL byte, which
    PostgreSQL refuses in text) can match no one, so it becomes the empty string."""
    number = re.sub(r"\s+", "", number or "").upper()[:40]
    return number if number.isascii() and number.isalnum() else ""


def normalise_name(name: str) -> str:
    """Family names compare without case, accents, or differences in spaces,
    hyphens and apostrophes: "O\u2019Brien-Smith" (curly apostrophe) matches "o'brien smith"."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    plain = plain.replace("’", "'").replace("‘", "'").replace("-", " ")
    return " ".join(plain.casefold().split())


@dataclass(frozen=True)
class Sanction:
    kind: str  # "suspension" or "removal"
    words: str
    since: dt.date | None
    until: dt.date | None
    reason: str


@dataclass(frozen=True)
class Accreditation:
    """A certificate current on the date asked about."""

    scheme: str
    level: str
    post_nominals: str
    status: str
    valid_from: dt.date
    valid_until: dt.date
    certificate_id: str


def accreditations_annotations(*, on: dt.date) -> dict:
    """``accreditation_rows`` on ``Member``: the certificates current on the date
    (``accreditation.selectors.current_certificates``), newest first, in the same
    query as the member. Read them with ``_accreditations``."""
    certificates = (
        current_certificates(on=on)
        .filter(member=OuterRef("pk"))
        .order_by("-valid_from", "-pk")
        .values(
            item=JSONObject(
                scheme=F("level__scheme__name"),
                level=F("level__name"),
                post_nominals=F("level__post_nominals"),
                status=F("status"),
                valid_from=F("valid_from"),
                valid_until=F("valid_until"),
                certificate_id=F("public_id"),
            )
        )
    )
    return {"accreditation_rows": JSONArraySubquery(certificates)}


def _accreditations(rows: list[dict]) -> list[Accreditation]:
    accreditations = [
        Accreditation(
            scheme=row["scheme"],
            level=row["level"],
            post_nominals=row["post_nominals"] or "",
            status=row["status"],
            valid_from=dt.date.fromisoformat(row["valid_from"]),
            valid_until=dt.date.fromisoformat(row["valid_until"]),
            # SQLite gives the UUID's 32 hex digits, PostgreSQL the dashed form.
            certificate_id=str(uuid.UUID(row["certificate_id"])),
        )
        for row in rows
    ]
    return sorted(accreditations, key=lambda a: (a.valid_from, a.certificate_id), reverse=True)


@dataclass(frozen=True)
class Verification:
    """What the API says about one member on one date."""

    membership_number: str
    given_name: str
    family_name: str
    on: dt.date
    status: Status | None
    status_since: dt.date | None
    grade_name: str
    post_nominals: str
    valid_until: dt.date | None
    cpd: ReturnStanding
    sanctions: list[Sanction] = field(default_factory=list)
    accreditations: list[Accreditation] = field(default_factory=list)

    @property
    def status_code(self) -> str:
        return self.status.value if self.status else NOT_A_MEMBER

    @property
    def status_words(self) -> str:
        return self.status.label if self.status else NOT_A_MEMBER_WORDS

    @property
    def status_meaning(self) -> str:
        return STATUS_MEANING[self.status] if self.status else "Was not a member on this date."

    @property
    def in_good_standing(self) -> bool:
        return self.status in GOOD_STANDING


@dataclass(frozen=True)
class Check:
    """One number and name asked about, and the answer: ``verification`` is None
    when nobody matches both (an unknown number and a wrong name look the same)."""

    membership_number: str
    family_name: str
    result: LookupResult
    member_id: int | None
    verification: Verification | None


# The member's own columns a verification shows, read with the annotations below.
VERIFICATION_FIELDS = (
    "pk",
    "membership_number",
    "status",
    "status_since",
    "suspended_until",
    "user__given_name",
    "user__family_name",
    "grade__name",
    "grade__post_nominals",
)


def members_on(*, on: dt.date, today: dt.date) -> QuerySet:
    """Members with everything a verification shows as of ``on``, as ``values()``
    rows: ``VERIFICATION_FIELDS`` and the annotations. Read one with ``verification_of``."""
    annotations = {
        **member_status_on_annotations(on=on),
        **member_period_on_annotations(on=on),
        **return_standing_annotations(today=min(on, today)),
        **accreditations_annotations(on=on),
    }
    return Member.objects.annotate(**annotations).values(*VERIFICATION_FIELDS, *annotations)


def _member_on(*, number: str, on: dt.date, today: dt.date) -> list[dict]:
    """``members_on`` for one membership number, compiled once per date."""
    query = compiled(
        "members_on",
        (on, today),
        lambda: members_on(on=on, today=today).filter(membership_number=PLACEHOLDER),
    )
    return query.rows(number)


def _sanctions(row: dict, event: dict) -> list[Sanction]:
    since = dt.date.fromisoformat(event["since"])
    if event["status"] == Status.SUSPENDED:
        # The end date is known for a suspension still in force today.
        # The planned end belongs to the current suspension only, not an earlier one.
        current = row["status"] == Status.SUSPENDED and since == row["status_since"]
        return [
            Sanction(
                kind="suspension",
                words="Suspended",
                since=since,
                until=row["suspended_until"] if current else None,
                reason=event["reason"],
            )
        ]
    if event["status"] == Status.REMOVED:
        # Removal is stated; its reason stays between the member and the registrar.
        return [
            Sanction(
                kind="removal", words="Removed from membership", since=since, until=None, reason=""
            )
        ]
    return []


def verification_of(row: dict, *, on: dt.date, today: dt.date) -> Verification:
    """The verification of a member from a ``members_on`` row (no further query)."""
    event = row["status_on_event"]
    status = Status(event["status"]) if event else None
    return Verification(
        membership_number=row["membership_number"],
        given_name=row["user__given_name"],
        family_name=row["user__family_name"],
        on=on,
        status=status,
        status_since=dt.date.fromisoformat(event["since"]) if event else None,
        grade_name=row["grade__name"],
        post_nominals=row["grade__post_nominals"],
        valid_until=row["valid_until_on"] if status else None,
        cpd=return_standing_from(row, today=min(on, today)),
        sanctions=_sanctions(row, event) if event else [],
        accreditations=_accreditations(row["accreditation_rows"]),
    )


def members_check(*, pairs: list[tuple[str, str]], on: dt.date, today: dt.date) -> list[Check]:
    """One answer per (membership number, family name) pair, in the order asked,
    in one query however many pairs there are."""
    numbers = {normalise_number(number) for number, _ in pairs}
    numbers.discard("")
    if len(numbers) == 1:
        rows = _member_on(number=next(iter(numbers)), on=on, today=today)
    else:
        rows = (
            members_on(on=on, today=today).filter(membership_number__in=numbers) if numbers else []
        )
    found = {row["membership_number"]: row for row in rows}
    checks = []
    for number, family_name in pairs:
        row = found.get(normalise_number(number))
        if row is None:
            result, verification = LookupResult.UNKNOWN_NUMBER, None
        elif normalise_name(row["user__family_name"]) != normalise_name(family_name):
            result, verification = LookupResult.NAME_MISMATCH, None
        else:
            result = LookupResult.FOUND
            verification = verification_of(row, on=on, today=today)
        checks.append(
            Check(
                membership_number=number,
                family_name=family_name,
                result=result,
                member_id=row["pk"] if verification else None,
                verification=verification,
            )
        )
    return checks


# --- The public register ------------------------------------------------------------

# Who appears (if they agreed): members in good standing, paused, or suspended
# (shown as suspended, with the published reason).
REGISTER_STATUSES = (Status.ACTIVE, Status.GRACE, Status.PAUSED, Status.SUSPENDED)
SEARCH_MIN_LENGTH = 2
SEARCH_MAX_WORDS = 5


def _register_order(name: str):
    """A name as the register sorts it: upper-cased and compared character by
    character (COLLATE "C" on PostgreSQL; SQLite compares so already), whatever
    the database's locale. The same expressions are indexed (api/migrations/0005),
    and Python orders the strings the same way when it merges two reads."""
    upper = Upper(name)
    return Collate(upper, "C") if connection.vendor == "postgresql" else upper


REGISTER_ORDER = ("sort_family", "sort_given", "pk")


def register_members() -> QuerySet[Member]:
    """Everyone on the public register: they agreed to appear, have a number and
    a status that is shown. Sorted by family name, given name, then id."""
    return (
        Member.objects.filter(
            register_consent=True,
            status__in=REGISTER_STATUSES,
            membership_number__isnull=False,
        )
        .select_related("user", "grade", "organisation")
        .annotate(
            sort_family=_register_order("user__family_name"),
            sort_given=_register_order("user__given_name"),
        )
        .annotate(**accreditations_annotations(on=member_services.local_today()))
        .order_by(*REGISTER_ORDER)
    )


def register_position(member: Member) -> str:
    """Where a member read by ``RegisterSearch`` stands in register order, as text
    for a cursor. Unique (it ends with the id), so a cursor is a position, never
    "the nth row after a tie" (DRF caps those at 1,000, which loops on a common name)."""
    return json.dumps(
        [member.sort_family, member.sort_given, member.pk],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def register_position_parse(text: str) -> tuple[str, str, int] | None:
    """The (family, given, id) of a ``register_position``, or None if it is not one."""
    try:
        family, given, pk = json.loads(text)
    except (TypeError, ValueError):
        return None
    # PostgreSQL refuses NUL in text, so a cursor carrying one is no position.
    if (
        isinstance(family, str)
        and isinstance(given, str)
        and type(pk) is int
        and "\x00" not in family + given
    ):
        return family, given, pk
    return None


class _RowCompare(Expression):
    """``(a, b, c) > (x, y, z)`` (or ``<``): a keyset condition that PostgreSQL
    reads as a range of the name index, where the OR of its parts would be a filter."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, columns, values, operator):
        super().__init__()
        self.columns, self.values, self.operator = list(columns), list(values), operator

    def get_source_expressions(self):
        return self.columns

    def set_source_expressions(self, expressions):
        self.columns = list(expressions)

    def as_sql(self, compiler, connection):
        compiled = [compiler.compile(column) for column in self.columns]
        columns = ", ".join(sql for sql, _ in compiled)
        placeholders = ", ".join(["%s"] * len(self.values))
        params = [param for _, column_params in compiled for param in column_params]
        return f"({columns}) {self.operator} ({placeholders})", (*params, *self.values)


@dataclass(frozen=True)
class _NamesMatched:
    """For one word typed: the family and given names in use that it matches,
    upper-cased as ``_register_order`` upper-cases them."""

    family: frozenset[str]
    given: frozenset[str]


def _name_matches(word: str, *, fuzzy: bool) -> Q:
    matches = Q(name__icontains=word)
    if fuzzy and len(word) >= 3:
        matches |= Q(name__trigram_similar=word)
    return matches


def _names_matched(words: list[str]) -> list[_NamesMatched]:
    """Every word's matching names, in one query: from ``RegisterName`` on
    PostgreSQL (substring or trigram similarity, on its trigram index), from the
    users themselves elsewhere (substring only)."""
    fuzzy = connection.vendor == "postgresql"
    conditions = [_name_matches(word, fuzzy=fuzzy) for word in words]
    flags = {
        f"word_{i}": ExpressionWrapper(condition, output_field=BooleanField())
        for i, condition in enumerate(conditions)
    }

    def matched(names: QuerySet) -> QuerySet:
        return (
            names.filter(reduce(operator.or_, conditions))
            .annotate(upper=Upper("name"), **flags)
            .values_list("kind", "upper", *flags)
        )

    if fuzzy:
        rows = matched(RegisterName.objects.all())
    else:
        family, given = (
            matched(
                User.objects.annotate(kind=Value(kind), name=F(f"{kind}_name")).order_by()
            ).distinct()
            for kind in RegisterName.Kind.values
        )
        rows = family.union(given)
    found = [{kind: set() for kind in RegisterName.Kind.values} for _ in words]
    for kind, upper, *word_flags in rows:
        for names, flag in zip(found, word_flags, strict=True):
            if flag:
                names[kind].add(upper)
    return [
        _NamesMatched(
            family=frozenset(names[RegisterName.Kind.FAMILY]),
            given=frozenset(names[RegisterName.Kind.GIVEN]),
        )
        for names in found
    ]


class RegisterSearch:
    """The register entries a search finds, in register order, read a window at a
    time: ``page`` after or before a position (the API's cursors), slices and
    ``count`` (Django's Paginator, for the web pages).

    A number finds its entry exactly. Otherwise every word typed must match the
    start of, appear in, or (on PostgreSQL) be spelled close to the given or
    family name ("Smyth" finds "Smith"). The words are matched against the
    names in use (``_names_matched``: one small query); the people are then read
    in two parts, each from an index in register order and stopping after the
    window: those whose family name the first word matches, and those matched
    by their given name only. A page of "Smith" reads a page of Smiths, not all
    of them. The two are merged here. Three queries at most for a window
    (the names, the two parts), one more for the count.
    """

    ordered = True  # for Django's Paginator

    def __init__(self, q: str):
        q = " ".join((q or "").split())
        self.number: str | None = None
        self.words: list[str] = []
        self._read: tuple[QuerySet[Member], list[QuerySet[Member]]] | None = None
        if len(q) < SEARCH_MIN_LENGTH:
            return
        if q.replace(" ", "").isdigit():
            self.number = q.replace(" ", "")
        else:
            self.words = q.split()[:SEARCH_MAX_WORDS]

    def _matching(self) -> tuple[QuerySet[Member], list[QuerySet[Member]]]:
        """Everyone the search finds, and the same people as disjoint parts, each
        of which an index reads in register order."""
        if self._read is not None:
            return self._read
        members = register_members()
        if self.number:
            members = members.filter(membership_number=self.number)
            self._read = members, [members]
            return self._read
        if not self.words:
            self._read = members.none(), []
            return self._read
        lead, *others = _names_matched(self.words)
        for names in others:
            members = members.filter(
                Q(sort_family__in=names.family) | Q(sort_given__in=names.given)
            )
        parts = []
        if lead.family:
            parts.append(members.filter(sort_family__in=lead.family))
        if lead.given:
            given_only = members.filter(sort_given__in=lead.given)
            if lead.family:
                given_only = given_only.exclude(sort_family__in=lead.family)
            parts.append(given_only)
        everyone = members.filter(Q(sort_family__in=lead.family) | Q(sort_given__in=lead.given))
        self._read = everyone, parts
        return self._read

    def windows(
        self, *, after: str | None = None, before: str | None = None, offset: int = 0, limit: int
    ) -> list[QuerySet[Member]]:
        """The queries ``page`` runs: each part of the search from the position
        on, in register order (reversed with ``before``), cut after the window."""
        position = after if before is None else before
        start = register_position_parse(position) if position is not None else None
        if position is not None and start is None:
            raise ValueError(f"Not a register position: {position!r}")
        backwards = before is not None
        order = [f"-{field}" for field in REGISTER_ORDER] if backwards else list(REGISTER_ORDER)
        windows = []
        for part in self._matching()[1]:
            if start:
                keys = [F("sort_family"), F("sort_given"), F("pk")]
                part = part.filter(
                    # The names alone bound the scan of the name index; the id breaks ties.
                    _RowCompare(keys[:2], start[:2], "<=" if backwards else ">="),
                    _RowCompare(keys, start, "<" if backwards else ">"),
                )
            windows.append(part.order_by(*order)[: offset + limit])
        return windows

    def page(
        self, *, after: str | None = None, before: str | None = None, offset: int = 0, limit: int
    ) -> list[Member]:
        """Up to ``limit`` entries after the position ``after`` (in register
        order) or, with ``before``, the ones just before it, nearest first;
        ``offset`` skips that many first. Positions are ``register_position``s."""
        found: list[Member] = []
        for window in self.windows(after=after, before=before, offset=offset, limit=limit):
            found += window
        found.sort(key=lambda m: (m.sort_family, m.sort_given, m.pk), reverse=before is not None)
        found = found[offset : offset + limit]
        for member in found:
            member.sort_key = register_position(member)
        return found

    def __getitem__(self, window: slice) -> list[Member]:
        if not isinstance(window, slice) or window.step not in (None, 1):
            raise TypeError("A register search is read by slices.")
        start, stop = window.start or 0, window.stop
        if start < 0 or stop is None or stop < start:
            raise ValueError("A register search is read by bounded, forward slices.")
        return self.page(offset=start, limit=stop - start)

    def count(self) -> int:
        return self._matching()[0].count()


def register_search(*, q: str) -> RegisterSearch:
    """Register entries matching a membership number exactly, or a name (see ``RegisterSearch``)."""
    return RegisterSearch(q)


def register_entry(*, membership_number: str) -> Member:
    """One register entry by number; anyone not on the register does not exist."""
    return register_members().get(membership_number=normalise_number(membership_number) or "-")


@dataclass(frozen=True)
class RegisterEntry:
    """What the register shows of one member: minimal by design."""

    membership_number: str
    given_name: str
    family_name: str
    grade_name: str
    post_nominals: str
    status: Status
    organisation: str | None
    town: str | None
    sanctions: list[Sanction]
    accreditations: list[Accreditation]

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    @property
    def status_code(self) -> str:
        return self.status.value

    @property
    def status_words(self) -> str:
        return self.status.label


def register_entries(members) -> list[RegisterEntry]:
    """Register entries for members read through ``register_members`` (which
    reads their current accreditations too): no further query."""
    members = list(members)
    entries = []
    for member in members:
        show_workplace = member.register_show_workplace
        sanctions = []
        if member.status == Status.SUSPENDED:
            sanctions.append(
                Sanction(
                    kind="suspension",
                    words="Suspended",
                    since=member.status_since,
                    until=member.suspended_until,
                    reason=member.suspension_reason,
                )
            )
        entries.append(
            RegisterEntry(
                membership_number=member.membership_number,
                given_name=member.user.given_name,
                family_name=member.user.family_name,
                grade_name=member.grade.name,
                post_nominals=member.grade.post_nominals,
                status=Status(member.status),
                organisation=(member.organisation_name or None) if show_workplace else None,
                town=(member.town or None) if show_workplace else None,
                sanctions=sanctions,
                accreditations=_accreditations(member.accreditation_rows),
            )
        )
    return entries


# --- Who checked a member -------------------------------------------------------------

CHECKED_BY_SHOWN = 10


@dataclass(frozen=True)
class CheckedBy:
    """One check that found a member, as the member sees it."""

    employer_name: str
    at: dt.datetime
    channel: str
    on_date: dt.date

    @property
    def channel_label(self) -> str:
        return LookupChannel(self.channel).label


def member_checked_by_annotations(*, limit: int = CHECKED_BY_SHOWN) -> dict:
    """``checked_by_rows`` on ``Member``: the latest checks that found the member,
    read in the same query as the member (the dashboard's query budget has no
    room for another). Read it with ``member_checked_by``."""
    lookups = (
        VerificationLookup.objects.filter(member=OuterRef("pk"), result=LookupResult.FOUND)
        .order_by("-at", "-id")
        .values(
            item=JSONObject(
                employer=F("employer__name"), at=F("at"), channel=F("channel"), on=F("on_date")
            )
        )[:limit]
    )
    return {"checked_by_rows": JSONArraySubquery(lookups)}


def _aware(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def member_checked_by(*, member: Member, limit: int = CHECKED_BY_SHOWN) -> list[CheckedBy]:
    """The latest checks that found this member, newest first. Checks that did
    not match (a wrong name) are not the member's. No query if the member was
    read with ``member_checked_by_annotations``; one otherwise."""
    rows = getattr(member, "checked_by_rows", None)
    if rows is None:
        rows = (
            Member.objects.filter(pk=member.pk)
            .annotate(**member_checked_by_annotations(limit=limit))
            .values_list("checked_by_rows", flat=True)
            .get()
        )
    checks = [
        CheckedBy(
            employer_name=row["employer"],
            at=_aware(row["at"]),
            channel=row["channel"],
            on_date=dt.date.fromisoformat(row["on"]),
        )
        for row in rows
    ]
    # JSON aggregation keeps the subquery's order in practice; sorting makes it certain.
    return sorted(checks, key=lambda check: check.at, reverse=True)[:limit]
