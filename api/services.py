"""Writes for employer clients: the clients and their people, API keys, and the
lookup log. Each change is audited in the same transaction."""

import datetime as dt
import functools
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from api import selectors
from api.models import (
    ApiKey,
    EmployerClient,
    EmployerUser,
    LookupChannel,
    LookupResult,
    RegisterName,
    Scope,
    VerificationLookup,
    api_key_digest,
)
from audit.models import Action
from audit.services import audit_record
from members import services as member_services
from members.models import User

EMPLOYER_SUBJECT = "api.employer"
KEY_SUBJECT = "api.api_key"

# "ihsm_" and 8 hex characters: enough to tell keys apart, nothing to guess from.
KEY_PREFIX_START = "ihsm_"
# last_used_at is written at most once a minute per key, so a busy key costs
# no extra write on most calls.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class EmployerError(Exception):
    """A change the employer's account does not allow; the message says why."""


# --- Employers and their people ----------------------------------------------


@transaction.atomic
def employer_client_create(*, name: str, contact_email: str, actor: User | None) -> EmployerClient:
    name = (name or "").strip()
    if not name:
        raise EmployerError("Enter the organisation's name.")
    employer = EmployerClient.objects.create(name=name, contact_email=contact_email.strip())
    audit_record(
        action=Action.EMPLOYER_CREATED,
        subject_type=EMPLOYER_SUBJECT,
        subject_id=str(employer.public_id),
        actor=actor,
        after={"name": employer.name, "contact_email": employer.contact_email},
    )
    return employer


@transaction.atomic
def employer_user_add(*, employer: EmployerClient, user: User, actor: User | None) -> EmployerUser:
    """Let a person use the portal for this employer. A person belongs to one
    employer at most; adding them again to the same one changes nothing."""
    existing = EmployerUser.objects.filter(user=user).select_related("employer").first()
    if existing is not None:
        if existing.employer_id == employer.pk:
            return existing
        raise EmployerError(f"{user.email} already uses the portal for another organisation.")
    try:
        with transaction.atomic():
            link = EmployerUser.objects.create(employer=employer, user=user)
    except IntegrityError as error:  # a concurrent add of the same person
        raise EmployerError(f"{user.email} already uses the portal.") from error
    audit_record(
        action=Action.EMPLOYER_USER_ADDED,
        subject_type=EMPLOYER_SUBJECT,
        subject_id=str(employer.public_id),
        actor=actor,
        after={"user": user.email},
    )
    return link


# --- API keys ----------------------------------------------------------------


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(scopes))
    unknown = [scope for scope in chosen if scope not in Scope.values]
    if unknown:
        raise EmployerError(f"Unknown scope: {', '.join(sorted(unknown))}.")
    if not chosen:
        raise EmployerError("Choose at least one thing the key may do.")
    # Stored in a fixed order, so two keys with the same rights look the same.
    return [scope for scope in Scope.values if scope in chosen]


@dataclass(frozen=True)
class NewApiKey:
    """A key just made. ``raw`` is the only copy of the secret: show it once."""

    key: ApiKey
    raw: str


