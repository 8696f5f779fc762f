"""Webhooks are sent in batches: one task per endpoint per batch, oldest first over
one kept-alive connection, each attempt recorded, in a fixed number of queries."""

import datetime as dt
import io
import json
import socket
import uuid
from collections import Counter

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from api import webhooks
from api.models import PING_EVENT_TYPE, DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from api.tasks import webhook_fan_out
from api.watchlist import watch_entry_add
from audit.models import Action, AuditEvent
from tests.api.builders import make_employer
from tests.api.receiver import Receiver
from tests.api.test_webhook_delivery import suspend, verify_like_a_receiver
from tests.api.watch_builders import active_member

pytestmark = pytest.mark.django_db

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def employer():
    return make_employer()


def endpoint_for(employer, url) -> tuple[WebhookEndpoint, str]:
    return webhooks.webhook_endpoint_create(employer=employer, url=url)


def queued(endpoint, count: int, *, event_type="member.status_changed") -> list[WebhookDelivery]:
    """``count`` deliveries due now for the endpoint, oldest first."""
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint,
            event_id=f"msg_{uuid.uuid4().hex}",
            event_type=event_type,
            payload={"type": event_type, "data": {"n": n}},
            next_attempt_at=timezone.now(),
        )
        for n in range(count)
    )
    return list(endpoint.deliveries.order_by("pk"))


def statuses(deliveries) -> list[str]:
    return [WebhookDelivery.objects.get(pk=d.pk).status for d in deliveries]


def make_due(deliveries) -> None:
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


def test_a_batch_is_sent_oldest_first_over_one_connection(employer):
    with Receiver() as receiver:
        endpoint, secret = endpoint_for(employer, receiver.url)
        deliveries = queued(endpoint, 5)
        sent = webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
        assert len(receiver.connections) == 1
        for request in receiver.received:
            verify_like_a_receiver(secret, request.headers, request.body)
        assert [r.headers["webhook-id"] for r in receiver.received] == [
            d.event_id for d in deliveries
        ]
    assert [d.pk for d in sent] == [d.pk for d in deliveries]
    assert statuses(deliveries) == [WebhookDelivery.Status.DELIVERED] * 5
    assert DeliveryAttempt.objects.filter(succeeded=True, response_code=200).count() == 5
    delivered = WebhookDelivery.objects.get(pk=deliveries[0].pk)
    assert delivered.attempts == 1 and delivered.delivered_at is not None
    assert delivered.next_attempt_at is None and delivered.last_response_body == "ok"


def test_a_change_to_many_watched_members_goes_out_as_one_batch_in_order(
    employer, django_capture_on_commit_callbacks
):
    members = [active_member(family_name=name) for name in ("Price", "Hughes", "Evans")]
    for member in members:
        watch_entry_add(
            employer=employer,
            membership_number=member.membership_number,
            family_name=member.user.family_name,
            actor=None,
        )
    with Receiver() as receiver:
        endpoint_for(employer, receiver.url)
        with django_capture_on_commit_callbacks(execute=False):
            for member in members:
                suspend(member)
        events = AuditEvent.objects.filter(
            action=Action.MEMBER_STATUS_CHANGED, after__status="suspended"
        )
        # One fan-out for the three events, as a daily job's single append gives.
        with django_capture_on_commit_callbacks(execute=True):
            webhook_fan_out.enqueue(event_ids=[event.pk for event in events])
        numbers = [
            json.loads(request.body)["data"]["member"]["membership_number"]
            for request in receiver.received
        ]
        assert len(receiver.connections) == 1
    assert numbers == [member.membership_number for member in members]


