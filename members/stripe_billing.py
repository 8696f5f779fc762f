"""Card and Bacs Direct Debit subscriptions through Stripe.

Rules this module keeps (from Stripe's guidance and the integrations worth copying):

- Every create call carries an idempotency key made from our own record, so a
  retry after a timeout never makes a second customer or session.
- A webhook event is only a trigger: the object it names is fetched from Stripe
  again, so late or shuffled deliveries act on Stripe's current state and
  cannot move a member backwards.
- Each handled event is recorded under its unique id in the same transaction
  as its effect; a duplicate, sequential or concurrent, changes nothing.
- Money becomes membership only through ``services.membership_payment_apply``,
  keyed by the Stripe invoice id, so the success page, ``checkout.session.*``
  and ``invoice.paid`` all converge on one payment, one period, one email.
"""

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from audit.models import Action
from audit.services import audit_record
from members.models import (
    GOOD_STANDING,
    CheckoutAttempt,
    Grade,
    Member,
    Payment,
    PaymentMethod,
    Refund,
    StripeEvent,
    StripeSubscription,
    pounds,
)
from members.notifications import member_email_enqueue
from members.services import (
    SUBJECT_TYPE,
    MembershipError,
    local_today,
    member_lock,
    member_payment_refusal,
    membership_payment_apply,
)
from members.stripe_gateway import stripe_client

logger = logging.getLogger(__name__)

# How long a webhook waits for another transaction's locks before answering
# 503, so Stripe retries later instead of the request hanging.
WEBHOOK_LOCK_TIMEOUT = "5s"
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock timeout


def _london_date(timestamp: int | None) -> dt.date:
    if not timestamp:
        return local_today()
    return timezone.localtime(dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)).date()


def _london_midnight_timestamp(day: dt.date) -> int:
    tz = timezone.get_current_timezone()
    return int(dt.datetime.combine(day, dt.time.min, tzinfo=tz).timestamp())


def _field(obj: Any, key: str) -> Any:
    """A field of a Stripe object, or None where Stripe left it out."""
    if obj is None:
        return None
    try:
        return obj[key]
    except KeyError:
        return None


def _id(value: Any) -> str | None:
    """An object's id whether Stripe sent the id or the expanded object."""
    if value is None or isinstance(value, str):
        return value
    return _field(value, "id")


# --- Starting a subscription -------------------------------------------------------


def stripe_customer_for(*, member: Member) -> str:
    """The member's Stripe customer, created once (the key is the member's id)."""
    if member.stripe_customer_id:
        return member.stripe_customer_id
    customer = stripe_client().v1.customers.create(
        params={
            "email": member.user.email,
            "name": member.user.get_full_name(),
            "metadata": {"member": str(member.public_id)},
        },
        options={"idempotency_key": f"customer-{member.public_id}"},
    )
    Member.objects.filter(pk=member.pk, stripe_customer_id__isnull=True).update(
        stripe_customer_id=customer.id
    )
    member.stripe_customer_id = customer.id
    return customer.id


def stripe_checkout_start(*, member: Member, success_url: str, cancel_url: str) -> str:
    """Open a Stripe Checkout for a yearly subscription at the member's grade and
    return its address. A member already paid up starts paying when their
    current period ends (a trial until then), so nobody pays twice."""
    grade = member.grade
    if not grade.stripe_price_id:
        raise MembershipError(f"Card payment is not set up for the {grade.name} grade yet.")
    if refusal := member_payment_refusal(member):
        raise MembershipError(refusal)
    if member_live_subscription(member=member):
        raise MembershipError(
            "You already pay by card or Direct Debit; manage it from your dashboard."
        )

    attempt = CheckoutAttempt.objects.create(member=member, grade=grade)
    subscription_data: dict[str, Any] = {"metadata": {"member": str(member.public_id)}}
    today = local_today()
    if member.status in GOOD_STANDING and member.period_ends_on and member.period_ends_on >= today:
        subscription_data["trial_end"] = _london_midnight_timestamp(
            member.period_ends_on + dt.timedelta(days=1)
        )
    session = stripe_client().v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": stripe_customer_for(member=member),
            "line_items": [{"price": grade.stripe_price_id, "quantity": 1}],
            "payment_method_types": ["card", "bacs_debit"],
            "client_reference_id": str(attempt.public_id),
            "metadata": {"checkout_attempt": str(attempt.public_id)},
            "subscription_data": subscription_data,
            "success_url": f"{success_url}?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": cancel_url,
        },
        options={"idempotency_key": f"checkout-{attempt.public_id}"},
    )
    CheckoutAttempt.objects.filter(pk=attempt.pk).update(session_id=session.id)
    return session.url


