from unittest import mock

import pytest
from rest_framework.test import APIClient

from members import services as member_services
from tests.api.builders import JOIN_DAY, Clock, make_employer, make_key
from tests.factories import StaffFactory


@pytest.fixture
def employer():
    return make_employer()


@pytest.fixture
def verify_key(employer):
    return make_key(employer, scopes=["verify"])


@pytest.fixture
def api():
    """An API client with no credentials."""
    return APIClient()


@pytest.fixture
def employer_api(verify_key):
    """An API client sending a key with the verify scope."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {verify_key.raw}")
    return client


@pytest.fixture
def clock():
    """Pin today for the services (and so for the API); move it with clock.set(day)."""
    clock = Clock(JOIN_DAY)
    with mock.patch.object(member_services, "local_today", lambda: clock.value):
        yield clock


@pytest.fixture
def registrar():
    return StaffFactory()
