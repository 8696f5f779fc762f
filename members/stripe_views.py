"""Paying by card or Bacs Direct Debit through Stripe, and Stripe's webhook."""

import logging

import stripe
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from members.models import CheckoutAttempt, Member
from members.services import MembershipError
from members.stripe_billing import (
    WebhookBusy,
    stripe_checkout_fulfil,
    stripe_checkout_start,
    stripe_event_process,
    stripe_portal_url,
)
from members.stripe_gateway import stripe_client, stripe_enabled
from members.views import _pay_page, member_required

logger = logging.getLogger(__name__)


def _require_stripe() -> None:
    if not stripe_enabled():
        raise Http404("Card payments are not available.")


@require_POST
@member_required
def card_checkout_start(request, member: Member):
    _require_stripe()
    try:
        url = stripe_checkout_start(
            member=member,
            success_url=request.build_absolute_uri(reverse("membership_card_done")),
            cancel_url=request.build_absolute_uri(reverse("membership_card_cancelled")),
        )
    except MembershipError as error:
        messages.error(request, str(error))
        return _pay_page(request, member)
    return redirect(url)


@member_required
def card_checkout_done(request, member: Member):
    """Where Stripe sends the member back. Fulfils at once if the webhook has
    not yet; both run the same code, so the member is activated once."""
    _require_stripe()
    attempt = get_object_or_404(
        CheckoutAttempt, session_id=request.GET.get("session_id", ""), member=member
    )
    attempt = stripe_checkout_fulfil(session_id=attempt.session_id)
    member.refresh_from_db()
    return render(request, "members/card_done.html", {"attempt": attempt, "member": member})


@member_required
def card_checkout_cancelled(request, member: Member):
    return render(request, "members/card_cancelled.html", {"member": member})


@require_POST
@member_required
def billing_portal(request, member: Member):
    _require_stripe()
    try:
        url = stripe_portal_url(
            member=member, return_url=request.build_absolute_uri(reverse("dashboard"))
        )
    except MembershipError as error:
        messages.error(request, str(error))
        return redirect("dashboard")
    return redirect(url)


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe's events. 400 for anything not signed by Stripe within 5 minutes;
    200 for events handled, repeated or not ours to handle; 503 when busy and
    500 on failure, so Stripe retries."""
    _require_stripe()
    try:
        event = stripe_client().construct_event(
            request.body, request.headers.get("Stripe-Signature"), settings.STRIPE_WEBHOOK_SECRET
        )
    except (ValueError, stripe.SignatureVerificationError):
        return HttpResponse(
            "Invalid payload or signature.\n", status=400, content_type="text/plain"
        )
    try:
        outcome = stripe_event_process(event=event)
    except WebhookBusy:
        return HttpResponse("Busy; retry later.\n", status=503, content_type="text/plain")
    logger.info("Stripe event %s %s: %s", event.id, event.type, outcome)
    return HttpResponse(f"{outcome}\n", content_type="text/plain")
