"""Employer clients, their people and API keys, and the log of every lookup.

An API key is a long random secret shown once when it is made. Only its
SHA-256 digest is stored: the secret carries 256 bits of randomness, so a fast
digest is as safe as a slow password hash here, and checking a key costs one
indexed lookup rather than tens of milliseconds of hashing on every call.
"""

import hashlib
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from members.models import Member, User


def api_key_digest(raw_key: str) -> str:
    """The stored form of a key: SHA-256 of the whole key (a 256-bit random secret)."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


class Scope(models.TextChoices):
    VERIFY = "verify", "Verify members"
    WATCHLIST = "watchlist", "Manage the watch list"
    WEBHOOKS = "webhooks", "Manage webhook endpoints"


class EmployerClient(models.Model):
    """An organisation that checks managers' status: its people use the portal,
    its systems use API keys."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField("organisation name", max_length=200)
    contact_email = models.EmailField(help_text="Who we write to about the account.")
    is_active = models.BooleanField(
        "active", default=True, help_text="An inactive employer's keys and people are refused."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EmployerUser(models.Model):
    """A person who uses the employer portal for one employer (never more than one)."""

    employer = models.ForeignKey(EmployerClient, on_delete=models.PROTECT, related_name="users")
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="employer_user")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["employer", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} at {self.employer}"


class ApiKey(models.Model):
    """A key an employer's systems send as ``Authorization: Bearer <key>``.

    The full key is ``<prefix>.<secret>``; the prefix is stored in the clear so
    people can tell their keys apart, the whole key only as a digest.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    employer = models.ForeignKey(EmployerClient, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="What the key is for, e.g. 'HR system'.")
    prefix = models.CharField(max_length=20, unique=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, help_text="Any of: verify, watchlist, webhooks.")
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_usable(self, now=None) -> bool:
        return not self.is_revoked and not self.is_expired(now)


class LookupResult(models.TextChoices):
    FOUND = "found", "Found"
    # Logged apart for our own abuse checks; callers get one identical answer for both.
    UNKNOWN_NUMBER = "unknown_number", "Unknown number"
    NAME_MISMATCH = "name_mismatch", "Name did not match"


class LookupChannel(models.TextChoices):
    API = "api", "API"
    API_BULK = "api_bulk", "API bulk check"
    PORTAL = "portal", "Employer portal"


class VerificationLookup(models.Model):
    """One check of one person by an employer: who asked, about whom, what we said."""

    # employer and member are the first columns of the indexes below, which serve
    # their joins too: a separate index each would only slow every logged check.
    employer = models.ForeignKey(
        EmployerClient, on_delete=models.PROTECT, related_name="lookups", db_index=False
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.PROTECT, related_name="lookups"
    )
    # The portal user, for checks made in the portal (CSV uploads).
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(max_length=20, choices=LookupChannel, default=LookupChannel.API)
    member = models.ForeignKey(
        Member,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lookups",
        db_index=False,
    )
    membership_number = models.CharField("number asked", max_length=40)
    family_name = models.CharField("family name asked", max_length=150)
    result = models.CharField(max_length=20, choices=LookupResult)
    status = models.CharField("status given", max_length=20, blank=True)
    on_date = models.DateField("status asked for on")
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["member", "-at"], name="lookup_member_recent"),
            models.Index(fields=["employer", "-at"], name="lookup_employer_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(result__in=LookupResult.values), name="lookup_result_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=LookupChannel.values), name="lookup_channel_valid"
            ),
            # Only a found member is linked: a wrong name must not tell the member's
            # history that someone holds their number.
            models.CheckConstraint(
                condition=models.Q(result="found", member__isnull=False)
                | (~models.Q(result="found") & models.Q(member__isnull=True)),
                name="lookup_member_only_when_found",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.employer} checked {self.membership_number} ({self.result})"


# --- Watch lists and outgoing webhooks --------------------------------------------


class WatchEntry(models.Model):
    """A member an employer follows: their changes are sent to the employer's webhooks.

    The number and family name are kept as the employer gave them, so the list
    reads in the employer's own terms even if the member later changes name."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    employer = models.ForeignKey(
        EmployerClient, on_delete=models.CASCADE, related_name="watch_entries"
    )
    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="watch_entries"
    )
    membership_number = models.CharField(max_length=12)
    family_name = models.CharField(max_length=150)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["employer", "member"], name="watch_entry_unique"),
        ]
        indexes = [models.Index(fields=["employer", "-added_at", "-id"])]
        verbose_name_plural = "watch entries"

    def __str__(self) -> str:
        return f"{self.membership_number} {self.family_name}"


