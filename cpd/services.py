"""Every change to a member's CPD log.

Uploaded files are checked before anything is written: a refused file means
nothing is saved, not an entry without its evidence. Each change writes an
audit event in the same transaction.
"""

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from audit.models import Action
from audit.services import audit_record
from cpd.evidence import EvidenceRefused, evidence_check
from cpd.models import ActivityType, AnnualReturn, Entry, Evidence, Framework, Standard
from cpd.selectors import cpd_year_containing
from members import services as membership
from members.models import Member, Status, User

SUBJECT_TYPE = "cpd.entry"
MAX_FILES_PER_ENTRY = 10

# Members who have left cannot add to or change their log.
CLOSED_STATUSES = (Status.REMOVED, Status.DECEASED)


class CPDError(Exception):
    """A change the log does not allow; the message says why, for the member."""


def hours_to_minutes(hours) -> int:
    """Hours as typed (e.g. "1.75") to whole minutes, in quarter-hour steps."""
    try:
        quarters = Decimal(str(hours)) * 4
    except InvalidOperation as error:
        raise CPDError("Enter the hours as a number, like 1.5.") from error
    if quarters <= 0:
        raise CPDError("Enter at least a quarter of an hour (0.25).")
    if quarters != quarters.to_integral_value():
        raise CPDError("Enter hours in quarter-hour steps, like 0.25, 1.5 or 2.75.")
    return int(quarters) * 15


def _refuse_if_locked(*, member: Member, days: Iterable[dt.date]) -> None:
    """Refuse a change touching a CPD year whose return is submitted.

    Takes the member row's lock, as submitting a return does, so an entry cannot
    be written into a year while its return is being submitted."""
    Member.objects.select_for_update().filter(pk=member.pk).values_list("pk").first()
    for day in days:
        year = cpd_year_containing(day)
        if AnnualReturn.objects.filter(
            member=member, year_starts_on=year.starts_on, state=AnnualReturn.State.SUBMITTED
        ).exists():
            raise CPDError(f"Your {year.label} return is submitted, so its entries are locked.")


def _validate(
    *, member: Member, starts_on: dt.date, ends_on: dt.date, minutes: int, standards
) -> None:
    if member.status in CLOSED_STATUSES:
        raise CPDError("Your CPD log is closed.")
    _refuse_if_locked(member=member, days=[ends_on])
    if ends_on < starts_on:
        raise CPDError("The end date must be the same as or after the start date.")
    if ends_on > membership.local_today():
        raise CPDError("You can only log CPD you have done: the end date cannot be in the future.")
    days = (ends_on - starts_on).days + 1
    if minutes > days * 24 * 60:
        raise CPDError(f"That is more hours than there are in {days} day{'s' if days > 1 else ''}.")
    for standard in standards:
        if (
            not standard.framework.is_primary
            or standard.framework.status != Framework.Status.CURRENT
        ):
            raise CPDError(f"{standard.code} is not in the current standards framework.")


def _checked_files(files: Iterable[UploadedFile]) -> list[tuple[UploadedFile, bytes, object]]:
    """Read and check every upload before any is saved."""
    checked = []
    for upload in files:
        if upload.size and upload.size > _max_bytes():
            raise CPDError(
                f"{upload.name}: the file is larger than {_max_bytes() // (1024 * 1024)} MB."
            )
        data = upload.read()
        try:
            kind = evidence_check(data=data)
        except EvidenceRefused as refusal:
            raise CPDError(f"{upload.name}: {refusal}") from refusal
        checked.append((upload, data, kind))
    return checked


def _max_bytes() -> int:
    from django.conf import settings

    return settings.EVIDENCE_MAX_BYTES


def _store(entry: Entry, checked) -> list[Evidence]:
    saved = []
    try:
        for upload, data, kind in checked:
            evidence = Evidence(
                entry=entry,
                original_name=(upload.name or f"evidence.{kind.extension}")[:200],
                content_type=kind.content_type,
                size=len(data),
            )
            evidence.file.save(f"upload.{kind.extension}", ContentFile(data), save=False)
            saved.append(evidence)
            evidence.save()
    except Exception:
        # The transaction undoes the rows; the files on disk must go too.
        for evidence in saved:
            evidence.file.delete(save=False)
        raise
    return saved


def _snapshot(entry: Entry, standard_codes: list[str]) -> dict:
    return {
        "title": entry.title,
        "starts_on": entry.starts_on,
        "ends_on": entry.ends_on,
        "minutes": entry.minutes,
        "activity_type": entry.activity_type,
        "participatory": entry.participatory,
        "standards": standard_codes,
    }