def stripe_portal_url(*, member: Member, return_url: str) -> str:
    """Stripe's customer portal: change card or bank details, or cancel."""
    if not member.stripe_customer_id:
        raise MembershipError("You do not pay by card or Direct Debit.")
    portal = stripe_client().v1.billing_portal.sessions.create(
        params={"customer": member.stripe_customer_id, "return_url": return_url}
    )
    return portal.url


def member_live_subscription(*, member: Member) -> StripeSubscription | None:
    return next((s for s in member.stripe_subscriptions.all() if s.is_live), None)


# --- What Stripe says now ------------------------------------------------------------


@dataclass
class Fetched:
    """Objects re-read from Stripe for one event, fetched before any lock is taken."""

    session: Any = None
    subscription: Any = None
    invoice: Any = None
    charge: Any = None
    payment_method_type: str = ""
    refunds: list = field(default_factory=list)
    invoice_for_charge: Any = None


def _fetch_subscription_bundle(fetched: Fetched, subscription_id: str | None) -> None:
    client = stripe_client()
    if subscription_id:
        fetched.subscription = client.v1.subscriptions.retrieve(subscription_id)
        method_id = _id(_field(fetched.subscription, "default_payment_method"))
        if method_id:
            fetched.payment_method_type = client.v1.payment_methods.retrieve(method_id).type


def _invoice_subscription_id(invoice) -> str | None:
    parent = _field(invoice, "parent") or {}
    details = _field(parent, "subscription_details") or {}
    return _id(_field(details, "subscription"))


def _fetch_for_session(session_id: str) -> Fetched:
    client = stripe_client()
    fetched = Fetched(session=client.v1.checkout.sessions.retrieve(session_id))
    _fetch_subscription_bundle(fetched, _id(_field(fetched.session, "subscription")))
    invoice_id = _id(_field(fetched.session, "invoice")) or (
        _id(_field(fetched.subscription, "latest_invoice")) if fetched.subscription else None
    )
    if invoice_id:
        fetched.invoice = client.v1.invoices.retrieve(invoice_id)
    return fetched


def _fetch_for_invoice(invoice_id: str) -> Fetched:
    fetched = Fetched(invoice=stripe_client().v1.invoices.retrieve(invoice_id))
    _fetch_subscription_bundle(fetched, _invoice_subscription_id(fetched.invoice))
    return fetched


def _fetch_for_subscription(subscription_id: str) -> Fetched:
    fetched = Fetched()
    _fetch_subscription_bundle(fetched, subscription_id)
    return fetched


def _fetch_for_charge(charge_id: str) -> Fetched:
    client = stripe_client()
    fetched = Fetched(charge=client.v1.charges.retrieve(charge_id))
    fetched.refunds = list(
        client.v1.refunds.list(params={"charge": charge_id, "limit": 100}).auto_paging_iter()
    )
    intent = _id(_field(fetched.charge, "payment_intent"))
    if intent:
        payments = client.v1.invoice_payments.list(
            params={"payment": {"type": "payment_intent", "payment_intent": intent}, "limit": 1}
        )
        if payments.data:
            fetched.invoice_for_charge = _id(payments.data[0].invoice)
    return fetched


# --- Applying it (inside a transaction, member locked) --------------------------------


def _member_for_customer(customer_id: str | None) -> Member | None:
    member = Member.objects.filter(stripe_customer_id=customer_id).first() if customer_id else None
    return member_lock(member) if member else None


def _subscription_sync(member: Member, subscription) -> StripeSubscription:
    items = _field(_field(subscription, "items"), "data") or []
    item = items[0] if items else {}
    period_end = _field(item, "current_period_end")
    local, _ = StripeSubscription.objects.update_or_create(
        subscription_id=subscription.id,
        defaults={
            "member": member,
            "status": subscription.status,
            "price_id": _id(_field(item, "price") or {}) or "",
            "cancel_at_period_end": bool(_field(subscription, "cancel_at_period_end")),
            "current_period_end": (
                dt.datetime.fromtimestamp(period_end, tz=dt.UTC) if period_end else None
            ),
        },
    )
    return local


def _method_for(fetched: Fetched) -> PaymentMethod:
    if fetched.payment_method_type == "bacs_debit":
        return PaymentMethod.BACS_DEBIT
    return PaymentMethod.CARD


def _invoice_apply(member: Member, invoice, fetched: Fetched) -> Payment | None:
    """A paid Stripe invoice becomes one payment and one period, once."""
    if invoice.status != "paid" or not _field(invoice, "amount_paid"):
        return None  # unpaid (Bacs still clearing), or a £0 trial invoice
    existing = Payment.objects.filter(stripe_invoice_id=invoice.id).first()
    if existing:
        return existing
    transitions = _field(invoice, "status_transitions") or {}
    return membership_payment_apply(
        member=member,
        method=_method_for(fetched),
        amount_pence=invoice.amount_paid,
        received_on=_london_date(_field(transitions, "paid_at")),
        reference=_field(invoice, "number") or invoice.id,
        stripe_invoice_id=invoice.id,
    )


