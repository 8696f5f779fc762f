"""Sharing a CPD portfolio with an appraiser by link, and the personal development plan.

A share link's token is shown to the member once and never stored: the row
keeps only its SHA-256, and a visitor's token is found by hashing it and
looking the hash up (the database compares hashes, not anything the visitor
controls byte by byte). Everything a link shows is read through it, scoped to
its member and year, so no token can reach another member's data.
"""

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from audit.models import Action
from audit.services import audit_record
from cpd import selectors
from cpd.models import Entry, Evidence, Goal, ShareLink, ShareView, Standard
from cpd.selectors import CPDYear, cpd_year_starting
from cpd.services import CPDError
from members.models import Member, User

SHARE_EXPIRY_DAYS = (7, 30, 90)
GOALS_DUE_WITHIN_DAYS = 30
SHARE_SUBJECT = "cpd.share_link"
GOAL_SUBJECT = "cpd.goal"


# --- Share links ---------------------------------------------------------------------------


def share_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def share_link_create(
    *,
    member: Member,
    actor: User,
    label: str,
    expires_in_days: int,
    year: CPDYear | None = None,
    include_evidence: bool = False,
) -> tuple[ShareLink, str]:
    """Make a link and return it with its token, which is not kept and cannot be shown again."""
    if expires_in_days not in SHARE_EXPIRY_DAYS:
        raise CPDError("Choose how long the link lasts: 7, 30 or 90 days.")
    token = secrets.token_urlsafe(32)
    link = ShareLink.objects.create(
        member=member,
        token_hash=share_token_hash(token),
        label=label.strip(),
        year_starts_on=year.starts_on if year else None,
        include_evidence=include_evidence,
        expires_at=timezone.now() + dt.timedelta(days=expires_in_days),
    )
    audit_record(
        action=Action.CPD_SHARE_LINK_CREATED,
        subject_type=SHARE_SUBJECT,
        subject_id=str(link.public_id),
        actor=actor,
        after={
            "member": str(member.public_id),
            "label": link.label,
            "year_starts_on": link.year_starts_on,
            "include_evidence": include_evidence,
            "expires_at": link.expires_at,
        },
    )
    return link, token


@transaction.atomic
def share_link_revoke(*, link: ShareLink, actor: User) -> ShareLink:
    """Stop the link working at once; revoking a revoked link changes nothing."""
    link = ShareLink.objects.select_for_update().get(pk=link.pk)
    if link.revoked_at is not None:
        return link
    link.revoked_at = timezone.now()
    link.save(update_fields=["revoked_at"])
    audit_record(
        action=Action.CPD_SHARE_LINK_REVOKED,
        subject_type=SHARE_SUBJECT,
        subject_id=str(link.public_id),
        actor=actor,
        after={"revoked_at": link.revoked_at},
    )
    return link


def share_view_record(*, link: ShareLink, ip_address: str | None, user_agent: str) -> ShareView:
    return ShareView.objects.create(
        link=link, ip_address=ip_address or None, user_agent=user_agent[:300]
    )


class ShareLinkNotFound(Exception):
    """No link has this token (or it was mistyped)."""


class ShareLinkGone(Exception):
    """The link existed but has expired or been revoked."""

    def __init__(self, link: ShareLink, reason: str):
        super().__init__(reason)
        self.link = link
        self.reason = reason


def share_link_state(link: ShareLink, *, now: dt.datetime | None = None) -> str:
    now = now or timezone.now()
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= now:
        return "expired"
    return "active"


def share_link_for_token(token: str) -> ShareLink:
    """The live link for a token, or ShareLinkNotFound / ShareLinkGone."""
    digest = share_token_hash(token)
    link = (
        ShareLink.objects.select_related("member__user", "member__grade")
        .filter(token_hash=digest)
        .first()
    )
    if link is None or not hmac.compare_digest(link.token_hash, digest):
        raise ShareLinkNotFound(token)
    state = share_link_state(link)
    if state != "active":
        raise ShareLinkGone(link, state)
    return link


def share_links_for_member(*, member: Member) -> QuerySet[ShareLink]:
    """The member's links, newest first, each with its views (two queries)."""
    return ShareLink.objects.filter(member=member).prefetch_related(
        Prefetch("views", queryset=ShareView.objects.order_by("-viewed_at"))
    )


def share_link_for_member(*, member: Member, public_id) -> ShareLink:
    return ShareLink.objects.get(member=member, public_id=public_id)


def share_link_year(link: ShareLink) -> CPDYear | None:
    return cpd_year_starting(link.year_starts_on.year) if link.year_starts_on else None


@dataclass
class SharedPortfolio:
    link: ShareLink
    member: Member
    year: CPDYear | None
    entries: list[Entry]
    progress: list[selectors.Progress]


