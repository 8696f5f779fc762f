"""Renewing a certificate: an accreditation application with lighter evidence.

A renewal is an ordinary ``Application`` at the certificate's level, marked by a
``CertificateRenewal`` row, so it goes through the same workflow (submission,
assessors, the registrar's decision, appeal). Instead of a statement per
standard and referees it needs the member's CPD returns for the certificate's
period, each accepted, plus one statement (the application's career summary:
how they have kept to the standards). Approving it extends the same certificate
(``certificates.certificate_renew``).
"""

import datetime as dt

from django.db import transaction

from accreditation import services
from accreditation.certificates import CertificateError
from accreditation.models import Application, Certificate, CertificateRenewal
from cpd.models import AnnualReturn, AuditCase
from cpd.returns import last_due_year
from cpd.selectors import CPDYear, cpd_year_containing
from members import services as member_services
from members.models import Member

# A renewal can be started this many days before the certificate ends ...
RENEWAL_OPENS_DAYS = 90
# ... and up to this many days after it expired.
RENEWAL_CLOSES_DAYS = 180


def renewal_window(certificate: Certificate) -> tuple[dt.date, dt.date]:
    return (
        certificate.valid_until - dt.timedelta(days=RENEWAL_OPENS_DAYS),
        certificate.valid_until + dt.timedelta(days=RENEWAL_CLOSES_DAYS),
    )


def renewal_refusal(*, certificate: Certificate, today: dt.date | None = None) -> str | None:
    """Why the certificate cannot be renewed today, or None if it can."""
    today = today or member_services.local_today()
    if certificate.status == Certificate.Status.REVOKED:
        return "A revoked certificate cannot be renewed."
    opens, closes = renewal_window(certificate)
    if today < opens:
        return f"You can renew from {opens:%-d %B %Y}."
    if today > closes:
        return "It is too long since this certificate expired: apply again instead."
    return None


def renewal_years(*, certificate: Certificate, today: dt.date) -> list[CPDYear]:
    """The CPD years in the certificate's period whose return has fallen due."""
    last = last_due_year(member=certificate.member, today=today)
    years = []
    year = cpd_year_containing(certificate.valid_from)
    while year.starts_on <= last.starts_on:
        years.append(year)
        year = cpd_year_containing(year.ends_on + dt.timedelta(days=1))
    return years


def renewal_eligibility_failures(*, application: Application) -> list[str]:
    """What a renewal still lacks: good standing, the window, the statement and an
    accepted CPD return for every year of the period that has fallen due."""
    certificate = application.renewal.certificate
    member = application.member
    today = member_services.local_today()
    failures = []
    if not member.in_good_standing:
        failures.append("Your membership must be active.")
    refusal = renewal_refusal(certificate=certificate, today=today)
    if refusal:
        failures.append(refusal)
    if not application.career_summary.strip():
        failures.append(
            "Write a statement: how you have kept to the standards since "
            f"{certificate.valid_from:%-d %B %Y}."
        )
    years = renewal_years(certificate=certificate, today=today)
    starts = [year.starts_on for year in years]
    returns = {
        r.year_starts_on: r
        for r in AnnualReturn.objects.filter(member=member, year_starts_on__in=starts)
    }
    failed_audit = set(
        AuditCase.objects.filter(
            member=member,
            sample__year_starts_on__in=starts,
            state=AuditCase.State.DOES_NOT_MEET,
        ).values_list("sample__year_starts_on", flat=True)
    )
    for year in years:
        annual_return = returns.get(year.starts_on)
        if annual_return is None or annual_return.state != AnnualReturn.State.SUBMITTED:
            failures.append(f"Submit your CPD return for {year.label}.")
        elif year.starts_on in failed_audit:
            failures.append(f"Your CPD return for {year.label} did not pass its audit.")
        elif not annual_return.meets_requirement:
            failures.append(f"Your CPD return for {year.label} was below the requirement.")
    return failures


@transaction.atomic
def renewal_start(*, certificate: Certificate, member: Member) -> Application:
    """Start a renewal application for the member's own certificate.

    Refused outside the renewal window, for a revoked certificate, or while the
    member has another open application at the level.
    """
    certificate = Certificate.objects.select_for_update().get(pk=certificate.pk)
    if certificate.member_id != member.pk:
        raise CertificateError("You can only renew your own certificate.")
    refusal = renewal_refusal(certificate=certificate)
    if refusal:
        raise CertificateError(refusal)
    open_renewal = (
        CertificateRenewal.objects.filter(certificate=certificate, renewed_at__isnull=True)
        .exclude(application__state__in=Application.CLOSED)
        .select_related("application")
        .first()
    )
    if open_renewal is not None:
        return open_renewal.application
    try:
        application = services.application_create(member=member, level=certificate.level)
    except services.AccreditationError as error:
        raise CertificateError(str(error)) from None
    CertificateRenewal.objects.create(application=application, certificate=certificate)
    return application