@transaction.atomic
def api_key_create(
    *,
    employer: EmployerClient,
    name: str,
    scopes: Iterable[str],
    actor: User | None,
    expires_at: dt.datetime | None = None,
) -> NewApiKey:
    """Make a key and return it with its secret. The secret is never stored or
    shown again: only its digest is kept."""
    name = (name or "").strip()
    if not name:
        raise EmployerError("Give the key a name, so you can tell it apart later.")
    if not employer.is_active:
        raise EmployerError("This organisation's account is not active.")
    if expires_at is not None and expires_at <= timezone.now():
        raise EmployerError("The expiry must be in the future.")
    scopes = _clean_scopes(scopes)
    for _attempt in range(5):
        prefix = KEY_PREFIX_START + secrets.token_hex(4)
        raw = f"{prefix}.{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    employer=employer,
                    name=name,
                    prefix=prefix,
                    digest=api_key_digest(raw),
                    scopes=scopes,
                    created_by=actor,
                    expires_at=expires_at,
                )
            break
        except IntegrityError:  # a prefix collision (one in four billion): draw again
            continue
    else:  # pragma: no cover - five collisions in a row do not happen
        raise EmployerError("Could not make a key; try again.")
    audit_record(
        action=Action.API_KEY_CREATED,
        subject_type=KEY_SUBJECT,
        subject_id=str(key.public_id),
        actor=actor,
        after={
            "employer": str(employer.public_id),
            "name": key.name,
            "prefix": key.prefix,
            "scopes": scopes,
            "expires_at": expires_at,
        },
    )
    return NewApiKey(key=key, raw=raw)


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: User | None, reason: str = "") -> ApiKey:
    """Stop a key working at once. Revoking a revoked key changes nothing."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is not None:
        return key
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    audit_record(
        action=Action.API_KEY_REVOKED,
        subject_type=KEY_SUBJECT,
        subject_id=str(key.public_id),
        actor=actor,
        before={"revoked": False},
        after={"revoked": True, "prefix": key.prefix},
        reason=reason,
    )
    return key


def api_key_touch(*, key: ApiKey, now: dt.datetime | None = None) -> None:
    """Record that the key was used, at most once a minute (one UPDATE when due,
    none otherwise), so a busy integration does not write on every call."""
    now = now or timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now


# --- The lookup log -------------------------------------------------------------


@dataclass(frozen=True)
class LookupRecord:
    """What one check asked and what it found, ready to log."""

    membership_number: str
    family_name: str
    result: LookupResult
    member_id: int | None
    status: str
    on_date: dt.date


def lookups_log(
    *,
    employer: EmployerClient,
    records: list[LookupRecord],
    channel: LookupChannel,
    api_key: ApiKey | None = None,
    user: User | None = None,
) -> None:
    """Write one log row per check, in one INSERT however many there are."""
    at = timezone.now()
    varying = [
        (
            # As typed, less NUL bytes, which PostgreSQL refuses in text.
            record.membership_number.replace("\x00", "")[:40],
            record.family_name.replace("\x00", "")[:150],
            record.result,
            record.member_id,
            record.status,
            record.on_date,
        )
        for record in records
    ]
    if not varying:
        return
    if connection.vendor == "postgresql":
        # Each column as one array: no model instance per row and a dozen
        # parameters rather than twelve thousand, a third of bulk_create's time
        # for a thousand checks. One statement also needs no transaction.
        columns = [list(column) for column in zip(*varying, strict=True)]
        constant = [
            channel,
            employer.pk,
            api_key.pk if api_key else None,
            user.pk if user else None,
        ]
        with connection.cursor() as cursor:
            cursor.execute(_lookups_insert_sql(), [*constant, at, *columns])
        return
    VerificationLookup.objects.bulk_create(
        [
            VerificationLookup(
                employer=employer,
                api_key=api_key,
                user=user,
                channel=channel,
                membership_number=number,
                family_name=family_name,
                result=result,
                member_id=member_id,
                status=status,
                on_date=on_date,
                at=at,
            )
            for number, family_name, result, member_id, status, on_date in varying
        ],
        batch_size=1000,
    )


@functools.cache
def _lookups_insert_sql() -> str:
    def column(name: str) -> str:
        return connection.ops.quote_name(VerificationLookup._meta.get_field(name).column)

    names = ", ".join(
        column(name)
        for name in (
            "channel", "employer", "api_key", "user", "at",
            "membership_number", "family_name", "result", "member", "status", "on_date",
        )
    )  # fmt: skip
    table = connection.ops.quote_name(VerificationLookup._meta.db_table)
    return (
        f"INSERT INTO {table} ({names}) SELECT %s, %s, %s, %s, %s, * FROM unnest("  # noqa: S608
        "%s::varchar[], %s::varchar[], %s::varchar[], %s::bigint[], %s::varchar[], %s::date[])"
    )


# --- Verification ---------------------------------------------------------------

# The most pairs one call may check (the API's bulk endpoint; the portal's CSV
# upload checks its rows in chunks of this size).
BULK_LIMIT = 1000


def members_verify(
    *,
    employer: EmployerClient,
    pairs: list[tuple[str, str]],
    on: dt.date,
    channel: LookupChannel,
    api_key: ApiKey | None = None,
    user: User | None = None,
) -> list[selectors.Check]:
    """Check up to ``BULK_LIMIT`` (membership number, family name) pairs as of a
    date and log every check. Returns ``api.selectors.Check`` per pair, in order.

    Two queries whatever the number of pairs: one read, one insert into the log.
    """
    if len(pairs) > BULK_LIMIT:
        raise EmployerError(f"Check at most {BULK_LIMIT} people at a time.")
    checks = selectors.members_check(pairs=pairs, on=on, today=member_services.local_today())
    lookups_log(
        employer=employer,
        api_key=api_key,
        user=user,
        channel=channel,
        records=[
            LookupRecord(
                membership_number=check.membership_number,
                family_name=check.family_name,
                result=check.result,
                member_id=check.member_id,
                status=check.verification.status_code if check.verification else "",
                on_date=on,
            )
            for check in checks
        ],
    )
    return checks


def register_names_refresh() -> int:
    """Add every family and given name in use to ``RegisterName``, for loads that
    bypass its trigger (COPY with triggers disabled). Idempotent; returns the
    number of names added. Nothing to do on SQLite, whose search reads the users."""
    if connection.vendor != "postgresql":
        return 0
    names, users = RegisterName._meta.db_table, User._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            # Table names from the models' metadata; the kinds are parameters.
            f"INSERT INTO {names} (kind, name) SELECT %s, family_name FROM {users} "  # noqa: S608
            f"UNION SELECT %s, given_name FROM {users} ON CONFLICT DO NOTHING",
            [RegisterName.Kind.FAMILY, RegisterName.Kind.GIVEN],
        )
        return cursor.rowcount
