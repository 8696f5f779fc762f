"""Accreditation: schemes and levels, applications, referees, assessments and appeals.

Every change goes through ``accreditation.services``; the database backs the
invariants a service could otherwise get wrong under concurrency (one open
application per member and level, one judgement per standard, one assessment
per assignment).
"""

import uuid

from django.conf import settings
from django.db import models

from cpd.models import Entry, Standard
from members.models import ManagementLevel, Member, pounds


class Scheme(models.Model):
    """A family of accreditations, such as "Accredited Manager"."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_open = models.BooleanField(default=True, help_text="Taking new applications.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Level(models.Model):
    """One level of a scheme and what an applicant must show to reach it."""

    scheme = models.ForeignKey(Scheme, on_delete=models.PROTECT, related_name="levels")
    management_level = models.CharField(max_length=20, choices=ManagementLevel)
    name = models.CharField(max_length=200)
    required_standards = models.ManyToManyField(Standard, related_name="+", blank=True)
    per_domain_minimum = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="If set, the applicant evidences at least this many of the required "
        "standards in each of their domains; if empty, every required standard.",
    )
    min_months_in_role = models.PositiveSmallIntegerField("minimum months in a management role")
    cpd_minutes_last_12_months = models.PositiveIntegerField(
        "CPD minutes needed in the last 12 months", default=30 * 60
    )
    requires_last_return_accepted = models.BooleanField(
        "last annual CPD return must be accepted",
        default=True,
        help_text="Sent, meeting the requirement, and not failed at audit.",
    )
    referees_required = models.PositiveSmallIntegerField(default=2)
    validity_years = models.PositiveSmallIntegerField(default=3)
    fee_pence = models.PositiveIntegerField(default=0)
    assessors_required = models.PositiveSmallIntegerField(
        default=1, help_text="Two for the executive level."
    )
    grants_grade = models.OneToOneField(
        "members.Grade",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="awarding_level",
        help_text="A membership grade that needs review (such as Fellow) is awarded by "
        "approving an application at this level.",
    )
    post_nominals = models.CharField(
        max_length=20, blank=True, help_text="Letters after the name this level grants, if any."
    )

    class Meta:
        ordering = ["scheme", "management_level"]
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "management_level"], name="level_one_per_scheme_and_level"
            ),
            models.CheckConstraint(
                condition=models.Q(management_level__in=ManagementLevel.values),
                name="level_management_level_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(assessors_required__gte=1)
                & (
                    ~models.Q(management_level=ManagementLevel.EXECUTIVE)
                    | models.Q(assessors_required__gte=2)
                ),
                name="level_enough_assessors",
            ),
            models.CheckConstraint(
                condition=models.Q(validity_years__gte=1), name="level_validity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scheme}: {self.name}"


class ApplicationState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    IN_ASSESSMENT = "in_assessment", "In assessment"
    INFO_REQUESTED = "info_requested", "More information requested"
    IN_MODERATION = "in_moderation", "In moderation"
    RECOMMENDED = "recommended", "Recommended"
    APPROVED = "approved", "Approved"
    DECLINED = "declined", "Declined"
    APPEALED = "appealed", "Appealed"
    APPEAL_UPHELD = "appeal_upheld", "Appeal upheld"
    APPEAL_DISMISSED = "appeal_dismissed", "Appeal dismissed"
    WITHDRAWN = "withdrawn", "Withdrawn"


# States with no decision yet: the member may still withdraw.
UNDECIDED = (
    ApplicationState.DRAFT,
    ApplicationState.SUBMITTED,
    ApplicationState.IN_ASSESSMENT,
    ApplicationState.INFO_REQUESTED,
    ApplicationState.IN_MODERATION,
    ApplicationState.RECOMMENDED,
)
CLOSED = (
    ApplicationState.APPROVED,
    ApplicationState.DECLINED,
    ApplicationState.APPEAL_UPHELD,
    ApplicationState.APPEAL_DISMISSED,
    ApplicationState.WITHDRAWN,
)
# Applications in these states are finished; a member may start another at the level.
CLOSED_STATES = [state.value for state in CLOSED]


class Recommendation(models.TextChoices):
    APPROVE = "approve", "Approve"
    DECLINE = "decline", "Decline"


class Application(models.Model):
    State = ApplicationState
    Recommendation = Recommendation
    UNDECIDED = UNDECIDED
    CLOSED = CLOSED

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="applications")
    level = models.ForeignKey(Level, on_delete=models.PROTECT, related_name="applications")
    state = models.CharField(
        max_length=20, choices=ApplicationState, default=ApplicationState.DRAFT
    )
    career_summary = models.TextField(blank=True)
    management_since = models.DateField("in a management role since", null=True, blank=True)
    recommendation = models.CharField(max_length=10, choices=Recommendation, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decision_reasons = models.TextField(blank=True, help_text="The member reads these.")
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "level"],
                condition=~models.Q(state__in=CLOSED_STATES),
                name="application_one_open_per_member_and_level",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=ApplicationState.values),
                name="application_state_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(recommendation__in=[*Recommendation.values, ""]),
                name="application_recommendation_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(state__in=["approved", "declined"])
                | (models.Q(decided_at__isnull=False) & ~models.Q(decision_reasons="")),
                name="application_decision_has_reasons",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member} for {self.level} ({self.get_state_display()})"


class StandardStatement(models.Model):
    """The applicant's case for one standard, with the CPD entries that back it."""

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="statements"
    )
    standard = models.ForeignKey(Standard, on_delete=models.PROTECT, related_name="+")
    statement = models.TextField()
    entries = models.ManyToManyField(Entry, blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["application", "standard__order", "standard__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "standard"], name="statement_one_per_standard"
            )
        ]

    def __str__(self) -> str:
        return f"{self.standard.code} for {self.application_id}"


