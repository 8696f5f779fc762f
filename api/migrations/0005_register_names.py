"""The register search reads names, then people in name order (``api.selectors.RegisterSearch``).

At 100,000 members a search for a common family name gathered every namesake
through the trigram indexes on members_user and sorted them all to show the
first page (docs/benchmarks.md). Now the words are matched against the distinct
names in use (``RegisterName``, a few thousand rows, with the trigram index) and
the people with those names are read from a B-tree in register order, stopping
after a page:

- ``register_name_order`` on members_user: (UPPER(family_name), UPPER(given_name)),
  compared byte by byte (COLLATE "C" on PostgreSQL), the register's order
  whatever the database's locale;
- ``register_given_name``: UPPER(given_name), for people found by a given name;
- ``register_member_user`` (PostgreSQL): the members on the register, by user.

On PostgreSQL a trigger on members_user adds each name written to
``api_registername``; the old trigram indexes on members_user are no longer read
and are dropped. SQLite gets the two B-trees only (its search reads the names
from the users).
"""

from django.db import migrations, models

PG_FORWARD = [
    "CREATE INDEX register_name_trgm ON api_registername "
    "USING gin (name gin_trgm_ops, (UPPER(name::text)) gin_trgm_ops)",
    """
    CREATE FUNCTION register_name_remember() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO api_registername (kind, name)
        VALUES ('family', NEW.family_name), ('given', NEW.given_name)
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END
    $$
    """,
    "CREATE TRIGGER register_name_remember "
    "AFTER INSERT OR UPDATE OF family_name, given_name ON members_user "
    "FOR EACH ROW EXECUTE FUNCTION register_name_remember()",
    "INSERT INTO api_registername (kind, name) "
    "SELECT 'family', family_name FROM members_user UNION "
    "SELECT 'given', given_name FROM members_user ON CONFLICT DO NOTHING",
    "ANALYZE api_registername",
    # INCLUDE (id): counting a search's matches reads only the indexes.
    'CREATE INDEX register_name_order ON members_user ((UPPER(family_name) COLLATE "C"), '
    '(UPPER(given_name) COLLATE "C")) INCLUDE (id)',
    'CREATE INDEX register_given_name ON members_user ((UPPER(given_name) COLLATE "C")) '
    "INCLUDE (id)",
    # The register's members (api.selectors.REGISTER_STATUSES, register_consent, a
    # number): joined to the users found without reading every member row. If the
    # statuses shown change, this index is no longer chosen, and should follow.
    "CREATE INDEX register_member_user ON members_member (user_id) WHERE register_consent "
    "AND membership_number IS NOT NULL AND status IN ('active', 'grace', 'paused', 'suspended')",
    "DROP INDEX IF EXISTS register_family_name_trgm",
    "DROP INDEX IF EXISTS register_given_name_trgm",
    # Statistics on the indexed expressions, which the planner needs to choose
    # between reading a name in order and gathering a rare one.
    "ANALYZE members_user",
    "ANALYZE members_member",
]

PG_BACKWARD = [
    "DROP INDEX IF EXISTS register_member_user",
    "DROP INDEX IF EXISTS register_given_name",
    "DROP INDEX IF EXISTS register_name_order",
    "DROP TRIGGER IF EXISTS register_name_remember ON members_user",
    "DROP FUNCTION IF EXISTS register_name_remember()",
    *(
        f"CREATE INDEX IF NOT EXISTS register_{column}_trgm ON members_user "
        f"USING gin ({column} gin_trgm_ops, (UPPER({column}::text)) gin_trgm_ops)"
        for column in ("family_name", "given_name")
    ),
]

OTHER_FORWARD = [
    "CREATE INDEX register_name_order ON members_user (UPPER(family_name), UPPER(given_name))",
    "CREATE INDEX register_given_name ON members_user (UPPER(given_name))",
]

OTHER_BACKWARD = [
    "DROP INDEX IF EXISTS register_given_name",
    "DROP INDEX IF EXISTS register_name_order",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        postgresql = schema_editor.connection.vendor == "postgresql"
        for sql in statements_by_vendor[postgresql]:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0004_lookup_drop_covered_indexes"),
        ("members", "0007_register_search_cost"),
    ]

    operations = [
        migrations.CreateModel(
            name="RegisterName",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[("family", "Family name"), ("given", "Given name")],
                        max_length=6,
                    ),
                ),
                ("name", models.CharField(max_length=150)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("kind", "name"), name="register_name_unique")
                ],
            },
        ),
        migrations.RunPython(
            _run({True: PG_FORWARD, False: OTHER_FORWARD}),
            _run({True: PG_BACKWARD, False: OTHER_BACKWARD}),
        ),
    ]
