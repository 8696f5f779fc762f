"""Reads for the CPD log and progress, each in a fixed number of queries."""

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Min, Prefetch, Q, QuerySet
from django.utils import timezone

from cpd.models import Domain, Entry, Evidence, Framework, Standard
from members.models import Member, Status, StatusEvent
from members.selectors import member_status_history

# Days on which a member owes CPD: while a member, except while paused.
OWING_STATUSES = (Status.ACTIVE, Status.GRACE, Status.SUSPENDED)
GAP_DAYS = 90  # "a gap of 3 months or more"


@dataclass(frozen=True)
class CPDYear:
    starts_on: dt.date
    ends_on: dt.date

    @property
    def label(self) -> str:
        if self.starts_on.month == 1:
            return str(self.starts_on.year)
        return f"{self.starts_on.year}/{str(self.ends_on.year)[-2:]}"

    @property
    def days(self) -> int:
        return (self.ends_on - self.starts_on).days + 1

    def contains(self, day: dt.date) -> bool:
        return self.starts_on <= day <= self.ends_on


def cpd_year_containing(day: dt.date) -> CPDYear:
    """The CPD year a date falls in (April to March by default: the NHS year)."""
    month = settings.CPD_YEAR_START_MONTH
    start_year = day.year if day.month >= month else day.year - 1
    starts_on = dt.date(start_year, month, 1)
    next_start = dt.date(start_year + 1, month, 1)
    return CPDYear(starts_on, next_start - dt.timedelta(days=1))


def cpd_year_starting(year: int) -> CPDYear:
    return cpd_year_containing(dt.date(year, settings.CPD_YEAR_START_MONTH, 1))


def cpd_years_for(*, member: Member, today: dt.date) -> list[CPDYear]:
    """The CPD years a member can look back on, newest first: from the year of
    their first entry or of joining, whichever is earlier, to this year (one query)."""
    first_entry = Entry.objects.filter(member=member).aggregate(first=Min("ends_on"))["first"]
    joined = timezone.localdate(member.created_at)
    earliest = cpd_year_containing(min(day for day in (first_entry, joined, today) if day))
    latest = cpd_year_containing(today)
    return [
        cpd_year_starting(year)
        for year in range(latest.starts_on.year, earliest.starts_on.year - 1, -1)
    ]


# --- The log ----------------------------------------------------------------------------


SORTS = {
    "newest": ("-ends_on", "-id"),
    "oldest": ("ends_on", "id"),
    "hours": ("-minutes", "-ends_on"),
    "title": ("title", "-ends_on"),
}


def cpd_entries(
    *,
    member: Member,
    year: CPDYear | None = None,
    activity_type: str = "",
    standard: Standard | None = None,
    text: str = "",
    sort: str = "newest",
) -> QuerySet[Entry]:
    """The member's entries, filtered and sorted, with what the list shows prefetched."""
    entries = Entry.objects.filter(member=member)
    if year:
        entries = entries.filter(ends_on__range=(year.starts_on, year.ends_on))
    if activity_type:
        entries = entries.filter(activity_type=activity_type)
    if standard:
        entries = entries.filter(standards=standard)
    if text:
        entries = entries.filter(
            Q(title__icontains=text)
            | Q(provider__icontains=text)
            | Q(reflection_learned__icontains=text)
            | Q(reflection_applied__icontains=text)
            | Q(reflection_impact__icontains=text)
        )
    return entries.order_by(*SORTS.get(sort, SORTS["newest"])).prefetch_related(
        Prefetch(
            "standards", queryset=Standard.objects.order_by("code").select_related("framework")
        ),
        "evidence",
    )


def cpd_entry_for_member(*, member: Member, public_id) -> Entry:
    """One of the member's own entries; anyone else's does not exist (404)."""
    return cpd_entries(member=member).get(public_id=public_id)


def cpd_evidence_for_member(*, member: Member, public_id) -> Evidence:
    """A file on one of the member's own entries; anyone else's does not exist (404)."""
    return Evidence.objects.get(entry__member=member, public_id=public_id)


def primary_framework() -> Framework | None:
    return Framework.objects.filter(is_primary=True, status=Framework.Status.CURRENT).first()


def standards_for_picker() -> list[Domain]:
    """The current framework's domains with their standards, for the entry form."""
    framework = primary_framework()
    if framework is None:
        return []
    return list(
        framework.domains.prefetch_related(
            Prefetch("standards", queryset=Standard.objects.order_by("order", "code"))
        )
    )


