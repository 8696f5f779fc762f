import datetime as dt
import json
import random
import threading
import time
from unittest import mock

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from audit.selectors import audit_chain_verify
from members import services, stripe_billing
from members.models import (
    CheckoutAttempt,
    Member,
    Payment,
    Refund,
    Status,
    StatusEvent,
    StripeEvent,
)
from members.stripe_billing import stripe_checkout_start, stripe_customer_for
from tests.factories import GradeFactory, MemberFactory
from tests.stripe_fake import FakeStripe

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "whsec_test_secret"


@pytest.fixture
def fake_stripe(settings):
    fake = FakeStripe()
    settings.STRIPE_API_BASE = fake.start()
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    yield fake
    fake.stop()


@pytest.fixture
def member():
    return MemberFactory(
        grade=GradeFactory(
            slug="member-card", annual_fee_pence=14500, stripe_price_id="price_member"
        )
    )


def deliver(client, fake, event, *, secret=WEBHOOK_SECRET, timestamp=None, body=None):
    payload, header = fake.sign(event, secret, timestamp=timestamp)
    return client.post(
        reverse("stripe_webhook"),
        data=body if body is not None else payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )


def start_checkout(member) -> str:
    stripe_checkout_start(
        member=member, success_url="http://testserver/done/", cancel_url="http://testserver/no/"
    )
    return CheckoutAttempt.objects.get(member=member).session_id


def changes(member):
    """What a member has to show for it: status events, payments, emails."""
    member.refresh_from_db()
    return (
        list(StatusEvent.objects.filter(member=member).values_list("to_status", flat=True)),
        Payment.objects.filter(member=member).count(),
        len(mail.outbox),
    )


# --- Signatures ---------------------------------------------------------------------


def test_unsigned_wrongly_signed_and_stale_events_are_refused(client, fake_stripe, member):
    session_id = start_checkout(member)
    fake_stripe.complete_checkout(session_id)
    event = fake_stripe.event("checkout.session.completed", session_id)

    unsigned = client.post(
        reverse("stripe_webhook"), data=json.dumps(event), content_type="application/json"
    )
    wrong = deliver(client, fake_stripe, event, secret="whsec_someone_else")
    stale = deliver(client, fake_stripe, event, timestamp=int(time.time()) - 301)
    reserialised = deliver(client, fake_stripe, event, body=json.dumps(event, indent=2).encode())

    assert [r.status_code for r in (unsigned, wrong, stale, reserialised)] == [400, 400, 400, 400]
    assert not StripeEvent.objects.exists()
    assert changes(member) == ([], 0, 0)


def test_events_we_do_not_handle_are_acknowledged(client, fake_stripe, member):
    customer = stripe_customer_for(member=member)
    response = deliver(client, fake_stripe, fake_stripe.event("customer.updated", customer))
    assert (response.status_code, response.content) == (200, b"ignored\n")
    assert not StripeEvent.objects.exists()


def test_without_keys_there_is_no_webhook_and_no_card_option(client, settings, member):
    settings.STRIPE_SECRET_KEY = settings.STRIPE_WEBHOOK_SECRET = ""
    assert (
        client.post(
            reverse("stripe_webhook"), data=b"{}", content_type="application/json"
        ).status_code
        == 404
    )
    client.force_login(member.user)
    page = client.get(reverse("membership_pay")).text
    assert "not available at the moment" in page
    assert reverse("membership_pay_by_card") not in page


# --- Checkout and activation --------------------------------------------------------