def _apply_session(fetched: Fetched, event=None) -> None:
    session = fetched.session
    if _field(_field(session, "metadata") or {}, "accreditation_fee"):
        # A one-off accreditation fee, not a subscription: settled by its own service.
        from accreditation.fees import fee_session_apply

        fee_session_apply(session)
        return
    attempt = (
        CheckoutAttempt.objects.select_for_update()
        .filter(session_id=session.id)
        .select_related("member")
        .first()
    )
    if attempt is None:
        logger.warning("Checkout session %s is not one of ours", session.id)
        return
    member = member_lock(attempt.member)
    if fetched.subscription is not None:
        _subscription_sync(member, fetched.subscription)
    if _field(session, "payment_status") not in ("paid", "no_payment_required"):
        return  # Bacs: the mandate is set up, the money has not cleared yet
    if attempt.state != CheckoutAttempt.State.COMPLETE:
        attempt.state = CheckoutAttempt.State.COMPLETE
        attempt.completed_at = timezone.now()
        attempt.save(update_fields=["state", "completed_at"])
    if fetched.invoice is not None:
        _invoice_apply(member, fetched.invoice, fetched)


def _apply_session_failed(fetched: Fetched, event=None) -> None:
    session = fetched.session
    if _field(_field(session, "metadata") or {}, "accreditation_fee"):
        from accreditation.fees import fee_session_failed

        fee_session_failed(session)
        return
    attempt = CheckoutAttempt.objects.select_for_update().filter(session_id=session.id).first()
    if attempt is None or _field(session, "payment_status") == "paid":
        return  # not ours, or it has since succeeded
    member = member_lock(attempt.member)
    if attempt.state == CheckoutAttempt.State.FAILED:
        return
    attempt.state = CheckoutAttempt.State.FAILED
    attempt.save(update_fields=["state"])
    member_email_enqueue(member=member, template="direct_debit_failed")


def _apply_invoice_paid(fetched: Fetched, event=None) -> None:
    member = _member_for_customer(_id(_field(fetched.invoice, "customer")))
    if member is None:
        return
    if fetched.subscription is not None:
        _subscription_sync(member, fetched.subscription)
    _invoice_apply(member, fetched.invoice, fetched)


def _apply_invoice_failed(fetched: Fetched, event=None) -> None:
    invoice = fetched.invoice
    if invoice.status in ("paid", "void"):
        return  # paid or voided since: the failure is history
    member = _member_for_customer(_id(_field(invoice, "customer")))
    if member is None:
        return
    if fetched.subscription is not None:
        _subscription_sync(member, fetched.subscription)
    # The grace rules stay in charge of status; the member just needs to know.
    member_email_enqueue(
        member=member,
        template="payment_failed",
        context={"amount": pounds(_field(invoice, "amount_due") or 0)},
    )


def _apply_subscription(fetched: Fetched, event=None) -> None:
    subscription = fetched.subscription
    member = _member_for_customer(_id(_field(subscription, "customer")))
    if member is None:
        return
    previous = StripeSubscription.objects.filter(subscription_id=subscription.id).first()
    local = _subscription_sync(member, subscription)
    if local.status == "canceled" and (previous is None or previous.status != "canceled"):
        # Renewal stops; the paid period runs out and the grace rules follow.
        audit_record(
            action=Action.MEMBER_PAYMENT_METHOD_CHANGED,
            subject_type=SUBJECT_TYPE,
            subject_id=str(member.public_id),
            after={"subscription": subscription.id, "status": "canceled"},
            reason="Automatic renewal cancelled",
        )
        member_email_enqueue(member=member, template="subscription_cancelled")


def _apply_charge_refunded(fetched: Fetched, event=None) -> None:
    if not fetched.invoice_for_charge:
        return
    payment = Payment.objects.filter(stripe_invoice_id=fetched.invoice_for_charge).first()
    if payment is None:
        return
    member_lock(payment.member)
    for refund in fetched.refunds:
        if refund.status not in ("succeeded", "pending"):
            continue
        _, created = Refund.objects.get_or_create(
            stripe_refund_id=refund.id,
            defaults={
                "payment": payment,
                "amount_pence": refund.amount,
                "refunded_on": _london_date(_field(refund, "created")),
                "reason": _field(refund, "reason") or "",
            },
        )
        if created:
            audit_record(
                action=Action.PAYMENT_REFUNDED,
                subject_type=SUBJECT_TYPE,
                subject_id=str(payment.member.public_id),
                after={"receipt": payment.receipt_number, "amount_pence": refund.amount},
            )


