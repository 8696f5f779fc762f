# The register's name search (api.selectors.register_search) ORs four trigram
# conditions; PostgreSQL costs pg_trgm's similarity operator like a cheap
# comparison, so at 100,000 members it chose a sequential scan of every user
# (240 ms) over the trigram indexes (15 ms). Costing the operator's function
# as what it is (computing two trigram sets per row) makes the planner use
# the indexes. PostgreSQL only; see docs/benchmarks.md.

from django.db import migrations

SIMILARITY_COST = 100


def set_cost(apps, schema_editor, cost=SIMILARITY_COST):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER FUNCTION similarity_op(text, text) COST {int(cost)}")


def reset_cost(apps, schema_editor):
    set_cost(apps, schema_editor, cost=1)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0006_register_workplace"),
        ("api", "0002_register_search"),  # creates the pg_trgm extension
    ]

    operations = [migrations.RunPython(set_cost, reset_cost)]
