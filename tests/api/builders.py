"""Builders for the API tests: employers, keys and members in a chosen state."""

import datetime as dt

from django.utils import timezone

from api import services
from api.models import EmployerClient
from members import services as member_services
from tests.factories import MemberFactory, UserFactory


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


JOIN_DAY = dt.date(2026, 3, 10)


class Clock:
    """The service layer's idea of today, moved by tests with ``set``."""

    def __init__(self, day: dt.date):
        self.value = day

    def set(self, day: dt.date) -> None:
        self.value = day


def pay(member, registrar, on: dt.date) -> None:
    invoice = member_services.invoice_raise(
        member=member, payer_organisation="Northshire NHS FT", purchase_order="PO-1"
    )
    member_services.invoice_record_payment(
        invoice=invoice, received_on=on, reference="BACS 1", actor=registrar
    )


def make_active_member(clock: Clock, registrar, *, joined: dt.date = JOIN_DAY, **fields):
    """A member who joined and paid on ``joined`` (the clock is left there)."""
    clock.set(joined)
    member = MemberFactory(**fields)
    pay(member, registrar, joined)
    member.refresh_from_db()
    return member


def make_certificate(member, *, name="Accredited middle manager", post_nominals="AccMM"):
    """A certificate issued today through the service, for an application
    approved without the workflow (the API only reads certificates)."""
    from accreditation import certificates
    from accreditation.models import Application, Level, Scheme

    scheme = Scheme.objects.get_or_create(
        slug="accredited-manager", defaults={"name": "Accredited Manager"}
    )[0]
    level = Level.objects.get_or_create(
        scheme=scheme,
        management_level="middle",
        defaults={"name": name, "min_months_in_role": 0, "post_nominals": post_nominals},
    )[0]
    application = Application.objects.create(
        member=member,
        level=level,
        state=Application.State.APPROVED,
        decided_at=timezone.now(),
        decision_reasons="All standards met.",
    )
    return certificates.certificate_issue(application=application)
