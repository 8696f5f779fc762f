"""Batched webhook delivery against awkward receivers and races (found by review):
a NUL in an answer, a receiver that trickles or drops connections, an endpoint
turned off mid-batch, a deadlock with turning it off, HTTPS name checking."""

import io
import socket
import ssl
import subprocess
import threading
import time
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from api import webhooks
from api.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from tests.api.builders import make_employer
from tests.api.receiver import Receiver

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="PostgreSQL behaviour"
)


class RawReceiver:
    """A loopback TCP server whose every connection is handled by ``handle(sock, n)``,
    so a test can answer in ways http.server will not (trickling, closing silently)."""

    def __init__(self, handle):
        self.handle = handle
        self.server = socket.create_server(("127.0.0.1", 0))
        self.requests = 0
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.stopped = False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/hooks"

    def _serve(self):
        while not self.stopped:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(
                target=self.handle, args=(self, sock, self.connections), daemon=True
            ).start()

    def read_request(self, sock) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += sock.recv(65536)
        self.requests += 1
        return True

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped = True
        self.server.close()


def queued(endpoint, count):
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint,
            event_id=f"msg_{uuid.uuid4().hex}",
            event_type="member.status_changed",
            payload={"type": "member.status_changed", "data": {"n": n}},
            next_attempt_at=timezone.now(),
        )
        for n in range(count)
    )
    return list(endpoint.deliveries.order_by("pk"))


def statuses(deliveries):
    return [WebhookDelivery.objects.get(pk=d.pk).status for d in deliveries]


# --- A receiver's NUL byte loses the whole batch's record (PostgreSQL) -----------


def answer_with_nul(receiver, sock, n):
    with sock:
        while receiver.read_request(sock):
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\x00")


@on_postgresql
def test_a_nul_in_the_answer_is_recorded_not_lost_with_the_batch():
    """PostgreSQL text cannot hold NUL: the bulk insert of attempts raises, the
    transaction rolls back, and the 3 messages already sent stay pending, leased,
    with no attempt logged and no task queued: the cron sends them again every
    5 minutes, for ever (the 3-day deadline is only checked when recording)."""
    with RawReceiver(answer_with_nul) as receiver:
        endpoint, _ = webhooks.webhook_endpoint_create(employer=make_employer(), url=receiver.url)
        deliveries = queued(endpoint, 3)
        webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
    assert statuses(deliveries) == ["delivered"] * 3


@on_postgresql
def test_one_endpoint_cannot_stop_the_retry_command_for_the_others():
    employer = make_employer()
    with RawReceiver(answer_with_nul) as bad, Receiver() as good:
        bad_endpoint, _ = webhooks.webhook_endpoint_create(employer=employer, url=bad.url)
        good_endpoint, _ = webhooks.webhook_endpoint_create(employer=employer, url=good.url)
        queued(bad_endpoint, 1)
        queued(good_endpoint, 1)
        try:
            call_command("webhooks_retry", stdout=io.StringIO())
        finally:
            assert len(good.received) == 1


# --- A slow receiver holds a worker past the claim's lease ------------------------


def trickle(receiver, sock, n):
    with sock:
        receiver.read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(8):  # one header byte every 0.5 s: each recv is within the timeout
            time.sleep(0.5)
            sock.sendall(b"X")
        sock.sendall(b": y\r\nContent-Length: 2\r\n\r\nok")


