"""Shared fixtures for the accreditation tests: a framework, a scheme, levels and people."""

import pytest

from accreditation.models import Scheme
from cpd.models import Domain, Framework, Standard
from members.models import Organisation, Status
from tests.accreditation.builders import make_level
from tests.factories import MemberFactory, StaffFactory


@pytest.fixture
def standards():
    framework = Framework.objects.create(
        key="ihsm", name="Our standards", short_name="IHSM", status=Framework.Status.CURRENT
    )
    people = Domain.objects.create(framework=framework, code="D1", title="Leading people")
    money = Domain.objects.create(framework=framework, code="D2", title="Using resources")
    return [
        Standard.objects.create(framework=framework, domain=people, code="D1.1", title="Teams"),
        Standard.objects.create(framework=framework, domain=people, code="D1.2", title="Coaching"),
        Standard.objects.create(framework=framework, domain=money, code="D2.1", title="Budgets"),
    ]


@pytest.fixture
def scheme():
    return Scheme.objects.create(name="Accredited Manager", slug="accredited-manager")


@pytest.fixture
def level(scheme, standards):
    return make_level(scheme, standards)


@pytest.fixture
def executive_level(scheme, standards):
    return make_level(scheme, standards, management_level="executive", assessors=2)


@pytest.fixture
def trust():
    return Organisation.objects.get_or_create(name="Northshire NHS Foundation Trust")[0]


@pytest.fixture
def member(trust):
    return MemberFactory(status=Status.ACTIVE, organisation=trust, organisation_other="")


@pytest.fixture
def registrar():
    return StaffFactory()
