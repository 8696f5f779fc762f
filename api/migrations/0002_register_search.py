"""Trigram indexes for searching the public register by name on PostgreSQL.

The names live on members.User; the indexes are plain SQL here, beside the
search that uses them (``api.selectors.register_search``), and are skipped on
other databases, where the search falls back to case-insensitive matching.
Each index covers both ways the search reads a name: ``name % 'word'``
(trigram similarity, for misspellings) and ``UPPER(name) LIKE '%WORD%'``.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

COLUMNS = ("family_name", "given_name")


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS register_{column}_trgm ON members_user "
            f"USING gin ({column} gin_trgm_ops, (UPPER({column}::text)) gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS register_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_employer_clients_and_keys"),
        ("members", "0001_initial"),
    ]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
