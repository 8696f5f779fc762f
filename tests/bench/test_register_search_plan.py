"""The register's name search uses the trigram indexes on PostgreSQL, not a scan of
every user (members/migrations/0007_register_search_cost.py)."""

import datetime as dt

import pytest
from django.db import connection

from bench.seeding import ScaleSeeder
from members import services as member_services

pytestmark = pytest.mark.django_db


def test_a_search_by_name_reads_the_trigram_indexes(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the trigram indexes are PostgreSQL's")
    from api.selectors import register_search

    monkeypatch.setattr(member_services, "local_today", lambda: dt.date(2026, 11, 26))
    ScaleSeeder(members=3000, seed=9, heavy_entries=0).run()  # and ANALYZE
    with connection.cursor() as cursor:
        cursor.execute("SELECT procost FROM pg_proc WHERE proname = 'similarity_op'")
        assert cursor.fetchone()[0] == 100
    # At 3,000 members the planner may start from members instead; at 100,000 it uses
    # the trigram indexes (the benchmark's EXPLAIN ANALYZE). Never a scan of every user.
    for word in ("Bennett", "Smyth"):
        plan = register_search(q=word)[:20].explain()
        assert "Seq Scan on members_user" not in plan, plan
    assert register_search(q="Smyth").filter(user__family_name="Smith").exists()
