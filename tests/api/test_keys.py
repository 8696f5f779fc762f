"""API keys: made with a secret shown once, stored as a digest, refused when
wrong, revoked, expired, out of scope or the employer is inactive."""

import datetime as dt
import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from api import services
from api.models import ApiKey, EmployerUser
from api.selectors import api_key_find
from api.services import EmployerError
from audit.models import Action, AuditEvent
from tests.api.builders import make_employer, make_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class VerifyOnly(APIView):
    required_scope = "verify"

    def get(self, request):
        return Response({"employer": request.user.employer.name, "key": request.auth.prefix})


class NoScopeNamed(APIView):
    """A view that forgot to name its scope: closed to every key."""

    def get(self, request):
        return Response({"ok": True})  # pragma: no cover - never reached


def call(view, raw: str | None = None, header: str | None = None):
    factory = APIRequestFactory()
    extra = {}
    if raw is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    if header is not None:
        extra["HTTP_AUTHORIZATION"] = header
    response = view.as_view()(factory.get("/api/v1/test", **extra))
    response.render()
    return response


def test_a_new_key_gives_its_secret_once_and_stores_only_a_digest(employer):
    actor = UserFactory()
    made = services.api_key_create(
        employer=employer, name="HR system", scopes=["watchlist", "verify"], actor=actor
    )
    key = ApiKey.objects.get(pk=made.key.pk)
    prefix, _, secret = made.raw.partition(".")
    assert key.prefix == prefix and prefix.startswith("ihsm_") and len(prefix) == 13
    assert len(secret) >= 43  # 32 random bytes
    assert key.digest == hashlib.sha256(made.raw.encode()).hexdigest()
    # The secret is nowhere in the row: only the prefix and the digest are kept.
    stored = [str(value) for value in ApiKey.objects.filter(pk=key.pk).values().get().values()]
    assert not any(secret in value for value in stored)
    assert key.scopes == ["verify", "watchlist"]  # fixed order
    assert key.created_by == actor
    event = AuditEvent.objects.get(action=Action.API_KEY_CREATED)
    assert event.subject_id == str(key.public_id) and event.actor == actor
    assert secret not in str(event.after) and event.after["prefix"] == prefix
    # Reading the key back never gives the secret again.
    assert not hasattr(key, "raw") and made.raw not in str(key.__dict__)


def test_two_keys_never_share_a_secret_or_prefix(employer):
    first, second = make_key(employer), make_key(employer)
    assert first.raw != second.raw and first.key.prefix != second.key.prefix


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": " "}, "Give the key a name"),
        ({"scopes": []}, "at least one"),
        ({"scopes": ["verify", "admin"]}, "Unknown scope: admin"),
        ({"expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "future"),
    ],
)
def test_a_key_needs_a_name_known_scopes_and_a_future_expiry(employer, kwargs, message):
    arguments = {"employer": employer, "name": "HR", "scopes": ["verify"], "actor": None}
    with pytest.raises(EmployerError, match=message):
        services.api_key_create(**{**arguments, **kwargs})
    assert not ApiKey.objects.exists()


def test_an_inactive_employer_gets_no_new_keys():
    employer = make_employer(is_active=False)
    with pytest.raises(EmployerError, match="not active"):
        make_key(employer)


def test_revoking_is_audited_once_and_idempotent(verify_key):
    actor = UserFactory()
    services.api_key_revoke(key=verify_key.key, actor=actor, reason="Left on a laptop")
    first = ApiKey.objects.get(pk=verify_key.key.pk).revoked_at
    services.api_key_revoke(key=verify_key.key, actor=actor)
    assert ApiKey.objects.get(pk=verify_key.key.pk).revoked_at == first is not None
    events = AuditEvent.objects.filter(action=Action.API_KEY_REVOKED)
    assert events.count() == 1 and events.get().reason == "Left on a laptop"