# --- Requirement and progress ---------------------------------------------------------------


@dataclass
class Requirement:
    fraction: float  # of a full year the member owes CPD for
    minutes: int
    participatory_minutes: int
    reflections: int
    domains: int
    paused_days: int
    member_days: int
    owing_from: dt.date | None = None  # the first day in the year owed, for explaining pro-rating
    owing_spans: list[tuple[dt.date, dt.date]] = field(default_factory=list)


def _status_spans(
    events: list[StatusEvent], year: CPDYear
) -> list[tuple[Status, dt.date, dt.date]]:
    """The member's statuses through the year as (status, first day, last day),
    from their history; the current status is assumed to continue to the year's end."""
    spans = []
    for i, event in enumerate(events):
        start = max(event.effective_date, year.starts_on)
        end = (
            events[i + 1].effective_date - dt.timedelta(days=1)
            if i + 1 < len(events)
            else year.ends_on
        )
        end = min(end, year.ends_on)
        if start <= end:
            spans.append((event.to_status, start, end))
    return spans


def _owing_spans(events: list[StatusEvent], year: CPDYear) -> list[tuple[dt.date, dt.date]]:
    """The stretches of the year the member owes CPD for (a member, and not paused)."""
    spans = []
    for status, start, end in _status_spans(events, year):
        if status not in OWING_STATUSES:
            continue
        if spans and spans[-1][1] + dt.timedelta(days=1) == start:
            spans[-1] = (spans[-1][0], end)  # e.g. active then grace: one stretch
        else:
            spans.append((start, end))
    return spans


def cpd_requirement(*, member: Member, year: CPDYear, events: list[StatusEvent]) -> Requirement:
    """The grade's yearly requirement, pro-rated for the days owed.

    Hours are rounded up to a quarter hour; reflections and domains up to a
    whole one. Someone who owes for the whole year owes exactly the grade's figures."""
    grade = member.grade
    owing_spans = _owing_spans(events, year)
    owing = sum((end - start).days + 1 for start, end in owing_spans)
    paused = sum(
        (end - start).days + 1
        for status, start, end in _status_spans(events, year)
        if status == Status.PAUSED
    )
    fraction = owing / year.days
    minutes = math.ceil(grade.cpd_hours_required * 60 * fraction / 15) * 15
    return Requirement(
        fraction=fraction,
        minutes=minutes,
        participatory_minutes=math.ceil(minutes * grade.cpd_participatory_percent / 100 / 15) * 15,
        reflections=math.ceil(grade.cpd_reflections_required * fraction),
        domains=math.ceil(grade.cpd_domains_required * fraction),
        paused_days=paused,
        member_days=owing,
        owing_from=owing_spans[0][0] if owing_spans else None,
        owing_spans=owing_spans,
    )


@dataclass
class DomainProgress:
    domain: Domain
    minutes: int = 0
    entries: int = 0

    @property
    def hours(self) -> float:
        return self.minutes / 60


@dataclass
class FrameworkView:
    framework: Framework
    domains: list[DomainProgress]

    @property
    def max_minutes(self) -> int:
        return max((d.minutes for d in self.domains), default=0)


@dataclass
class Progress:
    member: Member
    year: CPDYear
    requirement: Requirement
    entries: list[Entry]
    minutes: int = 0
    participatory_minutes: int = 0
    reflections: int = 0
    views: list[FrameworkView] = field(default_factory=list)
    untouched_standards: list[Standard] = field(default_factory=list)
    gaps: list[tuple[dt.date, dt.date]] = field(default_factory=list)

    @property
    def hours(self) -> float:
        return self.minutes / 60

    @property
    def domains_touched(self) -> int:
        primary = next((v for v in self.views if v.framework.is_primary), None)
        return sum(1 for d in primary.domains if d.minutes) if primary else 0

    @property
    def met(self) -> dict[str, bool]:
        req = self.requirement
        return {
            "hours": self.minutes >= req.minutes,
            "participatory": self.participatory_minutes >= req.participatory_minutes,
            "reflections": self.reflections >= req.reflections,
            "domains": self.domains_touched >= req.domains,
        }

    @property
    def all_met(self) -> bool:
        return all(self.met.values())


