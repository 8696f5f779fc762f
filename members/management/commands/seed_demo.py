"""Create demo accounts for trying the site locally. Safe to run repeatedly."""

import datetime as dt
from contextlib import contextmanager
from unittest import mock

from allauth.account.models import EmailAddress
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from members import services
from members.models import Grade, ManagementLevel, Member, Organisation, User

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 (published on purpose; refused in production)

# (days ago, title, hours, activity type, participatory, provider): a year of a middle manager's CPD.
DEMO_CPD = [
    (
        330,
        "Leading through winter pressures masterclass",
        "6",
        "formal",
        True,
        "Regional leadership academy",
    ),
    (
        300,
        "Action learning set: difficult conversations",
        "2.5",
        "work_based",
        True,
        "Trust OD team",
    ),
    (270, "Reading: The NHS workforce plan explained", "1.5", "self_directed", False, ""),
    (
        240,
        "Budget setting with finance business partner",
        "3",
        "work_based",
        True,
        "Finance directorate",
    ),
    (200, "Quality improvement fundamentals (online)", "4.25", "formal", False, "QI faculty"),
    (170, "Shadowing the ICB urgent care lead", "5", "work_based", True, "Integrated care board"),
    (150, "Mentoring a new ward manager", "3", "professional", True, ""),
    (120, "Equality impact assessments workshop", "2", "formal", True, "EDI team"),
    (90, "Podcast series on system leadership", "2.75", "self_directed", False, ""),
    (
        60,
        "Project management: running a change programme",
        "7",
        "formal",
        True,
        "Professional body",
    ),
    (30, "Presenting to the board's quality committee", "1.5", "professional", True, ""),
    (10, "Rota redesign review with e-rostering team", "2", "work_based", True, "Workforce team"),
]

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
    ("Member", "member4@example.org", "Grace", "Adeyemi", {}),
    ("Employer", "employer@example.org", "Emma", "Clarke", {}),
]


@contextmanager
def _as_of(day: dt.date):
    """Record demo history as if it happened on ``day``."""
    with mock.patch.object(services, "local_today", return_value=day):
        yield


