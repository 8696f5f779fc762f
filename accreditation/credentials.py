"""Open Badges 3.0 credentials for certificates, signed as VC-JWTs with Ed25519.

The issuer is ``did:web`` for the site (``issuer_did``); ``/.well-known/did.json``
publishes the current public key and every retired one (``did_document``), and
``/.well-known/jwks.json`` the same keys as a JWKS. Only the current key signs
(``assertionMethod``); retired keys stay listed so earlier credentials still
verify. Key ids are RFC 7638 thumbprints, so a key's id never depends on where
it is stored.

Keys come from settings, never from the repository:

- ``CREDENTIALS_SIGNING_KEY``: the current private key as PEM text, or
- ``CREDENTIALS_SIGNING_KEY_FILE``: a path to it (``manage.py credentials_key``
  creates one for development);
- ``CREDENTIALS_RETIRED_KEYS_FILE``: a JWKS of retired public keys (optional).

Each credential carries two ``BitstringStatusListEntry`` entries (revocation and
suspension) pointing at lists built by ``accreditation.status_lists``.
"""

import base64
import datetime as dt
import json
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from accreditation.models import Certificate

ALG = "EdDSA"
JWT_TYPE = "vc+jwt"
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
ENVELOPE_PREFIX = "data:application/vc+jwt,"


# ---------------------------------------------------------------- keys and the DID


def issuer_did() -> str:
    """``did:web:`` for SITE_URL's host (a port is percent-encoded, as did:web says)."""
    host = urlsplit(settings.SITE_URL).netloc
    return "did:web:" + quote(host, safe="")


def _key_id(key: OKPKey) -> str:
    return f"{issuer_did()}#{key.thumbprint()}"


@cache
def _load_signing_key(pem: str, path: str) -> OKPKey:
    if not pem and path:
        try:
            pem = Path(path).read_text()
        except OSError as error:
            raise ImproperlyConfigured(
                f"CREDENTIALS_SIGNING_KEY_FILE {path!r} cannot be read ({error.strerror}); "
                "create a development key with `manage.py credentials_key`."
            ) from None
    if not pem:
        raise ImproperlyConfigured(
            "No credential signing key: set CREDENTIALS_SIGNING_KEY or "
            "CREDENTIALS_SIGNING_KEY_FILE (see docs/certificates.md)."
        )
    key = OKPKey.import_key(pem)
    if key.curve_name != "Ed25519" or not key.is_private:
        raise ImproperlyConfigured("The credential signing key must be an Ed25519 private key.")
    return key


def signing_key() -> OKPKey:
    return _load_signing_key(
        settings.CREDENTIALS_SIGNING_KEY, str(settings.CREDENTIALS_SIGNING_KEY_FILE or "")
    )


@cache
def _load_retired_keys(path: str) -> tuple[OKPKey, ...]:
    if not path or not Path(path).exists():
        return ()
    keys = json.loads(Path(path).read_text()).get("keys", [])
    return tuple(OKPKey.import_key({k: v for k, v in key.items() if k != "d"}) for key in keys)


def retired_keys() -> tuple[OKPKey, ...]:
    """Earlier public keys, for verifying only; never the current one."""
    current = signing_key().thumbprint()
    keys = _load_retired_keys(str(settings.CREDENTIALS_RETIRED_KEYS_FILE or ""))
    return tuple(key for key in keys if key.thumbprint() != current)


def _public_jwk(key: OKPKey) -> dict:
    # The same kid as the credential's JWT header, so JWKS clients find the key by it.
    return {**key.as_dict(private=False), "kid": _key_id(key), "alg": ALG, "use": "sig"}


def jwks() -> dict:
    """The current key first, then retired ones: every key a credential of ours may carry."""
    return {"keys": [_public_jwk(key) for key in (signing_key(), *retired_keys())]}


def did_document() -> dict:
    did = issuer_did()
    current = signing_key()
    methods = [
        {
            "id": _key_id(key),
            "type": "JsonWebKey2020",
            "controller": did,
            "publicKeyJwk": key.as_dict(private=False),
        }
        for key in (current, *retired_keys())
    ]
    return {
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/suites/jws-2020/v1",
        ],
        "id": did,
        "verificationMethod": methods,
        # Verifiers look for the signing key here, so retired keys stay listed to keep
        # earlier credentials verifiable; only the current key's private half exists.
        "assertionMethod": [method["id"] for method in methods],
        "authentication": [],
    }


