"""Current TOTP codes for tests, computed the way an authenticator app does."""

import time

from allauth.mfa.adapter import get_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value


def current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def enable_totp(user) -> str:
    """Give the user an authenticator app, returning its secret."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def secret_of(user) -> str:
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    return get_adapter().decrypt(authenticator.data["secret"])
