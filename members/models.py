import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


def pounds(pence: int, *, plain: bool = False) -> str:
    """Money, held as integer pence, in pounds: the one way the site writes it.

    "£1,234.50" for people to read; ``plain=True`` gives "1234.50", which a
    spreadsheet or finance system reads as a number. No floating point.
    """
    sign = "-" if pence < 0 else ""
    whole, part = divmod(abs(pence), 100)
    return f"{sign}{whole}.{part:02d}" if plain else f"{sign}£{whole:,}.{part:02d}"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields):
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. Email is the login; membership lives on Member."""

    email = models.EmailField("email address", max_length=254, unique=True)
    given_name = models.CharField(max_length=150, blank=True)
    family_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(
        "registrar (staff)",
        default=False,
        help_text="Can use the admin site. Staff must set up two-factor authentication.",
    )
    is_assessor = models.BooleanField(
        default=False,
        help_text="Can assess accreditation applications and CPD audits. "
        "Assessors must set up two-factor authentication.",
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    def get_full_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    def get_short_name(self) -> str:
        return self.given_name or self.email

    @property
    def requires_mfa(self) -> bool:
        """Anyone who can see other people's data must use a second factor."""
        return self.is_staff or self.is_superuser or self.is_assessor


class ManagementLevel(models.TextChoices):
    FIRST_LINE = "first_line", "First-line manager"
    MIDDLE = "middle", "Middle manager"
    SENIOR = "senior", "Senior manager"
    EXECUTIVE = "executive", "Executive or board member"


class Status(models.TextChoices):
    APPLICANT = "applicant", "Applicant"
    ACTIVE = "active", "Active"
    GRACE = "grace", "In grace period"
    LAPSED = "lapsed", "Lapsed"
    SUSPENDED = "suspended", "Suspended"
    RESIGNED = "resigned", "Resigned"
    REMOVED = "removed", "Removed"
    DECEASED = "deceased", "Deceased"
    PAUSED = "paused", "Paused"


# Statuses in which a person is a member in good standing.
GOOD_STANDING = (Status.ACTIVE, Status.GRACE)


class Source(models.TextChoices):
    MEMBER = "member", "Member"
    STAFF = "staff", "Staff"
    PAYMENT = "payment", "Payment"
    SCHEDULE = "schedule", "Scheduled job"