class WebhookEventType(models.TextChoices):
    MEMBER_STATUS_CHANGED = "member.status_changed", "A member's status changed"
    ACCREDITATION_ISSUED = "accreditation.issued", "Accreditation issued"
    ACCREDITATION_SUSPENDED = "accreditation.suspended", "Accreditation suspended"
    ACCREDITATION_REVOKED = "accreditation.revoked", "Accreditation revoked"
    ACCREDITATION_EXPIRED = "accreditation.expired", "Accreditation expired"


# Sent only by a test ping; never chosen as a subscription.
PING_EVENT_TYPE = "webhook.ping"


def _all_event_types() -> list[str]:
    return list(WebhookEventType.values)


class WebhookEndpoint(models.Model):
    """Where an employer wants events for its watch list sent, signed with ``secret``."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    employer = models.ForeignKey(
        EmployerClient, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField("URL", max_length=500)
    description = models.CharField(max_length=200, blank=True)
    # A Standard Webhooks secret ("whsec_..."); kept readable because every
    # delivery is signed with it, and shown to the employer only once.
    secret = models.CharField(max_length=100, editable=False)
    events = models.JSONField(default=_all_event_types)
    active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    # Consecutive failed attempts, and when the run of failures began; a
    # success resets both. An endpoint failing for too long is disabled.
    failure_count = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint: its fixed payload and where its delivery stands."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    # The webhook-id header: the same on every retry, so receivers can de-duplicate.
    event_id = models.CharField(max_length=40, unique=True)
    event_type = models.CharField(max_length=64)
    audit_event = models.ForeignKey(
        "audit.AuditEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response_body = models.TextField(blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Fan-out may run twice for the same audit event; it delivers once.
            models.UniqueConstraint(
                fields=["endpoint", "audit_event"], name="webhook_delivery_once_per_event"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "delivered", "failed"]),
                name="webhook_delivery_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["endpoint", "-created_at", "-id"]),
            # A sending batch takes an endpoint's oldest pending deliveries; the
            # delivered ones, kept for the log, stay out of this index.
            models.Index(
                fields=["endpoint", "id"],
                condition=models.Q(status="pending"),
                name="webhook_delivery_pending",
            ),
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class DeliveryAttempt(models.Model):
    """Every try at sending a delivery, with what the receiver said."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    attempted_at = models.DateTimeField()
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"


class BulkVerification(models.Model):
    """A CSV of number and family name pairs checked in the background for the portal."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting to start"
        RUNNING = "running", "Checking"
        DONE = "done", "Finished"
        FAILED = "failed", "Failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    employer = models.ForeignKey(
        EmployerClient, on_delete=models.CASCADE, related_name="bulk_verifications"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(max_length=200)
    # Pairs as parsed from the upload: [[number, family name], ...].
    rows = models.JSONField(default=list)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    matched_rows = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status, default=Status.QUEUED)
    result_csv = models.TextField(blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"

    @property
    def percent_done(self) -> int:
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 100


class RegisterName(models.Model):
    """Every family and given name in use, once: the register search matches the
    words typed against these few thousand names (substring, and trigram
    similarity on PostgreSQL), then reads the people with the matching names in
    name order from an index, so a common name costs a page, not every namesake.

    Filled on PostgreSQL by a trigger on members_user (api/migrations/0005), so
    every way a name is written keeps it; names no longer used stay (they match
    nobody). Bulk loads that skip triggers call ``register_names_refresh``. On
    SQLite the search reads the names from the users instead.
    """

    class Kind(models.TextChoices):
        FAMILY = "family", "Family name"
        GIVEN = "given", "Given name"

    kind = models.CharField(max_length=6, choices=Kind)
    name = models.CharField(max_length=150)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="register_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.name}"
