"""The register's name search reads indexes on PostgreSQL, not every user: the names
through the trigram index (members/migrations/0007_register_search_cost.py), the
people with those names from the name index (api/migrations/0005_register_names.py)."""

import datetime as dt

import pytest
from django.db import connection

from bench.seeding import ScaleSeeder
from members import services as member_services

pytestmark = pytest.mark.django_db


def test_a_search_by_name_reads_the_indexes(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the trigram indexes are PostgreSQL's")
    from api.models import RegisterName
    from api.selectors import register_search

    monkeypatch.setattr(member_services, "local_today", lambda: dt.date(2026, 11, 26))
    ScaleSeeder(members=3000, seed=9, heavy_entries=0).run()  # and ANALYZE
    with connection.cursor() as cursor:
        cursor.execute("SELECT procost FROM pg_proc WHERE proname = 'similarity_op'")
        assert cursor.fetchone()[0] == 100
    # The seeder's COPY skips the trigger; it adds the names itself.
    assert RegisterName.objects.filter(kind="family", name="Smith").exists()
    for word in ("Smith", "Bennett", "Smyth", "Li"):
        windows = register_search(q=word).windows(limit=21)
        assert windows, word
        for window in windows:
            plan = window.explain()
            assert "Seq Scan on members_user" not in plan, plan
            assert "register_name_order" in plan or "register_given_name" in plan, plan
    smyth = register_search(q="Smyth")
    assert smyth.page(limit=1)[0].user.family_name == "Smith"
    assert smyth.count() == register_search(q="Smith").count()
