"""The certificate PDF: a real PDF with the name, serial and verification URL in
its text, a QR code that decodes to that URL, rendered after commit and cached
with its SHA-256."""

import hashlib
import io

import pypdfium2
import pytest
import zxingcpp
from pypdf import PdfReader

from accreditation import certificates
from accreditation.certificate_pdf import certificate_pdf_refresh, verification_url
from accreditation.models import Certificate
from tests.accreditation.test_certificates import approve

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def qr_codes(data: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(data)
    image = document[0].render(scale=3).to_pil()
    return [result.text for result in zxingcpp.read_barcodes(image)]


@pytest.fixture
def issued(member, level, registrar, django_capture_on_commit_callbacks):
    member.user.given_name, member.user.family_name = "Amara", "Okafor"
    member.user.save()
    level.post_nominals = "AccMM"
    level.save()
    with django_capture_on_commit_callbacks(execute=True):
        application = approve(member, level, registrar)
    return Certificate.objects.get(application=application)


def test_the_pdf_is_rendered_after_commit_with_its_sha256(issued):
    assert issued.pdf and issued.pdf_version == issued.version
    data = issued.pdf.read()
    assert data.startswith(b"%PDF-")
    assert issued.pdf_sha256 == hashlib.sha256(data).hexdigest()


def test_the_pdf_text_names_the_holder_serial_and_verification_url(issued):
    text = " ".join(pdf_text(issued.pdf.read()).split())
    assert "Amara Okafor" in text
    assert "AccMM" in text
    assert issued.serial in text
    assert verification_url(issued) in text
    assert "valid only as confirmed by our verification page" in text


def test_the_qr_code_decodes_to_the_verification_url(issued):
    assert qr_codes(issued.pdf.read()) == [f"http://localhost:8000/verify/{issued.public_id}"]


def test_a_change_re_renders_and_a_current_pdf_is_kept(
    issued, registrar, django_capture_on_commit_callbacks
):
    first_name, first_hash = issued.pdf.name, issued.pdf_sha256
    assert certificate_pdf_refresh(certificate_id=issued.pk).pdf.name == first_name
    with django_capture_on_commit_callbacks(execute=True):
        certificates.certificate_suspend(certificate=issued, actor=registrar, reason="Complaint")
    issued.refresh_from_db()
    assert issued.pdf_version == issued.version == 2
    assert issued.pdf.name != first_name and issued.pdf_sha256 != first_hash
    assert "SUSPENDED" in pdf_text(issued.pdf.read())


def test_a_missing_file_is_rendered_again(issued):
    issued.pdf.storage.delete(issued.pdf.name)
    refreshed = certificate_pdf_refresh(certificate_id=issued.pk)
    assert refreshed.pdf.storage.exists(refreshed.pdf.name)
    assert refreshed.pdf_sha256 == hashlib.sha256(refreshed.pdf.read()).hexdigest()
