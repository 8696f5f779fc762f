"""The application fee: raised on submission, paid by card or Bacs through the
real Stripe SDK against the local fake, or by invoice recorded by a registrar,
or waived; assessors wait for it."""

import datetime as dt
import io

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from accreditation import fees, services
from accreditation.models import ApplicationFee
from accreditation.services import AccreditationError
from audit.models import Action
from tests.accreditation.builders import actions, assessor, assign, make_level, ready
from tests.factories import MemberFactory, StaffFactory
from tests.stripe_fake import FakeStripe
from tests.totp import enable_totp

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "whsec_fee_test"


@pytest.fixture
def fake_stripe(settings):
    fake = FakeStripe()
    settings.STRIPE_API_BASE = fake.start()
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    yield fake
    fake.stop()


@pytest.fixture
def paid_level(scheme, standards):
    return make_level(scheme, standards, management_level="first_line", fee_pence=15000)


@pytest.fixture
def submitted(member, paid_level):
    return services.application_submit(application=ready(member, paid_level))


def _detail(application):
    return reverse("accreditation:detail", args=[application.public_id])


def _deliver(fake, event_type, session_id):
    payload, header = fake.sign(fake.event(event_type, session_id), WEBHOOK_SECRET)
    return Client().post(
        reverse("stripe_webhook"),
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )


def test_submitting_raises_the_fee_and_assessors_wait_for_it(submitted, registrar):
    fee = submitted.fee
    assert (fee.state, fee.amount_pence) == (ApplicationFee.State.DUE, 15000)
    submitted_email = next(m for m in mail.outbox if "is submitted" in m.body)
    assert "The application fee is £150.00" in submitted_email.body
    with pytest.raises(AccreditationError, match=r"£150\.00 application fee is not paid yet"):
        assign(submitted, registrar)
    fees.fee_waive(fee=fee, actor=registrar, reason="Hardship: on long-term sick leave.")
    assert assign(submitted, registrar).accepted_at is not None


def test_a_free_level_raises_no_fee(member, level):
    application = services.application_submit(application=ready(member, level))
    assert not ApplicationFee.objects.filter(application=application).exists()


def test_paying_by_card_through_checkout_settles_once(client, fake_stripe, member, submitted):
    client.force_login(member.user)
    page = client.get(_detail(submitted)).content.decode()
    assert "Pay the £150.00 application fee" in page

    response = client.post(reverse("accreditation:fee_checkout", args=[submitted.public_id]))
    assert response.status_code == 302
    assert response["Location"].startswith("https://checkout.stripe.com/c/pay/cs_")
    fee = ApplicationFee.objects.get(application=submitted)
    session = fake_stripe.objects[fee.stripe_session_id]
    assert session["mode"] == "payment"
    assert session["metadata"] == {"accreditation_fee": str(fee.public_id)}
    assert session["line_items_requested"][0]["price_data"]["unit_amount"] == "15000"

    fake_stripe.complete_payment(fee.stripe_session_id)
    assert (
        _deliver(fake_stripe, "checkout.session.completed", fee.stripe_session_id).status_code
        == 200
    )
    fee.refresh_from_db()
    assert (fee.state, fee.paid_on, fee.method) == (
        ApplicationFee.State.PAID,
        timezone.localdate(),
        ApplicationFee.Method.STRIPE,
    )
    assert fee.reference.startswith("pi_")
    # The return page and a repeated webhook change nothing twice.
    back = client.get(
        reverse("accreditation:fee_paid", args=[submitted.public_id]),
        {"session_id": fee.stripe_session_id},
    )
    assert back["Location"] == _detail(submitted)
    _deliver(fake_stripe, "checkout.session.completed", fee.stripe_session_id)
    assert actions(submitted).count(Action.ACCREDITATION_FEE_PAID) == 1
    assert sum("We have received your application fee" in m.subject for m in mail.outbox) == 1
    assert "The £150.00 fee was paid on" in client.get(_detail(submitted)).content.decode()
    assert assign(submitted, StaffFactory()).accepted_at is not None


def test_bacs_settles_when_the_money_arrives(client, fake_stripe, member, submitted):
    client.force_login(member.user)
    client.post(reverse("accreditation:fee_checkout", args=[submitted.public_id]))
    fee = ApplicationFee.objects.get(application=submitted)
    fake_stripe.complete_payment(fee.stripe_session_id, method="bacs_debit")
    page = client.get(
        reverse("accreditation:fee_paid", args=[submitted.public_id]),
        {"session_id": fee.stripe_session_id},
        follow=True,
    ).content.decode()
    assert "Your Direct Debit is set up" in page
    fee.refresh_from_db()
    assert fee.state == ApplicationFee.State.DUE

    fake_stripe.payment_clears(fee.stripe_session_id)
    _deliver(fake_stripe, "checkout.session.async_payment_succeeded", fee.stripe_session_id)
    fee.refresh_from_db()
    assert fee.state == ApplicationFee.State.PAID


