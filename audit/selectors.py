from dataclasses import dataclass

from django.db.models import QuerySet

from audit.models import GENESIS_HASH, AuditEvent


def audit_events_for_subject(*, subject_type: str, subject_id: str) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        subject_type=subject_type, subject_id=str(subject_id)
    ).select_related("actor")


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    problem: str


def audit_chain_verify(*, chunk_size: int = 2000) -> tuple[int, ChainBreak | None]:
    """Walk the whole chain; return how many events were checked and the first break."""
    expected_previous = GENESIS_HASH
    expected_sequence = 1
    checked = 0
    for event in AuditEvent.objects.order_by("sequence").iterator(chunk_size=chunk_size):
        if event.sequence != expected_sequence:
            return checked, ChainBreak(expected_sequence, f"event #{expected_sequence} is missing")
        if event.previous_hash != expected_previous:
            return checked, ChainBreak(event.sequence, "does not follow the event before it")
        if event.compute_hash() != event.hash:
            return checked, ChainBreak(
                event.sequence, "its content does not match its hash (edited)"
            )
        expected_previous = event.hash
        expected_sequence += 1
        checked += 1
    return checked, None
