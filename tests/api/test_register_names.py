"""The register names trigger (api/migrations/0005, 0007) on PostgreSQL: every way
a name is written reaches the names table, and later migrations can still alter
the name columns (found by review)."""

import pytest
from django.db import connection, models

from api.models import RegisterName
from members.models import User
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's"),
]


def test_a_later_migration_can_still_lengthen_a_name_column():
    """An AlterField(max_length=200) on User.family_name, as makemigrations writes it."""
    old = User._meta.get_field("family_name")
    new = models.CharField(max_length=200, blank=True)
    new.set_attributes_from_name("family_name")
    new.model = User
    with connection.schema_editor(atomic=False) as editor:
        editor.alter_field(User, old, new, strict=True)


def test_names_written_by_update_and_bulk_update_are_searchable():
    users = [UserFactory(given_name="Ann", family_name=f"Start{n}") for n in range(2)]
    User.objects.filter(pk=users[0].pk).update(family_name="Quennell")
    users[1].given_name = "Perpetua"
    User.objects.bulk_update([users[1]], ["given_name"])
    assert RegisterName.objects.filter(kind="family", name="Quennell").exists()
    assert RegisterName.objects.filter(kind="given", name="Perpetua").exists()


def test_an_update_that_leaves_the_names_alone_adds_nothing():
    user = UserFactory(given_name="Orla", family_name="Ní Bhriain")
    RegisterName.objects.filter(name__in=["Orla", "Ní Bhriain"]).delete()
    User.objects.filter(pk=user.pk).update(email="orla@example.org")
    assert not RegisterName.objects.filter(name__in=["Orla", "Ní Bhriain"]).exists()
