"""The accreditation fee: raised when an application is submitted, and paid the
ways membership is paid: by card or Bacs Direct Debit through a Stripe Checkout
payment, or by the employer against an invoice that a registrar marks paid.
A registrar may waive it with a reason. Assessors are assigned only once the
fee is settled.

Every change locks the fee row, re-checks its state and writes an audit event
in the same transaction, so a Stripe webhook and the member's return page
arriving together settle it once.
"""

import datetime as dt

import stripe
from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accreditation.models import Application, ApplicationFee
from audit.models import Action
from audit.services import audit_record
from members import documents
from members import services as member_services
from members.models import User
from members.numbering import number_next
from members.selectors import registrar_emails
from members.stripe_billing import _field, stripe_customer_for
from members.stripe_gateway import stripe_client
from members.tasks import send_email

SUBJECT_TYPE = "accreditation.application"
# Stripe Checkout sessions for fees carry this metadata key (membership
# subscriptions carry ``checkout_attempt``), which routes their webhooks here.
METADATA_KEY = "accreditation_fee"


class FeeError(Exception):
    """A fee change that is not allowed, with a message for the person asking."""


def fee_raise(*, application: Application) -> ApplicationFee | None:
    """Raise the level's fee for a submitted application, once; None if it is free.
    Call inside the submission's transaction."""
    amount = application.level.fee_pence
    if not amount:
        return None
    fee, _ = ApplicationFee.objects.get_or_create(
        application=application, defaults={"amount_pence": amount}
    )
    return fee


def _lock(fee: ApplicationFee) -> ApplicationFee:
    return (
        ApplicationFee.objects.select_for_update(of=("self",))
        .select_related("application__member__user", "application__level__scheme")
        .get(pk=fee.pk)
    )


def _audit(fee: ApplicationFee, *, actor: User | None, reason: str = "") -> None:
    audit_record(
        action=Action.ACCREDITATION_FEE_PAID,
        subject_type=SUBJECT_TYPE,
        subject_id=str(fee.application.public_id),
        actor=actor,
        before={"fee": ApplicationFee.State.DUE},
        after={
            "fee": fee.state,
            "amount_pence": fee.amount_pence,
            "method": fee.method,
            "reference": fee.reference,
        },
        reason=reason,
    )


def _email(fee: ApplicationFee, template: str, to: list[str] | None = None, **extra) -> None:
    application = fee.application
    context = {
        **extra,
        "fee": fee,
        "application": application,
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
    }
    subject = render_to_string(f"accreditation/email/{template}_subject.txt", context)
    send_email.enqueue(
        subject=f"[{settings.SITE_NAME}] " + " ".join(subject.split()),
        body=render_to_string(f"accreditation/email/{template}_message.txt", context).strip()
        + "\n",
        to=to or [application.member.user.email],
    )


def _settled(fee: ApplicationFee, *, actor: User | None, reason: str = "") -> None:
    """Record, tell the member, and tell the registrars an assessor can now be assigned."""
    _audit(fee, actor=actor, reason=reason)
    _email(fee, "fee_paid")
    registrars = registrar_emails()
    if registrars and fee.application.state == Application.State.SUBMITTED:
        _email(fee, "to_assign", to=registrars)


def _require_due(fee: ApplicationFee) -> None:
    if fee.state == ApplicationFee.State.CANCELLED:
        raise FeeError("This application was withdrawn; no fee is due.")
    if fee.state != ApplicationFee.State.DUE:
        raise FeeError(f"This fee is already {fee.get_state_display().lower()}.")


# --- By card or Direct Debit (Stripe Checkout, one payment) ---------------------------


@transaction.atomic
def fee_checkout_start(*, fee: ApplicationFee, success_url: str, cancel_url: str) -> str:
    """Open a Stripe Checkout for the fee and return its address. A session still
    open is reused, and none is opened while a Direct Debit is on its way, so the
    member cannot pay twice by pressing "Pay" again or in a second tab."""
    fee = _lock(fee)
    _require_due(fee)
    client = stripe_client()
    if fee.stripe_session_id:
        previous = client.v1.checkout.sessions.retrieve(fee.stripe_session_id)
        if _field(previous, "status") == "open":
            return previous.url
        if _field(previous, "status") == "complete":
            raise FeeError(
                "Your Direct Debit for this fee is on its way; it is paid when the money "
                "arrives, in about 3 working days."
            )
    application = fee.application
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer": stripe_customer_for(member=application.member),
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "gbp",
                        "unit_amount": fee.amount_pence,
                        "product_data": {"name": f"Application fee: {application.level}"},
                    },
                }
            ],
            "payment_method_types": ["card", "bacs_debit"],
            "client_reference_id": str(fee.public_id),
            "metadata": {METADATA_KEY: str(fee.public_id)},
            "success_url": f"{success_url}?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": cancel_url,
        },
        # One session per attempt: a retry of this request gets the same session.
        options={"idempotency_key": f"fee-{fee.public_id}-after-{fee.stripe_session_id or 0}"},
    )
    fee.method = ApplicationFee.Method.STRIPE
    fee.stripe_session_id = session.id
    fee.save(update_fields=["method", "stripe_session_id"])
    return session.url


def _fee_for_session(session) -> ApplicationFee | None:
    """The fee a Checkout session was opened for, from its metadata (not from the
    last session stored, which a later attempt may have replaced)."""
    public_id = _field(_field(session, "metadata") or {}, METADATA_KEY)
    if not public_id:
        return None
    return ApplicationFee.objects.filter(public_id=public_id).first()


