"""Fast bulk loading for the scale data: COPY on PostgreSQL, executemany on SQLite.

Rows are plain tuples in a fixed column order, so nothing builds a model
instance or calls save() per row. Hot rows are written as text both databases
read the same way: dates as "YYYY-MM-DD", times as "YYYY-MM-DD HH:MM:SS" in
UTC (SQLite stores them naive, Django's convention; Django sets PostgreSQL's
session time zone to UTC), UUIDs as 32 hex digits and JSON as a string; any
other Python value (a date, a UUID, a dict) is turned into that text here.

Primary keys are handed out here (from the table's current maximum), so later
tables can refer to rows already written; ``BulkLoader.finish`` moves
PostgreSQL's identity sequences past them.
"""

import datetime as dt
import enum
import json
import time
import uuid
from collections.abc import Iterable, Sequence

from django.core.management.color import no_style
from django.db import connection
from django.db.models import Max, Model


def _stored(value):
    """The few Python values left in a row, as both databases take them in bulk."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


class BulkLoader:
    """Writes rows of one database connection's tables, counting what it wrote."""

    def __init__(self):
        self.vendor = connection.vendor
        if self.vendor == "sqlite":
            # A large page cache: the random UUID indexes otherwise thrash SQLite's default 2 MB.
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size = -524288")
        self.replica_role = False
        self.counts: dict[str, int] = {}
        self.seconds: dict[str, float] = {}  # time spent writing each table
        self._next_pk: dict[type[Model], int] = {}
        self._touched: set[type[Model]] = set()

    def defer_checks(self) -> None:
        """On PostgreSQL, skip per-row foreign key triggers while loading (as pg_restore
        --disable-triggers does): the generator only writes keys it handed out. Needs a
        superuser; without one the checks simply run."""
        if self.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            if cursor.fetchone()[0]:
                cursor.execute("SET LOCAL session_replication_role = replica")
                self.replica_role = True

    def allocate(self, model: type[Model], how_many: int) -> int:
        """Reserve ``how_many`` primary keys for ``model``; returns the first."""
        if model not in self._next_pk:
            current = model._default_manager.aggregate(top=Max("pk"))["top"] or 0
            self._next_pk[model] = current + 1
        first = self._next_pk[model]
        self._next_pk[model] += how_many
        return first

    def write(
        self, model: type[Model], columns: Sequence[str], rows: Iterable[tuple], *, clean=False
    ) -> int:
        """Insert ``rows`` (tuples of values for ``columns``, given by attname).

        ``clean`` rows hold only text, numbers, booleans and None, already in
        the stored form, and are passed to the database untouched."""
        started = time.perf_counter()
        table = model._meta.db_table
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        count = 0
        if self.vendor == "postgresql":
            with connection.cursor() as cursor:
                raw = cursor.cursor  # the psycopg cursor under Django's wrapper
                sql = f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN"
                with raw.copy(sql) as copy:
                    for row in rows:
                        copy.write_row(row if clean else [_stored(v) for v in row])
                        count += 1
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            # Table and column names come from the models' metadata, quoted; values are parameters.
            table_name = connection.ops.quote_name(table)
            sql = f"INSERT INTO {table_name} ({quoted}) VALUES ({placeholders})"  # noqa: S608
            batch = rows if clean else [tuple(_stored(v) for v in row) for row in rows]
            if batch:
                with connection.cursor() as cursor:
                    cursor.executemany(sql, batch)
            count = len(batch)
        self.counts[table] = self.counts.get(table, 0) + count
        self.seconds[table] = self.seconds.get(table, 0.0) + time.perf_counter() - started
        self._touched.add(model)
        return count

    def indexes_dropped(self, models: Sequence[type[Model]]) -> list[str]:
        """On PostgreSQL, drop the secondary indexes and unique constraints of the
        biggest tables before loading them, returning the statements that rebuild
        them (``rebuild``): one sorted build after the load is several times cheaper
        than keeping random-keyed B-trees (UUIDs, hashes) up to date row by row.
        Primary keys and foreign keys stay. Inside the loading transaction, so a
        failure leaves the schema as it was. On SQLite, the indexes made with
        CREATE INDEX (not the ones inline in the table definition)."""
        if self.vendor == "sqlite":
            return self._sqlite_indexes_dropped(models)
        if self.vendor != "postgresql":
            return []
        rebuild = []
        with connection.cursor() as cursor:
            for model in models:
                table = model._meta.db_table
                cursor.execute(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype = 'u'",
                    [table],
                )
                constraints = cursor.fetchall()
                cursor.execute(
                    "SELECT indexname, indexdef FROM pg_indexes "
                    "WHERE schemaname = current_schema() AND tablename = %s AND indexname NOT IN "
                    "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
                    [table, table],
                )
                indexes = cursor.fetchall()
                quoted = connection.ops.quote_name(table)
                for name, definition in constraints:
                    cursor.execute(
                        f"ALTER TABLE {quoted} DROP CONSTRAINT {connection.ops.quote_name(name)}"
                    )
                    rebuild.append(
                        f"ALTER TABLE {quoted} ADD CONSTRAINT "
                        f"{connection.ops.quote_name(name)} {definition}"
                    )
                for name, definition in indexes:
                    cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
                    rebuild.append(definition)
        return rebuild

    def _sqlite_indexes_dropped(self, models: Sequence[type[Model]]) -> list[str]:
        rebuild = []
        with connection.cursor() as cursor:
            for model in models:
                cursor.execute(
                    "SELECT name, sql FROM sqlite_master "
                    "WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
                    [model._meta.db_table],
                )
                for name, definition in cursor.fetchall():
                    cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
                    rebuild.append(definition)
        return rebuild

    def rebuild(self, statements: Sequence[str]) -> None:
        if not statements:
            return
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for sql in statements:
                cursor.execute(sql)

    def finish(self) -> None:
        """Move sequences past the keys handed out, and refresh planner statistics."""
        if self.vendor != "postgresql" or not self._touched:
            return
        statements = connection.ops.sequence_reset_sql(no_style(), list(self._touched))
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)

    def analyze(self) -> None:
        """Fresh planner statistics for the tables written (PostgreSQL)."""
        if self.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            for table in sorted(self.counts):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
