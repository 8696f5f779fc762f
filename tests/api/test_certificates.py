"""Accreditations in verification, bulk checks and the register, and the
certificate endpoint: current certificates only, read in the same query."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accreditation import certificates
from api.models import ApiKey
from tests.api.builders import make_active_member, make_certificate, make_key
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

ISSUED = dt.date(2026, 4, 1)


@pytest.fixture
def holder(clock, registrar):
    member = make_active_member(clock, registrar)
    clock.set(ISSUED)
    member.certificate = make_certificate(member)
    clock.set(dt.date(2026, 6, 1))
    return member


def verify(employer_api, member, on=None):
    query = f"family_name={member.user.family_name}" + (f"&on={on}" if on else "")
    response = employer_api.get(f"/api/v1/verify/{member.membership_number}?{query}")
    assert response.status_code == 200, response.json()
    return response.json()


def test_verification_lists_current_accreditations(employer_api, holder):
    certificate = holder.certificate
    assert verify(employer_api, holder)["accreditations"] == [
        {
            "scheme": "Accredited Manager",
            "level": "Accredited middle manager",
            "post_nominals": "AccMM",
            "status": "valid",
            "valid_from": "2026-04-01",
            "valid_until": certificate.valid_until.isoformat(),
            "certificate_id": str(certificate.public_id),
        }
    ]
    # Before it was issued, it was not current.
    assert verify(employer_api, holder, on="2026-03-31")["accreditations"] == []


def test_a_suspended_or_revoked_certificate_is_not_current(employer_api, holder):
    certificates.certificate_revoke(
        certificate=holder.certificate, actor=StaffFactory(), reason="Obtained by deception"
    )
    assert verify(employer_api, holder)["accreditations"] == []


def test_a_verify_with_accreditations_is_still_three_round_trips(employer_api, holder, verify_key):
    ApiKey.objects.filter(pk=verify_key.key.pk).update(last_used_at=timezone.now())
    assert holder.user.family_name  # read before counting
    with CaptureQueriesContext(connection) as queries:
        body = verify(employer_api, holder)
    assert len(body["accreditations"]) == 1
    assert len(queries) == 3


def test_bulk_and_register_carry_accreditations(employer_api, api, holder):
    checks = [{"membership_number": holder.membership_number, "family_name": "x"}] * 2 + [
        {"membership_number": holder.membership_number, "family_name": holder.user.family_name}
    ]
    results = employer_api.post("/api/v1/verify/bulk", {"checks": checks}, format="json").json()
    assert results["results"][2]["verification"]["accreditations"][0]["level"] == (
        "Accredited middle manager"
    )
    [entry] = api.get("/api/v1/register", {"q": holder.membership_number}).json()["results"]
    assert [a["certificate_id"] for a in entry["accreditations"]] == [
        str(holder.certificate.public_id)
    ]


def test_the_register_entry_page_shows_accreditations(client, holder):
    html = client.get(f"/register/{holder.membership_number}/").text
    assert "Accredited middle manager (Accredited Manager)" in html


def test_a_certificate_answers_with_its_status_and_holder(employer_api, holder):
    certificate = holder.certificate
    response = employer_api.get(f"/api/v1/certificates/{certificate.public_id}")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body == {
        "certificate_id": str(certificate.public_id),
        "serial": certificate.serial,
        "status": {"code": "valid", "words": "Valid", "reason": ""},
        "scheme": "Accredited Manager",
        "level": "Accredited middle manager",
        "valid_from": "2026-04-01",
        "valid_until": certificate.valid_until.isoformat(),
        "holder": {
            "name": holder.user.get_full_name(),
            "membership_number": holder.membership_number,
        },
        "verify_url": f"http://testserver/verify/{certificate.public_id}",
    }


def test_a_revoked_certificate_still_answers_saying_so(employer_api, holder):
    certificates.certificate_revoke(
        certificate=holder.certificate, actor=StaffFactory(), reason="Obtained by deception"
    )
    body = employer_api.get(f"/api/v1/certificates/{holder.certificate.public_id}").json()
    assert body["status"] == {
        "code": "revoked",
        "words": "Revoked",
        "reason": "Obtained by deception",
    }


@pytest.mark.parametrize("public_id", ["not-a-uuid", "6f1c9a52-0000-4000-8000-000000000000"])
def test_an_unknown_certificate_is_a_404(employer_api, public_id):
    response = employer_api.get(f"/api/v1/certificates/{public_id}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_certificates_need_the_verify_scope(api, employer, holder):
    made = make_key(employer, scopes=["watchlist"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {made.raw}")
    assert api.get(f"/api/v1/certificates/{holder.certificate.public_id}").status_code == 403