@pytest.mark.parametrize(
    "chunk, tasks_per_endpoint",
    [(1000, 2), (1, 3)],  # written in chunks of one delivery, each is its own batch
)
def test_fan_out_queues_one_task_per_endpoint_per_batch(
    employer, settings, monkeypatch, django_capture_on_commit_callbacks, chunk, tasks_per_endpoint
):
    settings.TASKS = DATABASE_TASKS
    monkeypatch.setattr(webhooks, "BATCH_SIZE", 2)
    monkeypatch.setattr(webhooks, "FAN_OUT_CHUNK", chunk)
    members = [active_member(family_name=name) for name in ("Price", "Hughes", "Evans")]
    for member in members:
        watch_entry_add(
            employer=employer,
            membership_number=member.membership_number,
            family_name=member.user.family_name,
            actor=None,
        )
    first, _ = endpoint_for(employer, "http://127.0.0.1:9/first")
    second, _ = endpoint_for(employer, "http://127.0.0.1:9/second")
    with django_capture_on_commit_callbacks(execute=False):
        for member in members:
            suspend(member)
    events = AuditEvent.objects.filter(
        action=Action.MEMBER_STATUS_CHANGED, after__status="suspended"
    )
    with django_capture_on_commit_callbacks(execute=True):
        created = webhooks.webhook_deliveries_create(event_ids=[event.pk for event in events])
    assert created == {first.pk: 3, second.pk: 3}
    queued_tasks = DBTaskResult.objects.filter(task_path="api.tasks.webhook_deliver")
    assert Counter(task.args_kwargs["kwargs"]["endpoint_id"] for task in queued_tasks) == {
        first.pk: tasks_per_endpoint,
        second.pk: tasks_per_endpoint,
    }


def test_a_failure_mid_batch_retries_only_that_delivery(employer):
    with Receiver(statuses=[200, 500, 200]) as receiver:
        endpoint, _ = endpoint_for(employer, receiver.url)
        first, failing, last = queued(endpoint, 3)
        webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
        assert len(receiver.received) == 3
        assert len(receiver.connections) == 1  # a 500 does not cost the connection
        assert statuses([first, failing, last]) == ["delivered", "pending", "delivered"]
        failing.refresh_from_db()
        assert failing.attempts == 1 and failing.last_response_code == 500
        assert failing.last_response_body == "receiver says no"
        wait = failing.next_attempt_at - timezone.now()
        assert dt.timedelta(seconds=55) < wait <= dt.timedelta(seconds=67)
        endpoint.refresh_from_db()
        assert endpoint.failure_count == 0  # the success after it ended the run of failures

        # Nothing else is due: running again sends nothing and changes nothing.
        assert webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk) == []
        assert len(receiver.received) == 3

        make_due([failing])
        call_command("webhooks_retry", stdout=io.StringIO())
        assert [r.headers["webhook-id"] for r in receiver.received][-1] == failing.event_id
    assert statuses([first, failing, last]) == ["delivered"] * 3
    assert list(failing.attempt_log.values_list("response_code", flat=True)) == [500, 200]
    assert DeliveryAttempt.objects.count() == 4


def test_each_endpoint_has_its_own_batches_and_its_own_failures(
    employer, django_capture_on_commit_callbacks
):
    member = active_member(family_name="Price")
    other = make_employer(name="Another trust")
    for watcher in (employer, other):
        watch_entry_add(
            employer=watcher,
            membership_number=member.membership_number,
            family_name="Price",
            actor=None,
        )
    with Receiver() as good, Receiver(statuses=[500] * 3) as bad:
        good_endpoint, _ = endpoint_for(employer, good.url)
        bad_endpoint, _ = endpoint_for(other, bad.url)
        with django_capture_on_commit_callbacks(execute=True):
            suspend(member)
        assert len(good.received) == len(bad.received) == 1

        # A batch for one endpoint never takes another's deliveries.
        theirs = queued(bad_endpoint, 2)[1:]
        webhooks.webhook_deliveries_send(endpoint_id=good_endpoint.pk)
        assert len(bad.received) == 1
        assert [WebhookDelivery.objects.get(pk=d.pk).attempts for d in theirs] == [0, 0]
    assert good_endpoint.deliveries.get().status == WebhookDelivery.Status.DELIVERED
    good_endpoint.refresh_from_db()
    bad_endpoint.refresh_from_db()
    assert good_endpoint.failure_count == 0 and good_endpoint.failing_since is None
    assert bad_endpoint.failure_count == 1 and bad_endpoint.failing_since is not None