def test_card_checkout_activates_once_however_often_the_event_arrives(client, fake_stripe, member):
    session_id = start_checkout(member)
    create = next(r for r in fake_stripe.requests if r["path"] == "/v1/checkout/sessions")
    assert create["params"]["mode"] == "subscription"
    assert create["params"]["payment_method_types"] == ["card", "bacs_debit"]
    assert create["params"]["line_items"] == [{"price": "price_member", "quantity": "1"}]
    assert create["idempotency_key"] == f"checkout-{CheckoutAttempt.objects.get().public_id}"

    fake_stripe.complete_checkout(session_id)
    event = fake_stripe.event("checkout.session.completed", session_id)
    outcomes = [deliver(client, fake_stripe, event).content for _ in range(3)]

    assert outcomes == [b"processed\n", b"duplicate\n", b"duplicate\n"]
    member.refresh_from_db()
    assert member.status == Status.ACTIVE and member.membership_number
    payment = Payment.objects.get(member=member)
    assert (payment.method, payment.amount_pence, payment.stripe_invoice_id) == (
        "card",
        14500,
        fake_stripe.objects[session_id]["invoice"],
    )
    assert changes(member)[1:] == (1, 1)
    assert mail.outbox[0].subject.endswith("Welcome: you are now a member")
    assert StripeEvent.objects.count() == 1
    assert audit_chain_verify()[1] is None


def test_success_page_and_webhook_give_one_activation(client, fake_stripe, member):
    session_id = start_checkout(member)
    fake_stripe.complete_checkout(session_id)
    client.force_login(member.user)

    page = client.get(reverse("membership_card_done"), {"session_id": session_id})
    assert "You are a member" in page.text
    deliver(client, fake_stripe, fake_stripe.event("checkout.session.completed", session_id))
    deliver(
        client,
        fake_stripe,
        fake_stripe.event("invoice.paid", fake_stripe.objects[session_id]["invoice"]),
    )
    client.get(reverse("membership_card_done"), {"session_id": session_id})

    assert Payment.objects.count() == 1
    assert StatusEvent.objects.filter(member=member, to_status=Status.ACTIVE).count() == 1
    assert len(mail.outbox) == 1


def test_success_page_for_someone_elses_session_is_404(client, fake_stripe, member):
    session_id = start_checkout(member)
    other = MemberFactory()
    client.force_login(other.user)
    assert (
        client.get(reverse("membership_card_done"), {"session_id": session_id}).status_code == 404
    )


def test_bacs_is_not_active_until_the_money_clears(client, fake_stripe, member):
    session_id = start_checkout(member)
    fake_stripe.complete_checkout(session_id, method="bacs_debit")
    deliver(client, fake_stripe, fake_stripe.event("checkout.session.completed", session_id))
    member.refresh_from_db()
    assert member.status == Status.APPLICANT and not Payment.objects.exists()
    assert member.stripe_subscriptions.get().status == "active"

    fake_stripe.bacs_clears(session_id)
    deliver(
        client,
        fake_stripe,
        fake_stripe.event("checkout.session.async_payment_succeeded", session_id),
    )
    member.refresh_from_db()
    assert member.status == Status.ACTIVE
    assert Payment.objects.get().method == "bacs_debit"
    assert len(mail.outbox) == 1


def test_bacs_failure_tells_the_member_and_changes_nothing_else(client, fake_stripe, member):
    session_id = start_checkout(member)
    fake_stripe.complete_checkout(session_id, method="bacs_debit")
    deliver(client, fake_stripe, fake_stripe.event("checkout.session.completed", session_id))
    fake_stripe.bacs_fails(session_id)
    event = fake_stripe.event("checkout.session.async_payment_failed", session_id)
    deliver(client, fake_stripe, event)
    deliver(client, fake_stripe, event)

    member.refresh_from_db()
    assert member.status == Status.APPLICANT
    assert CheckoutAttempt.objects.get().state == CheckoutAttempt.State.FAILED
    assert [m.subject.split("] ")[1] for m in mail.outbox] == [
        "Your Direct Debit payment did not go through"
    ]


def test_a_retried_create_after_a_lost_response_makes_one_customer(fake_stripe, member):
    fake_stripe.drop_responses["/v1/customers"] = 1
    customer_id = stripe_customer_for(member=member)
    creates = [r for r in fake_stripe.requests if r["path"] == "/v1/customers"]
    assert len(creates) == 2  # the SDK retried after the broken connection...
    assert {r["idempotency_key"] for r in creates} == {
        f"customer-{member.public_id}"
    }  # ...with the same key
    assert [o for o in fake_stripe.objects.values() if o["object"] == "customer"] == [
        fake_stripe.objects[customer_id]
    ]
    member.refresh_from_db()
    assert member.stripe_customer_id == customer_id


