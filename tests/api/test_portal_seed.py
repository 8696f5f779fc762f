import pytest
from django.core.management import call_command

from api.models import EmployerUser, WatchEntry

pytestmark = pytest.mark.django_db


def test_seed_demo_gives_the_employer_a_portal_and_a_watch_list_with_the_member(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    link = EmployerUser.objects.select_related("employer").get(user__email="employer@example.org")
    assert link.employer.name == "Northshire NHS Foundation Trust"
    entry = WatchEntry.objects.get()
    assert entry.employer == link.employer
    assert entry.member.user.email == "member@example.org"
    assert "/employer/" in out and "employer@example.org" in out