@pytest.mark.parametrize("size", [1, 25])
def test_a_batch_takes_the_same_queries_whatever_its_size(
    employer, size, django_assert_num_queries
):
    with Receiver() as receiver:
        endpoint, _ = endpoint_for(employer, receiver.url)
        queued(endpoint, size)
        # The endpoint, the claim, then in one transaction (a savepoint here)
        # the attempts and the deliveries: the healthy endpoint is not locked.
        with django_assert_num_queries(6):
            webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
        assert len(receiver.received) == size


@pytest.mark.parametrize("size", [1, 25])
def test_a_failing_batch_takes_the_same_queries_whatever_its_size(
    employer, size, django_assert_num_queries
):
    with Receiver(statuses=[500] * size) as receiver:
        endpoint, _ = endpoint_for(employer, receiver.url)
        queued(endpoint, size)
        # As above, plus locking and updating the endpoint's run of failures.
        with django_assert_num_queries(8):
            webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
        assert len(receiver.received) == size
    endpoint.refresh_from_db()
    assert endpoint.failure_count == size


def test_a_failing_batch_queues_one_retry_for_the_time_its_deliveries_share(
    employer, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = DATABASE_TASKS
    with Receiver(statuses=[500] * 3) as receiver:
        endpoint, _ = endpoint_for(employer, receiver.url)
        deliveries = queued(endpoint, 3)
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
    [retry] = DBTaskResult.objects.all()
    assert retry.task_path == "api.tasks.webhook_deliver"
    assert retry.args_kwargs["kwargs"] == {"endpoint_id": endpoint.pk}
    assert {WebhookDelivery.objects.get(pk=d.pk).next_attempt_at for d in deliveries} == {
        retry.run_after
    }


def test_410_mid_batch_stops_it_turns_the_endpoint_off_and_fails_the_rest(
    employer, django_capture_on_commit_callbacks
):
    with Receiver(statuses=[200, 410]) as receiver:
        endpoint, _ = endpoint_for(employer, receiver.url)
        deliveries = queued(endpoint, 4)
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
        assert len(receiver.received) == 2
    assert statuses(deliveries) == ["delivered", "failed", "failed", "failed"]
    unsent = WebhookDelivery.objects.get(pk=deliveries[3].pk)
    assert unsent.attempts == 0 and unsent.last_error == "The endpoint was disabled."
    endpoint.refresh_from_db()
    assert not endpoint.active and "410" in endpoint.disabled_reason
    assert len(mail.outbox) == 1


def test_a_slow_batch_hands_the_rest_back_and_queues_a_task_for_them(
    employer, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(webhooks, "BATCH_SECONDS", 0)  # every message takes too long
    with Receiver() as receiver:
        endpoint, _ = endpoint_for(employer, receiver.url)
        deliveries = queued(endpoint, 3)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
        assert len(receiver.received) == 1
        assert statuses(deliveries) == ["delivered", "pending", "pending"]
        handed_back = WebhookDelivery.objects.get(pk=deliveries[1].pk)
        assert handed_back.attempts == 0 and handed_back.next_attempt_at <= timezone.now()
        assert not handed_back.attempt_log.exists()

        [follow_up] = callbacks
        with django_capture_on_commit_callbacks(execute=True):
            follow_up()
        assert [r.headers["webhook-id"] for r in receiver.received] == [
            d.event_id for d in deliveries
        ]
    assert statuses(deliveries) == ["delivered"] * 3


def test_a_receiver_that_closes_every_connection_still_gets_the_whole_batch(employer):
    with Receiver(keep_alive=False) as receiver:
        endpoint, _ = endpoint_for(employer, receiver.url)
        deliveries = queued(endpoint, 3)
        webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
        assert len(receiver.received) == 3 and len(receiver.connections) == 3
    assert statuses(deliveries) == ["delivered"] * 3


def test_an_endpoint_turned_off_gets_only_its_test_ping(employer):
    with Receiver() as receiver:
        endpoint, _ = endpoint_for(employer, receiver.url)
        [event] = queued(endpoint, 1)
        [ping] = queued(endpoint, 1, event_type=PING_EVENT_TYPE)[1:]
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)
        webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
        assert [r.headers["webhook-id"] for r in receiver.received] == [ping.event_id]
    event.refresh_from_db()
    assert event.status == WebhookDelivery.Status.FAILED and event.attempts == 0
    assert event.last_error == "The endpoint is turned off."
    assert WebhookDelivery.objects.get(pk=ping.pk).status == WebhookDelivery.Status.DELIVERED


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(employer):
    with Receiver(statuses=[302]) as receiver:
        endpoint, _ = endpoint_for(employer, receiver.url)
        [delivery] = queued(endpoint, 1)
        webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
        assert len(receiver.received) == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert delivery.last_response_code == 302


def test_a_name_now_pointing_at_a_private_address_is_not_sent_to(settings, employer, monkeypatch):
    endpoint, _ = endpoint_for(employer, "https://hooks.example.com/x")
    deliveries = queued(endpoint, 2)
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *args, **kwargs: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))],
    )
    webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
    errors = [WebhookDelivery.objects.get(pk=d.pk).last_error for d in deliveries]
    assert errors == ["Not sent: The host name points at a private or local address."] * 2
    assert DeliveryAttempt.objects.filter(succeeded=False).count() == 2


