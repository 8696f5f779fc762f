"""The register names trigger fires on any update of a user, not "UPDATE OF" the
name columns: a trigger that names columns blocks any later migration that
alters their type ("cannot alter type of a column used in a trigger
definition"). The function skips updates that leave both names alone.

The function still reads NEW.family_name and NEW.given_name: renaming either
column needs this function rewritten in the same migration.
"""

from django.db import migrations

FORWARD = [
    """
    CREATE OR REPLACE FUNCTION register_name_remember() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE'
           AND NEW.family_name IS NOT DISTINCT FROM OLD.family_name
           AND NEW.given_name IS NOT DISTINCT FROM OLD.given_name THEN
            RETURN NULL;
        END IF;
        INSERT INTO api_registername (kind, name)
        VALUES ('family', NEW.family_name), ('given', NEW.given_name)
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END
    $$
    """,
    "DROP TRIGGER IF EXISTS register_name_remember ON members_user",
    "CREATE TRIGGER register_name_remember AFTER INSERT OR UPDATE ON members_user "
    "FOR EACH ROW EXECUTE FUNCTION register_name_remember()",
]

BACKWARD = [
    "DROP TRIGGER IF EXISTS register_name_remember ON members_user",
    "CREATE TRIGGER register_name_remember "
    "AFTER INSERT OR UPDATE OF family_name, given_name ON members_user "
    "FOR EACH ROW EXECUTE FUNCTION register_name_remember()",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("api", "0006_webhook_delivery_pending_index")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False)]
