"""Create demo accounts for trying the site locally. Safe to run repeatedly."""

import datetime as dt

from allauth.account.models import EmailAddress
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from members import services
from members.models import Grade, ManagementLevel, Member, Organisation, User

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 (published on purpose; refused in production)

DEMO_USERS = [
    # (role shown in the output, email, given name, family name, extra fields)
    (
        "Registrar (staff)",
        "registrar@example.org",
        "Rachel",
        "Okafor",
        {"is_staff": True, "is_superuser": True},
    ),
    ("Assessor", "assessor@example.org", "Arun", "Mehta", {"is_assessor": True}),
    ("Member", "member@example.org", "Megan", "Price", {}),
    ("Member", "member2@example.org", "Tom", "Hughes", {}),
    ("Member", "member3@example.org", "Priya", "Shah", {}),
    ("Employer", "employer@example.org", "Emma", "Clarke", {}),
]


class Command(BaseCommand):
    help = "Create demo accounts (registrar, assessor, members, employer) and print their logins."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError(
                "seed_demo creates accounts with a published password; not in production."
            )
        rows = []
        with transaction.atomic():
            users = {}
            for role, email, given, family, extra in DEMO_USERS:
                user = users[email] = self._user(email, given, family, extra)
                secret = self._totp_secret(user) if user.requires_mfa else ""
                rows.append((role, email, secret))
            self._memberships(users)

        self.stdout.write(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
        for role, email, secret in rows:
            line = f"  {role:<18} {email}"
            if secret:
                line += f"  TOTP secret: {secret}"
            self.stdout.write(line)
        self.stdout.write(
            "member@ is active (paid by invoice), member2@ has an invoice to pay, "
            "member3@ waits for a Fellow review; the registrar's pages are at /registrar/."
        )
        self.stdout.write(
            "Staff and assessors sign in with a code from an authenticator app: "
            "add the TOTP secret to the app (as a 'key' or 'setup code')."
        )

    def _memberships(self, users: dict[str, User]) -> None:
        """An active member paid by invoice, an applicant with an invoice to pay,
        and a Fellow applicant waiting for the registrar's review."""
        registrar = users["registrar@example.org"]
        trust = Organisation.objects.order_by("name").first()
        plans = [
            (
                "member@example.org",
                "member",
                ManagementLevel.MIDDLE,
                "Outpatients service manager",
                "paid",
            ),
            (
                "member2@example.org",
                "associate",
                ManagementLevel.FIRST_LINE,
                "Ward manager",
                "invoiced",
            ),
            (
                "member3@example.org",
                "fellow",
                ManagementLevel.EXECUTIVE,
                "Chief operating officer",
                "review",
            ),
        ]
        for email, grade_slug, level, job_title, stage in plans:
            user = users[email]
            if Member.objects.filter(user=user).exists():
                continue
            member = services.member_join(
                user=user,
                grade=Grade.objects.get(slug=grade_slug),
                job_title=job_title,
                management_level=level,
                organisation=trust,
                register_consent=True,
                agreed_code_of_conduct=True,
                statement="Twenty years leading acute and community services."
                if stage == "review"
                else "",
            )
            if stage == "review":
                continue
            invoice = services.invoice_raise(
                member=member,
                payer_organisation=member.organisation_name,
                purchase_order="PO-DEMO-1",
            )
            if stage == "paid":
                services.invoice_record_payment(
                    invoice=invoice,
                    received_on=services.local_today() - dt.timedelta(days=60),
                    reference="BACS DEMO",
                    actor=registrar,
                )

    def _user(self, email, given, family, extra) -> User:
        user, created = User.objects.get_or_create(
            email=email, defaults={"given_name": given, "family_name": family, **extra}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        EmailAddress.objects.update_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        return user

    def _totp_secret(self, user) -> str:
        """Reuse the user's TOTP secret if they have one, so the authenticator app keeps working."""
        existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        if existing:
            return get_mfa_adapter().decrypt(existing.data["secret"])
        secret = generate_totp_secret()
        TOTP.activate(user, secret)
        if not Authenticator.objects.filter(
            user=user, type=Authenticator.Type.RECOVERY_CODES
        ).exists():
            RecoveryCodes.activate(user)
        return secret
