"""Catch up with Stripe after webhooks lost beyond Stripe's retry window."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from members.stripe_billing import stripe_reconcile
from members.stripe_gateway import stripe_enabled


class Command(BaseCommand):
    help = (
        "Compare every Stripe subscription with ours; record paid invoices with no payment "
        "and refresh subscription status. Safe to run at any time."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--paid-since",
            type=dt.date.fromisoformat,
            help="Look at invoices paid since this date (default: the last 400 days).",
        )

    def handle(self, *args, paid_since=None, **options):
        if not stripe_enabled():
            raise CommandError(
                "Stripe is not configured (STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET)."
            )
        report = stripe_reconcile(paid_since=paid_since)
        payments, updated = len(report.payments_recorded), len(report.subscriptions_updated)
        self.stdout.write(
            f"{report.subscriptions_checked} subscriptions checked; "
            f"{payments} payment{'s' if payments != 1 else ''} recorded; "
            f"{updated} subscription{'s' if updated != 1 else ''} updated."
        )
        for invoice_id in report.payments_recorded:
            self.stdout.write(f"  recorded payment for Stripe invoice {invoice_id}")
        for subscription_id in report.subscriptions_updated:
            self.stdout.write(f"  refreshed subscription {subscription_id}")
        for customer_id in report.unknown_customers:
            self.stderr.write(f"  Stripe customer {customer_id} is not linked to any member")