class Referee(models.Model):
    """Someone who vouches for the applicant through an emailed, expiring, single-use link."""

    class Response(models.TextChoices):
        CONFIRM = "confirm", "Confirmed"
        DECLINE = "decline", "Declined"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="referees")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    # Only the SHA-256 of the link's token: the token is shown once, in the email.
    token_hash = models.CharField(max_length=64, unique=True)
    invited_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    response = models.CharField(max_length=10, choices=Response, blank=True)
    comment = models.TextField(blank=True)
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    last_reminded_at = models.DateTimeField(null=True, blank=True)
    # A referee who declined, or never answered, is replaced but kept on the record.
    replaced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["application", "invited_at"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(responded_at__isnull=True) & models.Q(response=""))
                | (
                    models.Q(responded_at__isnull=False)
                    & models.Q(response__in=["confirm", "decline"])
                ),
                name="referee_response_with_time",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class ConflictOfInterest(models.Model):
    """An assessor's declared conflict with a member: they are never assigned to them."""

    assessor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="conflicts"
    )
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    declared_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["assessor", "member"], name="conflict_once")]

    def __str__(self) -> str:
        return f"{self.assessor} / {self.member}"


class AssignmentRole(models.TextChoices):
    ASSESSOR = "assessor", "Assessor"
    MODERATOR = "moderator", "Moderator"
    APPEAL = "appeal", "Appeal assessor"


class Assignment(models.Model):
    Role = AssignmentRole

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="assignments"
    )
    assessor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="accreditation_assignments"
    )
    role = models.CharField(max_length=10, choices=AssignmentRole, default=AssignmentRole.ASSESSOR)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    assigned_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    conflict_declared_none = models.BooleanField(default=False)
    declined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["application", "assigned_at"]
        constraints = [
            # Everyone who takes part in an application does so once, in one role:
            # so a moderator or appeal assessor is always someone fresh.
            models.UniqueConstraint(
                fields=["application", "assessor"], name="assignment_one_per_person"
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=AssignmentRole.values), name="assignment_role_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(accepted_at__isnull=True)
                | models.Q(conflict_declared_none=True),
                name="assignment_accepted_declares_no_conflict",
            ),
            models.CheckConstraint(
                condition=models.Q(accepted_at__isnull=True) | models.Q(declined_at__isnull=True),
                name="assignment_not_accepted_and_declined",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.assessor} ({self.get_role_display()}) on {self.application_id}"


class InformationRequest(models.Model):
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="information_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    question = models.TextField()
    requested_at = models.DateTimeField(auto_now_add=True)
    response = models.TextField(blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["application", "requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["application"],
                condition=models.Q(responded_at__isnull=True),
                name="information_request_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"Question on {self.application_id}"


class Judgement(models.TextChoices):
    MET = "met", "Met"
    PARTLY_MET = "partly_met", "Partly met"
    NOT_MET = "not_met", "Not met"


class Assessment(models.Model):
    assignment = models.OneToOneField(
        Assignment, on_delete=models.PROTECT, related_name="assessment"
    )
    recommendation = models.CharField(max_length=10, choices=Recommendation)
    reasons = models.TextField()
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(recommendation__in=Recommendation.values),
                name="assessment_recommendation_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_recommendation_display()} by {self.assignment}"


class StandardJudgement(models.Model):
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="judgements")
    standard = models.ForeignKey(Standard, on_delete=models.PROTECT, related_name="+")
    judgement = models.CharField(max_length=12, choices=Judgement)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["assessment", "standard__order", "standard__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["assessment", "standard"], name="judgement_one_per_standard"
            ),
            models.CheckConstraint(
                condition=models.Q(judgement__in=Judgement.values), name="judgement_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.standard.code}: {self.get_judgement_display()}"


class AppealOutcome(models.TextChoices):
    UPHELD = "upheld", "Upheld"
    DISMISSED = "dismissed", "Dismissed"


class Appeal(models.Model):
    Outcome = AppealOutcome

    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="appeal")
    grounds = models.TextField()
    lodged_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=10, choices=AppealOutcome, blank=True)
    outcome_reasons = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome__in=[*AppealOutcome.values, ""]),
                name="appeal_outcome_valid",
            )
        ]

    def __str__(self) -> str:
        return f"Appeal on {self.application_id}"