def test_a_paid_up_member_switching_to_card_pays_from_their_renewal_date(
    client, fake_stripe, member, settings
):
    invoice = services.invoice_raise(member=member, payer_organisation="Trust")
    services.invoice_record_payment(
        invoice=invoice, received_on=services.local_today(), reference="BACS", actor=None
    )
    member.refresh_from_db()
    session_id = start_checkout(member)
    create = next(r for r in fake_stripe.requests if r["path"] == "/v1/checkout/sessions")
    trial_end = int(create["params"]["subscription_data"]["trial_end"])
    assert (
        dt.datetime.fromtimestamp(trial_end, tz=dt.UTC).astimezone().date() >= member.period_ends_on
    )
    fake_stripe.complete_checkout(session_id)
    deliver(client, fake_stripe, fake_stripe.event("checkout.session.completed", session_id))
    # The £0 trial invoice makes no payment and no period.
    assert Payment.objects.filter(member=member).count() == 1
    assert member.stripe_subscriptions.get().status == "trialing"


# --- The year of a subscription -------------------------------------------------------


def test_join_renew_fail_recover_and_cancel(client, fake_stripe, member, settings):
    """One status event, one email and one payment per real change, however delivered."""
    session_id = start_checkout(member)
    fake_stripe.complete_checkout(session_id)
    subscription_id = fake_stripe.objects[session_id]["subscription"]
    first_invoice = fake_stripe.objects[session_id]["invoice"]

    def twice(event_type, object_id):
        event = fake_stripe.event(event_type, object_id)
        deliver(client, fake_stripe, event)
        deliver(client, fake_stripe, event)

    twice("checkout.session.completed", session_id)
    twice("invoice.paid", first_invoice)
    assert changes(member) == (["active"], 1, 1)
    first_end = member.period_ends_on

    renewal = fake_stripe.renew(subscription_id)
    twice("invoice.paid", renewal["id"])
    assert changes(member) == (["active"], 2, 2)
    assert member.period_ends_on == services.period_end_for(first_end + dt.timedelta(days=1))

    failed = fake_stripe.renew(subscription_id, paid=False)
    twice("invoice.payment_failed", failed["id"])
    assert changes(member) == (["active"], 2, 3)
    assert "Manage card or Direct Debit" in mail.outbox[-1].body
    # The period runs out: the daily job, not the failure, moves them to grace.
    services.membership_daily_run(today=member.period_ends_on + dt.timedelta(days=1))
    assert changes(member)[0][-1] == "grace"
    emails = len(mail.outbox)

    fake_stripe.pay(failed["id"])
    with mock.patch.object(
        services, "local_today", return_value=member.period_ends_on + dt.timedelta(days=3)
    ):
        twice("invoice.paid", failed["id"])
        # A late copy of the failure changes nothing now that the invoice is paid.
        deliver(client, fake_stripe, fake_stripe.event("invoice.payment_failed", failed["id"]))
    statuses, payments, sent = changes(member)
    assert (member.status, statuses.count("active"), payments, sent) == ("active", 2, 3, emails + 1)

    fake_stripe.cancel(subscription_id)
    twice("customer.subscription.deleted", subscription_id)
    assert member.stripe_subscriptions.get().status == "canceled"
    assert changes(member) == (statuses, 3, emails + 2)
    assert mail.outbox[-1].subject.endswith("Automatic renewal is off")
    assert audit_chain_verify()[1] is None


