import pytest
from rest_framework.test import APIClient

from tests.api.builders import make_employer, make_key


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
