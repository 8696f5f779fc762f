"""The registrar's pages for employer clients and the people who use their portal."""

import pytest
from django.core import mail
from django.urls import reverse

from api import staff_urls
from api.models import EmployerClient, EmployerUser
from audit.models import Action, AuditEvent
from members.models import User
from tests.api.builders import make_employer
from tests.factories import StaffFactory, UserFactory
from tests.totp import enable_totp

pytestmark = pytest.mark.django_db


@pytest.fixture
def registrar_client(client):
    registrar = StaffFactory()
    enable_totp(registrar)
    client.force_login(registrar)
    return client


def test_every_view_is_for_registrars_only(client):
    assert all(getattr(p.callback, "staff_required", False) for p in staff_urls.urlpatterns)
    employer = make_employer()
    client.force_login(UserFactory())
    for url in [
        reverse("registrar_employers:list"),
        reverse("registrar_employers:detail", args=[employer.public_id]),
    ]:
        assert client.get(url).status_code == 404


def test_a_registrar_adds_an_employer_and_gives_a_new_person_access(
    registrar_client, django_capture_on_commit_callbacks
):
    response = registrar_client.post(
        reverse("registrar_employers:list"),
        {"name": "Northshire NHS Foundation Trust", "contact_email": "hr@northshire.example"},
    )
    employer = EmployerClient.objects.get()
    assert response["Location"] == reverse("registrar_employers:detail", args=[employer.public_id])
    assert AuditEvent.objects.filter(action=Action.EMPLOYER_CREATED).exists()

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        registrar_client.post(
            reverse("registrar_employers:detail", args=[employer.public_id]),
            {"email": "New.Person@Northshire.example", "given_name": "Nia", "family_name": "Jones"},
        )
    user = User.objects.get(email="new.person@northshire.example")
    assert not user.has_usable_password() and user.family_name == "Jones"
    assert EmployerUser.objects.get(user=user).employer == employer
    assert AuditEvent.objects.filter(action=Action.EMPLOYER_USER_ADDED).exists()
    [message] = mail.outbox
    assert message.to == [user.email]
    assert reverse("account_reset_password") in message.body
    page = registrar_client.get(reverse("registrar_employers:list")).content.decode()
    assert "Northshire NHS Foundation Trust" in page


def test_someone_with_another_employer_is_refused_on_the_form(registrar_client):
    first, second = make_employer(name="First"), make_employer(name="Second")
    person = UserFactory()
    EmployerUser.objects.create(employer=first, user=person)
    response = registrar_client.post(
        reverse("registrar_employers:detail", args=[second.public_id]), {"email": person.email}
    )
    assert response.status_code == 200
    assert "another organisation" in response.content.decode()
    assert EmployerUser.objects.get(user=person).employer == first