def fee_session_apply(session) -> ApplicationFee | None:
    """Settle the fee a completed Checkout session paid. Runs from the webhook
    (inside its transaction) and from the member's return page; whichever is
    second changes nothing. Bacs sessions complete unpaid and settle when
    ``checkout.session.async_payment_succeeded`` arrives. Money for a fee that is
    no longer due (withdrawn, or paid another way) is flagged for a refund."""
    fee = _fee_for_session(session)
    if fee is None:
        return None
    with transaction.atomic():
        fee = _lock(fee)
        if _field(session, "payment_status") != "paid":
            return fee
        reference = _field(session, "payment_intent") or session.id
        if fee.state != ApplicationFee.State.DUE:
            if fee.reference != reference:
                _email(fee, "fee_refund", to=registrar_emails(), reference=reference)
            return fee
        fee.state = ApplicationFee.State.PAID
        fee.method = ApplicationFee.Method.STRIPE
        fee.paid_on = member_services.local_today()
        fee.reference = reference
        fee.save(update_fields=["state", "method", "paid_on", "reference"])
        _settled(fee, actor=None)
    return fee


def fee_session_failed(session) -> None:
    """A Direct Debit for the fee failed: tell the member, who can pay again."""
    fee = _fee_for_session(session)
    if fee is None:
        return
    with transaction.atomic():
        fee = _lock(fee)
        if fee.state != ApplicationFee.State.DUE:
            return
        if fee.stripe_session_id == session.id:
            # The member may now pay again with a new session.
            fee.stripe_session_id = None
            fee.save(update_fields=["stripe_session_id"])
        _email(fee, "fee_failed")


def fee_checkout_fulfil(*, fee: ApplicationFee, session_id: str) -> ApplicationFee:
    """The member's return page: fetch the session and settle the fee if paid."""
    if not session_id.startswith("cs_"):
        raise FeeError("That payment is not for this fee.")
    try:
        session = stripe_client().v1.checkout.sessions.retrieve(session_id)
    except stripe.InvalidRequestError:
        raise FeeError("That payment is not for this fee.") from None
    found = _fee_for_session(session)
    if found is None or found.pk != fee.pk:
        raise FeeError("That payment is not for this fee.")
    return fee_session_apply(session) or fee


def fee_cancel(*, application: Application) -> None:
    """The application was withdrawn: a fee still due is no longer asked for.
    Call inside the withdrawal's transaction."""
    ApplicationFee.objects.filter(application=application, state=ApplicationFee.State.DUE).update(
        state=ApplicationFee.State.CANCELLED
    )


# --- By invoice to the employer -------------------------------------------------------


@transaction.atomic
def fee_invoice_request(
    *, fee: ApplicationFee, payer_organisation: str, purchase_order: str = "", payer_email: str = ""
) -> ApplicationFee:
    """Invoice the employer for the fee; asking again updates the payer details."""
    fee = _lock(fee)
    _require_due(fee)
    if not payer_organisation.strip():
        raise FeeError("Name the organisation that will pay the invoice.")
    fee.method = ApplicationFee.Method.INVOICE
    if not fee.invoice_number:
        fee.invoice_number = f"INV{number_next(series='invoice'):06d}"
    fee.payer_organisation = payer_organisation.strip()
    fee.purchase_order = purchase_order.strip()
    fee.payer_email = payer_email.strip()
    fee.save(
        update_fields=[
            "method",
            "invoice_number",
            "payer_organisation",
            "purchase_order",
            "payer_email",
        ]
    )
    _email(fee, "fee_invoiced")
    return fee


def fee_invoice_pdf(fee: ApplicationFee) -> bytes:
    """The fee's invoice; pass a fee with ``application__member__user`` and level loaded."""
    html = render_to_string(
        "accreditation/documents/fee_invoice.html",
        {
            "fee": fee,
            "application": fee.application,
            "due_on": timezone.localdate(fee.raised_at)
            + dt.timedelta(days=settings.INVOICE_DUE_DAYS),
            "site_name": settings.SITE_NAME,
            "site_url": settings.SITE_URL,
        },
    )
    return documents.pdf_from_html(html)


# --- The registrar --------------------------------------------------------------------


@transaction.atomic
def fee_record_payment(
    *, fee: ApplicationFee, actor: User, received_on: dt.date, reference: str = ""
) -> ApplicationFee:
    """A registrar records money received for the fee (usually against the invoice)."""
    if not actor.is_staff:
        raise FeeError("Only a registrar can record a payment.")
    fee = _lock(fee)
    _require_due(fee)
    if received_on > member_services.local_today():
        raise FeeError("The payment date cannot be in the future.")
    fee.state = ApplicationFee.State.PAID
    fee.paid_on = received_on
    fee.reference = reference.strip()
    fee.recorded_by = actor
    if not fee.method:
        fee.method = ApplicationFee.Method.INVOICE
    fee.save(update_fields=["state", "paid_on", "reference", "recorded_by", "method"])
    _settled(fee, actor=actor)
    return fee


@transaction.atomic
def fee_waive(*, fee: ApplicationFee, actor: User, reason: str) -> ApplicationFee:
    """A registrar waives the fee, with a reason kept on the record."""
    if not actor.is_staff:
        raise FeeError("Only a registrar can waive a fee.")
    reason = (reason or "").strip()
    if not reason:
        raise FeeError("Give a reason for waiving the fee.")
    fee = _lock(fee)
    _require_due(fee)
    fee.state = ApplicationFee.State.WAIVED
    fee.waiver_reason = reason
    fee.recorded_by = actor
    fee.save(update_fields=["state", "waiver_reason", "recorded_by"])
    _settled(fee, actor=actor, reason=reason)
    return fee
