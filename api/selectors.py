"""Reads for the API and the employer portal, each in a fixed number of queries."""

from api.models import ApiKey
from api.services import api_key_digest


def api_key_find(*, raw: str) -> ApiKey | None:
    """The key whose digest matches, with its employer (one query), or None."""
    if len(raw) > 200:
        return None
    return ApiKey.objects.select_related("employer").filter(digest=api_key_digest(raw)).first()
