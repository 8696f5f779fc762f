"""Certificate pages: the public verification page and credential checker, the
member's certificate and downloads, the dashboard, and the registrar's actions."""

import base64
import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils.html import strip_tags
from joserfc.jwk import OKPKey

from accreditation import certificates, credentials
from accreditation.models import Certificate
from audit.models import AuditEvent
from members.models import Member, Status
from tests.accreditation.test_certificates import approve
from tests.factories import MemberFactory
from tests.totp import enable_totp

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keys_and_media(settings, tmp_path):
    settings.CREDENTIALS_SIGNING_KEY = (
        OKPKey.generate_key("Ed25519", private=True).as_pem(private=True).decode()
    )
    settings.CREDENTIALS_RETIRED_KEYS_FILE = ""
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def certificate(member, level, registrar):
    member.user.given_name, member.user.family_name = "Amara", "Okafor"
    member.user.save()
    level.post_nominals = "AccMM"
    level.save()
    Member.objects.filter(pk=member.pk).update(period_ends_on=dt.date.today() + dt.timedelta(300))
    return Certificate.objects.get(application=approve(member, level, registrar))


def verify_url(certificate) -> str:
    return f"/verify/{certificate.public_id}"


def text(response) -> str:
    return " ".join(strip_tags(response.text).split())


# ---------------------------------------------------------------- the public page


def test_the_verify_page_says_valid_without_sign_in_in_one_query(
    client, certificate, django_assert_num_queries
):
    with django_assert_num_queries(1):
        response = client.get(verify_url(certificate))
    assert response.status_code == 200
    page = text(response)
    assert "This certificate is valid" in page
    assert "Amara Okafor AccMM" in page
    assert certificate.level.name in page and certificate.serial in page
    assert f"{certificate.valid_until:%-d %B %Y}" in page
    assert response["Cache-Control"].startswith("max-age=0")
    # The slash form answers too.
    assert client.get(verify_url(certificate) + "/").status_code == 200


def test_the_verify_page_for_a_revoked_certificate_says_revoked_and_why(
    client, certificate, registrar, django_assert_num_queries
):
    certificates.certificate_revoke(
        certificate=certificate, actor=registrar, reason="Evidence was fabricated"
    )
    with django_assert_num_queries(1):
        response = client.get(verify_url(certificate))
    assert response.status_code == 200
    page = text(response)
    assert "This certificate is revoked" in page
    assert "Reason: Evidence was fabricated" in page
    assert "This certificate is valid" not in page
    assert "AccMM" not in page.split("Accreditation")[0]  # no post-nominals in the heading


def test_suspended_and_expired_certificates_say_so(client, certificate, member, registrar):
    certificates.certificate_suspend(certificate=certificate, actor=registrar, reason="Complaint")
    page = text(client.get(verify_url(certificate)))
    assert "This certificate is suspended" in page and "Reason: Complaint" in page
    Member.objects.filter(pk=member.pk).update(period_ends_on=certificate.valid_until)
    certificates.certificate_suspension_lift(certificate=certificate, actor=registrar, reason="OK")
    certificates.certificates_expire(today=certificate.valid_until + dt.timedelta(days=1))
    page = text(client.get(verify_url(certificate)))
    assert "This certificate has expired" in page


