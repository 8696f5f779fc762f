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
of each employer watching the member, each sent by ``webhook_deliver``. A
failed attempt is retried with exponential backoff for ``WEBHOOK_RETRY_DAYS``;
an endpoint whose every attempt fails for that long (or that answers 410) is
turned off and its employer emailed.
"""

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
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


def _address_refusal(url: str) -> str:
    """At send time: refuse hosts that resolve to private or local addresses.

    Resolved again for every attempt, so a name pointed at an internal
    address after registration is still refused."""
    if refusal := url_refusal(url):
        return refusal
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return ""
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError:
        return "The host name could not be found."
    for info in infos:
        if not ipaddress.ip_address(info[4][0]).is_global:
            return "The host name points at a private or local address."
    return ""


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


def _event_data(event: AuditEvent, entry: WatchEntry, level_names: dict[int, str]) -> dict:
    member = {"membership_number": entry.membership_number, "family_name": entry.family_name}
    if event.action == Action.MEMBER_STATUS_CHANGED:
        to_status, from_status = event.after["status"], event.before.get("status")

        def described(code):
            return {"code": code, "label": Status(code).label} if code in Status.values else None

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


def webhook_deliveries_create(*, event_ids: list[int]) -> list[int]:
    """Turn audit events into deliveries for every active endpoint watching the member.

    A few queries whatever the numbers: the events, the watch entries for the
    members they concern, and (only if anyone watches) the endpoints and one
    INSERT. Running twice for the same events creates nothing new."""
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
        return []
    entries = list(
        WatchEntry.objects.filter(
            Q(member__public_id__in=public_ids) | Q(member_id__in=member_pks)
        ).select_related("member")
    )
    if not entries:
        return []
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
    deliveries = []
    for event in events:
        event_type = EVENT_TYPE_FOR_ACTION[event.action]
        if event.action == Action.MEMBER_STATUS_CHANGED:
            concerned = entries_by_public_id.get(event.subject_id, [])
        else:
            member_pk = event.after.get("member")
            concerned = entries_by_member.get(member_pk, []) if isinstance(member_pk, int) else []
        for entry in concerned:
            for endpoint in endpoints_by_employer.get(entry.employer_id, []):
                if event_type not in endpoint.events:
                    continue
                deliveries.append(
                    WebhookDelivery(
                        endpoint=endpoint,
                        audit_event=event,
                        event_id=_message_id(),
                        event_type=event_type,
                        payload={
                            "type": event_type,
                            "timestamp": _iso(event.occurred_at),
                            "data": _event_data(event, entry, level_names),
                        },
                        next_attempt_at=timezone.now(),
                    )
                )
    if not deliveries:
        return []
    WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    return list(
        WebhookDelivery.objects.filter(event_id__in=[d.event_id for d in deliveries]).values_list(
            "pk", flat=True
        )
    )


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
    _deliver_after_commit([delivery.pk])
    return delivery


def _deliver_after_commit(delivery_ids: list[int], run_after: dt.datetime | None = None) -> None:
    from api.tasks import webhook_deliver

    def enqueue():
        task = webhook_deliver
        if run_after is not None:
            if not task.get_backend().supports_defer:
                return  # the webhooks_retry command picks it up when it is due
            task = task.using(run_after=run_after)
        for pk in delivery_ids:
            task.enqueue(delivery_id=pk)

    transaction.on_commit(enqueue)


# --- Delivery -------------------------------------------------------------------


@dataclass
class SendOutcome:
    code: int | None
    body: str
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failure (Standard Webhooks): the employer should fix the URL."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def delivery_body(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent and signed: compact JSON of the stored payload."""
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()


def _send(*, url: str, secret: str, msg_id: str, body: bytes) -> SendOutcome:
    started = time.monotonic()

    def outcome(code, text, error):
        elapsed = int((time.monotonic() - started) * 1000)
        return SendOutcome(code, text[:RESPONSE_EXCERPT_CHARS], error[:300], elapsed)

    if refusal := _address_refusal(url):
        return outcome(None, "", f"Not sent: {refusal}")
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signed_headers(secret=secret, msg_id=msg_id, body=body),
        },
    )
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            text = response.read(RESPONSE_EXCERPT_CHARS * 4).decode("utf-8", "replace")
            return outcome(response.status, text, "")
    except urllib.error.HTTPError as error:
        text = error.read(RESPONSE_EXCERPT_CHARS * 4).decode("utf-8", "replace")
        return outcome(error.code, text, "")
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return outcome(None, "", f"Could not connect: {reason}")


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