@transaction.atomic
def cpd_entry_create(
    *,
    member: Member,
    actor: User,
    title: str,
    starts_on: dt.date,
    ends_on: dt.date,
    hours,
    activity_type: ActivityType,
    participatory: bool,
    provider: str = "",
    reflection_learned: str = "",
    reflection_applied: str = "",
    reflection_impact: str = "",
    link: str = "",
    standards: Iterable[Standard] = (),
    files: Iterable[UploadedFile] = (),
) -> Entry:
    """Log a piece of CPD with its standards and evidence, all or nothing."""
    standards, files = list(standards), list(files)
    minutes = hours_to_minutes(hours)
    _validate(
        member=member, starts_on=starts_on, ends_on=ends_on, minutes=minutes, standards=standards
    )
    if len(files) > MAX_FILES_PER_ENTRY:
        raise CPDError(f"Attach at most {MAX_FILES_PER_ENTRY} files to one entry.")
    checked = _checked_files(files)
    entry = Entry.objects.create(
        member=member,
        title=title.strip(),
        starts_on=starts_on,
        ends_on=ends_on,
        minutes=minutes,
        activity_type=activity_type,
        participatory=participatory,
        provider=provider.strip(),
        reflection_learned=reflection_learned.strip(),
        reflection_applied=reflection_applied.strip(),
        reflection_impact=reflection_impact.strip(),
        link=link.strip(),
    )
    entry.standards.set(standards)
    evidence = _store(entry, checked)
    audit_record(
        action=Action.CPD_ENTRY_CREATED,
        subject_type=SUBJECT_TYPE,
        subject_id=str(entry.public_id),
        actor=actor,
        after={
            **_snapshot(entry, [s.code for s in standards]),
            "evidence": [e.original_name for e in evidence],
        },
    )
    return entry


@transaction.atomic
def cpd_entry_update(
    *,
    entry: Entry,
    actor: User,
    standards: Iterable[Standard] | None = None,
    add_files: Iterable[UploadedFile] = (),
    remove_evidence: Iterable[Evidence] = (),
    **fields,
) -> Entry:
    """Change an entry; new files are checked before anything changes."""
    allowed = {
        "title", "starts_on", "ends_on", "hours", "activity_type", "participatory", "provider",
        "reflection_learned", "reflection_applied", "reflection_impact", "link",
    }  # fmt: skip
    if unknown := set(fields) - allowed:
        raise ValueError(f"Not entry fields: {sorted(unknown)}")
    entry = Entry.objects.select_for_update().select_related("member").get(pk=entry.pk)
    # The year it counts in now (the new dates are checked in _validate).
    _refuse_if_locked(member=entry.member, days=[entry.ends_on])
    before = _snapshot(entry, sorted(entry.standards.values_list("code", flat=True)))
    if "hours" in fields:
        fields["minutes"] = hours_to_minutes(fields.pop("hours"))
    for name, value in fields.items():
        setattr(entry, name, value.strip() if isinstance(value, str) else value)
    new_standards = list(standards) if standards is not None else list(entry.standards.all())
    # Standards already on the entry may be from an older version: they stay valid.
    kept = set(entry.standards.values_list("pk", flat=True))
    _validate(
        member=entry.member,
        starts_on=entry.starts_on,
        ends_on=entry.ends_on,
        minutes=entry.minutes,
        standards=[s for s in new_standards if s.pk not in kept],
    )
    remove_ids = {e.pk for e in remove_evidence}
    add_files = list(add_files)
    if entry.evidence.exclude(pk__in=remove_ids).count() + len(add_files) > MAX_FILES_PER_ENTRY:
        raise CPDError(f"Attach at most {MAX_FILES_PER_ENTRY} files to one entry.")
    checked = _checked_files(add_files)
    entry.save()
    if standards is not None:
        entry.standards.set(new_standards)
    removed = list(entry.evidence.filter(pk__in=remove_ids))
    for evidence in removed:
        name = evidence.file.name
        evidence.delete()
        transaction.on_commit(lambda name=name: Evidence.file.field.storage.delete(name))
    added = _store(entry, checked)
    audit_record(
        action=Action.CPD_ENTRY_UPDATED,
        subject_type=SUBJECT_TYPE,
        subject_id=str(entry.public_id),
        actor=actor,
        before=before,
        after={
            **_snapshot(entry, sorted(s.code for s in new_standards)),
            "evidence_added": [e.original_name for e in added],
            "evidence_removed": [e.original_name for e in removed],
        },
    )
    return entry


@transaction.atomic
def cpd_entry_delete(*, entry: Entry, actor: User) -> None:
    entry = Entry.objects.select_for_update().select_related("member").get(pk=entry.pk)
    _refuse_if_locked(member=entry.member, days=[entry.ends_on])
    names = [e.file.name for e in entry.evidence.all()]
    before = _snapshot(entry, sorted(entry.standards.values_list("code", flat=True)))
    public_id = entry.public_id
    entry.delete()
    audit_record(
        action=Action.CPD_ENTRY_DELETED,
        subject_type=SUBJECT_TYPE,
        subject_id=str(public_id),
        actor=actor,
        before=before,
    )

    def delete_files():
        for name in names:
            Evidence.file.field.storage.delete(name)

    transaction.on_commit(delete_files)
