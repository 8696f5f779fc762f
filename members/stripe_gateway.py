"""The one place the Stripe SDK is configured."""

import stripe
from django.conf import settings

# Every request and every webhook payload is read at this version, whatever
# the account's default, so a dashboard upgrade cannot change what we parse.
STRIPE_API_VERSION = "2026-10-28.endive"


def stripe_enabled() -> bool:
    return bool(settings.STRIPE_SECRET_KEY and settings.STRIPE_WEBHOOK_SECRET)


def stripe_client() -> stripe.StripeClient:
    options = {}
    if settings.STRIPE_API_BASE:
        options["base_addresses"] = {"api": settings.STRIPE_API_BASE}
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        stripe_version=STRIPE_API_VERSION,
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=20),
        **options,
    )