def test_an_unknown_certificate_is_a_clear_404(client, db):
    response = client.get("/verify/6f1c1b8e-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert "We have no certificate with this reference" in response.text
    assert "not valid" in response.text
    assert client.get("/verify/not-a-uuid").status_code == 404


def test_the_public_pages_are_rate_limited(client, certificate, settings):
    settings.VERIFY_RATE_PER_MINUTE = 3
    codes = [client.get(verify_url(certificate)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.get(verify_url(certificate))
    assert response["Retry-After"] == "60"
    assert "Too many checks" in response.text


# ---------------------------------------------------------------- pasting a credential


def test_a_pasted_credential_is_checked_and_fails_once_revoked(client, certificate, registrar):
    token = credentials.credential_jwt(certificate)
    page = text(client.post(reverse("verify_credential"), {"credential": token}))
    assert "This credential is valid" in page
    assert page.count("Passed") == 4
    envelope = json.dumps(credentials.credential_envelope(token))
    assert "This credential is valid" in text(
        client.post(reverse("verify_credential"), {"credential": envelope})
    )
    certificates.certificate_revoke(certificate=certificate, actor=registrar, reason="Fraud")
    response = client.post(reverse("verify_credential"), {"credential": token})
    page = text(response)
    assert "This credential is not valid" in page
    assert response.text.count('nhsuk-tag--red">Failed') == 1
    assert '<td class="nhsuk-table__cell">Revoked.</td>' in response.text
    assert "revoked" in page.split("See the certificate's live record")[1]


def test_the_credential_form_asks_for_something(client, db):
    assert client.get(reverse("verify_credential")).status_code == 200
    response = client.post(reverse("verify_credential"), {"credential": ""})
    assert "Paste the credential to check." in response.text
    tampered = text(client.post(reverse("verify_credential"), {"credential": "eyJhbGc.x.y"}))
    assert "This credential is not valid" in tampered


# ---------------------------------------------------------------- the member


def test_the_member_sees_their_certificate_and_downloads_it(client, certificate, member):
    client.force_login(member.user)
    detail = client.get(reverse("certificates:detail", args=[certificate.public_id]))
    assert detail.status_code == 200
    assert f"http://localhost:8000/verify/{certificate.public_id}" in detail.text
    pdf = client.get(reverse("certificates:pdf", args=[certificate.public_id]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    assert certificate.serial in pdf["Content-Disposition"]
    token = client.get(reverse("certificates:credential_jwt", args=[certificate.public_id]))
    assert token["Content-Type"] == "application/vc+jwt"
    assert token["Content-Disposition"].endswith('.jwt"')
    assert credentials.credential_verify(token.content.decode()).valid
    envelope = client.get(reverse("certificates:credential_json", args=[certificate.public_id]))
    body = envelope.json()
    assert body["type"] == "EnvelopedVerifiableCredential"
    assert body["id"] == "data:application/vc+jwt," + token.content.decode()


def test_another_members_certificate_is_404(client, certificate):
    other = MemberFactory(status=Status.ACTIVE)
    client.force_login(other.user)
    for name in ("detail", "pdf", "credential_jwt", "credential_json"):
        assert (
            client.get(reverse(f"certificates:{name}", args=[certificate.public_id])).status_code
            == 404
        )


def test_a_revoked_certificate_cannot_be_downloaded(client, certificate, member, registrar):
    certificates.certificate_revoke(certificate=certificate, actor=registrar, reason="Fraud found")
    client.force_login(member.user)
    for name in ("pdf", "credential_jwt", "credential_json"):
        response = client.get(reverse(f"certificates:{name}", args=[certificate.public_id]))
        assert response.status_code == 410
        assert "This certificate is revoked" in response.text
        assert "Reason: Fraud found" in response.text


def test_the_dashboard_lists_accreditations_with_post_nominals_in_fixed_queries(
    client, certificate, member, level, registrar, django_assert_num_queries
):
    client.force_login(member.user)
    # The members' dashboard test counts 11 with payments; this member has none, so no
    # refunds are fetched: 10, of which one reads the certificates.
    with django_assert_num_queries(10):
        page = text(client.get(reverse("dashboard")))
    assert "Your accreditations" in page
    assert f"{level.name} (AccMM), Accredited Manager: Valid until" in page
    # A second certificate costs no further query.
    certificates.certificate_suspend(certificate=certificate, actor=registrar, reason="Check")
    second_level = level.__class__.objects.create(
        scheme=level.scheme,
        management_level="senior",
        name="Accredited senior manager",
        min_months_in_role=12,
        post_nominals="AccSM",
    )
    Certificate.objects.create(
        member=member,
        level=second_level,
        application=certificate.application.__class__.objects.create(
            member=member, level=second_level, state="withdrawn"
        ),
        serial="AC-TEST-2",
        valid_from=certificate.valid_from,
        valid_until=certificate.valid_until,
        status_changed_at=certificate.status_changed_at,
        status_list_index=certificate.status_list_index + 1,
    )
    with django_assert_num_queries(10):
        page = text(client.get(reverse("dashboard")))
    assert "Accredited senior manager (AccSM)" in page
    assert f"{level.name}, Accredited Manager: Suspended" in page


# ---------------------------------------------------------------- the registrar


def staff_client(client, registrar):
    enable_totp(registrar)
    client.force_login(registrar)
    return client


def test_the_registrar_revokes_with_a_reason(client, certificate, registrar):
    staff_client(client, registrar)
    url = reverse("registrar_certificates:detail", args=[certificate.public_id])
    page = client.get(url)
    assert "Suspend it (reversible)" in page.text
    response = client.post(url, {"action": "revoke", "reason": ""})
    assert "Give a reason." in response.text
    response = client.post(url, {"action": "revoke", "reason": "Fabricated evidence"})
    assert response.status_code == 302
    certificate.refresh_from_db()
    assert certificate.status == "revoked" and certificate.status_reason == "Fabricated evidence"
    event = AuditEvent.objects.filter(subject_type="certificate").latest("sequence")
    assert event.action == "certificate.revoked" and event.actor == registrar
    page = text(client.get(url))
    assert "A revoked certificate is final" in page
    assert "Certificate revoked by" in page


def test_the_registrar_suspends_and_lifts(client, certificate, registrar):
    staff_client(client, registrar)
    url = reverse("registrar_certificates:detail", args=[certificate.public_id])
    client.post(url, {"action": "suspend", "reason": "Complaint received"})
    certificate.refresh_from_db()
    assert (certificate.status, certificate.suspended_by) == ("suspended", "registrar")
    assert "Lift the registrar" in client.get(url).text
    client.post(url, {"action": "lift", "reason": "Complaint dismissed"})
    certificate.refresh_from_db()
    assert certificate.status == "valid"
    listing = client.get(reverse("registrar_certificates:list") + f"?q={certificate.serial}")
    assert certificate.serial in listing.text
    assert reverse("registrar_certificates:list") in client.get(reverse("registrar:home")).text


def test_registrar_pages_are_404_for_members(client, certificate, member):
    client.force_login(member.user)
    assert client.get(reverse("registrar_certificates:list")).status_code == 404
    url = reverse("registrar_certificates:detail", args=[certificate.public_id])
    assert client.post(url, {"action": "revoke", "reason": "x"}).status_code == 404
    certificate.refresh_from_db()
    assert certificate.status == "valid"


@pytest.mark.parametrize(
    "pasted",
    [
        '{"id": 5}',
        '{"id": null}',
        "[" * 20_000 + "]" * 20_000,
        "{" + '"a":' * 10 + "}",
        base64.urlsafe_b64encode(b'{"alg": "EdDSA", "kid": ["x"]}').decode().rstrip("=") + ".e30.x",
        base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode().rstrip("=") + ".e30.x",
    ],
)
def test_odd_pastes_are_refused_in_words_never_a_server_error(client, db, pasted):
    response = client.post(reverse("verify_credential"), {"credential": pasted})
    assert response.status_code in (200, 400)
    assert "not valid" in response.text or "There is a problem" in response.text


def test_a_removal_reason_is_never_shown_publicly(client, certificate, registrar):
    from members import services as member_services

    member_services.member_remove(
        member=certificate.member, actor=registrar, reason="Confidential HR matter"
    )
    page = client.get(verify_url(certificate)).text
    assert "Removed from the register" in page and "Confidential HR matter" not in page


def test_behind_a_trusted_proxy_each_visitor_has_their_own_limit(client, certificate, settings):
    settings.VERIFY_RATE_PER_MINUTE = 2
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    from rest_framework.settings import api_settings

    api_settings.reload()
    try:
        for visitor in ("203.0.113.1", "203.0.113.2"):
            codes = [
                client.get(verify_url(certificate), HTTP_X_FORWARDED_FOR=visitor).status_code
                for _ in range(3)
            ]
            assert codes == [200, 200, 429], visitor
    finally:
        api_settings.reload()