def test_shuffled_deliveries_end_in_stripes_state(client, fake_stripe, member):
    session_id = start_checkout(member)
    fake_stripe.complete_checkout(session_id)
    subscription_id = fake_stripe.objects[session_id]["subscription"]
    events = [
        fake_stripe.event("checkout.session.completed", session_id),
        fake_stripe.event("customer.subscription.updated", subscription_id),
        fake_stripe.event("invoice.paid", fake_stripe.objects[session_id]["invoice"]),
    ]
    renewal = fake_stripe.renew(subscription_id, paid=False)
    events.append(fake_stripe.event("invoice.payment_failed", renewal["id"]))
    fake_stripe.pay(renewal["id"])
    events.append(fake_stripe.event("invoice.paid", renewal["id"]))
    events.append(fake_stripe.event("customer.subscription.updated", subscription_id))
    fake_stripe.cancel(subscription_id)
    events.append(fake_stripe.event("customer.subscription.deleted", subscription_id))

    random.Random(7).shuffle(events)
    for event in events:
        assert deliver(client, fake_stripe, event).status_code == 200

    member.refresh_from_db()
    assert member.status == Status.ACTIVE
    assert Payment.objects.filter(member=member).count() == 2
    assert member.stripe_subscriptions.get().status == "canceled"
    # Stripe says the renewal is paid, so no failure email went out.
    subjects = [m.subject.split("] ")[1] for m in mail.outbox]
    assert "Your membership payment did not go through" not in subjects
    assert subjects.count("Welcome: you are now a member") == 1


def test_grade_change_moves_the_subscription_to_the_new_price_with_proration(
    client, fake_stripe, member, django_capture_on_commit_callbacks
):
    session_id = start_checkout(member)
    fake_stripe.complete_checkout(session_id)
    deliver(client, fake_stripe, fake_stripe.event("checkout.session.completed", session_id))
    fellow = GradeFactory(
        slug="senior-card", annual_fee_pence=19500, stripe_price_id="price_senior"
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.grade_change_request(member=member, to_grade=fellow)
    subscription = fake_stripe.objects[fake_stripe.objects[session_id]["subscription"]]
    assert subscription["items"]["data"][0]["price"]["id"] == "price_senior"
    assert subscription["last_proration_behavior"] == "create_prorations"
    assert member.stripe_subscriptions.get().price_id == "price_senior"


def test_refunds_are_recorded_once_against_the_payment(client, fake_stripe, member):
    session_id = start_checkout(member)
    fake_stripe.complete_checkout(session_id)
    deliver(client, fake_stripe, fake_stripe.event("checkout.session.completed", session_id))
    charge_id = fake_stripe.refund(fake_stripe.objects[session_id]["invoice"], 5000)
    event = fake_stripe.event("charge.refunded", charge_id)
    deliver(client, fake_stripe, event)
    deliver(
        client, fake_stripe, fake_stripe.event("charge.refunded", charge_id)
    )  # a second event, same refund
    refund = Refund.objects.get()
    assert (refund.amount_pence, refund.payment) == (5000, Payment.objects.get())


# --- Reconciliation -----------------------------------------------------------------------


def test_reconcile_catches_up_on_a_lost_webhook(client, fake_stripe, member, capsys):
    session_id = start_checkout(member)
    fake_stripe.complete_checkout(session_id)
    deliver(client, fake_stripe, fake_stripe.event("checkout.session.completed", session_id))
    subscription_id = fake_stripe.objects[session_id]["subscription"]
    fake_stripe.renew(subscription_id)  # its invoice.paid never arrives
    fake_stripe.cancel(subscription_id)  # nor does the cancellation

    call_command("stripe_reconcile")
    output = capsys.readouterr().out
    assert "1 payment recorded" in output and "1 subscription updated" in output
    assert Payment.objects.filter(member=member).count() == 2
    assert member.stripe_subscriptions.get().status == "canceled"

    call_command("stripe_reconcile")
    assert "0 payments recorded" in capsys.readouterr().out


# --- Concurrency (PostgreSQL) -----------------------------------------------------------------


def _in_threads(targets):
    """Run the callables at the same moment, one thread each; return their results."""
    barrier = threading.Barrier(len(targets))
    results, errors = [], []

    def run(target):
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrency needs PostgreSQL"
)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_ten_copies_at_once_give_one_activation(fake_stripe, member):
    session_id = start_checkout(member)
    fake_stripe.complete_checkout(session_id)
    event = fake_stripe.event("checkout.session.completed", session_id)
    payload, header = fake_stripe.sign(event, WEBHOOK_SECRET)

    def post():
        return (
            Client()
            .post(
                reverse("stripe_webhook"),
                data=payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=header,
            )
            .content
        )

    outcomes = _in_threads([post] * 10)
    assert sorted(outcomes) == [b"duplicate\n"] * 9 + [b"processed\n"]
    assert changes(member) == (["active"], 1, 1)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_success_page_racing_the_webhook_gives_one_activation(fake_stripe, member):
    session_id = start_checkout(member)
    fake_stripe.complete_checkout(session_id)
    event = fake_stripe.event("checkout.session.completed", session_id)
    payload, header = fake_stripe.sign(event, WEBHOOK_SECRET)
    user = member.user

    def webhook():
        return (
            Client()
            .post(
                reverse("stripe_webhook"),
                data=payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=header,
            )
            .status_code
        )

    def success_page():
        browser = Client()
        browser.force_login(user)
        return browser.get(reverse("membership_card_done"), {"session_id": session_id}).status_code

    results = _in_threads([webhook, success_page] * 3)
    assert set(results) == {200}
    assert Payment.objects.count() == 1
    assert StatusEvent.objects.filter(member=member, to_status=Status.ACTIVE).count() == 1
    assert len(mail.outbox) == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_lock_held_too_long_answers_503_so_stripe_retries(fake_stripe, member, monkeypatch):
    monkeypatch.setattr(stripe_billing, "WEBHOOK_LOCK_TIMEOUT", "200ms")
    session_id = start_checkout(member)
    fake_stripe.complete_checkout(session_id)
    event = fake_stripe.event("checkout.session.completed", session_id)
    payload, header = fake_stripe.sign(event, WEBHOOK_SECRET)
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        with transaction.atomic():
            list(Member.objects.select_for_update().filter(pk=member.pk))
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(10)
    try:
        busy = Client().post(
            reverse("stripe_webhook"),
            data=payload,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )
    finally:
        release.set()
        holder.join()
    assert busy.status_code == 503
    assert not StripeEvent.objects.exists() and not Payment.objects.exists()
    # Stripe's retry then goes through.
    retry = Client().post(
        reverse("stripe_webhook"),
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )
    assert retry.content == b"processed\n"


