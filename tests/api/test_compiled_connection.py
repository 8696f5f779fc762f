"""api.compiled's server-binding cursor on real connection lifecycles (PostgreSQL:
CONN_HEALTH_CHECKS, persistent connections, prepared statements). Found by review."""

import psycopg
import pytest
from django.db import DatabaseError, connection
from django.test import Client

from api.models import ApiKey
from api.selectors import api_key_find
from tests.api.builders import make_key

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only"),
    pytest.mark.django_db(transaction=True),
]


def _other_connection():
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"], port=s["PORT"] or 5432, user=s["USER"], password=s["PASSWORD"] or None,
        dbname=s["NAME"], autocommit=True,
    )  # fmt: skip


def _server_drops(conn):
    """The server ends this connection (restart, failover, idle timeout)."""
    pid = conn.connection.info.backend_pid
    with _other_connection() as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def _request_boundary():
    """What request_started/finished do to a persistent connection (CONN_MAX_AGE=None)."""
    connection.close_at = None
    connection.close_if_unusable_or_obsolete()


def test_the_key_lookup_is_health_checked_like_any_other_first_query():
    new = make_key()
    connection.ensure_connection()
    assert connection.health_check_enabled
    # The ORM: the health check at the first query of a request reconnects.
    _request_boundary()
    _server_drops(connection)
    assert ApiKey.objects.filter(pk=new.key.pk).exists()
    # The compiled lookup, the first query of every API request: no health check.
    _request_boundary()
    _server_drops(connection)
    assert api_key_find(raw=new.raw) is not None


def test_an_api_request_after_the_server_dropped_the_connection_is_answered():
    new = make_key()
    client = Client(raise_request_exception=False)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {new.raw}"}
    assert client.get("/api/v1/verify/1000001", {"family_name": "x"}, **headers).status_code == 404
    _request_boundary()
    _server_drops(connection)
    response = client.get("/api/v1/verify/1000001", {"family_name": "x"}, **headers)
    assert response.status_code == 404, response.status_code


def test_a_prepared_lookup_recovers_after_a_migration_changes_a_column():
    """A deploy migrates (here: EmployerClient.name max_length 200 -> 255) while
    workers keep their connections (CONN_MAX_AGE > 0)."""
    new = make_key()
    connection.ensure_connection()
    connection.connection.prepare_threshold = 0  # as settings do with CONN_MAX_AGE > 0
    assert api_key_find(raw=new.raw) is not None  # prepared on this connection
    with _other_connection() as other:
        other.execute("ALTER TABLE api_employerclient ALTER COLUMN name TYPE varchar(255)")
    try:
        answers = []
        for _ in range(3):  # three requests on the same worker
            try:
                answers.append(api_key_find(raw=new.raw) is not None)
            except DatabaseError as error:
                answers.append(type(error.__cause__).__name__)
            _request_boundary()
        # The ORM's (client-bound) query is unaffected by the same change.
        assert ApiKey.objects.select_related("employer").get(pk=new.key.pk)
        assert answers == [True, True, True], answers
    finally:
        connection.close()
        with _other_connection() as other:
            other.execute("ALTER TABLE api_employerclient ALTER COLUMN name TYPE varchar(200)")


def test_with_the_default_conn_max_age_nothing_prepared_is_ever_reused(monkeypatch):
    """CONN_MAX_AGE=0 (the default, docs/deployment.md): each request has a new
    connection, so preparing is one more round trip each time, never repaid."""
    new = make_key()
    from psycopg._cursor_base import BaseCursor

    prepares = []
    original = BaseCursor._send_prepare

    def counting(self, name, query):
        prepares.append(name)
        return original(self, name, query)

    monkeypatch.setattr(BaseCursor, "_send_prepare", counting)
    client = Client(raise_request_exception=False)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {new.raw}"}
    for _ in range(3):
        client.get("/api/v1/verify/1000001", {"family_name": "x"}, **headers)
        connection.close()  # what request_finished does with CONN_MAX_AGE=0
    # Each request prepared the key lookup again (a Parse round trip of its own).
    assert len(prepares) <= 1, f"{len(prepares)} prepares for 3 requests"
