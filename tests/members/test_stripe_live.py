"""Optional: the same SDK calls against Stripe's real test mode.

Runs only when STRIPE_LIVE_TEST_SECRET_KEY holds a test-mode key (sk_test_...);
skips cleanly otherwise, as on CI and machines without network access.
"""

import os

import pytest

from members.stripe_billing import stripe_customer_for
from members.stripe_gateway import STRIPE_API_VERSION, stripe_client
from tests.factories import MemberFactory

LIVE_KEY = os.environ.get("STRIPE_LIVE_TEST_SECRET_KEY", "")

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not LIVE_KEY.startswith("sk_test_"),
        reason="set STRIPE_LIVE_TEST_SECRET_KEY to a Stripe test-mode key to run against Stripe",
    ),
]


def test_customer_round_trip_in_stripe_test_mode(settings):
    settings.STRIPE_SECRET_KEY = LIVE_KEY
    settings.STRIPE_WEBHOOK_SECRET = "whsec_unused"
    settings.STRIPE_API_BASE = ""
    member = MemberFactory()
    customer_id = stripe_customer_for(member=member)
    client = stripe_client()
    try:
        customer = client.v1.customers.retrieve(customer_id)
        assert customer.metadata["member"] == str(member.public_id)
        # Asking again with the same idempotency key returns the same customer.
        member.stripe_customer_id = None
        assert stripe_customer_for(member=member) == customer_id
        assert STRIPE_API_VERSION
    finally:
        client.v1.customers.delete(customer_id)
