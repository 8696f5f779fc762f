"""An employer's watch list: the members whose changes its webhooks receive.

Entries are added by membership number and family name, the same pair the
verify API needs, and an unknown number and a wrong name get the same answer,
so the list cannot be used to walk membership numbers. Reads are always scoped
to one employer; a caller never reaches another employer's entries.
"""

import csv
import io
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import QuerySet

from api.models import EmployerClient, WatchEntry
from api.selectors import normalise_name, normalise_number
from audit.models import Action
from audit.services import EventSpec, audit_record_many
from members.models import Member, User

MEMBER_SUBJECT_TYPE = "members.member"
CSV_MAX_ROWS = 10_000
# The verify API's words: the watch list answers exactly as verification does.
NO_MATCH = "No member has this membership number and family name."


class WatchListError(Exception):
    """The entry cannot be added; the message says why in words an employer understands."""


def watch_entries_for(*, employer: EmployerClient) -> QuerySet[WatchEntry]:
    """The employer's entries, newest first, with the member's current status at hand."""
    return (
        WatchEntry.objects.filter(employer=employer)
        .select_related("member", "member__grade")
        .order_by("-added_at", "-id")
    )


def watch_entry_get(*, employer: EmployerClient, public_id) -> WatchEntry:
    """One of the employer's entries; ``WatchEntry.DoesNotExist`` for anyone else's."""
    return watch_entries_for(employer=employer).get(public_id=public_id)


def _members_by_number(numbers: list[str]) -> dict[str, Member]:
    members = Member.objects.filter(membership_number__in=set(numbers)).select_related("user")
    return {m.membership_number: m for m in members}


def _spec(entry: WatchEntry, action: Action, actor: User | None) -> EventSpec:
    return EventSpec(
        action=action,
        subject_type=MEMBER_SUBJECT_TYPE,
        subject_id=str(entry.member.public_id),
        actor=actor,
        after={"employer": entry.employer.name, "watch_entry": entry.pk},
    )


@dataclass
class AddResult:
    added: list[WatchEntry] = field(default_factory=list)
    already: list[WatchEntry] = field(default_factory=list)
    # (row number in the file, counting the header as row 1; message)
    errors: list[tuple[int, str]] = field(default_factory=list)


@transaction.atomic
def _watch_entries_add(
    *, employer: EmployerClient, pairs: list[tuple[int, str, str]], actor: User | None
) -> AddResult:
    """Add (row, number, family name) triples in a fixed number of queries.

    Rows that match no member are reported; members already on the list are
    returned as ``already`` and left as they were, so uploading the same file
    twice changes nothing."""
    result = AddResult()
    members = _members_by_number([normalise_number(number) for _, number, _ in pairs])
    existing = {
        entry.member_id: entry
        for entry in WatchEntry.objects.filter(
            employer=employer, member__in=list(members.values())
        ).select_related("member")
    }
    to_create: dict[int, WatchEntry] = {}
    for row, number, family_name in pairs:
        number, family_name = normalise_number(number), " ".join(family_name.split())
        if not number or not family_name:
            result.errors.append((row, "Give both a membership number and a family name."))
            continue
        member = members.get(number)
        if member is None or normalise_name(member.user.family_name) != normalise_name(family_name):
            result.errors.append((row, NO_MATCH))
            continue
        if member.pk in existing:
            result.already.append(existing[member.pk])
        elif member.pk in to_create:
            result.already.append(to_create[member.pk])
        else:
            to_create[member.pk] = WatchEntry(
                employer=employer,
                member=member,
                membership_number=number,
                family_name=family_name,
                added_by=actor,
            )
    if to_create:
        # One INSERT; a concurrent add of the same member loses quietly and is
        # then read back as already on the list.
        WatchEntry.objects.bulk_create(to_create.values(), ignore_conflicts=True)
        created = WatchEntry.objects.filter(
            employer=employer, member_id__in=list(to_create), added_by=actor
        ).select_related("member", "employer")
        created_by_member = {entry.member_id: entry for entry in created}
        for member_id in to_create:
            entry = created_by_member.get(member_id)
            if entry is None:
                entry = WatchEntry.objects.select_related("member").get(
                    employer=employer, member_id=member_id
                )
                result.already.append(entry)
            else:
                result.added.append(entry)
        audit_record_many(
            events=[_spec(entry, Action.WATCHLIST_ADDED, actor) for entry in result.added]
        )
    return result


def watch_entry_add(
    *, employer: EmployerClient, membership_number: str, family_name: str, actor: User | None
) -> tuple[WatchEntry, bool]:
    """Watch one member; returns the entry and whether it is new.

    Raises ``WatchListError`` when the number and family name match no member
    (the same message whichever of the two is wrong)."""
    result = _watch_entries_add(
        employer=employer, pairs=[(1, membership_number, family_name)], actor=actor
    )
    if result.errors:
        raise WatchListError(result.errors[0][1])
    if result.added:
        return result.added[0], True
    return result.already[0], False


def _csv_pairs(text: str) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]]]:
    """Rows of (row number, number, family name) from CSV text, and rows that are not pairs.

    A first row naming the columns (anything not starting with a digit in
    the first cell) is taken as a header and skipped."""
    pairs, errors = [], []
    reader = csv.reader(io.StringIO(text))
    for row_number, row in enumerate(reader, start=1):
        # NUL never belongs in a name or number (and PostgreSQL refuses it).
        cells = [cell.replace("\x00", "").strip() for cell in row]
        if not any(cells):
            continue
        if row_number == 1 and cells and not cells[0][:1].isdigit():
            continue
        if len(cells) < 2:
            errors.append((row_number, "Give a membership number and a family name."))
            continue
        pairs.append((row_number, cells[0], cells[1]))
    return pairs, errors


def csv_text(upload) -> str:
    """The text of an uploaded CSV (UTF-8, with or without a byte-order mark)."""
    data = upload.read() if hasattr(upload, "read") else upload
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise WatchListError("The file is not a CSV saved as UTF-8.") from error


def csv_pairs_read(upload, *, max_rows: int = CSV_MAX_ROWS):
    """Parse an uploaded CSV of number,family_name into pairs and row errors.

    Raises ``WatchListError`` for a file that cannot be read or is too long."""
    try:
        pairs, errors = _csv_pairs(csv_text(upload))
    except csv.Error as error:  # a NUL byte, or a cell longer than any real one
        raise WatchListError("The file could not be read as CSV.") from error
    if len(pairs) + len(errors) > max_rows:
        raise WatchListError(f"The file has more than {max_rows:,} rows. Split it and try again.")
    if not pairs and not errors:
        raise WatchListError("The file has no rows.")
    return pairs, errors


def watch_entries_add_csv(*, employer: EmployerClient, upload, actor: User | None) -> AddResult:
    """Add every row of a CSV of number,family_name that matches a member.

    Rows that do not match are listed with their row number and the rest are
    added, so fixing the errors and uploading again adds only what was missing."""
    pairs, errors = csv_pairs_read(upload)
    result = _watch_entries_add(employer=employer, pairs=pairs, actor=actor)
    result.errors = sorted(errors + result.errors)
    return result


@transaction.atomic
def watch_entry_remove(*, entry: WatchEntry, actor: User | None) -> None:
    """Stop watching a member; later changes are no longer sent (pending ones still are)."""
    deleted, _ = WatchEntry.objects.filter(pk=entry.pk).delete()
    if deleted:
        audit_record_many(events=[_spec(entry, Action.WATCHLIST_REMOVED, actor)])