def test_a_session_id_that_is_not_the_fees_is_refused(client, fake_stripe, member, submitted):
    client.force_login(member.user)
    response = client.get(
        reverse("accreditation:fee_paid", args=[submitted.public_id]), {"session_id": "cs_other"}
    )
    assert response.status_code == 404


def test_the_employer_invoice_and_the_registrar_recording_payment(client, member, submitted):
    client.force_login(member.user)
    url = reverse("accreditation:fee_invoice", args=[submitted.public_id])
    assert member.organisation_name in client.get(url).content.decode()  # suggested payer
    refused = client.post(url, {"payer_organisation": "", "payer_email": "not-an-email"})
    assert refused.status_code == 400
    assert "Name the organisation that will pay the invoice." in refused.content.decode()

    response = client.post(
        url,
        {
            "payer_organisation": "Northshire NHS Foundation Trust",
            "purchase_order": "PO-7781",
            "payer_email": "accounts@northshire.example",
        },
    )
    assert response["Location"] == _detail(submitted)
    fee = ApplicationFee.objects.get(application=submitted)
    assert fee.invoice_number.startswith("INV") and fee.method == ApplicationFee.Method.INVOICE
    assert mail.outbox[-1].subject.endswith(
        f"Invoice {fee.invoice_number} for your application fee"
    )

    pdf = client.get(reverse("accreditation:fee_invoice_pdf", args=[submitted.public_id]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert fee.invoice_number in text and "PO-7781" in text and "£150.00" in text

    registrar = StaffFactory()
    enable_totp(registrar)
    client.force_login(registrar)
    registrar_url = reverse("registrar_accreditation:application", args=[submitted.public_id])
    page = client.get(registrar_url).content.decode()
    assert f"invoice {fee.invoice_number} to Northshire NHS Foundation Trust" in page
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    refused = client.post(
        registrar_url,
        {
            "action": "fee_paid",
            "fee-received_on_day": tomorrow.day,
            "fee-received_on_month": tomorrow.month,
            "fee-received_on_year": tomorrow.year,
        },
    )
    assert "The payment date cannot be in the future." in refused.content.decode()
    today = timezone.localdate()
    response = client.post(
        registrar_url,
        {
            "action": "fee_paid",
            "fee-received_on_day": today.day,
            "fee-received_on_month": today.month,
            "fee-received_on_year": today.year,
            "fee-reference": "BACS 7781",
        },
    )
    assert response["Location"] == registrar_url
    fee.refresh_from_db()
    assert (fee.state, fee.reference, fee.recorded_by) == (
        ApplicationFee.State.PAID,
        "BACS 7781",
        registrar,
    )
    assert "paid on" in client.get(registrar_url).content.decode()
    # Paid now: the member's invoice is stamped, and nothing can be paid again.
    with pytest.raises(fees.FeeError, match="already paid"):
        fees.fee_waive(fee=fee, actor=registrar, reason="Too late")


def test_waiving_needs_a_registrar_and_a_reason(client, submitted):
    registrar = StaffFactory()
    enable_totp(registrar)
    client.force_login(registrar)
    url = reverse("registrar_accreditation:application", args=[submitted.public_id])
    refused = client.post(url, {"action": "fee_waive", "waive-reason": ""})
    assert "Give a reason for waiving the fee." in refused.content.decode()
    client.post(url, {"action": "fee_waive", "waive-reason": "Pilot cohort."})
    fee = ApplicationFee.objects.get(application=submitted)
    assert (fee.state, fee.waiver_reason) == (ApplicationFee.State.WAIVED, "Pilot cohort.")
    with pytest.raises(fees.FeeError, match="Only a registrar"):
        fees.fee_record_payment(
            fee=fee, actor=assessor(), received_on=timezone.localdate(), reference=""
        )


def test_fee_pages_are_the_members_own(client, submitted):
    client.force_login(MemberFactory().user)
    for name in ("fee_invoice", "fee_invoice_pdf", "fee_paid"):
        assert (
            client.get(reverse(f"accreditation:{name}", args=[submitted.public_id])).status_code
            == 404
        )


def test_no_fee_is_taken_for_a_withdrawn_application(submitted):
    services.application_withdraw(application=submitted)
    with pytest.raises(fees.FeeError, match="withdrawn"):
        fees.fee_invoice_request(fee=submitted.fee, payer_organisation="Trust")


def test_registrars_are_asked_to_assign_once_the_fee_is_settled(member, paid_level, registrar):
    mail.outbox.clear()
    application = services.application_submit(application=ready(member, paid_level))
    assert not [m for m in mail.outbox if registrar.email in m.to]
    fees.fee_waive(fee=application.fee, actor=registrar, reason="Pilot cohort.")
    [ask] = [m for m in mail.outbox if registrar.email in m.to]
    assert "needs an assessor assigned" in ask.body


def _pay(client, application):
    return client.post(reverse("accreditation:fee_checkout", args=[application.public_id]))


def test_paying_again_reuses_the_open_session_and_any_sessions_money_settles_the_fee(
    client, fake_stripe, member, submitted
):
    client.force_login(member.user)
    first = _pay(client, submitted)["Location"]
    assert _pay(client, submitted)["Location"] == first  # a second tab: the same session
    fee = ApplicationFee.objects.get(application=submitted)
    first_id = fee.stripe_session_id
    fake_stripe.objects[first_id]["status"] = "expired"  # Checkout pages expire
    second = _pay(client, submitted)["Location"]
    assert second != first
    # Money through the first session still settles the fee: it is found by its metadata.
    fake_stripe.objects[first_id]["status"] = "open"
    fake_stripe.complete_payment(first_id)
    _deliver(fake_stripe, "checkout.session.completed", first_id)
    fee.refresh_from_db()
    assert fee.state == ApplicationFee.State.PAID


def test_no_second_payment_while_a_direct_debit_is_on_its_way_and_a_failure_reopens_it(
    client, fake_stripe, member, submitted
):
    client.force_login(member.user)
    _pay(client, submitted)
    fee = ApplicationFee.objects.get(application=submitted)
    fake_stripe.complete_payment(fee.stripe_session_id, method="bacs_debit")
    page = client.post(
        reverse("accreditation:fee_checkout", args=[submitted.public_id]), follow=True
    ).content.decode()
    assert "Direct Debit for this fee is on its way" in page

    mail.outbox.clear()
    _deliver(fake_stripe, "checkout.session.async_payment_failed", fee.stripe_session_id)
    [failed] = mail.outbox
    assert failed.subject.endswith("Your Direct Debit for the application fee failed")
    fee.refresh_from_db()
    assert fee.state == ApplicationFee.State.DUE and fee.stripe_session_id is None
    assert _pay(client, submitted)["Location"].startswith("https://checkout.stripe.com/")


def test_withdrawing_cancels_the_fee_and_late_money_is_flagged_for_a_refund(
    client, fake_stripe, member, submitted, registrar
):
    client.force_login(member.user)
    _pay(client, submitted)
    fee = ApplicationFee.objects.get(application=submitted)
    fake_stripe.complete_payment(fee.stripe_session_id, method="bacs_debit")
    services.application_withdraw(application=submitted)
    fee.refresh_from_db()
    assert fee.state == ApplicationFee.State.CANCELLED
    assert (
        "No fee is due: the application was withdrawn."
        in client.get(_detail(submitted)).content.decode()
    )

    mail.outbox.clear()
    fake_stripe.payment_clears(fee.stripe_session_id)
    _deliver(fake_stripe, "checkout.session.async_payment_succeeded", fee.stripe_session_id)
    fee.refresh_from_db()
    assert fee.state == ApplicationFee.State.CANCELLED
    [refund] = mail.outbox
    assert refund.to == [registrar.email] and "Refund the payment" in refund.body
    assert Action.ACCREDITATION_FEE_PAID not in actions(submitted)


def test_money_after_an_invoice_was_paid_is_flagged_for_a_refund(
    client, fake_stripe, member, submitted, registrar
):
    client.force_login(member.user)
    _pay(client, submitted)
    fee = ApplicationFee.objects.get(application=submitted)
    fees.fee_record_payment(
        fee=fee, actor=registrar, received_on=timezone.localdate(), reference="BACS 1"
    )
    mail.outbox.clear()
    fake_stripe.complete_payment(fee.stripe_session_id)
    _deliver(fake_stripe, "checkout.session.completed", fee.stripe_session_id)
    assert [m.to for m in mail.outbox] == [[registrar.email]]
    fee.refresh_from_db()
    assert fee.reference == "BACS 1"
    assert actions(submitted).count(Action.ACCREDITATION_FEE_PAID) == 1
