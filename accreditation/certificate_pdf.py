"""The certificate as an A4 PDF, rendered with WeasyPrint and cached on the certificate.

It carries a QR code (segno) of the live verification page and says it is
valid only as that page confirms. Rendering uses local fonts and inline
``data:`` images only (the fetcher refuses every other URL), runs in a task
after the change commits, and stores the file with its SHA-256. A PDF whose
``pdf_version`` is behind the certificate's ``version`` (or whose file is
missing) is rendered again.
"""

import hashlib

import segno
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.template.loader import render_to_string

from accreditation.models import Certificate
from members.documents import pdf_from_html


def verification_url(certificate: Certificate) -> str:
    return f"{settings.SITE_URL}/verify/{certificate.public_id}"


def qr_data_uri(url: str) -> str:
    # Medium error correction survives a crease or a smudge on a printed copy.
    return segno.make(url, error="m", micro=False).svg_data_uri(scale=4, border=2)


def certificate_html(certificate: Certificate) -> str:
    """Pass a certificate with ``member__user``, ``member__grade`` and ``level__scheme`` loaded."""
    url = verification_url(certificate)
    return render_to_string(
        "accreditation/certificates/pdf.html",
        {
            "site_name": settings.SITE_NAME,
            "certificate": certificate,
            "verify_url": url,
            "qr": qr_data_uri(url),
        },
    )


def certificate_pdf_bytes(certificate: Certificate) -> bytes:
    return pdf_from_html(certificate_html(certificate))


def _pdf_is_current(certificate: Certificate) -> bool:
    return (
        bool(certificate.pdf)
        and certificate.pdf_version == certificate.version
        and certificate.pdf.storage.exists(certificate.pdf.name)
    )


def certificate_pdf_refresh(*, certificate_id: int) -> Certificate:
    """Render and store the PDF unless the stored one is current; return the certificate.

    Rendering happens outside any lock; the result is stored only if the
    certificate has not changed meanwhile (otherwise the newer change's own
    task renders it).
    """
    certificate = Certificate.objects.select_related(
        "member__user", "member__grade", "level__scheme"
    ).get(pk=certificate_id)
    if _pdf_is_current(certificate):
        return certificate
    version = certificate.version
    data = certificate_pdf_bytes(certificate)
    digest = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        locked = Certificate.objects.select_for_update().get(pk=certificate_id)
        if locked.version != version:
            return locked
        old = locked.pdf.name if locked.pdf else ""
        locked.pdf.save(f"{locked.public_id}-v{version}.pdf", ContentFile(data), save=False)
        locked.pdf_sha256 = digest
        locked.pdf_version = version
        locked.save(update_fields=["pdf", "pdf_sha256", "pdf_version"])
    if old and old != locked.pdf.name:
        locked.pdf.storage.delete(old)
    return locked
