"""Webhooks from the audit chain to a real receiver on loopback: who gets what,
signed how, retried when, and when an endpoint is given up on."""

import base64
import datetime as dt
import hashlib
import hmac
import io
import json
import time

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from accreditation.certificates import certificate_event_payload
from accreditation.models import Certificate, Scheme
from api import webhooks
from api.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from api.watchlist import watch_entry_add
from audit.models import Action, AuditEvent
from audit.services import audit_record
from members import services as member_services
from tests.accreditation.builders import make_level
from tests.api.builders import make_employer
from tests.api.receiver import Receiver
from tests.api.watch_builders import active_member, employer_person
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def verify_like_a_receiver(secret: str, headers: dict, body: bytes) -> dict:
    """The check docs/api.md tells integrators to write, using only the standard library."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    assert abs(time.time() - int(stamp)) < 300
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert any(
        hmac.compare_digest(expected, given) for given in headers["webhook-signature"].split()
    )
    return json.loads(body)


@pytest.fixture
def employer():
    return make_employer()


@pytest.fixture
def watched(employer):
    member = active_member(family_name="Price")
    watch_entry_add(
        employer=employer,
        membership_number=member.membership_number,
        family_name="price ",
        actor=None,
    )
    return member


def suspend(member):
    return member_services.member_suspend(
        member=member,
        actor=StaffFactory(),
        reason="Under investigation",
        starts_on=member_services.local_today(),
    )


def endpoint_for(employer, url, **kwargs):
    endpoint, secret = webhooks.webhook_endpoint_create(employer=employer, url=url, **kwargs)
    return endpoint, secret


def test_suspending_a_watched_member_sends_a_signed_event_after_commit(
    employer, watched, django_capture_on_commit_callbacks
):
    with Receiver() as receiver:
        _, secret = endpoint_for(employer, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            suspend(watched)
        assert len(receiver.received) == 1
        request = receiver.received[0]
    assert request.headers["content-type"] == "application/json"
    payload = verify_like_a_receiver(secret, request.headers, request.body)
    assert payload["type"] == "member.status_changed"
    assert payload["data"] == {
        "member": {"membership_number": watched.membership_number, "family_name": "price"},
        "status": {"code": "suspended", "label": "Suspended"},
        "previous_status": {"code": "active", "label": "Active"},
        "effective_date": member_services.local_today().isoformat(),
        "in_good_standing": False,
    }
    delivery = WebhookDelivery.objects.get()
    assert request.headers["webhook-id"] == delivery.event_id
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.attempts == 1 and delivery.last_response_code == 200
    assert delivery.audit_event.action == Action.MEMBER_STATUS_CHANGED
    attempt = DeliveryAttempt.objects.get()
    assert attempt.succeeded and attempt.response_code == 200 and attempt.response_body == "ok"


def test_nothing_is_sent_before_commit_or_for_a_change_that_rolls_back(employer, watched):
    with Receiver() as receiver:
        endpoint_for(employer, receiver.url)
        suspend(watched)  # the test's transaction never commits
        assert receiver.received == []
    assert not WebhookDelivery.objects.exists()


def test_no_delivery_for_members_not_on_the_watch_list(
    employer, watched, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    stranger = active_member(family_name="Hughes")
    other_employer = make_employer(name="Another trust")
    with Receiver() as receiver:
        endpoint_for(employer, receiver.url)
        endpoint_for(other_employer, receiver.url)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            suspend(stranger)
        # Nobody watches: the fan-out reads the events and the watch list, and stops.
        with django_assert_max_num_queries(2):
            for callback in callbacks:
                callback()
        assert receiver.received == []
    assert not WebhookDelivery.objects.exists()


def test_only_the_watching_employers_subscribed_endpoints_receive_it(
    employer, watched, django_capture_on_commit_callbacks
):
    other = make_employer(name="Another trust")
    with Receiver() as receiver, Receiver() as accreditation_only, Receiver() as elsewhere:
        endpoint_for(employer, receiver.url)
        endpoint_for(employer, accreditation_only.url, events=["accreditation.revoked"])
        endpoint_for(other, elsewhere.url)
        off, _ = endpoint_for(employer, elsewhere.url)
        webhooks.webhook_endpoint_update(endpoint=off, active=False)
        with django_capture_on_commit_callbacks(execute=True):
            suspend(watched)
        assert len(receiver.received) == 1
        assert accreditation_only.received == [] and elsewhere.received == []


def test_certificate_events_are_sent_as_accreditation_events(
    employer, watched, django_capture_on_commit_callbacks
):
    """Through the certificate audit contract (``certificate_event_payload``)."""
    scheme = Scheme.objects.create(name="Accredited Manager", slug="accredited-manager")
    level = make_level(scheme, [])
    certificate = Certificate(
        member=watched,
        level=level,
        serial="IHSM-C-000042",
        valid_from=dt.date(2026, 1, 1),
        valid_until=dt.date(2029, 1, 1),
        status=Certificate.Status.REVOKED,
    )
    with Receiver() as receiver:
        _, secret = endpoint_for(employer, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            audit_record(
                action=Action.CERTIFICATE_REVOKED,
                subject_type="certificate",
                subject_id="42",
                after=certificate_event_payload(certificate),
                reason="Obtained by deception",
            )
        payload = verify_like_a_receiver(
            secret, receiver.received[0].headers, receiver.received[0].body
        )
    assert payload["type"] == "accreditation.revoked"
    assert payload["data"]["member"]["membership_number"] == watched.membership_number
    assert payload["data"]["certificate"] == {
        "public_id": str(certificate.public_id),
        "serial": "IHSM-C-000042",
        "level": level.name,
        "status": "revoked",
        "valid_from": "2026-01-01",
        "valid_until": "2029-01-01",
    }
    assert "deception" not in json.dumps(payload)  # reasons stay between member and registrar


def test_a_500_is_retried_with_backoff_with_the_same_id_until_it_succeeds(
    employer, watched, django_capture_on_commit_callbacks
):
    with Receiver(statuses=[500, 503]) as receiver:
        _, secret = endpoint_for(employer, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            suspend(watched)
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == WebhookDelivery.Status.PENDING
        assert delivery.attempts == 1 and delivery.last_response_code == 500
        assert delivery.last_response_body == "receiver says no"
        first_wait = delivery.next_attempt_at - timezone.now()
        assert dt.timedelta(seconds=55) < first_wait <= dt.timedelta(seconds=67)

        # Not due yet: the retry command leaves it alone.
        call_command("webhooks_retry", stdout=io.StringIO())
        assert len(receiver.received) == 1

        for expected_attempts in (2, 3):
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
            )
            call_command("webhooks_retry", stdout=io.StringIO())
            delivery.refresh_from_db()
            assert delivery.attempts == expected_attempts
        assert [r.headers["webhook-id"] for r in receiver.received] == [delivery.event_id] * 3
        for request in receiver.received:
            verify_like_a_receiver(secret, request.headers, request.body)
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert list(delivery.attempt_log.values_list("response_code", "succeeded")) == [
        (500, False),
        (503, False),
        (200, True),
    ]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.failure_count == 0 and endpoint.failing_since is None


def test_backoff_grows_exponentially_and_stops_at_three_days():
    delays = [webhooks.retry_delay(n) for n in range(1, 9)]
    assert delays[:5] == [dt.timedelta(minutes=m) for m in (1, 4, 16, 64, 256)]
    assert delays[5:] == [dt.timedelta(hours=12)] * 3
    delivery = WebhookDelivery(created_at=timezone.now(), attempts=9)
    now = timezone.now()
    # The last try is at the deadline, and after it there is none.
    late = now + dt.timedelta(days=2, hours=20)
    assert webhooks._next_attempt_at(delivery, late, jitter=0.1) == (
        delivery.created_at + dt.timedelta(days=3)
    )
    assert webhooks._next_attempt_at(delivery, now + dt.timedelta(days=3), jitter=0) is None


def test_an_endpoint_failing_for_three_days_is_disabled_and_its_people_emailed(
    employer, watched, django_capture_on_commit_callbacks
):
    person = employer_person(employer, email="hr-lead@northshire.example")
    with Receiver(statuses=[500] * 5) as receiver:
        endpoint, _ = endpoint_for(employer, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            suspend(watched)
        delivery = WebhookDelivery.objects.get()
        endpoint.refresh_from_db()
        assert endpoint.active and endpoint.failure_count == 1
        three_days_ago = timezone.now() - dt.timedelta(days=3, seconds=1)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=three_days_ago)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            created_at=three_days_ago, next_attempt_at=timezone.now()
        )
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
    endpoint.refresh_from_db()
    delivery.refresh_from_db()
    assert not endpoint.active and endpoint.disabled_at is not None
    assert "3 days" in endpoint.disabled_reason
    assert delivery.status == WebhookDelivery.Status.FAILED and delivery.attempts == 2
    assert AuditEvent.objects.filter(
        action=Action.WEBHOOK_ENDPOINT_DISABLED, subject_id=str(endpoint.public_id)
    ).exists()
    [message] = mail.outbox
    assert sorted(message.to) == sorted([employer.contact_email, person.email])
    assert endpoint.url in message.body and "3 days" in message.body


def test_410_gone_disables_the_endpoint_at_once(
    employer, watched, django_capture_on_commit_callbacks
):
    with Receiver(statuses=[410]) as receiver:
        endpoint, _ = endpoint_for(employer, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            suspend(watched)
    endpoint.refresh_from_db()
    assert not endpoint.active and "410" in endpoint.disabled_reason
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.FAILED


def test_an_unreachable_endpoint_is_a_logged_failed_attempt(
    employer, watched, django_capture_on_commit_callbacks
):
    with Receiver() as receiver:
        url = receiver.url
    endpoint_for(employer, url)  # the server has gone: nothing listens on that port
    with django_capture_on_commit_callbacks(execute=True):
        suspend(watched)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert delivery.last_response_code is None
    assert delivery.last_error.startswith("Could not connect")
    assert DeliveryAttempt.objects.get().error == delivery.last_error


def test_fan_out_twice_for_the_same_event_delivers_once(
    employer, watched, django_capture_on_commit_callbacks
):
    with Receiver() as receiver:
        endpoint_for(employer, receiver.url)
        with django_capture_on_commit_callbacks(execute=False):
            suspend(watched)
        event = AuditEvent.objects.filter(action=Action.MEMBER_STATUS_CHANGED).last()
        first = webhooks.webhook_deliveries_create(event_ids=[event.pk])
        second = webhooks.webhook_deliveries_create(event_ids=[event.pk])
    assert sum(first.values()) == 1 and second == {}
    assert WebhookDelivery.objects.get().audit_event == event


def test_a_ping_is_sent_once_and_not_retried(employer, django_capture_on_commit_callbacks):
    with Receiver(statuses=[500]) as receiver:
        endpoint, secret = endpoint_for(employer, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            delivery = webhooks.webhook_ping(endpoint=endpoint)
        payload = verify_like_a_receiver(
            secret, receiver.received[0].headers, receiver.received[0].body
        )
    assert payload["type"] == "webhook.ping"
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED and delivery.next_attempt_at is None
    endpoint.refresh_from_db()
    assert endpoint.failure_count == 0  # a ping does not count against the endpoint


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/x", "https://127.0.0.1/x", "https://10.0.0.5/x", "ftp://x.example/"],
)
def test_production_sends_only_to_public_https_addresses(settings, employer, url):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(webhooks.WebhookError):
        webhooks.webhook_endpoint_create(employer=employer, url=url)
    assert webhooks.url_refusal("https://hooks.example.com/x") == ""