def test_refunds_show_on_the_dashboard_and_in_the_finance_export(client, fake_stripe, member):
    from tests.factories import StaffFactory
    from tests.totp import enable_totp

    session_id = start_checkout(member)
    fake_stripe.complete_checkout(session_id)
    deliver(client, fake_stripe, fake_stripe.event("checkout.session.completed", session_id))
    charge_id = fake_stripe.refund(fake_stripe.objects[session_id]["invoice"], 2500)
    deliver(client, fake_stripe, fake_stripe.event("charge.refunded", charge_id))

    client.force_login(member.user)
    dashboard = client.get(reverse("dashboard")).text
    assert "Refunded £25.00" in dashboard
    assert "Manage card or Direct Debit" in dashboard

    registrar = StaffFactory()
    enable_totp(registrar)
    client.force_login(registrar)
    export = b"".join(client.get(reverse("registrar:refunds_csv")).streaming_content).decode(
        "utf-8-sig"
    )
    header, row = export.strip().splitlines()
    assert header.startswith("Receipt number,Refunded on,Amount (GBP),Amount (pence)")
    member.refresh_from_db()
    assert ",25.00,2500," in row and member.membership_number in row


def test_the_portal_is_stripes_for_the_members_own_customer(client, fake_stripe, member):
    stripe_customer_for(member=member)
    client.force_login(member.user)
    response = client.post(reverse("membership_billing_portal"))
    assert response["Location"] == "https://billing.stripe.com/p/session/test"
    portal = next(r for r in fake_stripe.requests if r["path"] == "/v1/billing_portal/sessions")
    assert portal["params"]["customer"] == member.stripe_customer_id