def _next_attempt_at(delivery: WebhookDelivery, now: dt.datetime) -> dt.datetime | None:
    deadline = delivery.created_at + dt.timedelta(days=settings.WEBHOOK_RETRY_DAYS)
    if now >= deadline:
        return None
    delay = retry_delay(delivery.attempts)
    jitter = delay * random.uniform(0, 0.1)  # noqa: S311 (spreading load, not security)
    return min(now + delay + jitter, deadline)


def webhook_delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """Send a pending delivery once, if it is due, and record what happened.

    Claims the delivery first (pushing its next attempt past the timeout), so
    two workers never send it at the same moment; returns None if it was not
    due or is no longer pending. The HTTP request runs outside any transaction."""
    now = timezone.now()
    lease = now + dt.timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 60)
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(next_attempt_at=lease)
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    is_ping = delivery.event_type == PING_EVENT_TYPE
    if not endpoint.active and not is_ping:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.FAILED,
            next_attempt_at=None,
            last_error="The endpoint is turned off.",
        )
        return delivery
    attempted_at = timezone.now()
    outcome = _send(
        url=endpoint.url,
        secret=endpoint.secret,
        msg_id=delivery.event_id,
        body=delivery_body(delivery),
    )
    return _attempt_record(delivery, outcome, attempted_at=attempted_at, is_ping=is_ping)


@transaction.atomic
def _attempt_record(
    delivery: WebhookDelivery, outcome: SendOutcome, *, attempted_at: dt.datetime, is_ping: bool
) -> WebhookDelivery:
    endpoint = (
        WebhookEndpoint.objects.select_for_update()
        .select_related("employer")
        .get(pk=delivery.endpoint_id)
    )
    DeliveryAttempt.objects.create(
        delivery=delivery,
        attempted_at=attempted_at,
        response_code=outcome.code,
        response_body=outcome.body,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
        succeeded=outcome.succeeded,
    )
    delivery.attempts += 1
    delivery.last_response_code = outcome.code
    delivery.last_response_body = outcome.body
    delivery.last_error = outcome.error
    now = timezone.now()
    disable_reason = ""
    if outcome.succeeded:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        if endpoint.failure_count or endpoint.failing_since:
            endpoint.failure_count = 0
            endpoint.failing_since = None
            endpoint.save(update_fields=["failure_count", "failing_since"])
    else:
        next_at = None if is_ping else _next_attempt_at(delivery, now)
        delivery.status = (
            WebhookDelivery.Status.PENDING if next_at else WebhookDelivery.Status.FAILED
        )
        delivery.next_attempt_at = next_at
        if not is_ping:
            endpoint.failure_count = F("failure_count") + 1
            endpoint.failing_since = endpoint.failing_since or attempted_at
            endpoint.save(update_fields=["failure_count", "failing_since"])
            endpoint.refresh_from_db(fields=["failure_count", "failing_since"])
            if outcome.code == 410:
                disable_reason = "The endpoint answered 410 Gone: it no longer wants messages."
            elif endpoint.active and endpoint.failing_since <= now - dt.timedelta(
                days=settings.WEBHOOK_RETRY_DAYS
            ):
                disable_reason = (
                    f"Every delivery has failed for {settings.WEBHOOK_RETRY_DAYS} days."
                )
    delivery.save()
    if disable_reason and endpoint.active:
        _endpoint_disable(endpoint, reason=disable_reason)
        delivery.refresh_from_db()
    elif delivery.status == WebhookDelivery.Status.PENDING:
        _deliver_after_commit([delivery.pk], run_after=delivery.next_attempt_at)
    return delivery


def webhook_deliveries_due(*, now: dt.datetime | None = None) -> list[int]:
    """Pending deliveries whose next attempt is due (for the retry command)."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)
    )


def webhook_deliveries_for(*, employer: EmployerClient) -> QuerySet[WebhookDelivery]:
    """Every delivery to the employer's endpoints, newest first."""
    return WebhookDelivery.objects.filter(endpoint__employer=employer).select_related("endpoint")