class ApplicationFee(models.Model):
    """The level's fee for one application: raised at submission, and paid by card or
    Direct Debit through Stripe Checkout, or by the employer against an invoice."""

    class State(models.TextChoices):
        DUE = "due", "Due"
        PAID = "paid", "Paid"
        WAIVED = "waived", "Waived"
        CANCELLED = "cancelled", "Cancelled"  # the application was withdrawn first

    class Method(models.TextChoices):
        STRIPE = "stripe", "Card or Direct Debit"
        INVOICE = "invoice", "Invoice to employer"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="fee")
    amount_pence = models.PositiveIntegerField()
    state = models.CharField(max_length=10, choices=State, default=State.DUE)
    method = models.CharField(max_length=10, choices=Method, blank=True)
    invoice_number = models.CharField(max_length=20, unique=True, null=True, blank=True)
    payer_organisation = models.CharField(max_length=200, blank=True)
    purchase_order = models.CharField("purchase order number", max_length=100, blank=True)
    payer_email = models.EmailField(blank=True)
    # The Stripe Checkout session that is paying it: unique, so repeated webhook
    # deliveries and the return page settle it once.
    stripe_session_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    reference = models.CharField(
        max_length=200, blank=True, help_text="Bank or processor reference."
    )
    paid_on = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    waiver_reason = models.TextField(blank=True)
    raised_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["due", "paid", "waived", "cancelled"]),
                name="fee_state_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="paid") | models.Q(paid_on__isnull=False),
                name="fee_paid_has_date",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="waived") | ~models.Q(waiver_reason=""),
                name="fee_waiver_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"Fee for {self.application_id} ({self.get_state_display()})"

    @property
    def amount_display(self) -> str:
        return pounds(self.amount_pence)

    @property
    def settled(self) -> bool:
        return self.state in (self.State.PAID, self.State.WAIVED)


# ---------------------------------------------------------------- certificates


class CertificateStatus(models.TextChoices):
    VALID = "valid", "Valid"
    SUSPENDED = "suspended", "Suspended"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class SuspendedBy(models.TextChoices):
    # Lifted by itself when the membership is back in good standing.
    MEMBERSHIP = "membership", "The membership is not in good standing"
    # Lifted only by a registrar.
    REGISTRAR = "registrar", "The registrar"


class Certificate(models.Model):
    """An accreditation awarded on approval. Never deleted: revoked (final, with a
    reason), suspended (reversible) or expired, it still answers on the
    verification page. ``public_id`` is printed in the QR code and never changes."""

    Status = CertificateStatus
    SuspendedBy = SuspendedBy

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    serial = models.CharField(max_length=24, unique=True, editable=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="certificates")
    level = models.ForeignKey(Level, on_delete=models.PROTECT, related_name="certificates")
    # The approval that awarded it: one certificate per application, so approving twice
    # (a retry, a double submit) cannot issue two.
    application = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="certificate"
    )
    valid_from = models.DateField()
    valid_until = models.DateField()
    status = models.CharField(
        max_length=10, choices=CertificateStatus, default=CertificateStatus.VALID
    )
    suspended_by = models.CharField(max_length=12, choices=SuspendedBy, blank=True)
    # Why it is suspended or revoked; the verification page shows it.
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField()
    issued_at = models.DateTimeField(auto_now_add=True)
    # Its bit in the revocation list and in the suspension list (the same index in both).
    status_list_index = models.PositiveIntegerField(unique=True, editable=False)
    # Bumped by every change the PDF prints (status, dates); the cached PDF is
    # re-rendered when its version is behind.
    version = models.PositiveIntegerField(default=1)
    pdf = models.FileField(upload_to="certificates/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    pdf_version = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-valid_from", "-pk"]
        indexes = [models.Index(fields=["member", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=CertificateStatus.values),
                name="certificate_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_until__gte=models.F("valid_from")),
                name="certificate_dates_in_order",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(status="suspended") & models.Q(suspended_by__in=SuspendedBy.values)
                )
                | (~models.Q(status="suspended") & models.Q(suspended_by="")),
                name="certificate_suspension_has_cause",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="revoked") | ~models.Q(status_reason=""),
                name="certificate_revocation_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.serial} ({self.get_status_display()})"

    @property
    def is_valid(self) -> bool:
        return self.status == CertificateStatus.VALID


class CertificateRenewal(models.Model):
    """Marks an application as the renewal of a certificate: lighter evidence (the
    period's CPD returns and a statement); approving it extends the certificate."""

    application = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="renewal"
    )
    certificate = models.ForeignKey(Certificate, on_delete=models.PROTECT, related_name="renewals")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the approval extended the certificate; a second approval changes nothing.
    renewed_at = models.DateTimeField(null=True, blank=True)
    previous_valid_until = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Renewal of {self.certificate.serial}"
