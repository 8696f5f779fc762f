"""The API's compiled queries give exactly what their querysets give, once per key."""

import datetime as dt

import pytest
from django.test import override_settings

from api import compiled as compiled_module
from api.compiled import PLACEHOLDER, CompiledQuery, compiled
from api.selectors import api_key_find, members_check, members_on
from cpd.models import AnnualReturn
from members.models import Member
from tests.api.builders import make_active_member, make_key

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 1)


@pytest.fixture
def members(clock, registrar):
    made = [make_active_member(clock, registrar) for _ in range(3)]
    clock.set(TODAY)
    return made


@pytest.mark.parametrize("on", [TODAY, dt.date(2025, 1, 1)])
def test_compiled_rows_are_the_querysets_rows(members, on):
    query = CompiledQuery(members_on(on=on, today=TODAY).filter(membership_number=PLACEHOLDER))
    for member in members:
        expected = list(
            members_on(on=on, today=TODAY).filter(membership_number=member.membership_number)
        )
        assert query.rows(member.membership_number) == expected
        assert len(expected) == 1
    assert query.rows("0000000") == []


def test_a_compiled_query_is_built_once_per_key_and_thread(members):
    built = []

    def build():
        built.append(1)
        return Member.objects.filter(membership_number=PLACEHOLDER).values("pk")

    first = compiled("test_once", "a", build)
    assert compiled("test_once", "a", build) is first
    assert compiled("test_once", "b", build) is not first
    assert len(built) == 2
    compiled_module._per_thread.__dict__.pop("test_once")


def test_a_queryset_without_the_placeholder_is_refused():
    with pytest.raises(ValueError, match="PLACEHOLDER"):
        CompiledQuery(Member.objects.filter(membership_number="1").values("pk"))


def test_a_single_check_reads_the_same_answer_as_a_bulk_one(members):
    pairs = [(m.membership_number, m.user.family_name) for m in members]
    [single] = members_check(pairs=pairs[:1], on=TODAY, today=TODAY)
    bulk = members_check(pairs=pairs, on=TODAY, today=TODAY)
    assert single == bulk[0]
    assert single.verification is not None


def test_the_compiled_key_lookup_gives_the_key_and_its_employer(db):
    new = make_key()
    key = api_key_find(raw=new.raw)
    assert key.pk == new.key.pk
    assert key.scopes == new.key.scopes
    assert key.employer.name == new.key.employer.name
    assert key.employer.is_active is True
    assert api_key_find(raw=new.raw + "x") is None


def test_a_single_check_follows_the_cpd_year_setting_like_a_bulk_one(clock, registrar):
    """Compiled SQL carries the CPD years, which settings decide: a settings change
    forgets it (found by review)."""
    member = make_active_member(clock, registrar, joined=dt.date(2024, 6, 1))
    clock.set(TODAY)
    AnnualReturn.objects.create(
        member=member,
        year_starts_on=dt.date(2025, 1, 1),
        year_ends_on=dt.date(2025, 12, 31),
        due_on=dt.date(2026, 1, 30),
        state="submitted",
        meets_requirement=True,
    )
    pair = (member.membership_number, member.user.family_name)
    members_check(pairs=[pair], on=TODAY, today=TODAY)  # compiled for (TODAY, TODAY)
    with override_settings(CPD_YEAR_START_MONTH=1):
        [single] = members_check(pairs=[pair], on=TODAY, today=TODAY)
        bulk = members_check(pairs=[pair, ("9999999", "x")], on=TODAY, today=TODAY)
    assert bulk[0].verification.cpd.standing == "accepted"
    assert single == bulk[0]