def _gaps(
    entries: list[Entry], spans: list[tuple[dt.date, dt.date]], today: dt.date
) -> list[tuple[dt.date, dt.date]]:
    """Stretches of 3 months or more with no CPD, counting only days the member
    owed CPD (not before joining, not while paused) and only up to today."""
    covered = sorted((e.starts_on, e.ends_on) for e in entries)
    gaps = []
    for span_start, span_end in spans:
        span_end = min(span_end, today)
        cursor = span_start
        for start, end in covered:
            if end < cursor or start > span_end:
                continue
            if (start - cursor).days >= GAP_DAYS:
                gaps.append((cursor, start - dt.timedelta(days=1)))
            cursor = max(cursor, end + dt.timedelta(days=1))
        if (span_end - cursor).days + 1 >= GAP_DAYS:
            gaps.append((cursor, span_end))
    return gaps


def cpd_progress(*, member: Member, year: CPDYear, today: dt.date) -> Progress:
    """Hours against the requirement, by domain in every current framework.

    An entry counts in full towards each domain it touches (it is not split),
    and through the crosswalk towards the other frameworks' domains. Six
    queries, however many entries: which standards each entry maps to, and
    where those standards count, are read as plain rows rather than as model
    instances per mapping (a member with 500 entries has about a thousand)."""
    events = member_status_history(member=member)
    in_year = {"ends_on__range": (year.starts_on, year.ends_on)}
    entries = list(Entry.objects.filter(member=member, **in_year))
    links = list(
        Entry.standards.through.objects.filter(
            entry__member=member, **{f"entry__{k}": v for k, v in in_year.items()}
        ).values_list(
            "entry_id", "standard_id", "standard__code", "standard__domain__framework__key",
            "standard__domain__code",
        )
    )  # fmt: skip
    crosswalk: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if links:
        for standard_id, key, code in Standard.counts_towards.through.objects.filter(
            standard_id__in={link[1] for link in links}
        ).values_list("standard_id", "domain__framework__key", "domain__code"):
            crosswalk[standard_id].append((key, code))
    # The current frameworks through their domains (one query), in the frameworks' order.
    domains = (
        Domain.objects.filter(framework__status=Framework.Status.CURRENT)
        .select_related("framework")
        # Framework.Meta.ordering, then each framework's domains in their order.
        .order_by(
            "-framework__is_primary", "framework__key", "-framework__version", "order", "code"
        )
    )
    progress = Progress(
        member=member,
        year=year,
        requirement=cpd_requirement(member=member, year=year, events=events),
        entries=entries,
    )
    # Keyed by (family, domain code), so an entry mapped to an older version of
    # a framework still counts in the current one.
    by_domain: dict[tuple[str, str], DomainProgress] = {}
    views: dict[int, FrameworkView] = {}
    for domain in domains:
        view = views.get(domain.framework_id)
        if view is None:
            view = views[domain.framework_id] = FrameworkView(domain.framework, [])
            progress.views.append(view)
        view.domains.append(row := DomainProgress(domain))
        by_domain[(domain.framework.key, domain.code)] = row

    mapped: dict[int, set[tuple[str, str]]] = defaultdict(set)
    touched_standards = set()
    for entry_id, standard_id, code, key, domain_code in links:
        touched_standards.add(code)
        mapped[entry_id].add((key, domain_code))
        mapped[entry_id].update(crosswalk.get(standard_id, ()))
    for entry in entries:
        progress.minutes += entry.minutes
        if entry.participatory:
            progress.participatory_minutes += entry.minutes
        if entry.has_reflection:
            progress.reflections += 1
        for key in mapped.get(entry.pk, ()):
            if key in by_domain:
                by_domain[key].minutes += entry.minutes
                by_domain[key].entries += 1

    primary = next((v.framework for v in progress.views if v.framework.is_primary), None)
    if primary:
        progress.untouched_standards = [
            s
            for s in Standard.objects.filter(framework=primary).order_by("order", "code")
            if s.code not in touched_standards
        ]
    progress.gaps = _gaps(entries, progress.requirement.owing_spans, today)
    return progress


def cpd_domain_totals(*, member: Member, year: CPDYear) -> dict[str, dict[str, int]]:
    """Minutes per domain code in each framework family (for exports and tests)."""
    totals: dict[str, dict[str, int]] = defaultdict(dict)
    progress = cpd_progress(member=member, year=year, today=year.ends_on)
    for view in progress.views:
        totals[view.framework.key] = {d.domain.code: d.minutes for d in view.domains}
    return dict(totals)
