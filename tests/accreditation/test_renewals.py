"""Renewal: an application with lighter evidence (accepted CPD returns for the
period and a statement) through the same workflow, extending the same certificate."""

import datetime as dt
from unittest import mock

import pytest
from django.urls import reverse

from accreditation import certificates, renewals, services
from accreditation.certificates import CertificateError
from accreditation.models import Certificate, CertificateRenewal
from audit.models import AuditEvent
from cpd.models import AnnualReturn
from members import services as member_services
from members.models import Member
from tests.accreditation.builders import assess, assign
from tests.accreditation.test_certificates import approve

pytestmark = pytest.mark.django_db


@pytest.fixture
def certificate(member, level, registrar):
    return Certificate.objects.get(application=approve(member, level, registrar))


@pytest.fixture
def near_the_end(certificate, member):
    """Today is 30 days before the certificate ends; the membership is paid up."""
    day = certificate.valid_until - dt.timedelta(days=30)
    Member.objects.filter(pk=member.pk).update(period_ends_on=day + dt.timedelta(days=200))
    with mock.patch.object(member_services, "local_today", lambda: day):
        yield day


def submit_returns(member, years, *, meets=True):
    for year in years:
        AnnualReturn.objects.create(
            member=member,
            year_starts_on=year.starts_on,
            year_ends_on=year.ends_on,
            due_on=year.ends_on + dt.timedelta(days=30),
            state=AnnualReturn.State.SUBMITTED,
            meets_requirement=meets,
        )


def test_renewal_opens_90_days_before_the_end(certificate, member):
    with pytest.raises(CertificateError, match="You can renew from"):
        renewals.renewal_start(certificate=certificate, member=member)


def test_a_renewal_goes_through_the_workflow_and_extends_the_same_certificate(
    certificate, member, registrar, near_the_end
):
    application = renewals.renewal_start(certificate=certificate, member=member)
    assert renewals.renewal_start(certificate=certificate, member=member) == application
    assert CertificateRenewal.objects.get(application=application).certificate == certificate

    years = renewals.renewal_years(certificate=certificate, today=near_the_end)
    assert len(years) >= 2
    failures = services.application_eligibility_failures(application=application)
    assert failures[0].startswith("Write a statement")
    assert [f for f in failures if "CPD return" in f] == [
        f"Submit your CPD return for {year.label}." for year in years
    ]
    # No statements per standard and no referees are asked for.
    assert not any("referee" in f or "statement for" in f for f in failures)

    submit_returns(member, years[:-1])
    submit_returns(member, years[-1:], meets=False)
    application = services.application_details_save(
        application=application,
        career_summary="Led two service redesigns; kept my CPD log every year.",
        management_since=None,
    )
    assert services.application_eligibility_failures(application=application) == [
        f"Your CPD return for {years[-1].label} was below the requirement."
    ]
    AnnualReturn.objects.filter(member=member).update(meets_requirement=True)
    services.application_submit(application=application)
    assess(assign(application, registrar))
    old_until = certificate.valid_until
    services.application_decide(
        application=application, actor=registrar, approve=True, reasons="Returns in order."
    )
    certificate.refresh_from_db()
    assert certificate.valid_until == certificates.add_years(
        old_until + dt.timedelta(days=1), 3
    ) - dt.timedelta(days=1)
    assert Certificate.objects.filter(member=member).count() == 1
    event = AuditEvent.objects.filter(subject_type="certificate").latest("sequence")
    assert event.action == "certificate.renewed"
    assert event.after["public_id"] == str(certificate.public_id)
    assert event.before["valid_until"] == str(old_until)


def test_a_revoked_certificate_cannot_be_renewed(certificate, member, registrar, near_the_end):
    certificates.certificate_revoke(certificate=certificate, actor=registrar, reason="Fraud")
    with pytest.raises(CertificateError, match="revoked"):
        renewals.renewal_start(certificate=certificate, member=member)


def test_the_member_starts_a_renewal_from_the_certificate_page(
    client, certificate, member, near_the_end
):
    client.force_login(member.user)
    page = client.get(reverse("certificates:detail", args=[certificate.public_id]))
    assert "Start your renewal" in page.text
    response = client.post(reverse("certificates:renew", args=[certificate.public_id]))
    renewal = CertificateRenewal.objects.get(certificate=certificate)
    assert response.url == reverse("accreditation:detail", args=[renewal.application.public_id])
    page = client.get(response.url)
    assert page.status_code == 200
    assert "Write a statement: how you have kept to the standards" in page.text