# event type: (fetch the object it names, apply Stripe's current state)
HANDLERS = {
    "checkout.session.completed": (_fetch_for_session, _apply_session),
    "checkout.session.async_payment_succeeded": (_fetch_for_session, _apply_session),
    "checkout.session.async_payment_failed": (_fetch_for_session, _apply_session_failed),
    "invoice.paid": (_fetch_for_invoice, _apply_invoice_paid),
    "invoice.payment_failed": (_fetch_for_invoice, _apply_invoice_failed),
    "customer.subscription.updated": (_fetch_for_subscription, _apply_subscription),
    "customer.subscription.deleted": (_fetch_for_subscription, _apply_subscription),
    "charge.refunded": (_fetch_for_charge, _apply_charge_refunded),
}


class WebhookBusy(Exception):
    """Another delivery holds the locks this one needs; Stripe should retry."""


def stripe_event_process(*, event) -> str:
    """Handle one verified webhook event; return "processed", "duplicate" or "ignored"."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        return "ignored"
    if StripeEvent.objects.filter(event_id=event.id).exists():
        return "duplicate"
    fetch, apply = handler
    object_id = event.data.object.id
    fetched = fetch(object_id)
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = '{WEBHOOK_LOCK_TIMEOUT}'")
            # Inserted first: a concurrent duplicate waits here, then fails.
            StripeEvent.objects.create(event_id=event.id, type=event.type, object_id=object_id)
            apply(fetched, event)
    except IntegrityError:
        if StripeEvent.objects.filter(event_id=event.id).exists():
            return "duplicate"
        raise
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise WebhookBusy from error
        raise
    return "processed"


def stripe_checkout_fulfil(*, session_id: str) -> CheckoutAttempt:
    """Fulfil a checkout from the success page: the same code the webhook runs."""
    fetched = _fetch_for_session(session_id)
    with transaction.atomic():
        _apply_session(fetched)
    return CheckoutAttempt.objects.get(session_id=session_id)


# --- Grade changes and reconciliation --------------------------------------------------


def stripe_subscription_change_price(*, member: Member, grade: Grade, change_key: str) -> None:
    """Move a live subscription to the new grade's price, with proration."""
    local = member_live_subscription(member=member)
    if local is None or not grade.stripe_price_id or local.price_id == grade.stripe_price_id:
        return
    client = stripe_client()
    subscription = client.v1.subscriptions.retrieve(local.subscription_id)
    item_id = subscription["items"]["data"][0]["id"]
    updated = client.v1.subscriptions.update(
        local.subscription_id,
        params={
            "items": [{"id": item_id, "price": grade.stripe_price_id}],
            "proration_behavior": "create_prorations",
        },
        options={"idempotency_key": f"grade-change-{change_key}"},
    )
    with transaction.atomic():
        _subscription_sync(member_lock(member), updated)


@dataclass
class ReconcileReport:
    subscriptions_checked: int = 0
    subscriptions_updated: list[str] = field(default_factory=list)
    payments_recorded: list[str] = field(default_factory=list)
    unknown_customers: list[str] = field(default_factory=list)


def stripe_reconcile(*, paid_since: dt.date | None = None) -> ReconcileReport:
    """Compare every Stripe subscription with ours and catch up on anything a
    lost webhook left behind: subscription status, and paid invoices with no
    payment recorded. Safe to run at any time; it only applies Stripe's state."""
    client = stripe_client()
    report = ReconcileReport()
    paid_since = paid_since or local_today() - dt.timedelta(days=400)
    for subscription in client.v1.subscriptions.list(
        params={"status": "all", "limit": 100}
    ).auto_paging_iter():
        report.subscriptions_checked += 1
        customer_id = _id(_field(subscription, "customer"))
        if not Member.objects.filter(stripe_customer_id=customer_id).exists():
            report.unknown_customers.append(customer_id)
            continue
        fetched = Fetched()
        _fetch_subscription_bundle(fetched, subscription.id)
        invoices = client.v1.invoices.list(
            params={
                "subscription": subscription.id,
                "status": "paid",
                "created": {"gte": _london_midnight_timestamp(paid_since)},
                "limit": 100,
            }
        ).auto_paging_iter()
        for invoice in sorted(invoices, key=lambda i: _field(i, "created") or 0):
            with transaction.atomic():
                member = _member_for_customer(customer_id)
                if Payment.objects.filter(stripe_invoice_id=invoice.id).exists():
                    continue
                if _invoice_apply(member, invoice, fetched):
                    report.payments_recorded.append(invoice.id)
        with transaction.atomic():
            member = _member_for_customer(customer_id)
            before = StripeSubscription.objects.filter(subscription_id=subscription.id).first()
            after = _subscription_sync(member, fetched.subscription)
            if before is None or (before.status, before.price_id, before.cancel_at_period_end) != (
                after.status,
                after.price_id,
                after.cancel_at_period_end,
            ):
                report.subscriptions_updated.append(subscription.id)
    return report