def test_an_answer_must_come_within_the_timeout(settings):
    """docs/api.md: "no answer within 15 seconds is a failed attempt", and the claim's
    lease (BATCH_SECONDS + WEBHOOK_TIMEOUT_SECONDS + 60) assumes one message never
    takes longer than the timeout. http.client's timeout is per socket operation, so
    a receiver trickling bytes holds the worker for as long as it likes; once the
    lease runs out another worker claims and sends the same deliveries."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    with RawReceiver(trickle) as receiver:
        _, secret = webhooks.webhook_endpoint_create(employer=make_employer(), url=receiver.url)
        outcome = webhooks._Connection(receiver.url).post(secret=secret, msg_id="msg_1", body=b"{}")
    assert outcome.duration_ms < 2000, outcome


# --- A receiver that closes the kept-alive connection without saying so ------------


def close_after_each_answer(receiver, sock, n):
    with sock:
        if receiver.read_request(sock):
            # HTTP/1.1 without "Connection: close", then the server drops the
            # connection (an idle or per-connection request limit, a proxy).
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            time.sleep(0.05)


def test_a_receiver_closing_the_connection_after_an_answer_still_gets_the_next_message():
    """docs/api.md: "if your server closes the connection after an answer, the next
    message opens a new one". The next message is written to the dead socket and
    fails (RemoteDisconnected / reset): a failed attempt, counted against the
    endpoint, and a retry a minute later out of order."""
    with RawReceiver(close_after_each_answer) as receiver:
        endpoint, _ = webhooks.webhook_endpoint_create(employer=make_employer(), url=receiver.url)
        deliveries = queued(endpoint, 3)
        webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
    errors = [WebhookDelivery.objects.get(pk=d.pk).last_error for d in deliveries]
    assert statuses(deliveries) == ["delivered"] * 3, errors
    endpoint.refresh_from_db()
    assert endpoint.failure_count == 0


# --- An endpoint turned off while a batch is out ----------------------------------


def test_an_endpoint_turned_off_mid_batch_gets_nothing_more_and_nothing_is_revived(
    monkeypatch, django_capture_on_commit_callbacks
):
    with Receiver(statuses=[500, 500, 500]) as receiver:
        endpoint, _ = webhooks.webhook_endpoint_create(employer=make_employer(), url=receiver.url)
        deliveries = queued(endpoint, 3)
        post = webhooks._Connection.post

        def post_then_turn_off(self, **kwargs):
            outcome = post(self, **kwargs)
            if len(receiver.received) == 1:
                webhooks.webhook_endpoint_update(endpoint=endpoint, active=False)
            return outcome

        monkeypatch.setattr(webhooks._Connection, "post", post_then_turn_off)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
        sent = len(receiver.received)
    # The employer turned it off after the first message; the batch sent on, and the
    # deliveries turning it off had failed are pending again with a retry queued
    # (sent if the endpoint is turned back on before then).
    assert (sent, statuses(deliveries)) == (1, ["pending", "failed", "failed"]) or (
        statuses(deliveries) == ["failed"] * 3
    ), (sent, statuses(deliveries), len(callbacks))


# --- Lock order: deliveries then endpoint, against endpoint then deliveries -------


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_turning_an_endpoint_off_while_a_failing_batch_records_does_not_deadlock(monkeypatch):
    """_attempts_record updates the batch's delivery rows, then locks the endpoint;
    webhook_endpoint_update (and _endpoint_disable from a concurrent batch that got
    a 410 or hit 3 days) locks the endpoint, then updates its pending deliveries."""
    errors = []
    deliveries_written = threading.Event()
    endpoint_locked = threading.Event()
    with Receiver(statuses=[500] * 3) as receiver:
        endpoint, _ = webhooks.webhook_endpoint_create(employer=make_employer(), url=receiver.url)
        queued(endpoint, 3)
        record_failures = webhooks._endpoint_failures_record
        fail_pending = webhooks._pending_deliveries_fail

        def slow_record_failures(*args, **kwargs):
            deliveries_written.set()
            endpoint_locked.wait(5)
            time.sleep(0.3)
            return record_failures(*args, **kwargs)

        def signalling_fail_pending(*args, **kwargs):
            endpoint_locked.set()
            return fail_pending(*args, **kwargs)

        monkeypatch.setattr(webhooks, "_endpoint_failures_record", slow_record_failures)
        monkeypatch.setattr(webhooks, "_pending_deliveries_fail", signalling_fail_pending)

        def run(work):
            try:
                work()
            except Exception as error:
                errors.append(error)
            finally:
                connection.close()

        def turn_off():
            deliveries_written.wait(5)
            webhooks.webhook_endpoint_update(
                endpoint=WebhookEndpoint.objects.get(pk=endpoint.pk), active=False
            )

        threads = [
            threading.Thread(
                target=run,
                args=(lambda: webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk),),
            ),
            threading.Thread(target=run, args=(turn_off,)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    assert errors == []
    assert DeliveryAttempt.objects.count() == 3


# --- HTTPS still verifies the certificate against the host name -------------------


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch):
    """An HTTPS receiver on 127.0.0.1 whose certificate names hooks.test, signed by
    a CA the client is told to trust."""

    def sh(*args):
        subprocess.run(args, check=True, capture_output=True, cwd=tmp_path)

    sh(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=review CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=keyCertSign",
    )
    sh(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=hooks.test",
    )
    (tmp_path / "ext").write_text("subjectAltName=DNS:hooks.test\n")
    sh(
        "openssl",
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "ext",
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    receiver = Receiver()
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    with receiver:
        yield receiver


@pytest.mark.parametrize("name, delivered", [("hooks.test", True), ("other.test", False)])
def test_https_verifies_the_certificate_against_the_name(
    tls_receiver, monkeypatch, name, delivered
):
    port = tls_receiver.server.server_address[1]
    endpoint, _ = webhooks.webhook_endpoint_create(
        employer=make_employer(), url=f"https://{name}:{port}/hooks"
    )
    [delivery] = queued(endpoint, 1)
    monkeypatch.setattr(webhooks, "_address_check", lambda url: ("", ["127.0.0.1"]))
    webhooks.webhook_deliveries_send(endpoint_id=endpoint.pk)
    delivery.refresh_from_db()
    assert (delivery.status == "delivered") is delivered, delivery.last_error
    if delivered:
        [request] = tls_receiver.received
        assert request.headers["host"] == f"{name}:{port}"
    else:
        assert "CERTIFICATE_VERIFY_FAILED" in delivery.last_error
