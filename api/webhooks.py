"""Outgoing webhooks: Standard Webhooks signatures, endpoints, the fan-out from
the audit chain, and delivery with retries.

Signatures (https://www.standardwebhooks.com, spec 1.0.0). Every delivery
carries three headers:

- ``webhook-id``: the message id, the same on every retry (an idempotency key);
- ``webhook-timestamp``: the attempt's time, integer seconds since the epoch;
- ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of
  ``{webhook-id}.{webhook-timestamp}.{body}`` keyed with the endpoint's secret.
  The header is a space-separated list so a secret can be rotated without
  downtime; receivers accept the request if any ``v1`` signature matches.

Secrets are shown as ``whsec_`` and base64 of 32 random bytes; the HMAC key is
the decoded bytes. ``signature_verify`` is what a receiver runs (docs/api.md
shows the same in a dozen lines of plain Python for integrators).

Flow: ``audit_record_many`` calls ``audit_events_recorded`` for every append;
for the few actions that are webhook events it queues ``webhook_fan_out`` after
commit, which creates one ``WebhookDelivery`` per active, subscribed endpoint
of each employer watching the member. They are sent in batches: each
``webhook_deliver`` task claims up to ``BATCH_SIZE`` of one endpoint's due
deliveries and sends them oldest first over one kept-alive connection. A
failed attempt is retried with exponential backoff for ``WEBHOOK_RETRY_DAYS``
without holding up the rest; an endpoint whose every attempt fails for that
long (or that answers 410) is turned off and its employer emailed.
"""

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import itertools
import json
import logging
import random
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.template.loader import render_to_string
from django.utils import timezone

from api.models import (
    PING_EVENT_TYPE,
    DeliveryAttempt,
    EmployerClient,
    EmployerUser,
    WatchEntry,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)
from audit.models import Action, AuditEvent
from audit.services import audit_record
from members.models import GOOD_STANDING, Status

SECRET_PREFIX = "whsec_"  # noqa: S105 (a format marker, not a secret)
SIGNATURE_VERSION = "v1"
SECRET_BYTES = 32
# How far a receiver lets the timestamp drift before it calls the message a replay.
DEFAULT_TOLERANCE_SECONDS = 5 * 60


class SignatureError(Exception):
    """The message is not signed with the secret, or its timestamp is out of bounds."""


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        raise ValueError("A webhook secret is 'whsec_' followed by base64.") from error


def signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one message at one timestamp."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signed_headers(*, secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict:
    """The three Standard Webhooks headers for sending ``body`` now."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(
            secret=secret, msg_id=msg_id, timestamp=timestamp, body=body
        ),
    }


def signature_verify(
    *,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raise ``SignatureError`` unless ``body`` was signed with ``secret`` recently.

    ``headers`` may use any case (a dict of lower-case names, or a
    case-insensitive mapping such as ``request.headers``).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    given = lowered.get("webhook-signature", "")
    if not (msg_id and stamp and given):
        raise SignatureError("Missing webhook-id, webhook-timestamp or webhook-signature.")
    try:
        timestamp = int(stamp)
    except ValueError as error:
        raise SignatureError("webhook-timestamp is not a whole number of seconds.") from error
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError("webhook-timestamp is too far from the current time.")
    expected = signature(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body)
    for candidate in given.split():
        if candidate.startswith(f"{SIGNATURE_VERSION},") and hmac.compare_digest(
            candidate.encode(), expected.encode()
        ):
            return
    raise SignatureError("No signature matches.")


logger = logging.getLogger(__name__)

# --- Endpoints ----------------------------------------------------------------

# Audit actions that become webhook events, and the event type each is sent as.
EVENT_TYPE_FOR_ACTION: dict[str, str] = {
    Action.MEMBER_STATUS_CHANGED: WebhookEventType.MEMBER_STATUS_CHANGED,
    Action.CERTIFICATE_ISSUED: WebhookEventType.ACCREDITATION_ISSUED,
    Action.CERTIFICATE_SUSPENDED: WebhookEventType.ACCREDITATION_SUSPENDED,
    Action.CERTIFICATE_REVOKED: WebhookEventType.ACCREDITATION_REVOKED,
    Action.CERTIFICATE_EXPIRED: WebhookEventType.ACCREDITATION_EXPIRED,
}
CERTIFICATE_SUBJECT_TYPE = "certificate"
ENDPOINT_SUBJECT_TYPE = "api.webhookendpoint"
RESPONSE_EXCERPT_CHARS = 1000
USER_AGENT = "hsm-register-webhooks/1"


class WebhookError(Exception):
    """A change to an endpoint that cannot be made; the message says why and
    ``field`` names the input at fault."""

    def __init__(self, message: str, *, field: str = "url"):
        super().__init__(message)
        self.field = field


def url_refusal(url: str) -> str:
    """Why webhooks may not be sent to ``url`` as written, or "" if they may.

    Outside production (``WEBHOOK_ALLOW_PRIVATE_ADDRESSES``) http:// and local
    addresses are fine, so a receiver on localhost can be tried."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "Enter a web address starting with https://."
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return ""
    if parts.scheme != "https":
        return "Enter a web address starting with https:// (plain http is not allowed)."
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return "" if parts.hostname != "localhost" else "Enter a public internet address."
    return "" if address.is_global else "Enter a public internet address."


