"""CSV bulk verification for the employer portal: up to 10,000 rows of
number,family_name checked in the background, with progress, and a result CSV.

Each chunk of rows goes through the verify API's own service
(``api.services.members_verify``), so the answers, and the lookup log members
see, are exactly those of the API.
"""

import csv
import datetime as dt
import io
import logging

from django.db import transaction
from django.utils import timezone

from api import services as api_services
from api.models import BulkVerification, EmployerClient, LookupChannel
from api.watchlist import CSV_MAX_ROWS, WatchListError, csv_text
from members import services as member_services
from members.models import User

logger = logging.getLogger(__name__)

RESULT_HEADER = [
    "row",
    "membership_number",
    "family_name",
    "found",
    "status",
    "status_code",
    "in_good_standing",
    "grade",
    "post_nominals",
    "membership_valid_until",
    "cpd",
    "sanctions",
    "accreditations",
    "checked_on",
]
# A spreadsheet may run a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class BulkVerificationError(Exception):
    """The upload cannot be checked; the message says why."""


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return f"'{text}" if text.lstrip(" \n").startswith(FORMULA_STARTS) else text


def _rows(text: str) -> list[list]:
    """[row number, number, family name] for every non-blank row after an optional header."""
    rows = []
    for row_number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.replace("\x00", "").strip() for cell in row]
        if not any(cells):
            continue
        if row_number == 1 and not cells[0][:1].isdigit():
            continue  # a header row
        rows.append([row_number, cells[0][:40], (cells[1] if len(cells) > 1 else "")[:150]])
    return rows


def bulk_verifications_for(*, employer: EmployerClient):
    return BulkVerification.objects.filter(employer=employer).defer("rows", "result_csv")


def bulk_verification_get(*, employer: EmployerClient, public_id) -> BulkVerification:
    """One of the employer's uploads; ``DoesNotExist`` for anyone else's."""
    return BulkVerification.objects.filter(employer=employer).defer("rows").get(public_id=public_id)


@transaction.atomic
def bulk_verification_start(*, employer: EmployerClient, user: User, upload) -> BulkVerification:
    """Store the upload's rows and queue the check after commit."""
    from api.tasks import bulk_verification_run as run_task

    try:
        rows = _rows(csv_text(upload))
    except WatchListError as error:
        raise BulkVerificationError(str(error)) from error
    except csv.Error as error:
        raise BulkVerificationError("The file could not be read as CSV.") from error
    if not rows:
        raise BulkVerificationError("The file has no rows to check.")
    if len(rows) > CSV_MAX_ROWS:
        raise BulkVerificationError(
            f"The file has {len(rows):,} rows; check at most {CSV_MAX_ROWS:,} at a time."
        )
    job = BulkVerification.objects.create(
        employer=employer,
        uploaded_by=user,
        filename=(getattr(upload, "name", "") or "upload.csv")[:200],
        rows=rows,
        total_rows=len(rows),
    )
    transaction.on_commit(lambda: run_task.enqueue(job_id=job.pk))
    return job


def _result_row(row: list, check, on: dt.date) -> list:
    row_number, number, family_name = row
    verification = check.verification if check is not None else None
    if verification is None:
        found = "no" if number and family_name else "no (give a number and a family name)"
        return [row_number, _cell(number), _cell(family_name), found, *[""] * 9, on]
    sanctions = "; ".join(
        f"{s.words} until {s.until:%d %B %Y}" if s.until else s.words
        for s in verification.sanctions
    )
    accreditations = "; ".join(
        f"{a.level} ({a.status}"
        + (f", valid until {a.valid_until.isoformat()}" if a.valid_until else "")
        + f", certificate {a.certificate_id})"
        for a in verification.accreditations
    )
    return [
        row_number,
        _cell(number),
        _cell(family_name),
        "yes",
        verification.status_words,
        verification.status_code,
        "yes" if verification.in_good_standing else "no",
        _cell(verification.grade_name),
        _cell(verification.post_nominals),
        verification.valid_until.isoformat() if verification.valid_until else "",
        verification.cpd.words if verification.cpd else "",
        _cell(sanctions),
        _cell(accreditations),
        on,
    ]


def bulk_verification_run(*, job_id: int) -> None:
    """Check every row in chunks, saving progress after each, then store the result CSV.

    Each chunk is a fixed number of queries (the verify service reads and logs
    up to ``BULK_LIMIT`` pairs in two); a run that dies part way can simply be
    queued again, as it starts afresh."""
    job = BulkVerification.objects.select_related("employer", "uploaded_by").get(pk=job_id)
    if job.status == BulkVerification.Status.DONE:
        return
    BulkVerification.objects.filter(pk=job.pk).update(
        status=BulkVerification.Status.RUNNING, processed_rows=0, matched_rows=0
    )
    on = member_services.local_today()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(RESULT_HEADER)
    processed = matched = 0
    try:
        for start in range(0, len(job.rows), api_services.BULK_LIMIT):
            chunk = job.rows[start : start + api_services.BULK_LIMIT]
            askable = [row for row in chunk if row[1] and row[2]]
            checks = api_services.members_verify(
                employer=job.employer,
                pairs=[(row[1], row[2]) for row in askable],
                on=on,
                channel=LookupChannel.PORTAL,
                user=job.uploaded_by,
            )
            by_row = {row[0]: check for row, check in zip(askable, checks, strict=True)}
            for row in chunk:
                check = by_row.get(row[0])
                matched += bool(check is not None and check.verification is not None)
                writer.writerow(_result_row(row, check, on))
            processed += len(chunk)
            BulkVerification.objects.filter(pk=job.pk).update(
                processed_rows=processed, matched_rows=matched
            )
    except Exception:
        logger.exception("Bulk verification %s failed", job.public_id)
        BulkVerification.objects.filter(pk=job.pk).update(
            status=BulkVerification.Status.FAILED,
            error="Something went wrong while checking. Upload the file again.",
            finished_at=timezone.now(),
        )
        raise
    BulkVerification.objects.filter(pk=job.pk).update(
        status=BulkVerification.Status.DONE,
        result_csv=out.getvalue(),
        finished_at=timezone.now(),
    )
