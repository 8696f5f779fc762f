"""Querysets compiled once and run many times: the hot paths of the API.

Building and compiling the verification query (half a dozen subqueries) costs
several milliseconds of Python, more than PostgreSQL takes to answer it, yet
its SQL changes only with the date; the key lookup's never does. Both are
compiled once per worker thread and then run with the new value in place of
``PLACEHOLDER``. The rows go through the compiler's own converters, so they
are exactly what the queryset's ``values()`` would have given.

On PostgreSQL they are also prepared: planning the verification query took
five times as long as running it (about 1 ms against 0.2 ms of the server's
time). Django binds parameters on the client, which leaves nothing to
prepare, so these queries alone run on a server-binding cursor, which psycopg
prepares (``prepare_threshold`` in ``config.settings``).
"""

import threading
from collections.abc import Callable, Hashable

from django.core.signals import setting_changed
from django.db import NotSupportedError, connections
from django.db.models import QuerySet
from django.dispatch import receiver

PLACEHOLDER = "\x00placeholder\x00"

_per_thread = threading.local()


class CompiledQuery:
    """A ``values()`` queryset filtered on ``PLACEHOLDER``, compiled."""

    def __init__(self, queryset: QuerySet):
        query = queryset.query
        self.using = queryset.db
        self.compiler = query.get_compiler(self.using)
        self.sql, params = self.compiler.as_sql()
        self.params = list(params)
        self.slots = [i for i, param in enumerate(self.params) if param == PLACEHOLDER]
        if not self.slots:
            raise ValueError("The queryset does not filter on PLACEHOLDER.")
        # As django.db.models.query.ValuesIterable names the columns.
        self.names = (
            list(query.selected)
            if query.selected
            else [*query.extra_select, *query.values_select, *query.annotation_select]
        )

    def rows(self, value) -> list[dict]:
        params = list(self.params)
        for slot in self.slots:
            params[slot] = value
        connection = connections[self.using]
        try:
            fetched = self._fetch(connection, params)
        except NotSupportedError:
            # "cached plan must not change result type": a migration altered a
            # column this connection's prepared statement reads. Outside a
            # transaction, forget the prepared statements (psycopg clears its
            # own record of them on DEALLOCATE ALL) and run it once more.
            if connection.in_atomic_block or connection.vendor != "postgresql":
                raise
            with connection.cursor() as cursor:
                cursor.execute("DEALLOCATE ALL")
            fetched = self._fetch(connection, params)
        return [
            dict(zip(self.names, row, strict=True)) for row in self.compiler.results_iter([fetched])
        ]

    def _fetch(self, connection, params) -> list[tuple]:
        with _cursor(connection) as cursor:
            cursor.execute(self.sql, params)
            return [row[: self.compiler.col_count] for row in cursor.fetchall()]


def _cursor(connection):
    if connection.vendor != "postgresql":
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    # As connection.cursor() makes its own: health check, then wrapped, so
    # query counts and logging see it.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    cursor = ServerBindingCursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


def compiled(name: str, key: Hashable, build: Callable[[], QuerySet]) -> CompiledQuery:
    """``build()`` compiled, once per thread for each ``key`` (e.g. the dates its SQL
    depends on). A thread keeps the last few keys of each name."""
    cache = _per_thread.__dict__.setdefault(name, {})
    if key not in cache:
        if len(cache) >= 8:
            cache.clear()
        cache[key] = CompiledQuery(build())
    return cache[key]


@receiver(setting_changed)
def _forget_compiled(**kwargs) -> None:
    """SQL compiled under other settings (the CPD year's first month, say) is stale."""
    _per_thread.__dict__.clear()