def _address_check(url: str) -> tuple[str, list[str]]:
    """At send time: why ``url`` may not be sent to ("" if it may), and the checked
    addresses to connect to (none outside production, where the name is looked up as usual).

    Resolved again for every batch, and the connection goes to the addresses checked,
    so a name pointed at an internal address after registration is still refused."""
    if refusal := url_refusal(url):
        return refusal, []
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return "", []
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError):
        return "The host name could not be found.", []
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not all(ipaddress.ip_address(address).is_global for address in addresses):
        return "The host name points at a private or local address.", []
    return "", addresses


def _clean_events(events: Iterable[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(events or []))
    unknown = [event for event in chosen if event not in WebhookEventType.values]
    if unknown:
        raise WebhookError(f"Unknown event type: {', '.join(unknown)}.", field="events")
    if not chosen:
        raise WebhookError("Choose at least one event to receive.", field="events")
    return chosen


def webhook_endpoints_for(*, employer: EmployerClient) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(employer=employer).order_by("created_at", "id")


def webhook_endpoint_get(*, employer: EmployerClient, public_id) -> WebhookEndpoint:
    """One of the employer's endpoints; ``WebhookEndpoint.DoesNotExist`` for anyone else's."""
    return webhook_endpoints_for(employer=employer).get(public_id=public_id)


def _endpoint_audit(endpoint: WebhookEndpoint, action: Action, actor, **extra) -> None:
    audit_record(
        action=action,
        subject_type=ENDPOINT_SUBJECT_TYPE,
        subject_id=str(endpoint.public_id),
        actor=actor,
        after={
            "employer": endpoint.employer.name,
            "url": endpoint.url,
            "events": endpoint.events,
            "active": endpoint.active,
            **extra,
        },
        reason=extra.get("reason", ""),
    )


@transaction.atomic
def webhook_endpoint_create(
    *,
    employer: EmployerClient,
    url: str,
    events: Iterable[str] | None = None,
    description: str = "",
    actor=None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (the only time it is given)."""
    if refusal := url_refusal(url):
        raise WebhookError(refusal)
    endpoint = WebhookEndpoint.objects.create(
        employer=employer,
        url=url,
        description=description.strip(),
        events=_clean_events(WebhookEventType.values if events is None else events),
        secret=secret_generate(),
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    _endpoint_audit(endpoint, Action.WEBHOOK_ENDPOINT_CREATED, actor)
    return endpoint, endpoint.secret


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    actor=None,
    url: str | None = None,
    events: Iterable[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
) -> WebhookEndpoint:
    """Change an endpoint. Turning it back on clears its run of failures."""
    endpoint = (
        WebhookEndpoint.objects.select_for_update().select_related("employer").get(pk=endpoint.pk)
    )
    if url is not None:
        if refusal := url_refusal(url):
            raise WebhookError(refusal)
        endpoint.url = url
    if events is not None:
        endpoint.events = _clean_events(events)
    if description is not None:
        endpoint.description = description.strip()
    if active is not None and active != endpoint.active:
        endpoint.active = active
        if active:
            endpoint.disabled_at = None
            endpoint.disabled_reason = ""
            endpoint.failure_count = 0
            endpoint.failing_since = None
        else:
            endpoint.disabled_at = timezone.now()
            endpoint.disabled_reason = "Turned off by the employer."
    endpoint.save()
    _endpoint_audit(endpoint, Action.WEBHOOK_ENDPOINT_UPDATED, actor)
    if active is False:
        _pending_deliveries_fail(endpoint, "The endpoint was turned off.")
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor=None) -> None:
    """Remove an endpoint with its delivery log; the audit trail keeps that it existed."""
    endpoint = WebhookEndpoint.objects.select_related("employer").get(pk=endpoint.pk)
    _endpoint_audit(endpoint, Action.WEBHOOK_ENDPOINT_DELETED, actor)
    endpoint.delete()


def _pending_deliveries_fail(endpoint: WebhookEndpoint, why: str) -> None:
    endpoint.deliveries.filter(status=WebhookDelivery.Status.PENDING).update(
        status=WebhookDelivery.Status.FAILED, next_attempt_at=None, last_error=why
    )


def _endpoint_disable(endpoint: WebhookEndpoint, *, reason: str) -> None:
    """Turn off a locked endpoint that keeps failing and tell the employer's users by email."""
    from members.tasks import send_email

    endpoint.active = False
    endpoint.disabled_at = timezone.now()
    endpoint.disabled_reason = reason
    endpoint.save(update_fields=["active", "disabled_at", "disabled_reason"])
    logger.warning("Webhook endpoint %s disabled: %s", endpoint.public_id, reason)
    _endpoint_audit(endpoint, Action.WEBHOOK_ENDPOINT_DISABLED, None, reason=reason)
    _pending_deliveries_fail(endpoint, "The endpoint was disabled.")
    # The account's contact and everyone who uses the employer's portal.
    recipients = sorted(
        {endpoint.employer.contact_email}
        | set(
            EmployerUser.objects.filter(
                employer_id=endpoint.employer_id, user__is_active=True
            ).values_list("user__email", flat=True)
        )
        - {""}
    )
    if not recipients:
        return
    context = {
        "endpoint": endpoint,
        "reason": reason,
        "site_name": settings.SITE_NAME,
        "portal_url": f"{settings.SITE_URL}/employer/webhooks/{endpoint.public_id}/",
    }
    subject = " ".join(
        render_to_string("employer/email/endpoint_disabled_subject.txt", context).split()
    )
    body = render_to_string("employer/email/endpoint_disabled_message.txt", context)
    transaction.on_commit(
        lambda: send_email.enqueue(
            subject=f"[{settings.SITE_NAME}] {subject}", body=body.strip() + "\n", to=recipients
        )
    )


# --- Fan-out: audit events to deliveries --------------------------------------


def audit_events_recorded(events: list) -> None:
    """Called by ``audit_record_many`` for every append to the audit chain.

    Costs nothing for the many events no webhook is about (a set lookup per
    event); for the rest, one fan-out task is queued after the transaction
    commits, so a change that rolls back is never announced."""
    ids = [event.pk for event in events if event.action in EVENT_TYPE_FOR_ACTION]
    if ids:
        from api.tasks import webhook_fan_out

        transaction.on_commit(lambda: webhook_fan_out.enqueue(event_ids=ids))


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


STATUS_LABELS = dict(Status.choices)


def _event_data(event: AuditEvent, entry: WatchEntry, level_names: dict[int, str]) -> dict:
    member = {"membership_number": entry.membership_number, "family_name": entry.family_name}
    if event.action == Action.MEMBER_STATUS_CHANGED:
        to_status, from_status = event.after["status"], event.before.get("status")

        def described(code):
            return {"code": code, "label": STATUS_LABELS[code]} if code in STATUS_LABELS else None

        return {
            "member": member,
            "status": described(to_status),
            "previous_status": described(from_status),
            "effective_date": event.after.get("effective_date"),
            "in_good_standing": to_status in GOOD_STANDING,
        }
    after = event.after
    return {
        "member": member,
        "certificate": {
            "public_id": after.get("public_id"),
            "serial": after.get("serial"),
            "level": level_names.get(after.get("level"), ""),
            "status": after.get("status"),
            "valid_from": after.get("valid_from"),
            "valid_until": after.get("valid_until"),
        },
    }


# Deliveries the fan-out writes per INSERT before queueing their sending tasks.
FAN_OUT_CHUNK = 1000


def webhook_deliveries_create(*, event_ids: list[int]) -> dict[int, int]:
    """Turn audit events into deliveries for every active endpoint watching the member,
    and queue one sending task per endpoint per ``BATCH_SIZE`` of them after commit.

    A few queries: the events, the watch entries for the members they concern,
    and (only if anyone watches) the endpoints, then per ``FAN_OUT_CHUNK``
    deliveries one INSERT and a count of what it added. Outside a transaction
    (on the task worker) each chunk's sending tasks are queued as soon as it is
    written, so other workers start sending while the rest are built. Running
    twice for the same events creates nothing new. Returns how many deliveries
    each endpoint (by pk) was given."""
    events = list(
        AuditEvent.objects.filter(pk__in=event_ids, action__in=list(EVENT_TYPE_FOR_ACTION))
    )
    public_ids, member_pks = set(), set()
    for event in events:
        if event.action == Action.MEMBER_STATUS_CHANGED:
            # A resignation booked for the period's end is recorded without a new status.
            if "status" in event.after:
                public_ids.add(event.subject_id)
        elif isinstance(event.after.get("member"), int):
            member_pks.add(event.after["member"])
    if not (public_ids or member_pks):
        return {}
    entries = list(
        WatchEntry.objects.filter(Q(member__public_id__in=public_ids) | Q(member_id__in=member_pks))
        .select_related("member")
        .only("employer", "member", "membership_number", "family_name", "member__public_id")
    )
    if not entries:
        return {}
    level_ids = {e.after.get("level") for e in events if e.action != Action.MEMBER_STATUS_CHANGED}
    level_names = {}
    if level_ids - {None}:
        from accreditation.models import Level

        level_names = dict(
            Level.objects.filter(pk__in=level_ids - {None}).values_list("pk", "name")
        )
    endpoints_by_employer: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(
        employer_id__in={entry.employer_id for entry in entries}, active=True
    ):
        endpoints_by_employer.setdefault(endpoint.employer_id, []).append(endpoint)
    # Each event's watchers by lookup, not by scanning every entry: a daily job's
    # one append can carry 10,000 events for 10,000 watched members.
    entries_by_public_id: dict[str, list[WatchEntry]] = {}
    entries_by_member: dict[int, list[WatchEntry]] = {}
    for entry in entries:
        entries_by_public_id.setdefault(str(entry.member.public_id), []).append(entry)
        entries_by_member.setdefault(entry.member_id, []).append(entry)
    deliveries = (
        WebhookDelivery(
            endpoint=endpoint,
            audit_event=event,
            event_id=_message_id(),
            event_type=EVENT_TYPE_FOR_ACTION[event.action],
            payload={
                "type": EVENT_TYPE_FOR_ACTION[event.action],
                "timestamp": _iso(event.occurred_at),
                "data": _event_data(event, entry, level_names),
            },
            next_attempt_at=timezone.now(),
        )
        for event in events
        for entry in _watchers(event, entries_by_public_id, entries_by_member)
        for endpoint in endpoints_by_employer.get(entry.employer_id, [])
        if EVENT_TYPE_FOR_ACTION[event.action] in endpoint.events
    )
    created: dict[int, int] = {}
    for chunk in itertools.batched(deliveries, FAN_OUT_CHUNK):
        WebhookDelivery.objects.bulk_create(chunk, ignore_conflicts=True)
        added = (
            WebhookDelivery.objects.filter(event_id__in=[d.event_id for d in chunk])
            .order_by()
            .values_list("endpoint_id")
            .annotate(Count("pk"))
        )
        for endpoint_id, count in added:
            created[endpoint_id] = created.get(endpoint_id, 0) + count
            _deliver_after_commit(endpoint_id, tasks=-(-count // BATCH_SIZE))
    return created


def _watchers(
    event: AuditEvent,
    entries_by_public_id: dict[str, list[WatchEntry]],
    entries_by_member: dict[int, list[WatchEntry]],
) -> list[WatchEntry]:
    """The watch entries an event concerns (a status change names the member by
    public id, a certificate event by pk)."""
    if event.action == Action.MEMBER_STATUS_CHANGED:
        return entries_by_public_id.get(event.subject_id, [])
    member_pk = event.after.get("member")
    return entries_by_member.get(member_pk, []) if isinstance(member_pk, int) else []


def _message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


@transaction.atomic
def webhook_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a test message to the endpoint (sent even while it is turned off; never retried)."""
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=_message_id(),
        event_type=PING_EVENT_TYPE,
        payload={
            "type": PING_EVENT_TYPE,
            "timestamp": _iso(timezone.now()),
            "data": {"message": "A test message from the register. No action is needed."},
        },
        next_attempt_at=timezone.now(),
    )
    _deliver_after_commit(endpoint.pk)
    return delivery


def _deliver_after_commit(
    endpoint_id: int, *, tasks: int = 1, run_after: dt.datetime | None = None
) -> None:
    """Queue ``tasks`` sending tasks for the endpoint once the transaction commits."""
    from api.tasks import webhook_deliver

    def enqueue():
        task = webhook_deliver
        if run_after is not None:
            if not task.get_backend().supports_defer:
                return  # the webhooks_retry command picks them up when they are due
            task = task.using(run_after=run_after)
        for _ in range(tasks):
            task.enqueue(endpoint_id=endpoint_id)

    transaction.on_commit(enqueue)


# --- Delivery -------------------------------------------------------------------

# Deliveries one task sends, oldest first, over one connection to their endpoint.
BATCH_SIZE = 100
# A batch starts no new message after this long (a slow receiver): the rest are
# handed back as due and another task is queued for them.
BATCH_SECONDS = 30


@dataclass
class SendOutcome:
    code: int | None
    body: str
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


def delivery_body(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent and signed: compact JSON of the stored payload."""
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()


class _Connection:
    """One kept-alive HTTP connection to an endpoint, reopened when the receiver closes it.

    Redirects are never followed (http.client does not): a redirect is a failed
    attempt (Standard Webhooks), and the employer should fix the URL."""

    def __init__(self, url: str):
        self.http: http.client.HTTPConnection | None = None
        self.timed_out = False
        self.refusal, addresses = _address_check(url)
        if self.refusal:
            return
        parts = urlsplit(url)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        try:
            self.http = connection_class(
                parts.hostname, parts.port, timeout=settings.WEBHOOK_TIMEOUT_SECONDS
            )
        except ValueError as error:  # a port out of range
            self.refusal = str(error)
            return
        if addresses:
            # Connect to the addresses just checked, not to a fresh lookup of the
            # name; TLS still checks the certificate against the name.
            self.http._create_connection = partial(_connect_to_first, addresses)

    def post(self, *, secret: str, msg_id: str, body: bytes) -> SendOutcome:
        started = time.monotonic()

        def outcome(code, text, error):
            elapsed = int((time.monotonic() - started) * 1000)
            # PostgreSQL refuses NUL in text: one in an answer must not lose the record.
            text, error = text.replace("\x00", ""), error.replace("\x00", "")
            return SendOutcome(code, text[:RESPONSE_EXCERPT_CHARS], error[:300], elapsed)

        if self.http is None:
            return outcome(None, "", f"Not sent: {self.refusal}")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signed_headers(secret=secret, msg_id=msg_id, body=body),
        }
        reused = self.http.sock is not None
        try:
            response, text = self._exchange(headers, body)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
            # A kept-alive connection the receiver had closed (an idle limit, a
            # proxy) fails before any answer: send again on a fresh one, once.
            self.http.close()
            if not reused or self.timed_out:
                return self._failure(outcome, error)
            try:
                response, text = self._exchange(headers, body)
            except (OSError, ValueError, http.client.HTTPException) as error:
                self.http.close()
                return self._failure(outcome, error)
        except (OSError, ValueError, http.client.HTTPException) as error:
            self.http.close()  # the next message starts on a fresh connection
            return self._failure(outcome, error)
        if not response.isclosed():  # a long answer: cheaper to reconnect than to read it all
            self.http.close()
        return outcome(response.status, text, "")

    def _exchange(self, headers: dict, body: bytes):
        """One request and its answer, within the timeout in all: the socket's own
        timeout is per read, so a receiver trickling its answer a byte at a time
        would otherwise hold the worker past the claim on its deliveries."""
        self.timed_out = False
        watchdog = threading.Timer(settings.WEBHOOK_TIMEOUT_SECONDS, self._cut)
        watchdog.start()
        try:
            self.http.request("POST", self.path, body=body, headers=headers)
            response = self.http.getresponse()
            text = response.read(RESPONSE_EXCERPT_CHARS * 4).decode("utf-8", "replace")
        finally:
            watchdog.cancel()
        if self.timed_out:
            raise TimeoutError("cut off")
        return response, text

    def _cut(self) -> None:
        self.timed_out = True
        sock = self.http.sock if self.http is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _failure(self, outcome, error) -> SendOutcome:
        if self.timed_out:
            seconds = settings.WEBHOOK_TIMEOUT_SECONDS
            return outcome(None, "", f"No answer within {seconds} seconds.")
        return outcome(None, "", f"Could not connect: {error}")

    def close(self) -> None:
        if self.http is not None:
            self.http.close()


def _connect_to_first(addresses: list[str], address, timeout, source_address=None):
    """``socket.create_connection`` to the first of ``addresses`` that answers."""
    error = None
    for host in addresses:
        try:
            return socket.create_connection((host, address[1]), timeout, source_address)
        except OSError as failed:
            error = failed
    raise error


# First retry after a minute, then four times longer each time up to 12 hours
# apart (1m, 4m, 16m, 64m, 4h16m, 12h...), each with up to 10% jitter so
# failures caused by our own load spread out; the last try is at the deadline.
FIRST_RETRY_SECONDS = 60
BACKOFF_FACTOR = 4
MAX_RETRY_SECONDS = 12 * 60 * 60


def retry_delay(attempts: int) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failed attempt (before jitter)."""
    seconds = min(FIRST_RETRY_SECONDS * BACKOFF_FACTOR ** (attempts - 1), MAX_RETRY_SECONDS)
    return dt.timedelta(seconds=seconds)


def _next_attempt_at(
    delivery: WebhookDelivery, now: dt.datetime, *, jitter: float
) -> dt.datetime | None:
    """When to try again after a failed attempt (``jitter`` is a fraction, at most 0.1)."""
    deadline = delivery.created_at + dt.timedelta(days=settings.WEBHOOK_RETRY_DAYS)
    if now >= deadline:
        return None
    delay = retry_delay(delivery.attempts)
    return min(now + delay * (1 + jitter), deadline)


def _deliveries_claim(*, endpoint_id: int, now: dt.datetime, limit: int) -> list[WebhookDelivery]:
    """Take up to ``limit`` of the endpoint's due deliveries, oldest first, in one statement.

    Their next attempt moves past the longest a batch can take, so no other
    worker takes them meanwhile; on PostgreSQL rows another worker is claiming
    are skipped rather than waited for. Only the fields sending needs are read."""
    lease = now + dt.timedelta(seconds=BATCH_SECONDS + settings.WEBHOOK_TIMEOUT_SECONDS + 60)
    ops = connection.ops
    table = ops.quote_name(WebhookDelivery._meta.db_table)
    skip_locked = (
        " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    claimed = WebhookDelivery.objects.raw(
        f"UPDATE {table} SET next_attempt_at = %s WHERE id IN ("  # noqa: S608
        f"SELECT id FROM {table} WHERE endpoint_id = %s AND status = %s "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= %s) "
        f"ORDER BY id LIMIT %s{skip_locked}) "
        "RETURNING id, endpoint_id, event_id, event_type, payload, attempts, created_at",
        [
            ops.adapt_datetimefield_value(lease),
            endpoint_id,
            WebhookDelivery.Status.PENDING,
            ops.adapt_datetimefield_value(now),
            limit,
        ],
    )
    return sorted(claimed, key=lambda delivery: delivery.pk)


def webhook_deliveries_send(*, endpoint_id: int) -> list[WebhookDelivery]:
    """Send up to ``BATCH_SIZE`` of the endpoint's due deliveries, oldest first, over
    one connection, and record every attempt.

    Claims them first, so two workers never send the same delivery at once and a
    repeated run finds nothing to do. The requests run outside any transaction;
    what they return is written afterwards in a few statements whatever the
    batch's size. A failed attempt is retried with backoff without holding up the
    rest; an answer of 410 stops the batch and turns the endpoint off. Returns the
    deliveries attempted."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        return []
    claimed = _deliveries_claim(endpoint_id=endpoint.pk, now=timezone.now(), limit=BATCH_SIZE)
    if not endpoint.active:
        # Turning an endpoint off fails what it has pending; this catches any that
        # raced with that. Only a test ping is sent to an endpoint that is off.
        endpoint.deliveries.filter(status=WebhookDelivery.Status.PENDING).exclude(
            event_type=PING_EVENT_TYPE
        ).update(
            status=WebhookDelivery.Status.FAILED,
            next_attempt_at=None,
            last_error="The endpoint is turned off.",
        )
        claimed = [d for d in claimed if d.event_type == PING_EVENT_TYPE]
    if not claimed:
        return []
    attempts = []
    stop_at = time.monotonic() + BATCH_SECONDS
    receiver = _Connection(endpoint.url)
    try:
        for delivery in claimed:
            attempted_at = timezone.now()
            outcome = receiver.post(
                secret=endpoint.secret, msg_id=delivery.event_id, body=delivery_body(delivery)
            )
            attempts.append(_Attempt(delivery, attempted_at, outcome))
            if outcome.code == 410 and not attempts[-1].is_ping:
                break  # the endpoint no longer wants messages
            if time.monotonic() > stop_at:
                break
    finally:
        receiver.close()
    _attempts_record(endpoint, attempts, unsent=claimed[len(attempts) :])
    return [attempt.delivery for attempt in attempts]


@dataclass
class _Attempt:
    delivery: WebhookDelivery
    attempted_at: dt.datetime
    outcome: SendOutcome

    @property
    def is_ping(self) -> bool:
        return self.delivery.event_type == PING_EVENT_TYPE


@transaction.atomic
def _attempts_record(
    endpoint: WebhookEndpoint, attempts: list[_Attempt], *, unsent: list[WebhookDelivery]
) -> None:
    """Log a batch's attempts, update their deliveries and the endpoint's run of
    failures, and queue what comes next: the batch's retries (one task per retry
    time: the batch shares one jitter draw) and, if it stopped early, the rest.

    Two statements for the log and the deliveries whatever the batch's size and
    whatever the receiver answered: each delivery copies its answer from the
    attempt just logged, and its new state is one of a few values."""
    now = timezone.now()
    if _endpoint_failures_change(endpoint, attempts):
        # Endpoint first, then its deliveries: the order turning it off takes them
        # in, so the two cannot deadlock.
        locked = (
            WebhookEndpoint.objects.select_for_update()
            .select_related("employer")
            .get(pk=endpoint.pk)
        )
    else:
        locked = None
    jitter = random.uniform(0, 0.1)  # noqa: S311 (spreading load, not security)
    by_status: dict[str, list[int]] = {}
    by_retry_time: dict[dt.datetime, list[int]] = {}
    for attempt in attempts:
        delivery, outcome = attempt.delivery, attempt.outcome
        delivery.attempts += 1
        delivery.last_response_code = outcome.code
        delivery.last_response_body = outcome.body
        delivery.last_error = outcome.error
        delivery.delivered_at = attempt.attempted_at if outcome.succeeded else None
        delivery.next_attempt_at = (
            None
            if outcome.succeeded or attempt.is_ping
            else _next_attempt_at(delivery, now, jitter=jitter)
        )
        if outcome.succeeded:
            delivery.status = WebhookDelivery.Status.DELIVERED
        elif delivery.next_attempt_at:
            delivery.status = WebhookDelivery.Status.PENDING
            by_retry_time.setdefault(delivery.next_attempt_at, []).append(delivery.pk)
        else:
            delivery.status = WebhookDelivery.Status.FAILED
        by_status.setdefault(delivery.status, []).append(delivery.pk)
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(
            delivery=attempt.delivery,
            attempted_at=attempt.attempted_at,
            response_code=attempt.outcome.code,
            response_body=attempt.outcome.body,
            error=attempt.outcome.error,
            duration_ms=attempt.outcome.duration_ms,
            succeeded=attempt.outcome.succeeded,
        )
        for attempt in attempts
    )
    logged = DeliveryAttempt.objects.filter(delivery=OuterRef("pk")).order_by("-pk")[:1]
    delivered = by_status.get(WebhookDelivery.Status.DELIVERED, [])
    # A delivery failed meanwhile (the endpoint turned off) stays failed unless it arrived.
    WebhookDelivery.objects.filter(
        Q(status=WebhookDelivery.Status.PENDING) | Q(pk__in=delivered),
        pk__in=[a.delivery.pk for a in attempts],
    ).update(
        attempts=F("attempts") + 1,
        status=Case(*[When(pk__in=pks, then=Value(status)) for status, pks in by_status.items()]),
        next_attempt_at=Case(
            *[When(pk__in=pks, then=Value(at)) for at, pks in by_retry_time.items()],
            default=None,
            output_field=DateTimeField(),
        ),
        delivered_at=Case(
            When(
                pk__in=by_status.get(WebhookDelivery.Status.DELIVERED, []),
                then=Subquery(logged.values("attempted_at")),
            ),
            default=None,
        ),
        last_response_code=Subquery(logged.values("response_code")),
        last_response_body=Subquery(logged.values("response_body")),
        last_error=Subquery(logged.values("error")),
    )
    if unsent:
        WebhookDelivery.objects.filter(
            pk__in=[d.pk for d in unsent], status=WebhookDelivery.Status.PENDING
        ).update(next_attempt_at=now)
    if locked is not None and _endpoint_failures_record(locked, attempts, now=now):
        return  # turned off: its pending deliveries have failed
    for retry_at in sorted(by_retry_time):
        _deliver_after_commit(endpoint.pk, run_after=retry_at)
    if unsent:
        _deliver_after_commit(endpoint.pk)


def _endpoint_failures_change(endpoint: WebhookEndpoint, attempts: list[_Attempt]) -> bool:
    """Whether the batch changes the endpoint's run of failures (so its row must be
    locked and written): a healthy endpoint receiving a good batch is not touched."""
    counted = [a for a in attempts if a.outcome.succeeded or not a.is_ping]
    if not counted:
        return False
    return not (
        all(a.outcome.succeeded for a in counted)
        and not (endpoint.failure_count or endpoint.failing_since)
    )


def _endpoint_failures_record(
    endpoint: WebhookEndpoint, attempts: list[_Attempt], *, now: dt.datetime
) -> bool:
    """Carry the locked endpoint's run of consecutive failures through the batch's
    attempts, in order (a test ping's failure does not count, its success does), and
    turn the endpoint off after a 410 or when it has failed for
    ``WEBHOOK_RETRY_DAYS``. Returns True if it was turned off."""
    counted = [a for a in attempts if a.outcome.succeeded or not a.is_ping]
    failure_count, failing_since, gone = endpoint.failure_count, endpoint.failing_since, False
    for attempt in counted:
        if attempt.outcome.succeeded:
            failure_count, failing_since = 0, None
        else:
            failure_count += 1
            failing_since = failing_since or attempt.attempted_at
            gone = gone or attempt.outcome.code == 410
    if (failure_count, failing_since) != (endpoint.failure_count, endpoint.failing_since):
        endpoint.failure_count, endpoint.failing_since = failure_count, failing_since
        endpoint.save(update_fields=["failure_count", "failing_since"])
    if not endpoint.active:
        return False
    if gone:
        reason = "The endpoint answered 410 Gone: it no longer wants messages."
    elif failing_since and failing_since <= now - dt.timedelta(days=settings.WEBHOOK_RETRY_DAYS):
        reason = f"Every delivery has failed for {settings.WEBHOOK_RETRY_DAYS} days."
    else:
        return False
    _endpoint_disable(endpoint, reason=reason)
    return True


def webhook_endpoints_due(*, now: dt.datetime | None = None) -> list[int]:
    """The endpoints (by pk) with deliveries whose next attempt is due (for the retry command)."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now or timezone.now())
    return list(
        WebhookDelivery.objects.filter(due, status=WebhookDelivery.Status.PENDING)
        .order_by("endpoint_id")
        .values_list("endpoint_id", flat=True)
        .distinct()
    )


def webhook_deliveries_send_due() -> int:
    """Send every delivery whose next attempt is due, endpoint by endpoint, a batch at a
    time; returns how many were attempted. What fails now is scheduled later, so
    this ends."""
    attempted = 0
    for endpoint_id in webhook_endpoints_due():
        try:
            while batch := webhook_deliveries_send(endpoint_id=endpoint_id):
                attempted += len(batch)
        except Exception:
            # One endpoint's trouble must not keep the others' messages back.
            logger.exception("Sending webhook endpoint %s's due deliveries failed", endpoint_id)
    return attempted


def webhook_deliveries_for(*, employer: EmployerClient) -> QuerySet[WebhookDelivery]:
    """Every delivery to the employer's endpoints, newest first."""
    return WebhookDelivery.objects.filter(endpoint__employer=employer).select_related("endpoint")