class Command(BaseCommand):
    help = "Create demo accounts (registrar, assessor, members, employer) and print their logins."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError(
                "seed_demo creates accounts with a published password; not in production."
            )
        rows = []
        self.share_url = ""
        self.referee_url = ""
        with transaction.atomic():
            users = {}
            for role, email, given, family, extra in DEMO_USERS:
                user = users[email] = self._user(email, given, family, extra)
                secret = self._totp_secret(user) if user.requires_mfa else ""
                rows.append((role, email, secret))
            self._memberships(users)
            self._employer(users)

        self.stdout.write(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
        for role, email, secret in rows:
            line = f"  {role:<18} {email}"
            if secret:
                line += f"  TOTP secret: {secret}"
            self.stdout.write(line)
        self.stdout.write(
            "member@ is active (paid by invoice, a year of CPD), member2@ has an invoice to pay, "
            "member3@ is joining as a Fellow and makes their case in a Fellowship application "
            "(Accreditation), member4@ holds an accreditation certificate; the registrar's "
            "pages are at /registrar/."
        )
        self.stdout.write(
            "Staff and assessors sign in with a code from an authenticator app: "
            "add the TOTP secret to the app (as a 'key' or 'setup code')."
        )
        verify_url = self._verify_url()
        if verify_url:
            self.stdout.write(
                "member4@ is accredited: her certificate's verification page "
                f"(the PDF's QR code opens it): {verify_url}"
            )
        self.stdout.write(
            "employer@ uses the employer portal at /employer/ for Northshire NHS Foundation "
            "Trust (API keys, CSV checks, webhooks); member@ is on its watch list."
        )
        if self.referee_url:
            self.stdout.write(
                f"member@'s accreditation referee link (shown once): {self.referee_url}"
            )
        if self.share_url:
            self.stdout.write(
                f"member@'s CPD return, shared with an appraiser (shown once): {self.share_url}"
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
            (
                "member4@example.org",
                "member",
                ManagementLevel.MIDDLE,
                "Head of community services operations",
                "accredited",
            ),
        ]
        today = services.local_today()
        for email, grade_slug, level, job_title, stage in plans:
            user = users[email]
            if Member.objects.filter(user=user).exists():
                continue
            # The active member's history is written as if it happened on the
            # days it would have: joined 14 months ago, renewed 2 months ago.
            joined_on = today - dt.timedelta(days=430) if stage in ("paid", "accredited") else today
            with _as_of(joined_on):
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
            if stage == "invoiced":
                services.invoice_raise(
                    member=member,
                    payer_organisation=member.organisation_name,
                    purchase_order="PO-DEMO-2",
                )
                continue
            for paid_on, po in (
                (joined_on + dt.timedelta(days=10), "PO-DEMO-1"),
                (today - dt.timedelta(days=60), "PO-DEMO-3"),
            ):
                with _as_of(paid_on):
                    invoice = services.invoice_raise(
                        member=member,
                        payer_organisation=member.organisation_name,
                        purchase_order=po,
                    )
                    services.invoice_record_payment(
                        invoice=invoice, received_on=paid_on, reference="BACS DEMO", actor=registrar
                    )
            if stage == "accredited":
                self._certificate(member, registrar)
                continue
            self._cpd_year(member)
            self._cpd_return_and_audit(member, registrar, users["assessor@example.org"])
            self._accreditation_draft(member)

    def _employer(self, users: dict[str, User]) -> None:
        """An employer client whose portal employer@ uses, watching member@."""
        from api.models import EmployerClient, EmployerUser
        from api.services import employer_client_create, employer_user_add
        from api.watchlist import watch_entry_add

        person = users["employer@example.org"]
        link = EmployerUser.objects.filter(user=person).select_related("employer").first()
        if link is not None:
            employer = link.employer
        else:
            employer = EmployerClient.objects.filter(name="Northshire NHS Foundation Trust").first()
            employer = employer or employer_client_create(
                name="Northshire NHS Foundation Trust",
                contact_email="employer@example.org",
                actor=users["registrar@example.org"],
            )
            employer_user_add(employer=employer, user=person, actor=users["registrar@example.org"])
        member = Member.objects.filter(user=users["member@example.org"]).first()
        if member is not None and member.membership_number:
            watch_entry_add(
                employer=employer,
                membership_number=member.membership_number,
                family_name=member.user.family_name,
                actor=person,
            )

    def _cpd_return_and_audit(self, member: Member, registrar: User, assessor: User) -> None:
        """Last CPD year closed: the member submitted the return and shared it with
        an appraiser; the registrar added them to the audit sample; an assessor
        asked for more information, which the member can see and answer."""
        from cpd.models import AuditCase
        from cpd.returns import (
            annual_return_submit,
            audit_case_decide,
            audit_case_submit,
            audit_sample_draw,
        )
        from cpd.selectors import cpd_year_containing
        from cpd.sharing import share_link_create

        this_year = cpd_year_containing(services.local_today())
        last_year = cpd_year_containing(this_year.starts_on - dt.timedelta(days=1))
        self._cpd_last_year(member, last_year)
        with _as_of(last_year.ends_on + dt.timedelta(days=10)):
            annual_return_submit(
                member=member,
                year=last_year,
                actor=member.user,
                declaration_confirmed=True,
            )
        _, token = share_link_create(
            member=member,
            actor=member.user,
            label="Appraisal with my line manager",
            expires_in_days=30,
            year=last_year,
            include_evidence=True,
        )
        self.share_url = f"{settings.SITE_URL}/cpd/shared/{token}/"
        with _as_of(last_year.ends_on + dt.timedelta(days=40)):
            sample = audit_sample_draw(
                year=last_year, actor=registrar, seed="demo", extra_members=[member]
            )
            case = sample.cases.get(member=member)
            audit_case_submit(case=case, actor=member.user)
            audit_case_decide(
                case=case,
                assessor=assessor,
                outcome=AuditCase.State.MORE_INFORMATION,
                reasons="Please add what you changed after the budget workshop, and its effect.",
            )

    def _accreditation_draft(self, member: Member) -> None:
        """An Accredited Manager scheme, and the member's application with its
        statements written and a referee invited; the referee's link is printed
        (and emailed through the console) so the rest can be tried by hand."""
        from accreditation.models import Level, Scheme
        from accreditation.services import application_create, referee_invite, statement_save
        from cpd.models import Standard
        from cpd.selectors import primary_framework

        framework = primary_framework()
        if framework is None:
            return
        standards = list(
            Standard.objects.filter(framework=framework).order_by("domain__order", "order")[:3]
        )
        scheme, _ = Scheme.objects.get_or_create(
            slug="accredited-manager",
            defaults={
                "name": "Accredited Manager",
                "description": "Independent recognition that a manager meets our standards at their level.",
            },
        )
        level, created = Level.objects.get_or_create(
            scheme=scheme,
            management_level=ManagementLevel.MIDDLE,
            defaults={
                "name": "Accredited Manager (middle)",
                "min_months_in_role": 12,
                "cpd_minutes_last_12_months": 10 * 60,
                "referees_required": 1,
                "assessors_required": 1,
                "fee_pence": 15000,
            },
        )
        if created:
            level.required_standards.set(standards)
        application = application_create(
            member=member,
            level=level,
            career_summary="Eight years managing outpatient services across two hospital sites.",
            management_since=services.local_today() - dt.timedelta(days=8 * 365),
        )
        entries = list(member.cpd_entries.order_by("-ends_on")[:2])
        for standard in level.required_standards.all():
            statement_save(
                application=application,
                standard=standard,
                statement=f"How I meet {standard.code}: examples from my service, with the CPD linked.",
                entries=entries,
            )
        _, token = referee_invite(
            application=application, name="Dr Sam Patel", email="referee@example.org"
        )
        self.referee_url = f"{settings.SITE_URL}/accreditation/referee/{token}/"

    def _cpd_last_year(self, member: Member, year) -> None:
        """Enough CPD in the last CPD year, across its domains, for the return to meet
        the (pro-rated) requirement, so the member may apply for accreditation."""
        from cpd.models import Standard
        from cpd.selectors import primary_framework
        from cpd.services import cpd_entry_create

        framework = primary_framework()
        if framework is None:
            return
        by_domain = {}
        for standard in Standard.objects.filter(framework=framework).order_by(
            "domain__order", "order"
        ):
            by_domain.setdefault(standard.domain_id, standard)
        firsts = list(by_domain.values())
        for i, title in enumerate(
            [
                "Board development day",
                "Finance for managers course",
                "Quality improvement coaching",
                "Mentoring a new ward manager",
            ]
        ):
            day = year.ends_on - dt.timedelta(days=20 + 30 * i)
            cpd_entry_create(
                member=member,
                actor=member.user,
                title=title,
                starts_on=day,
                ends_on=day,
                hours="6",
                activity_type="formal",
                participatory=True,
                provider="Northern Leadership Academy",
                reflection_learned=f"What I learned: {title.lower()}.",
                reflection_applied="I changed how I run our weekly huddle.",
                reflection_impact="Fewer cancelled clinics over the quarter.",
                standards=[firsts[i % len(firsts)]],
            )

    def _cpd_year(self, member: Member) -> None:
        """A realistic year of CPD, mapped to the current standards, some with evidence."""
        from cpd.models import Standard
        from cpd.selectors import primary_framework
        from cpd.services import cpd_entry_create

        framework = primary_framework()
        if framework is None:
            return
        standards = list(
            Standard.objects.filter(framework=framework).order_by("domain__order", "order")
        )
        if not standards:
            return
        today = services.local_today()
        for i, (days_ago, title, hours, kind, participatory, provider) in enumerate(DEMO_CPD):
            day = today - dt.timedelta(days=days_ago)
            picked = [standards[(i * 3) % len(standards)], standards[(i * 5 + 1) % len(standards)]]
            files = []
            if i % 3 == 0:
                files = [
                    SimpleUploadedFile(
                        f"{title.lower().replace(' ', '-')[:40]}-notes.txt",
                        f"Notes: {title}\nWhat I took away and what I will try next.\n".encode(),
                    )
                ]
            cpd_entry_create(
                member=member,
                actor=member.user,
                title=title,
                starts_on=day,
                ends_on=day,
                hours=hours,
                activity_type=kind,
                participatory=participatory,
                provider=provider,
                reflection_learned="What I learned: " + title.lower() + ".",
                reflection_applied="I used it with my team the following week."
                if i % 2 == 0
                else "",
                reflection_impact="Patients waited less and staff knew what to expect."
                if i % 2 == 0
                else "",
                standards=picked,
                files=files,
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

    def _certificate(self, member: Member, registrar: User) -> None:
        """An approved accreditation and its certificate, issued a month ago.

        A demo shortcut: the application is recorded as approved directly (member@'s
        draft shows the workflow itself); the certificate is issued by the service.
        """
        from django.utils import timezone

        from accreditation.certificates import certificate_issue
        from accreditation.models import Application, Level

        level = Level.objects.filter(
            scheme__slug="accredited-manager", management_level=ManagementLevel.MIDDLE
        ).first()
        if level is None:
            return
        if not level.post_nominals:
            level.post_nominals = "AccM"
            level.save(update_fields=["post_nominals"])
        issued_on = services.local_today() - dt.timedelta(days=30)
        application = Application.objects.create(
            member=member,
            level=level,
            state=Application.State.APPROVED,
            career_summary="Twelve years running community nursing and therapy services.",
            management_since=issued_on - dt.timedelta(days=12 * 365),
            submitted_at=timezone.now() - dt.timedelta(days=75),
            decided_at=timezone.now() - dt.timedelta(days=30),
            decided_by=registrar,
            decision_reasons="Every standard met with clear evidence; the referee confirmed.",
        )
        with _as_of(issued_on):
            certificate_issue(application=application, actor=registrar)

    def _verify_url(self) -> str:
        from accreditation.models import Certificate

        certificate = Certificate.objects.filter(member__user__email="member4@example.org").first()
        return f"{settings.SITE_URL}/verify/{certificate.public_id}" if certificate else ""
