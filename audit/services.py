import json
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from audit.context import current_request_id
from audit.models import GENESIS_HASH, Action, AuditEvent

# Any constant will do: it names the one lock every writer of the chain takes.
_CHAIN_LOCK_KEY = 0x41554449  # "AUDI"


@dataclass(frozen=True, kw_only=True)
class EventSpec:
    """One event to append; see ``audit_record``."""

    action: Action
    subject_type: str
    subject_id: str
    actor: Any = None
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    reason: str = ""


def _plain(value: dict) -> dict:
    """Dates, decimals and UUIDs as the strings JSON storage will give back."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _lock_chain() -> tuple[int, str]:
    """Serialise appends so two writers can never fork the chain; return the head."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    # Elsewhere (SQLite) there is one writer at a time; the unique previous_hash
    # is the backstop that turns any fork into an error rather than a branch.
    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
    return head or (0, GENESIS_HASH)


def audit_record_many(*, events: list[EventSpec]) -> list[AuditEvent]:
    """Append events to the chain in order, in the caller's transaction.

    Call it inside the transaction that makes the change, so the change and its
    record commit together or not at all.
    """
    if not events:
        return []
    with transaction.atomic():
        sequence, previous_hash = _lock_chain()
        now = timezone.now()
        request_id = current_request_id.get()
        rows = []
        for spec in events:
            sequence += 1
            actor = spec.actor if spec.actor is not None and spec.actor.is_authenticated else None
            event = AuditEvent(
                sequence=sequence,
                occurred_at=now,
                actor=actor,
                actor_label=actor.email if actor else "system",
                subject_type=spec.subject_type,
                subject_id=str(spec.subject_id),
                action=spec.action,
                before=_plain(spec.before),
                after=_plain(spec.after),
                reason=spec.reason,
                request_id=request_id,
                previous_hash=previous_hash,
            )
            event.hash = event.compute_hash()
            previous_hash = event.hash
            rows.append(event)
        rows = AuditEvent.objects.bulk_create(rows)
    # Webhooks are driven from the audit chain: the one hook that sees every
    # change. It only looks at each event's action unless one concerns a webhook.
    from api.webhooks import audit_events_recorded

    audit_events_recorded(rows)
    return rows


def audit_record(
    *,
    action: Action,
    subject_type: str,
    subject_id: str,
    actor=None,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction."""
    spec = EventSpec(
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        actor=actor,
        before=before or {},
        after=after or {},
        reason=reason,
    )
    return audit_record_many(events=[spec])[0]
