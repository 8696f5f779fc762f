"""Open Badges 3.0 credentials as VC-JWTs, the DID document, key rotation and the
Bitstring Status Lists. Signed with joserfc; verified here with PyJWT, a
different JOSE library, using only what the site publishes."""

import base64
import datetime as dt
import gzip
import json
import os

import jwt as pyjwt
import pytest
from django.core.management import call_command
from joserfc.jwk import OKPKey

from accreditation import certificates, credentials, status_lists
from accreditation.models import Certificate
from members.models import Status
from tests.accreditation.test_certificates import approve
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def new_key_pem() -> str:
    return OKPKey.generate_key("Ed25519", private=True).as_pem(private=True).decode()


@pytest.fixture(autouse=True)
def signing_key(settings):
    settings.CREDENTIALS_SIGNING_KEY = new_key_pem()
    settings.CREDENTIALS_SIGNING_KEY_FILE = ""
    settings.CREDENTIALS_RETIRED_KEYS_FILE = ""
    return settings.CREDENTIALS_SIGNING_KEY


@pytest.fixture
def certificate(member, level, registrar):
    level.post_nominals = "AccMM"
    level.save()
    return Certificate.objects.get(application=approve(member, level, registrar))


def published_key(client, kid: str):
    """The public key for ``kid`` from /.well-known/did.json, as PyJWT reads it."""
    document = client.get("/.well-known/did.json").json()
    methods = [m for m in document["verificationMethod"] if m["id"] == kid]
    if len(methods) != 1:
        raise pyjwt.InvalidKeyError(f"No published key {kid!r}.")
    return pyjwt.PyJWK(methods[0]["publicKeyJwk"], algorithm="EdDSA")


def pyjwt_verify(client, token: str) -> dict:
    kid = pyjwt.get_unverified_header(token)["kid"]
    return pyjwt.decode(
        token, key=published_key(client, kid), algorithms=["EdDSA"], options={"require": ["iss"]}
    )


def flip_one_byte(token: str, part: int) -> str:
    """Change one byte of the decoded header, payload or signature, re-encoded."""
    parts = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(parts[part] + "=" * (-len(parts[part]) % 4)))
    middle = len(raw) // 2
    raw[middle] = raw[middle] ^ 0x01
    parts[part] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return ".".join(parts)


def spec_decode(encoded_list: str) -> bytes:
    """W3C Bitstring Status List, 'Bitstring Expansion': multibase base64url, then GZIP."""
    assert encoded_list[0] == "u"
    data = encoded_list[1:]
    return gzip.decompress(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))