def _keys_by_id() -> dict[str, OKPKey]:
    return {_key_id(key): key for key in (signing_key(), *retired_keys())}


# ---------------------------------------------------------------- the credential


def verification_url(certificate: Certificate) -> str:
    return f"{settings.SITE_URL}/verify/{certificate.public_id}"


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _start_of(day: dt.date) -> str:
    """The start of a UK day, in UTC (an hour earlier in summer time)."""
    return _utc(dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone()))


def _end_of(day: dt.date) -> str:
    return _utc(
        dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=timezone.get_current_timezone())
    )


def credential_build(certificate: Certificate) -> dict:
    """The OpenBadgeCredential for a certificate (``member__user`` and ``level__scheme`` loaded)."""
    from accreditation.status_lists import status_entries

    site = settings.SITE_URL
    level = certificate.level
    user = certificate.member.user
    identifiers = [
        {
            "type": "IdentityObject",
            "identityType": "name",
            "hashed": False,
            "identityHash": user.get_full_name() or user.email,
        }
    ]
    if certificate.member.membership_number:
        identifiers.append(
            {
                "type": "IdentityObject",
                "identityType": "identifier",
                "hashed": False,
                "identityHash": certificate.member.membership_number,
            }
        )
    achievement = {
        "id": f"{site}/accreditation/levels/{level.pk}",
        "type": ["Achievement"],
        "achievementType": "Certificate",
        "name": level.name,
        "description": f"{level.scheme.name}: {level.name}.",
        "criteria": {
            "narrative": (
                "Assessed by independent assessors against the management standards "
                "required for this level, with referees and recent CPD."
            )
        },
        "creator": {"id": issuer_did(), "type": ["Profile"], "name": settings.SITE_NAME},
    }
    if level.post_nominals:
        achievement["tag"] = [level.post_nominals]
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": verification_url(certificate),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": f"{level.name} ({level.scheme.name})",
        "issuer": {
            "id": issuer_did(),
            "type": ["Profile"],
            "name": settings.SITE_NAME,
            "url": site,
        },
        "validFrom": _start_of(certificate.valid_from),
        "validUntil": _end_of(certificate.valid_until),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": identifiers,
            "achievement": achievement,
        },
        "credentialStatus": status_entries(certificate),
    }


def _sign(payload: dict, *, typ: str) -> str:
    key = signing_key()
    header = {"alg": ALG, "typ": typ, "kid": _key_id(key)}
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    with warnings.catch_warnings():
        # RFC 9864 prefers the name "Ed25519"; "EdDSA" is what verifiers support today.
        warnings.simplefilter("ignore")
        return jws.serialize_compact(header, body, key, algorithms=[ALG])


def _timestamp(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def jwt_sign_credential(credential: dict) -> str:
    """Sign as a VC-JWT: the credential is the payload, with the JWT claims that
    mirror it (iss, jti, nbf, exp) so any JOSE library checks dates too."""
    claims = {
        **credential,
        "iss": credential["issuer"]["id"]
        if isinstance(credential["issuer"], dict)
        else credential["issuer"],
        "jti": credential["id"],
        "nbf": _timestamp(credential["validFrom"]),
    }
    if "validUntil" in credential:
        claims["exp"] = _timestamp(credential["validUntil"])
    return _sign(claims, typ=JWT_TYPE)


def credential_jwt(certificate: Certificate) -> str:
    """The certificate's credential as a compact VC-JWT (deterministic: Ed25519)."""
    return jwt_sign_credential(credential_build(certificate))


def credential_envelope(token: str) -> dict:
    """The JSON form of a VC-JWT (VC Data Model 2.0, ``EnvelopedVerifiableCredential``)."""
    return {
        "@context": [VC_CONTEXT],
        "id": ENVELOPE_PREFIX + token,
        "type": "EnvelopedVerifiableCredential",
    }


# ---------------------------------------------------------------- verifying


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class CredentialVerification:
    """What checking a pasted credential found: every check, in order."""

    checks: list[Check] = field(default_factory=list)
    credential: dict | None = None
    certificate: Certificate | None = None

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def add(self, name: str, passed: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, passed, detail))
        return passed


