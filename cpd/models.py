"""Standards frameworks (versioned data) and members' CPD entries with evidence."""

import uuid

from django.core.files.storage import storages
from django.db import models
from django.db.models.functions import Mod
from django.db.models.lookups import Exact
from django.utils.functional import LazyObject

from members.models import ManagementLevel, Member


class Framework(models.Model):
    """One version of a standards framework. A family (``key``) has at most one
    current version; entries keep the version they were mapped to."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        CURRENT = "current", "Current"
        RETIRED = "retired", "Retired"

    key = models.SlugField(max_length=50, help_text="The family, shared by every version.")
    name = models.CharField(max_length=200)
    short_name = models.CharField(max_length=40)
    version = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status, default=Status.DRAFT)
    published_on = models.DateField(null=True, blank=True)
    is_primary = models.BooleanField(
        default=False,
        help_text="Members map entries to this family; the others are views via the crosswalk.",
    )
    source_note = models.TextField(
        blank=True, help_text="Where the names come from; descriptions are our own."
    )

    class Meta:
        ordering = ["-is_primary", "key", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="framework_unique_version"),
            models.UniqueConstraint(
                fields=["key"], condition=models.Q(status="current"), name="framework_one_current"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.get_status_display().lower()})"


class Domain(models.Model):
    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="domains")
    code = models.CharField(max_length=10)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["framework", "order", "code"]
        constraints = [
            models.UniqueConstraint(fields=["framework", "code"], name="domain_unique_code")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class Standard(models.Model):
    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="standards")
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="standards")
    code = models.CharField(max_length=10)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    # The crosswalk: the other frameworks' dimensions and domains this standard counts towards.
    counts_towards = models.ManyToManyField(
        Domain, blank=True, related_name="crosswalked_standards"
    )

    class Meta:
        ordering = ["framework", "domain__order", "order", "code"]
        constraints = [
            models.UniqueConstraint(fields=["framework", "code"], name="standard_unique_code")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class Indicator(models.Model):
    """What meeting a standard looks like at one management level."""

    standard = models.ForeignKey(Standard, on_delete=models.CASCADE, related_name="indicators")
    level = models.CharField(max_length=20, choices=ManagementLevel)
    text = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["standard", "level"], name="indicator_one_per_level")
        ]

    def __str__(self) -> str:
        return f"{self.standard.code} ({self.level})"


class ActivityType(models.TextChoices):
    FORMAL = "formal", "Formal learning"
    WORK_BASED = "work_based", "Work-based learning"
    SELF_DIRECTED = "self_directed", "Self-directed learning"
    PROFESSIONAL = "professional", "Professional activity"
    OTHER = "other", "Other"


class Entry(models.Model):
    """One piece of CPD a member logged."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="cpd_entries")
    title = models.CharField(max_length=200)
    starts_on = models.DateField()
    ends_on = models.DateField()
    # Whole minutes, in quarter-hour steps: exact sums, no floating point.
    minutes = models.PositiveIntegerField()
    activity_type = models.CharField(max_length=20, choices=ActivityType)
    provider = models.CharField(max_length=200, blank=True)
    participatory = models.BooleanField(
        help_text="Learning with others (a course, a workshop, coaching), as opposed to on your own."
    )
    reflection_learned = models.TextField("what I learned", blank=True)
    reflection_applied = models.TextField("how I applied it", blank=True)
    reflection_impact = models.TextField("impact on my service and its users", blank=True)
    link = models.URLField(blank=True, max_length=500)
    standards = models.ManyToManyField(Standard, blank=True, related_name="entries")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-ends_on", "-id"]
        verbose_name_plural = "entries"
        indexes = [models.Index(fields=["member", "ends_on"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(minutes__gt=0), name="entry_minutes_positive"
            ),
            models.CheckConstraint(
                condition=Exact(Mod("minutes", 15), 0), name="entry_quarter_hours"
            ),
            models.CheckConstraint(
                condition=models.Q(ends_on__gte=models.F("starts_on")), name="entry_dates_in_order"
            ),
            models.CheckConstraint(
                condition=models.Q(activity_type__in=ActivityType.values), name="entry_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def hours(self) -> float:
        return self.minutes / 60

    @property
    def has_reflection(self) -> bool:
        return bool(
            self.reflection_learned.strip()
            and self.reflection_applied.strip()
            and self.reflection_impact.strip()
        )


class _EvidenceStorage(LazyObject):
    def _setup(self):
        self._wrapped = storages["evidence"]


_evidence_storage = _EvidenceStorage()


def evidence_storage():
    """Evidence lives in its own storage (settings.STORAGES["evidence"]), outside
    anything the web server serves. Looked up on first use, not at import."""
    return _evidence_storage


def evidence_upload_to(instance: "Evidence", filename: str) -> str:
    # A generated name: nothing the uploader chose reaches the file system.
    return f"{instance.entry.member.public_id}/{uuid.uuid4().hex}"


class Evidence(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="evidence")
    file = models.FileField(storage=evidence_storage, upload_to=evidence_upload_to, max_length=200)
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]
        verbose_name_plural = "evidence"

    def __str__(self) -> str:
        return self.original_name


# --- The CPD year: returns, audit, sharing, plans -------------------------------------------


class AnnualReturn(models.Model):
    """A member's declaration of their CPD for one CPD year. Submitting it
    locks the entries it covers."""

    class State(models.TextChoices):
        DRAFT = "draft", "Not submitted"
        SUBMITTED = "submitted", "Submitted"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="annual_returns")
    year_starts_on = models.DateField()
    year_ends_on = models.DateField()
    due_on = models.DateField()
    state = models.CharField(max_length=20, choices=State, default=State.DRAFT)
    # What was declared, frozen at submission (the requirement and totals then).
    required_minutes = models.PositiveIntegerField(default=0)
    declared_minutes = models.PositiveIntegerField(default=0)
    declared_participatory_minutes = models.PositiveIntegerField(default=0)
    declared_reflections = models.PositiveSmallIntegerField(default=0)
    declared_domains = models.PositiveSmallIntegerField(default=0)
    meets_requirement = models.BooleanField(default=False)
    shortfall_explanation = models.TextField(blank=True)
    declaration_confirmed = models.BooleanField(default=False)
    submitted_at = models.DateTimeField(null=True, blank=True)
    late = models.BooleanField(default=False)

    class Meta:
        ordering = ["-year_starts_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "year_starts_on"], name="one_return_per_member_year"
            )
        ]

    def __str__(self) -> str:
        return f"Return {self.year_starts_on:%Y} for {self.member}"


