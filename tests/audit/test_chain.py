import itertools
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit.models import Action, AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import EventSpec, audit_record, audit_record_many
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def record(n: int = 1, **overrides):
    for i in range(n):
        audit_record(
            action=Action.MEMBER_STATUS_CHANGED,
            subject_type="members.member",
            subject_id=str(1000 + i),
            before={"status": "active"},
            after={"status": "grace"},
            reason="period ended",
            **overrides,
        )


def test_events_form_one_chain_from_the_genesis():
    actor = UserFactory()
    record(2, actor=actor)
    audit_record_many(
        events=[
            EventSpec(action=Action.MEMBER_JOINED, subject_type="members.member", subject_id="7"),
            EventSpec(action=Action.INVOICE_RAISED, subject_type="members.invoice", subject_id="9"),
        ]
    )
    events = list(AuditEvent.objects.all())
    assert [e.sequence for e in events] == [1, 2, 3, 4]
    assert events[0].previous_hash == "0" * 64
    assert all(b.previous_hash == a.hash for a, b in itertools.pairwise(events))
    assert events[0].actor == actor and events[0].actor_label == actor.email
    assert events[2].actor is None and events[2].actor_label == "system"
    assert audit_chain_verify() == (4, None)


def test_request_id_is_recorded_from_the_request(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    bad = client.get("/healthz", HTTP_X_REQUEST_ID="<script>")
    assert bad["X-Request-ID"] != "<script>" and len(bad["X-Request-ID"]) == 32


def test_audit_verify_reports_success(capsys):
    record(3)
    call_command("audit_verify")
    assert "Audit chain intact: 3 events verified." in capsys.readouterr().out


@pytest.mark.skipif(
    connection.vendor == "postgresql", reason="PostgreSQL refuses the edit outright"
)
def test_audit_verify_detects_an_edited_row():
    record(3)
    AuditEvent.objects.filter(sequence=2).update(reason="nothing to see here")
    with pytest.raises(
        CommandError, match=r"broken at event #2: its content does not match its hash"
    ):
        call_command("audit_verify")


@pytest.mark.skipif(
    connection.vendor == "postgresql", reason="PostgreSQL refuses the delete outright"
)
def test_audit_verify_detects_a_deleted_row():
    record(3)
    AuditEvent.objects.filter(sequence=2).delete()
    with pytest.raises(CommandError, match=r"broken at event #2: event #2 is missing"):
        call_command("audit_verify")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET reason = 'rewritten' WHERE sequence = 1",
        "DELETE FROM audit_auditevent WHERE sequence = 1",
    ],
)
def test_postgresql_refuses_update_and_delete(statement):
    record(1)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEvent.objects.get().reason == "period ended"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_unbroken_chain():
    writers, per_writer = 8, 10
    barrier = threading.Barrier(writers)
    errors = []

    def write():
        try:
            barrier.wait()
            for _ in range(per_writer):
                with transaction.atomic():
                    record(1)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert audit_chain_verify() == (writers * per_writer, None)