# Our credentials are a few kilobytes; anything far larger is not one of them.
MAX_PASTED_CHARS = 20_000


def _token_from(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_PASTED_CHARS:
        return ""
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return ""
        ident = data.get("id", "") if isinstance(data, dict) else ""
        if not isinstance(ident, str) or not ident.startswith(ENVELOPE_PREFIX):
            return ""
        return ident[len(ENVELOPE_PREFIX) :]
    return text.removeprefix(ENVELOPE_PREFIX)


def _header(token: str) -> dict:
    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def credential_verify(text: str, *, now: dt.datetime | None = None) -> CredentialVerification:
    """Check a pasted VC-JWT (or its enveloped JSON): our signature with a key in our
    DID document, the dates, and both status lists. Never raises for bad input."""
    from accreditation.status_lists import status_bit

    now = now or timezone.now()
    result = CredentialVerification()
    token = _token_from(text)
    try:
        header = _header(token)
        kid = header.get("kid", "")
        if not isinstance(kid, str):
            raise ValueError(kid)
    except (ValueError, IndexError, AttributeError, TypeError, RecursionError):
        result.add("Signature", False, "This is not a signed credential (a VC-JWT).")
        return result
    key = _keys_by_id().get(kid)
    if key is None or header.get("alg") != ALG:
        result.add("Signature", False, "It was not signed with one of our keys.")
        return result
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = jws.deserialize_compact(token, key, algorithms=[ALG])
        credential = json.loads(obj.payload)
    except (JoseError, ValueError):
        result.add("Signature", False, "The signature does not match: it has been altered.")
        return result
    result.credential = credential
    issuer = credential.get("issuer", {})
    issuer = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not result.add(
        "Signature",
        issuer == issuer_did(),
        f"Signed by {settings.SITE_NAME}." if issuer == issuer_did() else "Issuer mismatch.",
    ):
        return result
    try:
        starts = dt.datetime.fromisoformat(credential["validFrom"].replace("Z", "+00:00"))
        ends = credential.get("validUntil")
        ends = dt.datetime.fromisoformat(ends.replace("Z", "+00:00")) if ends else None
    except (KeyError, ValueError, AttributeError):
        result.add("Dates", False, "The credential's dates cannot be read.")
        return result
    if now < starts:
        result.add("Dates", False, f"Not valid before {starts:%-d %B %Y}.")
    elif ends is not None and now > ends:
        result.add("Dates", False, f"Expired on {ends:%-d %B %Y}.")
    else:
        result.add("Dates", True, "Within its validity dates.")
    entries = credential.get("credentialStatus") or []
    entries = entries if isinstance(entries, list) else [entries]
    purposes = {entry.get("statusPurpose"): entry for entry in entries if isinstance(entry, dict)}
    for purpose, label in (("revocation", "Revocation"), ("suspension", "Suspension")):
        entry = purposes.get(purpose)
        if entry is None:
            result.add(label, False, f"No {purpose} status to check.")
            continue
        bit = status_bit(entry)
        if bit is None:
            result.add(label, False, "Its status list is not one of ours.")
        else:
            result.add(
                label,
                not bit,
                f"{'Revoked' if purpose == 'revocation' else 'Suspended'}."
                if bit
                else f"Not {'revoked' if purpose == 'revocation' else 'suspended'}.",
            )
    public_id = str(credential.get("id", "")).rstrip("/").rsplit("/", 1)[-1]
    result.certificate = (
        Certificate.objects.select_related("level__scheme", "member__user")
        .filter(public_id=public_id)
        .first()
        if _is_uuid(public_id)
        else None
    )
    return result


def _is_uuid(text: str) -> bool:
    import uuid

    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def forget_keys() -> None:
    """Drop the cached keys (after a rotation, in the same process)."""
    _load_signing_key.cache_clear()
    _load_retired_keys.cache_clear()
