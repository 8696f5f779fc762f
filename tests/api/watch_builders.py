"""Builders for the watch list, webhook and portal tests."""

import datetime as dt

from api.models import EmployerUser
from members import services as member_services
from tests.factories import MemberFactory, StaffFactory, UserFactory


def active_member(family_name: str = "Price", **user_fields):
    """A member with a number and a paid period, as an invoice payment leaves them."""
    member = MemberFactory(user=UserFactory(family_name=family_name, **user_fields))
    invoice = member_services.invoice_raise(
        member=member, payer_organisation="Northshire NHS FT", purchase_order="PO-1"
    )
    member_services.invoice_record_payment(
        invoice=invoice,
        received_on=member_services.local_today() - dt.timedelta(days=10),
        reference="BACS 1",
        actor=StaffFactory(),
    )
    member.refresh_from_db()
    return member


def employer_person(employer, **user_fields):
    """A user who may use the employer portal for ``employer``."""
    user = UserFactory(**user_fields)
    EmployerUser.objects.create(employer=employer, user=user)
    return user