def spec_bit(bits: bytes, index: int) -> int:
    # The first index is the left-most (most significant) bit of the first byte.
    return (bits[index // 8] >> (7 - index % 8)) & 1


# ---------------------------------------------------------------- the credential


def test_the_vc_jwt_verifies_with_another_library_and_the_published_key(
    client, certificate, member
):
    token = credentials.credential_jwt(certificate)
    header = pyjwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["typ"] == "vc+jwt"
    assert header["kid"].startswith("did:web:localhost%3A8000#")
    claims = pyjwt_verify(client, token)
    assert claims["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert claims["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert claims["issuer"]["id"] == claims["iss"] == "did:web:localhost%3A8000"
    assert claims["id"] == claims["jti"] == f"http://localhost:8000/verify/{certificate.public_id}"
    assert claims["validFrom"] == f"{certificate.valid_from}T00:00:00Z"
    assert claims["validUntil"] == f"{certificate.valid_until}T23:59:59Z"
    subject = claims["credentialSubject"]
    assert subject["type"] == ["AchievementSubject"]
    assert subject["achievement"]["name"] == certificate.level.name
    assert subject["achievement"]["tag"] == ["AccMM"]
    assert subject["identifier"][0]["identityHash"] == member.user.get_full_name()
    purposes = {entry["statusPurpose"]: entry for entry in claims["credentialStatus"]}
    assert set(purposes) == {"revocation", "suspension"}
    for purpose, entry in purposes.items():
        assert entry["type"] == "BitstringStatusListEntry"
        assert entry["statusListIndex"] == str(certificate.status_list_index)
        assert (
            entry["statusListCredential"] == f"http://localhost:8000/credentials/status/{purpose}"
        )


@pytest.mark.parametrize("part", [0, 1, 2], ids=["header", "payload", "signature"])
def test_changing_one_byte_fails_verification(client, certificate, part):
    token = credentials.credential_jwt(certificate)
    tampered = flip_one_byte(token, part)
    assert tampered != token
    with pytest.raises(pyjwt.PyJWTError):
        pyjwt_verify(client, tampered)
    assert not credentials.credential_verify(tampered).valid


def test_the_sites_own_check_passes_then_fails_after_revocation(certificate, registrar):
    token = credentials.credential_jwt(certificate)
    result = credentials.credential_verify(token)
    assert result.valid, result.checks
    assert [c.name for c in result.checks] == ["Signature", "Dates", "Revocation", "Suspension"]
    assert result.certificate == certificate
    # The JSON envelope verifies the same way.
    assert credentials.credential_verify(json.dumps(credentials.credential_envelope(token))).valid
    certificates.certificate_revoke(certificate=certificate, actor=registrar, reason="Fraud")
    result = credentials.credential_verify(token)
    assert not result.valid
    assert {c.name: c.passed for c in result.checks} == {
        "Signature": True,
        "Dates": True,
        "Revocation": False,
        "Suspension": True,
    }


def test_suspension_fails_the_check_until_lifted(certificate, registrar):
    token = credentials.credential_jwt(certificate)
    certificates.certificate_suspend(certificate=certificate, actor=registrar, reason="Complaint")
    checks = {c.name: c.passed for c in credentials.credential_verify(token).checks}
    assert checks["Suspension"] is False and checks["Revocation"] is True
    certificates.certificate_suspension_lift(certificate=certificate, actor=registrar, reason="OK")
    assert credentials.credential_verify(token).valid


def test_a_credential_signed_by_another_key_is_refused(certificate, settings):
    token = credentials.credential_jwt(certificate)
    settings.CREDENTIALS_SIGNING_KEY = new_key_pem()
    result = credentials.credential_verify(token)
    assert not result.valid
    assert result.checks[0].detail == "It was not signed with one of our keys."
    assert not credentials.credential_verify("not a credential").valid
    assert not credentials.credential_verify('{"id": "nothing"}').valid


# ---------------------------------------------------------------- keys and rotation


def test_the_management_command_creates_and_rotates_keys(settings, tmp_path, certificate, client):
    settings.CREDENTIALS_SIGNING_KEY = ""
    settings.CREDENTIALS_SIGNING_KEY_FILE = str(tmp_path / "keys" / "signing.pem")
    settings.CREDENTIALS_RETIRED_KEYS_FILE = str(tmp_path / "keys" / "retired.json")
    call_command("credentials_key")
    path = tmp_path / "keys" / "signing.pem"
    assert path.exists() and (os.stat(path).st_mode & 0o777) == 0o600
    first = path.read_text()
    call_command("credentials_key")  # a second run keeps the key
    assert path.read_text() == first
    old_token = credentials.credential_jwt(certificate)
    old_kid = pyjwt.get_unverified_header(old_token)["kid"]

    call_command("credentials_key", "--rotate")
    assert path.read_text() != first
    new_token = credentials.credential_jwt(certificate)
    new_kid = pyjwt.get_unverified_header(new_token)["kid"]
    assert new_kid != old_kid
    document = client.get("/.well-known/did.json").json()
    assert [m["id"] for m in document["verificationMethod"]] == [new_kid, old_kid]
    # Both stay assertion methods, so standard verifiers accept earlier credentials.
    assert document["assertionMethod"] == [new_kid, old_kid]
    assert all("d" not in m["publicKeyJwk"] for m in document["verificationMethod"])
    # Both credentials still verify, with either library.
    assert pyjwt_verify(client, old_token)["jti"] == pyjwt_verify(client, new_token)["jti"]
    assert credentials.credential_verify(old_token).valid
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert [k["kid"] for k in keys] == [new_kid, old_kid]


def test_did_document_and_jwks_are_public(client, signing_key):
    response = client.get("/.well-known/did.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/did+json"
    document = response.json()
    assert document["id"] == "did:web:localhost%3A8000"
    [method] = document["verificationMethod"]
    assert method["controller"] == document["id"]
    assert method["publicKeyJwk"]["kty"] == "OKP" and method["publicKeyJwk"]["crv"] == "Ed25519"
    assert client.get("/.well-known/jwks.json").json()["keys"][0]["alg"] == "EdDSA"


# ---------------------------------------------------------------- status lists


def status_list_bits(client, purpose: str) -> bytes:
    response = client.get(f"/credentials/status/{purpose}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vc+jwt"
    claims = pyjwt_verify(client, response.content.decode())
    assert claims["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    subject = claims["credentialSubject"]
    assert subject["type"] == "BitstringStatusList"
    assert subject["statusPurpose"] == purpose
    return spec_decode(subject["encodedList"])


def test_status_lists_decoded_by_the_spec_find_only_the_right_bits(
    client, level, registrar, django_assert_num_queries
):
    issued = [
        Certificate.objects.get(
            application=approve(MemberFactory(status=Status.ACTIVE), level, registrar)
        )
        for _ in range(3)
    ]
    revoked, suspended, fine = issued
    certificates.certificate_revoke(certificate=revoked, actor=registrar, reason="Fraud")
    certificates.certificate_suspend(certificate=suspended, actor=registrar, reason="Complaint")

    revocation = status_list_bits(client, "revocation")
    assert len(revocation) * 8 >= 131_072
    assert spec_bit(revocation, revoked.status_list_index) == 1
    assert spec_bit(revocation, suspended.status_list_index) == 0
    assert spec_bit(revocation, fine.status_list_index) == 0
    assert sum(bin(byte).count("1") for byte in revocation) == 1

    suspension = status_list_bits(client, "suspension")
    assert spec_bit(suspension, suspended.status_list_index) == 1
    assert spec_bit(suspension, revoked.status_list_index) == 0
    assert sum(bin(byte).count("1") for byte in suspension) == 1

    # Lifting clears the bit at once; the list is one query however many certificates.
    certificates.certificate_suspension_lift(certificate=suspended, actor=registrar, reason="OK")
    with django_assert_num_queries(1):
        client.get("/credentials/status/suspension")
    assert not any(status_list_bits(client, "suspension"))
    assert client.get("/credentials/status/other").status_code == 404


def test_bit_order_and_encoding_follow_the_spec():
    bits = status_lists.bitstring([0, 9, 131_071])
    assert bits[0] == 0b1000_0000 and bits[1] == 0b0100_0000 and bits[-1] == 0b0000_0001
    encoded = status_lists.encode_list(bits)
    assert encoded.startswith("u") and "=" not in encoded
    assert spec_decode(encoded) == bits
    assert status_lists.decode_list(encoded) == bits
    assert [spec_bit(bits, i) for i in (0, 1, 9, 131_071)] == [1, 0, 1, 1]


def test_credential_dates_are_uk_days_in_utc():
    assert credentials._start_of(dt.date(2026, 7, 1)) == "2026-06-30T23:00:00Z"  # summer time
    assert credentials._end_of(dt.date(2026, 7, 1)) == "2026-07-01T22:59:59Z"
    assert credentials._start_of(dt.date(2026, 12, 1)) == "2026-12-01T00:00:00Z"
