"""API key authentication: ``Authorization: Bearer <key>``.

One indexed query finds the key (with its employer) by the digest of what was
sent; a wrong, revoked or expired key, or one whose employer is inactive, is
refused with a 401 that says which, since the caller already holds the key.
"""

from dataclasses import dataclass

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from api import services
from api.models import ApiKey, EmployerClient
from api.selectors import api_key_find

KEYWORD = "Bearer"


@dataclass(frozen=True)
class ApiClient:
    """``request.user`` for a call made with a key: the employer behind it."""

    key: ApiKey

    is_authenticated = True
    is_anonymous = False

    @property
    def employer(self) -> EmployerClient:
        return self.key.employer

    @property
    def pk(self) -> str:
        return f"key:{self.key.pk}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None  # no credentials: the permission check answers 401
        keyword, _, raw = header.partition(" ")
        raw = raw.strip()
        if keyword.lower() != KEYWORD.lower() or not raw or " " in raw:
            raise exceptions.AuthenticationFailed(
                "Send the key as 'Authorization: Bearer <key>'.", code="invalid_key"
            )
        key = api_key_find(raw=raw)
        if key is None:
            raise exceptions.AuthenticationFailed("This API key is not valid.", code="invalid_key")
        now = timezone.now()
        if key.is_revoked:
            raise exceptions.AuthenticationFailed(
                "This API key has been revoked.", code="key_revoked"
            )
        if key.is_expired(now):
            raise exceptions.AuthenticationFailed("This API key has expired.", code="key_expired")
        if not key.employer.is_active:
            raise exceptions.AuthenticationFailed(
                "This organisation's account is not active.", code="employer_inactive"
            )
        services.api_key_touch(key=key, now=now)
        return ApiClient(key), key

    def authenticate_header(self, request) -> str:
        return f'{KEYWORD} realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from the employer portal: `Authorization: Bearer ihsm_….…`",
        }
