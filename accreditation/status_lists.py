"""W3C Bitstring Status Lists for our credentials: one for revocation, one for suspension.

Each certificate owns one index (``Certificate.status_list_index``, random, the
same in both lists). A list is built from the certificates table whenever it is
asked for (one query), so revoking or suspending flips the bit at once. The
bitstring has ``STATUS_LIST_SIZE`` (131,072) entries; index 0 is the most
significant bit of the first byte. It is GZIP-compressed, base64url-encoded
without padding and prefixed with ``u`` (multibase), and served as a signed
``BitstringStatusListCredential`` (a VC-JWT).
"""

import base64
import gzip

from django.conf import settings
from django.utils import timezone

from accreditation.certificates import STATUS_LIST_SIZE
from accreditation.models import Certificate, CertificateStatus

PURPOSES = {
    "revocation": CertificateStatus.REVOKED,
    "suspension": CertificateStatus.SUSPENDED,
}


def status_list_url(purpose: str) -> str:
    return f"{settings.SITE_URL}/credentials/status/{purpose}"


def status_entries(certificate: Certificate) -> list[dict]:
    """The credential's ``credentialStatus``: its bit in each list."""
    index = str(certificate.status_list_index)
    return [
        {
            "id": f"{status_list_url(purpose)}#{index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": purpose,
            "statusListIndex": index,
            "statusListCredential": status_list_url(purpose),
        }
        for purpose in PURPOSES
    ]


def bitstring(indexes, *, size: int = STATUS_LIST_SIZE) -> bytes:
    bits = bytearray(size // 8)
    for index in indexes:
        bits[index // 8] |= 0x80 >> (index % 8)
    return bytes(bits)


def encode_list(bits: bytes) -> str:
    """GZIP, then base64url without padding, with the multibase prefix ``u``."""
    compressed = gzip.compress(bits, mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode()


def decode_list(encoded: str) -> bytes:
    """The spec's expansion: drop the multibase prefix, base64url-decode, GZIP-expand."""
    if not encoded.startswith("u"):
        raise ValueError("Not a base64url multibase string.")
    data = encoded[1:]
    return gzip.decompress(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))


def bit_at(bits: bytes, index: int) -> bool:
    """The spec's validation: the bit at ``index``, counting from the left of byte 0."""
    if not 0 <= index < len(bits) * 8:
        raise IndexError("The status list index is outside the list.")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def encoded_list(purpose: str) -> str:
    status = PURPOSES[purpose]
    indexes = Certificate.objects.filter(status=status).values_list("status_list_index", flat=True)
    return encode_list(bitstring(indexes))


def status_list_credential(purpose: str) -> dict:
    from accreditation.credentials import VC_CONTEXT, issuer_did

    url = status_list_url(purpose)
    return {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_did(),
        "validFrom": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encoded_list(purpose),
        },
    }


def status_list_jwt(purpose: str) -> str:
    from accreditation.credentials import jwt_sign_credential

    return jwt_sign_credential(status_list_credential(purpose))


def status_bit(entry: dict) -> bool | None:
    """Whether an entry's bit is set in our current list, by the spec's algorithm;
    None if the entry does not point at one of our lists."""
    purpose = entry.get("statusPurpose")
    if purpose not in PURPOSES or entry.get("statusListCredential") != status_list_url(purpose):
        return None
    try:
        index = int(entry.get("statusListIndex", ""))
        return bit_at(decode_list(encoded_list(purpose)), index)
    except (TypeError, ValueError, IndexError):
        return None