def test_the_connection_goes_to_the_address_that_was_checked(employer, monkeypatch):
    """No second look-up between the check and the connection (DNS rebinding)."""
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        endpoint, _ = endpoint_for(employer, f"http://hooks.invalid:{port}/hooks")
        queued(endpoint, 1)
        monkeypatch.setattr(webhooks, "_address_check", lambda url: ("", ["127.0.0.1"]))
        webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
        [request] = receiver.received
    assert request.headers["host"] == f"hooks.invalid:{port}"


def test_the_retry_command_sends_everything_due_batch_by_batch(employer, monkeypatch):
    monkeypatch.setattr(webhooks, "BATCH_SIZE", 2)
    with Receiver() as first, Receiver() as second:
        endpoints = [endpoint_for(employer, receiver.url)[0] for receiver in (first, second)]
        deliveries = queued(endpoints[0], 5) + queued(endpoints[1], 3)
        out = io.StringIO()
        call_command("webhooks_retry", stdout=out)
        assert len(first.received) == 5 and len(second.received) == 3
        assert len(first.connections) == 3  # a connection per batch of two
    assert out.getvalue().strip() == "8 due deliveries attempted."
    assert statuses(deliveries) == ["delivered"] * 8


def test_a_claimed_delivery_is_not_claimed_again_while_its_batch_is_out(employer):
    """What keeps two workers from sending one delivery at once."""
    endpoint, _ = endpoint_for(employer, "http://127.0.0.1:9/hooks")
    deliveries = queued(endpoint, 3)
    now = timezone.now()
    first = webhooks._deliveries_claim(endpoint_id=endpoint.pk, now=now, limit=2)
    second = webhooks._deliveries_claim(endpoint_id=endpoint.pk, now=now, limit=2)
    assert [d.pk for d in first] == [d.pk for d in deliveries[:2]]
    assert [d.pk for d in second] == [deliveries[2].pk]
    assert webhooks._deliveries_claim(endpoint_id=endpoint.pk, now=now, limit=2) == []
