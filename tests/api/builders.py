"""Builders for the API tests: employers, keys and members in a chosen state."""

from api import services
from api.models import EmployerClient
from tests.factories import UserFactory


def make_employer(name: str = "Northshire NHS Foundation Trust", **fields) -> EmployerClient:
    return EmployerClient.objects.create(
        name=name, contact_email=fields.pop("contact_email", "hr@northshire.example"), **fields
    )


def make_key(employer=None, *, scopes=("verify",), name="HR system", **kwargs):
    """A key and its secret: returns services.NewApiKey (``.key``, ``.raw``)."""
    employer = employer or make_employer()
    return services.api_key_create(
        employer=employer,
        name=name,
        scopes=scopes,
        actor=kwargs.pop("actor", None) or UserFactory(),
        **kwargs,
    )


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