def test_a_good_key_authenticates_as_its_employer_in_one_query(verify_key, employer):
    ApiKey.objects.filter(pk=verify_key.key.pk).update(last_used_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        response = call(VerifyOnly, verify_key.raw)
    assert response.status_code == 200
    assert response.data == {"employer": employer.name, "key": verify_key.key.prefix}
    assert len(queries) == 1  # used within the minute: no write


def test_last_used_is_written_at_most_once_a_minute(verify_key):
    assert verify_key.key.last_used_at is None
    call(VerifyOnly, verify_key.raw)
    first = ApiKey.objects.get(pk=verify_key.key.pk).last_used_at
    assert first is not None
    call(VerifyOnly, verify_key.raw)
    assert ApiKey.objects.get(pk=verify_key.key.pk).last_used_at == first
    ApiKey.objects.filter(pk=verify_key.key.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    call(VerifyOnly, verify_key.raw)
    assert ApiKey.objects.get(pk=verify_key.key.pk).last_used_at > first


def test_no_key_is_a_401_saying_how_to_authenticate():
    response = call(VerifyOnly)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.data["code"] == "not_authenticated"
    assert set(response.data) == {"code", "message", "field_errors"}


@pytest.mark.parametrize(
    "header",
    ["Bearer ihsm_00000000.not-a-real-secret", "Token abc", "Bearer", "Bearer a b", "Basic eDp5"],
)
def test_a_wrong_or_malformed_key_is_refused(verify_key, header):
    response = call(VerifyOnly, header=header)
    assert response.status_code == 401
    assert response.data["code"] == "invalid_key"


def test_a_key_with_its_last_character_changed_is_refused(verify_key):
    tampered = verify_key.raw[:-1] + ("A" if verify_key.raw[-1] != "A" else "B")
    assert call(VerifyOnly, tampered).status_code == 401


def test_a_revoked_key_is_refused_at_once(verify_key):
    assert call(VerifyOnly, verify_key.raw).status_code == 200
    services.api_key_revoke(key=verify_key.key, actor=None)
    response = call(VerifyOnly, verify_key.raw)
    assert response.status_code == 401 and response.data["code"] == "key_revoked"


def test_an_expired_key_is_refused(employer):
    made = make_key(employer, expires_at=timezone.now() + dt.timedelta(days=1))
    assert call(VerifyOnly, made.raw).status_code == 200
    ApiKey.objects.filter(pk=made.key.pk).update(expires_at=timezone.now())
    response = call(VerifyOnly, made.raw)
    assert response.status_code == 401 and response.data["code"] == "key_expired"


def test_a_key_of_an_inactive_employer_is_refused(verify_key, employer):
    employer.is_active = False
    employer.save()
    response = call(VerifyOnly, verify_key.raw)
    assert response.status_code == 401 and response.data["code"] == "employer_inactive"


def test_a_key_without_the_scope_is_refused(employer):
    made = make_key(employer, scopes=["watchlist", "webhooks"])
    response = call(VerifyOnly, made.raw)
    assert response.status_code == 403
    assert response.data == {
        "code": "scope_missing",
        "message": "This API key does not have the 'verify' scope.",
        "field_errors": {},
    }


def test_a_view_naming_no_scope_is_closed_to_every_key(employer):
    made = make_key(employer, scopes=["verify", "watchlist", "webhooks"])
    assert call(NoScopeNamed, made.raw).status_code == 403


def test_finding_a_key_ignores_absurdly_long_input():
    assert api_key_find(raw="x" * 10_000) is None


def test_a_person_uses_the_portal_for_one_employer_at_most(employer):
    user = UserFactory()
    link = services.employer_user_add(employer=employer, user=user, actor=None)
    assert services.employer_user_add(employer=employer, user=user, actor=None) == link
    other = make_employer("Southshire ICB")
    with pytest.raises(EmployerError, match="another organisation"):
        services.employer_user_add(employer=other, user=user, actor=None)
    assert EmployerUser.objects.get(user=user).employer == employer
    assert AuditEvent.objects.filter(action=Action.EMPLOYER_USER_ADDED).count() == 1


def test_creating_an_employer_is_audited():
    employer = services.employer_client_create(
        name=" Westshire Trust ", contact_email="it@westshire.example", actor=None
    )
    assert employer.name == "Westshire Trust"
    assert AuditEvent.objects.get(action=Action.EMPLOYER_CREATED).subject_id == str(
        employer.public_id
    )
    with pytest.raises(EmployerError):
        services.employer_client_create(name="", contact_email="x@example.org", actor=None)
