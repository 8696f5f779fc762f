"""Checking evidence uploads, which are untrusted input.

A file is accepted only if its *content* is one of the allowed kinds; the
name and the browser's Content-Type are ignored. Images and text must not
carry markup a browser could run; Office files must be real, reasonably
sized zip packages (no zip bombs).
"""

import io
import zipfile
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, UnidentifiedImageError


class EvidenceRefused(Exception):
    """The file is not accepted; the message says why, for the person uploading it."""


@dataclass(frozen=True)
class CheckedFile:
    content_type: str
    extension: str


ALLOWED_DESCRIPTION = "PDF, PNG, JPEG, Word (.docx), Excel (.xlsx) or plain text (.txt)"

# Markup that a browser would render or run if it ever sniffed the file as HTML.
_MARKUP = (
    b"<html",
    b"<script",
    b"<svg",
    b"<!doctype",
    b"<?xml",
    b"<iframe",
    b"<body",
    b"<head",
    b"javascript:",
)
_SNIFF_BYTES = 64 * 1024

# Limits for Office packages: what a real CV or spreadsheet never exceeds.
_ZIP_MAX_MEMBERS = 2000
_ZIP_MAX_UNCOMPRESSED = 100 * 1024 * 1024
_ZIP_MAX_RATIO = 100


def _has_markup(data: bytes) -> bool:
    sample = data[:_SNIFF_BYTES].lower()
    return any(marker in sample for marker in _MARKUP)


def _check_image(data: bytes, expected: str) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != expected:
                raise EvidenceRefused("The picture is not a PNG or JPEG.")
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise EvidenceRefused("The picture is damaged or not really a picture.") from error
    if _has_markup(data):
        raise EvidenceRefused("The picture contains web page code, so it cannot be accepted.")


def _check_office(data: bytes, main_part: str, label: str) -> None:
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
        members = package.infolist()
    except zipfile.BadZipFile as error:
        raise EvidenceRefused(f"The {label} file is damaged.") from error
    names = {m.filename for m in members}
    if "[Content_Types].xml" not in names or main_part not in names:
        raise EvidenceRefused(f"The file is not a {label} document.")
    if len(members) > _ZIP_MAX_MEMBERS:
        raise EvidenceRefused(f"The {label} file has too many parts to be a real document.")
    total = sum(m.file_size for m in members)
    packed = max(sum(m.compress_size for m in members), 1)
    if total > _ZIP_MAX_UNCOMPRESSED or total / packed > _ZIP_MAX_RATIO:
        raise EvidenceRefused(f"The {label} file expands to far more than its size (a zip bomb).")
    if any(m.filename.lower().endswith((".bin", ".exe", ".dll", ".js")) for m in members):
        raise EvidenceRefused(
            f"The {label} file contains macros or programs, which are not accepted."
        )


def _check_text(data: bytes) -> None:
    if b"\x00" in data:
        raise EvidenceRefused("The text file contains binary data.")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise EvidenceRefused("The text file is not plain UTF-8 text.") from error
    if _has_markup(data):
        raise EvidenceRefused(
            "The text file contains web page code (HTML, SVG or XML), so it cannot be accepted."
        )


def evidence_check(*, data: bytes) -> CheckedFile:
    """Say what the file really is, or refuse it with a reason a person can act on."""
    if len(data) == 0:
        raise EvidenceRefused("The file is empty.")
    limit = settings.EVIDENCE_MAX_BYTES
    if len(data) > limit:
        raise EvidenceRefused(f"The file is larger than {limit // (1024 * 1024)} MB.")
    if data.startswith(b"%PDF-"):
        if b"%%EOF" not in data[-2048:]:
            raise EvidenceRefused("The PDF is incomplete or damaged.")
        return CheckedFile("application/pdf", "pdf")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        _check_image(data, "PNG")
        return CheckedFile("image/png", "png")
    if data.startswith(b"\xff\xd8\xff"):
        _check_image(data, "JPEG")
        return CheckedFile("image/jpeg", "jpg")
    if data.startswith(b"PK\x03\x04"):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except zipfile.BadZipFile as error:
            raise EvidenceRefused("The file is damaged.") from error
        if "word/document.xml" in names:
            _check_office(data, "word/document.xml", "Word")
            return CheckedFile(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"
            )
        if "xl/workbook.xml" in names:
            _check_office(data, "xl/workbook.xml", "Excel")
            return CheckedFile(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"
            )
        raise EvidenceRefused(f"Only {ALLOWED_DESCRIPTION} files can be uploaded.")
    if data[:2] == b"MZ" or data[:4] == b"\x7fELF":
        raise EvidenceRefused("Programs cannot be uploaded as evidence.")
    try:
        _check_text(data)
    except EvidenceRefused as refusal:
        if b"\x00" in data or not _decodes(data):
            raise EvidenceRefused(f"Only {ALLOWED_DESCRIPTION} files can be uploaded.") from refusal
        raise
    return CheckedFile("text/plain", "txt")


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