class Grade(models.Model):
    """A membership grade, managed by registrars in the admin."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    post_nominals = models.CharField(max_length=20, blank=True)
    annual_fee_pence = models.PositiveIntegerField()
    cpd_hours_required = models.PositiveSmallIntegerField(
        "CPD hours a year", default=30, help_text="Pro-rated for part years and pauses."
    )
    cpd_participatory_percent = models.PositiveSmallIntegerField(
        "participatory share (%)",
        default=50,
        help_text="Of the hours, the share learned with others.",
    )
    cpd_reflections_required = models.PositiveSmallIntegerField("reflections a year", default=3)
    cpd_domains_required = models.PositiveSmallIntegerField("domains a year", default=3)
    requires_review = models.BooleanField(
        default=False, help_text="Joining or moving to this grade needs a registrar's approval."
    )
    eligibility = models.TextField(help_text="Who can join at this grade, in plain English.")
    stripe_price_id = models.CharField(max_length=100, blank=True)
    is_open = models.BooleanField(
        default=True, help_text="Offered to people joining or changing grade."
    )
    display_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["display_order", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def annual_fee_display(self) -> str:
        return pounds(self.annual_fee_pence)


class Organisation(models.Model):
    """An employer in the searchable list; members may also type one that is not listed."""

    name = models.CharField(max_length=200)
    ods_code = models.CharField("ODS code", max_length=10, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="organisation_name_unique_ci")]

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """One per user who has started joining; the current status is stored for fast queries."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="member")
    membership_number = models.CharField(
        max_length=12, unique=True, null=True, blank=True, editable=False
    )
    grade = models.ForeignKey(Grade, on_delete=models.PROTECT, related_name="members")
    status = models.CharField(max_length=20, choices=Status, default=Status.APPLICANT)
    status_since = models.DateField()
    organisation = models.ForeignKey(Organisation, null=True, blank=True, on_delete=models.PROTECT)
    organisation_other = models.CharField("organisation (not listed)", max_length=200, blank=True)
    job_title = models.CharField(max_length=200)
    management_level = models.CharField(max_length=20, choices=ManagementLevel)
    register_consent = models.BooleanField("appear on the public register", default=False)
    town = models.CharField(
        "town or city where you work", max_length=100, blank=True, default="", db_default=""
    )
    # The register shows organisation and town only with this second, separate agreement.
    # (Database defaults too, so bulk loaders that name only the older columns still work.)
    register_show_workplace = models.BooleanField(
        "show organisation and town on the public register", default=False, db_default=False
    )
    code_of_conduct_agreed_at = models.DateTimeField()
    # The end of the latest paid period, kept here so the daily job and the
    # register can filter on it without joining periods.
    period_ends_on = models.DateField(null=True, blank=True)
    # Set while the member has asked to resign when the current period ends.
    resign_at_period_end = models.BooleanField(default=False)
    paused_on = models.DateField(null=True, blank=True)
    suspended_until = models.DateField(null=True, blank=True)
    suspension_reason = models.TextField(blank=True, help_text="Shown on the public register.")
    reapply_after = models.DateField(null=True, blank=True)
    stripe_customer_id = models.CharField(
        max_length=100, unique=True, null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["status"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=Status.values), name="member_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(management_level__in=ManagementLevel.values),
                name="member_management_level_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user.get_full_name()} ({self.membership_number or 'no number yet'})"

    @property
    def organisation_name(self) -> str:
        return self.organisation.name if self.organisation_id else self.organisation_other

    @property
    def in_good_standing(self) -> bool:
        return self.status in GOOD_STANDING


class NumberCounter(models.Model):
    """The last number handed out in a series (membership numbers, invoices, receipts).

    Allocating locks the row, so two writers never get the same number, and a
    number is never handed out again.
    """

    name = models.CharField(max_length=40, unique=True)
    last_value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_value}"


class MembershipPeriod(models.Model):
    """A paid-for span of membership: 12 months, back to back on renewal."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="periods")
    grade = models.ForeignKey(Grade, on_delete=models.PROTECT, related_name="+")
    starts_on = models.DateField()
    ends_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["member", "starts_on"]
        constraints = [
            models.UniqueConstraint(fields=["member", "starts_on"], name="period_unique_start"),
            models.CheckConstraint(
                condition=models.Q(ends_on__gt=models.F("starts_on")),
                name="period_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.starts_on} to {self.ends_on}"


class StatusEvent(models.Model):
    """Append-only record of every status change; answers "status on date D"."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="status_events")
    from_status = models.CharField(max_length=20, choices=Status, blank=True)
    to_status = models.CharField(max_length=20, choices=Status)
    effective_date = models.DateField()
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True)
    source = models.CharField(max_length=20, choices=Source)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["member", "effective_date", "id"]
        indexes = [models.Index(fields=["member", "effective_date", "id"])]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} → {self.to_status} on {self.effective_date}"