def shared_portfolio(*, link: ShareLink, today: dt.date) -> SharedPortfolio:
    """What a link shows: the member's entries in its scope, and progress for
    each CPD year in scope that has entries (or the one year shared)."""
    member = link.member
    year = share_link_year(link)
    entries = list(selectors.cpd_entries(member=member, year=year))
    if year:
        years = [year]
    else:
        years = sorted({selectors.cpd_year_containing(e.ends_on) for e in entries},
                       key=lambda y: y.starts_on, reverse=True)  # fmt: skip
    progress = [selectors.cpd_progress(member=member, year=y, today=today) for y in years]
    return SharedPortfolio(link=link, member=member, year=year, entries=entries, progress=progress)


def shared_evidence(*, link: ShareLink, public_id) -> Evidence:
    """A file the link shares: its member's, in its year, and only if it includes evidence."""
    if not link.include_evidence:
        raise Evidence.DoesNotExist("This link does not include evidence.")
    evidence = Evidence.objects.filter(entry__member=link.member, public_id=public_id)
    year = share_link_year(link)
    if year:
        evidence = evidence.filter(entry__ends_on__range=(year.starts_on, year.ends_on))
    return evidence.get()


# --- The development plan ------------------------------------------------------------------


OPEN_GOAL_STATES = (Goal.State.PLANNED, Goal.State.IN_PROGRESS)


def _goal_snapshot(goal: Goal, standards: Iterable[Standard], entries: Iterable[Entry]) -> dict:
    return {
        "title": goal.title,
        "target_on": goal.target_on,
        "state": goal.state,
        "standards": sorted(s.code for s in standards),
        "entries": sorted(str(e.public_id) for e in entries),
    }


def _check_standards(standards: list[Standard]) -> None:
    for standard in standards:
        if not standard.framework.is_primary:
            raise CPDError(f"{standard.code} is not in our standards framework.")


@transaction.atomic
def goal_create(
    *,
    member: Member,
    actor: User,
    title: str,
    target_on: dt.date,
    description: str = "",
    standards: Iterable[Standard] = (),
    state: str = Goal.State.PLANNED,
) -> Goal:
    standards = list(standards)
    _check_standards(standards)
    if state not in Goal.State.values:
        raise CPDError("Choose a status for the goal.")
    goal = Goal.objects.create(
        member=member,
        title=title.strip(),
        description=description.strip(),
        target_on=target_on,
        state=state,
    )
    goal.standards.set(standards)
    audit_record(
        action=Action.CPD_GOAL_CREATED,
        subject_type=GOAL_SUBJECT,
        subject_id=str(goal.public_id),
        actor=actor,
        after=_goal_snapshot(goal, standards, []),
    )
    return goal


@transaction.atomic
def goal_update(
    *,
    goal: Goal,
    actor: User,
    standards: Iterable[Standard] | None = None,
    entries: Iterable[Entry] | None = None,
    **fields,
) -> Goal:
    """Change a goal, its standards or the entries linked to it. Only the
    goal's member's own entries can be linked."""
    allowed = {"title", "description", "target_on", "state"}
    if unknown := set(fields) - allowed:
        raise ValueError(f"Not goal fields: {sorted(unknown)}")
    goal = Goal.objects.select_for_update().get(pk=goal.pk)
    before = _goal_snapshot(goal, goal.standards.all(), goal.entries.all())
    if "state" in fields and fields["state"] not in Goal.State.values:
        raise CPDError("Choose a status for the goal.")
    for name, value in fields.items():
        setattr(goal, name, value.strip() if isinstance(value, str) else value)
    goal.save()
    if standards is not None:
        standards = list(standards)
        _check_standards(standards)
        goal.standards.set(standards)
    if entries is not None:
        entries = list(entries)
        if any(entry.member_id != goal.member_id for entry in entries):
            raise CPDError("You can only link your own CPD entries to a goal.")
        goal.entries.set(entries)
    after = _goal_snapshot(goal, goal.standards.all(), goal.entries.all())
    if after != before:
        audit_record(
            action=Action.CPD_GOAL_UPDATED,
            subject_type=GOAL_SUBJECT,
            subject_id=str(goal.public_id),
            actor=actor,
            before=before,
            after=after,
        )
    return goal


def goals_for_member(*, member: Member) -> QuerySet[Goal]:
    """The member's goals by target date, with their standards and entries."""
    return Goal.objects.filter(member=member).prefetch_related(
        Prefetch("standards", queryset=Standard.objects.order_by("code")),
        Prefetch("entries", queryset=Entry.objects.order_by("-ends_on", "-id")),
    )


def goal_for_member(*, member: Member, public_id) -> Goal:
    return goals_for_member(member=member).get(public_id=public_id)


def goal_is_due(goal: Goal, *, today: dt.date) -> bool:
    """Open and due within GOALS_DUE_WITHIN_DAYS (or overdue)."""
    return goal.state in OPEN_GOAL_STATES and goal.target_on <= today + dt.timedelta(
        days=GOALS_DUE_WITHIN_DAYS
    )


def goals_due(*, member: Member, today: dt.date) -> QuerySet[Goal]:
    return goals_for_member(member=member).filter(
        state__in=OPEN_GOAL_STATES,
        target_on__lte=today + dt.timedelta(days=GOALS_DUE_WITHIN_DAYS),
    )
