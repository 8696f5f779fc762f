"""Taking a CPD log away and bringing one in: CSV export and import, and the PDF portfolio.

The CSV holds every field a member writes (not ids, timestamps or evidence
files, which an import cannot recreate), so importing our own export and
exporting again gives the same file. Cells that a spreadsheet would run as a
formula are written with a leading apostrophe, which the import takes off.
"""

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Prefetch

from audit.models import Action
from audit.services import audit_record
from cpd import selectors, services
from cpd.forms import hours_typed
from cpd.models import ActivityType, Entry, Framework, Standard, evidence_storage
from cpd.services import CPDError
from members import services as member_services
from members.models import Member, User

COLUMNS = [
    "title", "starts_on", "ends_on", "hours", "activity_type", "participatory", "provider",
    "reflection_learned", "reflection_applied", "reflection_impact", "link", "standards",
]  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 2000


# --- Export --------------------------------------------------------------------------------


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _uncell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_STARTS) else value


def cpd_export_entries(*, member: Member):
    """Every entry, oldest first, with its standards (two queries however many)."""
    return (
        Entry.objects.filter(member=member)
        .order_by("ends_on", "starts_on", "id")
        .prefetch_related(Prefetch("standards", queryset=Standard.objects.order_by("code")))
    )


def cpd_export_row(entry: Entry) -> list[str]:
    return [
        _cell(value)
        for value in (
            entry.title,
            entry.starts_on.isoformat(),
            entry.ends_on.isoformat(),
            hours_typed(entry.minutes),
            entry.activity_type,
            "yes" if entry.participatory else "no",
            entry.provider,
            entry.reflection_learned,
            entry.reflection_applied,
            entry.reflection_impact,
            entry.link,
            ";".join(s.code for s in entry.standards.all()),
        )
    ]


class _Line:
    """A file-like object whose write returns the line, for streaming csv rows."""

    def write(self, value: str) -> str:
        return value


def cpd_export_csv(*, member: Member) -> Iterator[str]:
    """The member's log as CSV, a line at a time."""
    writer = csv.writer(_Line())
    yield writer.writerow(COLUMNS)
    for entry in cpd_export_entries(member=member).iterator(chunk_size=500):
        yield writer.writerow(cpd_export_row(entry))


# --- Import --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int  # as a spreadsheet numbers it: the header is row 1
    field: str
    message: str


@dataclass
class ImportPreview:
    rows: list[dict] = field(default_factory=list)  # cleaned, ready for cpd_entry_create
    raw: list[dict] = field(default_factory=list)  # as read, to carry to the confirm step
    errors: list[RowError] = field(default_factory=list)

    @property
    def minutes(self) -> int:
        return sum(services.hours_to_minutes(row["hours"]) for row in self.rows)


def _current_standards() -> dict[str, Standard]:
    return {
        s.code: s
        for s in Standard.objects.filter(
            framework__is_primary=True, framework__status=Framework.Status.CURRENT
        ).select_related("framework")
    }


def _clean_row(number: int, raw: dict, standards: dict[str, Standard], today: dt.date):
    errors, row = [], {}

    def error(name: str, message: str) -> None:
        errors.append(RowError(number, name, message))

    title = raw["title"].strip()
    if not title:
        error("title", "Enter a title.")
    elif len(title) > 200:
        error("title", "The title must be 200 characters or fewer.")
    row["title"] = title
    for name in ("starts_on", "ends_on"):
        try:
            row[name] = dt.date.fromisoformat(raw[name].strip())
        except ValueError:
            error(name, "Enter the date as YYYY-MM-DD, like 2026-03-27.")
    if "starts_on" in row and "ends_on" in row:
        if row["ends_on"] < row["starts_on"]:
            error("ends_on", "The end date must be the same as or after the start date.")
        elif row["ends_on"] > today:
            error("ends_on", "The end date cannot be in the future.")
    try:
        minutes = services.hours_to_minutes(raw["hours"].strip())
        row["hours"] = raw["hours"].strip()
        if "starts_on" in row and "ends_on" in row and row["ends_on"] >= row["starts_on"]:
            days = (row["ends_on"] - row["starts_on"]).days + 1
            if minutes > days * 24 * 60:
                error("hours", f"That is more hours than there are in {days} day(s).")
    except CPDError as refusal:
        error("hours", str(refusal))
    activity = raw["activity_type"].strip()
    if activity not in ActivityType.values:
        error("activity_type", f"Use one of: {', '.join(ActivityType.values)}.")
    row["activity_type"] = activity
    participatory = raw["participatory"].strip().lower()
    if participatory not in ("yes", "no"):
        error("participatory", "Enter yes or no.")
    row["participatory"] = participatory == "yes"
    row["provider"] = raw["provider"].strip()
    if len(row["provider"]) > 200:
        error("provider", "The provider must be 200 characters or fewer.")
    for name in ("reflection_learned", "reflection_applied", "reflection_impact"):
        row[name] = raw[name].strip()
    row["link"] = raw["link"].strip()
    if row["link"]:
        try:
            URLValidator()(row["link"])
        except ValidationError:
            error("link", "Enter a web address, like https://www.example.org/course.")
    codes = [code.strip() for code in raw["standards"].split(";") if code.strip()]
    if unknown := [code for code in codes if code not in standards]:
        error("standards", f"Unknown standard code: {', '.join(unknown)}.")
    row["standards"] = [standards[code] for code in codes if code in standards]
    return row, errors