class GradeChange(models.Model):
    """A move to a grade: applied at once, or waiting for a registrar when the grade needs review."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="grade_changes")
    from_grade = models.ForeignKey(
        Grade, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_grade = models.ForeignKey(Grade, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=20, choices=State, default=State.PENDING)
    statement = models.TextField(blank=True, help_text="The member's case for the grade.")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=models.Q(state="pending"),
                name="one_pending_grade_change_per_member",
            )
        ]

    def __str__(self) -> str:
        return f"{self.member} to {self.to_grade} ({self.get_state_display()})"


class PaymentMethod(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    CARD = "card", "Card"
    BACS_DEBIT = "bacs_debit", "Bacs Direct Debit"


class Invoice(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "Awaiting payment"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.CharField(max_length=20, unique=True, editable=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="invoices")
    grade = models.ForeignKey(Grade, on_delete=models.PROTECT, related_name="+")
    amount_pence = models.PositiveIntegerField()
    payer_organisation = models.CharField(max_length=200)
    purchase_order = models.CharField("purchase order number", max_length=100, blank=True)
    payer_email = models.EmailField(
        blank=True, help_text="Where the organisation's accounts team gets the invoice."
    )
    issued_on = models.DateField()
    due_on = models.DateField()
    state = models.CharField(max_length=20, choices=State, default=State.OPEN)
    pdf = models.FileField(upload_to="invoices/", blank=True)

    class Meta:
        ordering = ["-issued_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=models.Q(state="open"),
                name="one_open_invoice_per_member",
            )
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def amount_display(self) -> str:
        return pounds(self.amount_pence)


class Payment(models.Model):
    """Money received for a membership period, by any method."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    receipt_number = models.CharField(max_length=20, unique=True, editable=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="payments")
    method = models.CharField(max_length=20, choices=PaymentMethod)
    amount_pence = models.PositiveIntegerField()
    received_on = models.DateField()
    reference = models.CharField(
        max_length=200, blank=True, help_text="Bank reference or processor id."
    )
    # The Stripe invoice this payment is for: unique, so however many events and
    # pages report it paid, it becomes one payment and one period.
    stripe_invoice_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    invoice = models.OneToOneField(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="payment"
    )
    period = models.OneToOneField(
        MembershipPeriod, on_delete=models.PROTECT, related_name="payment"
    )
    recorded_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    pdf = models.FileField(upload_to="receipts/", blank=True)

    class Meta:
        ordering = ["-received_on", "-id"]

    def __str__(self) -> str:
        return self.receipt_number

    @property
    def amount_display(self) -> str:
        return pounds(self.amount_pence)


class Reminder(models.Model):
    """A renewal reminder for one period; the unique row makes each one go out once."""

    class Kind(models.TextChoices):
        DAYS_60_BEFORE = "before_60", "60 days before"
        DAYS_30_BEFORE = "before_30", "30 days before"
        DAYS_14_BEFORE = "before_14", "14 days before"
        ON_THE_DAY = "on_day", "On the day"
        DAYS_7_AFTER = "after_7", "7 days after"
        DAYS_30_AFTER = "after_30", "30 days after"

    period = models.ForeignKey(MembershipPeriod, on_delete=models.PROTECT, related_name="reminders")
    kind = models.CharField(max_length=20, choices=Kind)
    due_on = models.DateField()
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["period", "kind"], name="one_reminder_per_kind")
        ]
        indexes = [models.Index(fields=["sent_at", "due_on"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} reminder for period {self.period_id}"


class Refund(models.Model):
    """Money given back against a payment (recorded from Stripe)."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_pence = models.PositiveIntegerField()
    refunded_on = models.DateField()
    stripe_refund_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-refunded_on", "-id"]

    def __str__(self) -> str:
        return f"Refund of {self.amount_pence}p against {self.payment}"

    @property
    def amount_display(self) -> str:
        return pounds(self.amount_pence)


class CheckoutAttempt(models.Model):
    """Our record of one Stripe Checkout, created before Stripe's; its id makes
    the idempotency key, so a retried create never makes a second session."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Payment failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="checkout_attempts")
    grade = models.ForeignKey(Grade, on_delete=models.PROTECT, related_name="+")
    session_id = models.CharField(max_length=200, unique=True, null=True, blank=True)
    state = models.CharField(max_length=20, choices=State, default=State.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Checkout {self.public_id} ({self.get_state_display()})"


class StripeSubscription(models.Model):
    """Our copy of a member's Stripe subscription, refreshed from Stripe on every event."""

    subscription_id = models.CharField(max_length=100, unique=True)
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="stripe_subscriptions"
    )
    status = models.CharField(max_length=30)
    price_id = models.CharField(max_length=100, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    current_period_end = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.subscription_id} ({self.status})"

    @property
    def is_live(self) -> bool:
        """Still collecting money (the Stripe statuses that renew)."""
        return self.status in ("active", "trialing", "past_due", "incomplete")


class StripeEvent(models.Model):
    """Each webhook event handled, inserted in the same transaction as its
    effect: a duplicate delivery finds its row and changes nothing."""

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=100, blank=True)
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-processed_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
