"""The certificate's QR code opens a page saying "valid"; the member downloads the
signed credential and it checks out on the site's own checker; once the registrar
revokes the certificate, the page says revoked with the reason and the credential
fails its status check. axe is clean on every page visited."""

import datetime as dt
from pathlib import Path
from urllib.parse import urlsplit

import pypdfium2
import pytest
import zxingcpp
from django.conf import settings
from django.urls import reverse
from joserfc.jwk import OKPKey
from playwright.sync_api import expect

from accreditation import certificates, services
from accreditation.certificate_pdf import certificate_pdf_refresh
from accreditation.models import Certificate, Scheme
from cpd.models import Domain, Framework, Standard
from members.models import Member, Organisation, Status
from tests.accreditation.builders import make_level, recommended
from tests.e2e.conftest import at, heading, main, sign_in
from tests.factories import MemberFactory, StaffFactory


@pytest.fixture(autouse=True)
def _keys_and_media(settings, tmp_path):
    settings.CREDENTIALS_SIGNING_KEY = (
        OKPKey.generate_key("Ed25519", private=True).as_pem(private=True).decode()
    )
    settings.CREDENTIALS_RETIRED_KEYS_FILE = ""
    settings.MEDIA_ROOT = tmp_path


def _certificate() -> tuple[Certificate, Member]:
    framework = Framework.objects.create(
        key="ihsm", name="Our standards", short_name="IHSM", status=Framework.Status.CURRENT
    )
    people = Domain.objects.create(framework=framework, code="D1", title="Leading people")
    standards = [
        Standard.objects.create(framework=framework, domain=people, code="D1.1", title="Teams")
    ]
    scheme = Scheme.objects.create(name="Accredited Manager", slug="accredited-manager")
    level = make_level(scheme, standards, post_nominals="AccMM")
    trust = Organisation.objects.get_or_create(name="Northshire NHS Foundation Trust")[0]
    member = MemberFactory(
        status=Status.ACTIVE,
        organisation=trust,
        organisation_other="",
        period_ends_on=dt.date.today() + dt.timedelta(days=300),
        user__given_name="Grace",
        user__family_name="Adeyemi",
    )
    registrar = StaffFactory()
    application = recommended(member, level, registrar)
    services.application_decide(
        application=application, actor=registrar, approve=True, reasons="All standards met."
    )
    return Certificate.objects.get(application=application), member


def _qr_url(certificate: Certificate) -> str:
    pdf = certificate_pdf_refresh(certificate_id=certificate.pk).pdf.read()
    image = pypdfium2.PdfDocument(pdf)[0].render(scale=3).to_pil()
    [code] = zxingcpp.read_barcodes(image)
    return code.text


def test_the_qr_code_opens_a_page_saying_valid_and_the_credential_verifies(page, axe):
    certificate, member = _certificate()
    url = _qr_url(certificate)
    assert url == f"{settings.SITE_URL}/verify/{certificate.public_id}"

    # The QR code's address, opened on the live server, without signing in.
    page.goto(urlsplit(url).path)
    axe(page)
    status = main(page).locator("#status")
    expect(status).to_contain_text("This certificate is valid")
    expect(main(page).locator("#status-word")).to_have_text("Valid")
    expect(heading(page)).to_contain_text("Grace Adeyemi AccMM")

    # The member downloads the credential and checks it on the site.
    sign_in(page, axe, member.user.email)
    expect(page).to_have_url(at("dashboard"))
    axe(page)
    expect(main(page).locator("#certificates")).to_contain_text("(AccMM)")
    page.goto(reverse("certificates:detail", args=[certificate.public_id]))
    axe(page)
    with page.expect_download() as download:
        main(page).get_by_role("link", name="Digital credential (.jwt)").click()
    token = Path(download.value.path()).read_text()
    page.goto(reverse("verify_credential"))
    axe(page)
    main(page).get_by_label("Paste the credential").fill(token)
    main(page).get_by_role("button", name="Check the credential").click()
    axe(page)
    expect(main(page).locator("#result")).to_contain_text("This credential is valid")

    # The registrar revokes it: the page says so, with the reason; the credential fails.
    certificates.certificate_revoke(
        certificate=certificate, actor=StaffFactory(), reason="Evidence was fabricated"
    )
    page.goto(urlsplit(url).path)
    axe(page)
    expect(status).to_contain_text("This certificate is revoked")
    expect(main(page).locator("#reason")).to_have_text("Reason: Evidence was fabricated")
    page.goto(reverse("verify_credential"))
    axe(page)
    main(page).get_by_label("Paste the credential").fill(token)
    main(page).get_by_role("button", name="Check the credential").click()
    axe(page)
    expect(main(page).locator("#result")).to_contain_text("This credential is not valid")
    expect(main(page).locator("#checks")).to_contain_text("Revoked.")
    assert not axe.unchecked_pages()