def cpd_import_parse(*, data: bytes | list[dict]) -> ImportPreview:
    """Read and check a CSV (bytes) or rows carried from a preview; saves nothing."""
    preview = ImportPreview()
    if isinstance(data, bytes):
        if len(data) > MAX_IMPORT_BYTES:
            preview.errors.append(RowError(1, "file", "The file is larger than 2 MB."))
            return preview
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            preview.errors.append(RowError(1, "file", "Save the file as CSV with UTF-8 encoding."))
            return preview
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = reader.fieldnames or []
        if missing := [name for name in COLUMNS if name not in header]:
            preview.errors.append(RowError(1, "header", f"Missing columns: {', '.join(missing)}."))
            return preview
        raws = [
            {name: _uncell(row.get(name) or "") for name in COLUMNS}
            for row in reader
            if any((value or "").strip() for value in row.values() if isinstance(value, str))
        ]
    else:
        raws = [{name: str(row.get(name, "")) for name in COLUMNS} for row in data]
    if not raws:
        preview.errors.append(RowError(1, "file", "The file has no entries in it."))
    if len(raws) > MAX_IMPORT_ROWS:
        preview.errors.append(
            RowError(1, "file", f"Import at most {MAX_IMPORT_ROWS} entries at a time.")
        )
        return preview
    standards = _current_standards()
    today = member_services.local_today()
    for number, raw in enumerate(raws, start=2):
        row, errors = _clean_row(number, raw, standards, today)
        preview.errors.extend(errors)
        preview.rows.append(row)
        preview.raw.append(raw)
    return preview


class ImportFailed(Exception):
    def __init__(self, errors: list[RowError]):
        super().__init__("; ".join(f"row {e.row} {e.field}: {e.message}" for e in errors))
        self.errors = errors


@transaction.atomic
def cpd_import(*, member: Member, actor: User, rows: list[dict]) -> list[Entry]:
    """Check the rows again and create every entry through cpd_entry_create, or none."""
    preview = cpd_import_parse(data=rows)
    if preview.errors:
        raise ImportFailed(preview.errors)
    created = []
    for number, row in enumerate(preview.rows, start=2):
        try:
            created.append(services.cpd_entry_create(member=member, actor=actor, **row))
        except CPDError as refusal:
            raise ImportFailed([RowError(number, "entry", str(refusal))]) from refusal
    audit_record(
        action=Action.CPD_IMPORTED,
        subject_type="members.member",
        subject_id=str(member.public_id),
        actor=actor,
        after={"entries": len(created)},
    )
    return created


# --- The PDF portfolio ---------------------------------------------------------------------


def portfolio_name(*, member: Member, key: uuid.UUID) -> str:
    """Where a member's portfolio is stored: under their public id, so the
    download view, which builds the name from the signed-in member, can only
    ever find their own."""
    return f"portfolios/{member.public_id}/{key.hex}.pdf"


def portfolio_failed_name(name: str) -> str:
    return name.removesuffix(".pdf") + ".failed"


def portfolio_html(*, member: Member, today: dt.date) -> str:
    from django.conf import settings
    from django.template.loader import render_to_string

    entries = list(selectors.cpd_entries(member=member, sort="newest"))
    years = sorted(
        {selectors.cpd_year_containing(e.ends_on) for e in entries},
        key=lambda y: y.starts_on,
        reverse=True,
    )
    progress = [selectors.cpd_progress(member=member, year=y, today=today) for y in years]
    return render_to_string(
        "cpd/portfolio/portfolio.html",
        {
            "member": member,
            "entries": entries,
            "progress": progress,
            "today": today,
            "site_name": settings.SITE_NAME,
        },
    )


def portfolio_pdf(*, member: Member, today: dt.date) -> bytes:
    """Rendered as members.documents renders invoices: local fonts, and no URL
    fetched except inline data: ones."""
    from members.documents import pdf_from_html  # imports WeasyPrint: only when rendering

    return pdf_from_html(portfolio_html(member=member, today=today))


def portfolio_render(*, member: Member, name: str) -> None:
    """Render the portfolio and store it under ``name``; on failure leave a
    marker so the waiting page can say so rather than wait for ever."""
    storage = evidence_storage()
    try:
        pdf = portfolio_pdf(member=member, today=member_services.local_today())
    except Exception:
        storage.save(portfolio_failed_name(name), ContentFile(b""))
        raise
    storage.save(name, ContentFile(pdf))