class AuditSample(models.Model):
    """One draw of members whose returns are audited, reproducible from its seed."""

    year_starts_on = models.DateField()
    seed = models.CharField(max_length=64)
    rule = models.TextField(help_text="How the sample was drawn, in words, for the record.")
    percentage = models.DecimalField(max_digits=5, decimal_places=2)
    eligible_count = models.PositiveIntegerField()
    drawn_by = models.ForeignKey(
        "members.User", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    drawn_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-drawn_at"]
        constraints = [
            models.UniqueConstraint(fields=["year_starts_on"], name="one_audit_sample_per_year")
        ]

    def __str__(self) -> str:
        return f"Audit sample {self.year_starts_on:%Y} (seed {self.seed})"


class AuditCase(models.Model):
    """A member selected for audit, and the assessor's review of their return."""

    class State(models.TextChoices):
        SELECTED = "selected", "Selected"
        DEFERRED = "deferred", "Deferred"
        IN_REVIEW = "in_review", "With an assessor"
        MORE_INFORMATION = "more_information", "More information needed"
        MEETS = "meets", "Meets the standard"
        DOES_NOT_MEET = "does_not_meet", "Does not meet the standard"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sample = models.ForeignKey(AuditSample, on_delete=models.PROTECT, related_name="cases")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="audit_cases")
    added_by_registrar = models.BooleanField(default=False)
    state = models.CharField(max_length=20, choices=State, default=State.SELECTED)
    respond_by = models.DateField()
    assessor = models.ForeignKey(
        "members.User", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    outcome_reasons = models.TextField(blank=True)
    member_response = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # A member may ask for more time; a registrar grants it with a new respond_by.
    deferral_requested_on = models.DateField(null=True, blank=True)
    deferral_reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["respond_by", "id"]
        constraints = [
            models.UniqueConstraint(fields=["sample", "member"], name="one_case_per_member_sample")
        ]

    def __str__(self) -> str:
        return f"Audit of {self.member} ({self.get_state_display()})"


class ReturnReminder(models.Model):
    """A reminder sent about one annual return; the unique row makes each kind go out once."""

    class Kind(models.TextChoices):
        YEAR_END = "year_end", "The year has ended"
        DAYS_14_BEFORE = "before_14", "14 days before it is due"
        ON_THE_DAY = "on_day", "On the day it is due"

    annual_return = models.ForeignKey(
        AnnualReturn, on_delete=models.CASCADE, related_name="reminders"
    )
    kind = models.CharField(max_length=20, choices=Kind)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["annual_return", "kind"], name="one_return_reminder_per_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} reminder for {self.annual_return}"


class ShareLink(models.Model):
    """A read-only, time-limited, revocable link to a member's CPD portfolio."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="share_links")
    # Only a hash of the token is kept; the link is shown once, when made.
    token_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(
        max_length=200, help_text="Who it is for, e.g. 'Appraisal with Dr Patel'."
    )
    year_starts_on = models.DateField(
        null=True, blank=True, help_text="Empty: the whole portfolio."
    )
    include_evidence = models.BooleanField(default=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Share link '{self.label}'"


class ShareView(models.Model):
    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="views")
    viewed_at = models.DateTimeField(auto_now_add=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-viewed_at"]

    def __str__(self) -> str:
        return f"View of {self.link_id} at {self.viewed_at}"


class Goal(models.Model):
    """A personal development plan goal, tied to standards."""

    class State(models.TextChoices):
        PLANNED = "planned", "Planned"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        DROPPED = "dropped", "Dropped"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="goals")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    standards = models.ManyToManyField(Standard, blank=True, related_name="goals")
    target_on = models.DateField()
    state = models.CharField(max_length=20, choices=State, default=State.PLANNED)
    entries = models.ManyToManyField(Entry, blank=True, related_name="goals")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["target_on", "id"]

    def __str__(self) -> str:
        return self.title
