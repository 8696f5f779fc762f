"""Certificates: issued once on approval, following the membership, revoked for good,
suspended and lifted by the registrar, expiring, renewed; the audit contract and
the selector other apps use."""

import datetime as dt
import re
import threading

import pytest
from django.db import connection
from django.utils import timezone

from accreditation import certificates, services
from accreditation.certificates import CertificateError
from accreditation.models import Application, Certificate, CertificateRenewal
from accreditation.selectors import current_certificates_for
from audit.models import AuditEvent
from members import services as member_services
from members.models import Member, Status
from tests.accreditation.builders import assign, recommended
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

Cert = Certificate.Status


def approve(member, level, registrar):
    application = recommended(member, level, registrar)
    return services.application_decide(
        application=application, actor=registrar, approve=True, reasons="All standards met."
    )


def certificate_of(application) -> Certificate:
    return Certificate.objects.get(application=application)


def events(certificate) -> list[tuple[str, dict]]:
    return list(
        AuditEvent.objects.filter(subject_type="certificate", subject_id=str(certificate.pk))
        .order_by("sequence")
        .values_list("action", "after")
    )


def status_of(certificate) -> tuple[str, str]:
    certificate.refresh_from_db()
    return certificate.status, certificate.suspended_by


def set_member(member, **fields):
    Member.objects.filter(pk=member.pk).update(**fields)
    member.refresh_from_db()


@pytest.fixture
def certificate(member, level, registrar):
    # A paid-up member, so lifting a suspension returns them to active.
    set_member(member, period_ends_on=member_services.local_today() + dt.timedelta(days=200))
    return certificate_of(approve(member, level, registrar))


# ---------------------------------------------------------------- issuing


def test_approval_issues_one_valid_certificate_for_the_levels_validity(member, level, registrar):
    application = approve(member, level, registrar)
    certificate = certificate_of(application)
    today = member_services.local_today()
    assert certificate.member == member and certificate.level == level
    assert certificate.status == Cert.VALID and certificate.suspended_by == ""
    assert certificate.valid_from == today
    assert certificate.valid_until == certificates.add_years(today, 3) - dt.timedelta(days=1)
    assert re.fullmatch(rf"AC-{today.year}-\d{{6}}-\d", certificate.serial)
    assert 0 <= certificate.status_list_index < certificates.STATUS_LIST_SIZE
    [(action, after)] = events(certificate)
    assert action == "certificate.issued"
    assert after["status"] == "valid"
    assert after["member"] == member.pk
    assert after["public_id"] == str(certificate.public_id)
    assert after["level"] == level.pk


def test_issuing_is_idempotent(member, level, registrar):
    application = approve(member, level, registrar)
    first = certificate_of(application)
    again = certificates.certificate_issue(application=application, actor=registrar)
    assert again.pk == first.pk
    with pytest.raises(services.AccreditationConflict):
        services.application_decide(
            application=application, actor=registrar, approve=True, reasons="Twice."
        )
    assert Certificate.objects.filter(member=member).count() == 1
    assert [a for a, _ in events(first)] == ["certificate.issued"]


def test_a_decline_issues_nothing_and_only_approved_applications_earn_one(member, level, registrar):
    application = recommended(member, level, registrar)
    with pytest.raises(CertificateError):
        certificates.certificate_issue(application=application)
    services.application_decide(
        application=application, actor=registrar, approve=False, reasons="Not yet."
    )
    assert not Certificate.objects.exists()


def test_an_upheld_appeal_issues_the_certificate_a_dismissed_one_does_not(member, level, registrar):
    application = recommended(member, level, registrar, recommendation="decline")
    services.application_decide(
        application=application, actor=registrar, approve=False, reasons="Budgets not shown."
    )
    assert not Certificate.objects.exists()
    services.appeal_lodge(application=application, grounds="My budget evidence was missed.")
    hearing = assign(application, registrar, role="appeal")
    services.appeal_decide(
        assignment=hearing, actor=hearing.assessor, upheld=True, reasons="It was there."
    )
    certificate = certificate_of(application)
    assert certificate.status == Cert.VALID
    assert [a for a, _ in events(certificate)] == ["certificate.issued"]


def test_each_certificate_gets_its_own_serial_and_status_list_index(level, registrar, trust):
    issued = [
        certificate_of(approve(MemberFactory(status=Status.ACTIVE), level, registrar))
        for _ in range(3)
    ]
    assert len({c.serial for c in issued}) == 3
    assert len({c.status_list_index for c in issued}) == 3
    assert len({c.public_id for c in issued}) == 3


def test_issued_suspended_when_the_membership_lapsed_before_the_decision(member, level, registrar):
    application = recommended(member, level, registrar)
    set_member(member, status=Status.LAPSED)
    services.application_decide(
        application=application, actor=registrar, approve=True, reasons="Met."
    )
    certificate = certificate_of(application)
    assert (certificate.status, certificate.suspended_by) == ("suspended", "membership")


# ---------------------------------------------------------------- following the membership


def test_a_lapsed_membership_suspends_the_certificate_and_renewing_restores_it(
    certificate, member, registrar
):
    today = member_services.local_today()
    set_member(member, status=Status.GRACE, period_ends_on=today - dt.timedelta(days=60))
    report = member_services.membership_daily_run(today=today)
    assert report.lapsed == 1
    assert status_of(certificate) == ("suspended", "membership")
    assert certificate.status_reason == "Membership lapsed"

    invoice = member_services.invoice_raise(
        member=member, payer_organisation="Northshire NHS FT", purchase_order="PO-9"
    )
    member_services.invoice_record_payment(
        invoice=invoice, received_on=today, reference="BACS 9", actor=registrar
    )
    member.refresh_from_db()
    assert member.status == Status.ACTIVE
    assert status_of(certificate) == ("valid", "")
    assert [a for a, _ in events(certificate)] == [
        "certificate.issued",
        "certificate.suspended",
        "certificate.reinstated",
    ]
    suspended, reinstated = events(certificate)[1][1], events(certificate)[2][1]
    assert suspended["status"] == "suspended" and reinstated["status"] == "valid"
    assert suspended["member"] == reinstated["member"] == member.pk


def test_a_suspended_membership_suspends_the_certificate_until_lifted(
    certificate, member, registrar
):
    today = member_services.local_today()
    member_services.member_suspend(
        member=member, actor=registrar, reason="Under investigation", starts_on=today
    )
    assert status_of(certificate) == ("suspended", "membership")
    member_services.member_suspension_lift(member=member, actor=registrar, reason="Cleared")
    assert status_of(certificate) == ("valid", "")


def test_removal_revokes_for_good_even_if_the_member_is_reinstated(certificate, member, registrar):
    member_services.member_remove(member=member, actor=registrar, reason="Misconduct proven")
    assert status_of(certificate) == ("revoked", "")
    # The public page never shows the staff's reason, which stays in the audit log.
    assert certificate.status_reason == "Removed from the register"
    member_services.member_reinstate(member=member, actor=registrar, reason="Overturned")
    assert status_of(certificate) == ("revoked", "")
    assert [a for a, _ in events(certificate)] == ["certificate.issued", "certificate.revoked"]


def test_paused_and_grace_keep_the_certificate_valid(certificate, member):
    member_services.member_pause(member=member, reason="Parental leave")
    assert status_of(certificate) == ("valid", "")


def test_a_member_without_certificates_costs_one_query(member, django_assert_num_queries):
    with django_assert_num_queries(1):
        certificates.certificates_follow_membership(members=[member], reason="Nothing to do")


# ---------------------------------------------------------------- the registrar


def test_revocation_is_final_and_needs_a_reason(certificate, member, registrar):
    with pytest.raises(CertificateError):
        certificates.certificate_revoke(certificate=certificate, actor=registrar, reason=" ")
    certificates.certificate_revoke(
        certificate=certificate, actor=registrar, reason="Evidence was fabricated"
    )
    assert status_of(certificate) == ("revoked", "")
    assert certificate.status_reason == "Evidence was fabricated"
    # Revoking again changes nothing; nothing brings it back.
    certificates.certificate_revoke(certificate=certificate, actor=registrar, reason="Again")
    with pytest.raises(CertificateError):
        certificates.certificate_suspend(certificate=certificate, actor=registrar, reason="x")
    with pytest.raises(CertificateError):
        certificates.certificate_suspension_lift(
            certificate=certificate, actor=registrar, reason="x"
        )
    member_services.member_suspend(
        member=member, actor=registrar, reason="x", starts_on=member_services.local_today()
    )
    member_services.member_suspension_lift(member=member, actor=registrar, reason="y")
    assert status_of(certificate) == ("revoked", "")
    assert Certificate.objects.filter(pk=certificate.pk).exists()  # never deleted
    revoked = [(a, e) for a, e in events(certificate) if a == "certificate.revoked"]
    assert len(revoked) == 1 and revoked[0][1]["status"] == "revoked"


def test_registrar_suspension_outlasts_a_membership_reinstatement(certificate, member, registrar):
    certificates.certificate_suspend(
        certificate=certificate, actor=registrar, reason="Complaint received"
    )
    assert status_of(certificate) == ("suspended", "registrar")
    member_services.member_suspend(
        member=member, actor=registrar, reason="x", starts_on=member_services.local_today()
    )
    member_services.member_suspension_lift(member=member, actor=registrar, reason="y")
    assert status_of(certificate) == ("suspended", "registrar")
    assert certificate.status_reason == "Complaint received"
    certificates.certificate_suspension_lift(
        certificate=certificate, actor=registrar, reason="Complaint dismissed"
    )
    assert status_of(certificate) == ("valid", "")
    assert [a for a, _ in events(certificate)] == [
        "certificate.issued",
        "certificate.suspended",
        "certificate.reinstated",
    ]


def test_lifting_while_the_membership_is_lapsed_leaves_it_held_by_the_membership(
    certificate, member, registrar
):
    certificates.certificate_suspend(certificate=certificate, actor=registrar, reason="Check")
    set_member(member, status=Status.LAPSED)
    certificates.certificate_suspension_lift(certificate=certificate, actor=registrar, reason="OK")
    assert status_of(certificate) == ("suspended", "membership")
    set_member(member, status=Status.ACTIVE)
    certificates.certificates_follow_membership(members=[member], reason="Renewed")
    assert status_of(certificate) == ("valid", "")


# ---------------------------------------------------------------- expiry and renewal


def test_the_daily_run_expires_certificates_after_their_last_day(certificate, member):
    last_day = certificate.valid_until
    set_member(member, period_ends_on=last_day + dt.timedelta(days=100))
    assert member_services.membership_daily_run(today=last_day).certificates_expired == 0
    assert status_of(certificate) == ("valid", "")
    report = member_services.membership_daily_run(today=last_day + dt.timedelta(days=1))
    assert report.certificates_expired == 1
    assert status_of(certificate) == ("expired", "")
    assert member_services.membership_daily_run(today=last_day + dt.timedelta(days=2)) == (
        member_services.DailyRunReport()
    )
    assert [a for a, _ in events(certificate)][-1] == "certificate.expired"


def test_renewal_approval_extends_the_same_certificate_once(certificate, member, level):
    application = Application.objects.create(
        member=member,
        level=level,
        state=Application.State.APPROVED,
        decided_at=timezone.now(),
        decision_reasons="Returns accepted",
    )
    CertificateRenewal.objects.create(application=application, certificate=certificate)
    old_until = certificate.valid_until
    certificates.certificate_on_approval(application=application, actor=None)
    certificates.certificate_on_approval(application=application, actor=None)
    certificate.refresh_from_db()
    assert certificate.valid_until == certificates.add_years(
        old_until + dt.timedelta(days=1), 3
    ) - dt.timedelta(days=1)
    assert [a for a, _ in events(certificate)] == ["certificate.issued", "certificate.renewed"]
    assert Certificate.objects.count() == 1


# ---------------------------------------------------------------- the selector


def test_current_certificates_for_many_members_in_one_query(
    level, registrar, django_assert_num_queries
):
    holders = [MemberFactory(status=Status.ACTIVE) for _ in range(3)]
    issued = [certificate_of(approve(m, level, registrar)) for m in holders]
    certificates.certificate_revoke(certificate=issued[1], actor=registrar, reason="Fraud")
    nobody = MemberFactory(status=Status.ACTIVE)
    ids = [m.pk for m in holders] + [nobody.pk]
    with django_assert_num_queries(1):
        current = current_certificates_for(ids)
        names = {pk: [c.level.scheme.name for c in certs] for pk, certs in current.items()}
    assert set(current) == set(ids)
    assert [c.pk for c in current[holders[0].pk]] == [issued[0].pk]
    assert current[holders[1].pk] == []
    assert current[nobody.pk] == []
    assert names[holders[2].pk] == ["Accredited Manager"]
    # Outside the validity dates nothing is current.
    later = issued[0].valid_until + dt.timedelta(days=1)
    assert current_certificates_for(ids, on=later)[holders[0].pk] == []
    assert current_certificates_for([]) == {}


# ---------------------------------------------------------------- concurrency (PostgreSQL)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_issuing_and_membership_changes_keep_one_certificate(member, level, registrar):
    application = approve(member, level, registrar)
    issued = certificate_of(application)
    others = [recommended(MemberFactory(status=Status.ACTIVE), level, registrar) for _ in range(3)]
    for other in others:
        Application.objects.filter(pk=other.pk).update(
            state=Application.State.APPROVED, decided_at=timezone.now(), decision_reasons="Met."
        )
    barrier = threading.Barrier(6)  # one per piece of work
    results, lock = [], threading.Lock()

    def run(work):
        try:
            barrier.wait()
            outcome = work()
        except Exception as error:  # asserted below: none expected
            outcome = error
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    # Two issue the same new certificate at once, two more issue others, one re-issues an
    # existing one while a registrar revokes it.
    work = [
        *[(lambda app=app: certificates.certificate_issue(application=app)) for app in others],
        lambda: certificates.certificate_issue(application=others[0]),
        lambda: certificates.certificate_issue(application=application),
        lambda: certificates.certificate_revoke(
            certificate=issued, actor=registrar, reason="Fraud"
        ),
    ]
    threads = [threading.Thread(target=run, args=(w,)) for w in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Certificate.objects.filter(application=application).count() == 1
    assert Certificate.objects.filter(application=others[0]).count() == 1
    indexes = set(Certificate.objects.values_list("status_list_index", flat=True))
    assert Certificate.objects.count() == 4 == len(indexes)
    assert status_of(issued) == ("revoked", "")


# ---------------------------------------------------------------- emails


def test_the_holder_is_emailed_on_issue_and_on_the_registrars_changes(
    member, level, registrar, mailoutbox
):
    application = approve(member, level, registrar)
    certificate = certificate_of(application)
    issued = [m for m in mailoutbox if "is ready" in m.subject]
    assert len(issued) == 1 and issued[0].to == [member.user.email]
    assert f"/verify/{certificate.public_id}" in issued[0].body
    mailoutbox.clear()
    certificates.certificate_suspend(certificate=certificate, actor=registrar, reason="Complaint")
    certificates.certificate_suspension_lift(certificate=certificate, actor=registrar, reason="OK")
    certificates.certificate_revoke(certificate=certificate, actor=registrar, reason="Fraud found")
    assert [m.subject.split("] ")[1] for m in mailoutbox] == [
        f"Your certificate {certificate.serial} is suspended",
        f"Your certificate {certificate.serial} is valid again",
        f"Your certificate {certificate.serial} has been revoked",
    ]
    assert "Reason: Fraud found" in mailoutbox[-1].body


def test_membership_driven_changes_send_only_the_membership_email(
    certificate, member, registrar, mailoutbox
):
    mailoutbox.clear()
    member_services.member_suspend(
        member=member, actor=registrar, reason="x", starts_on=member_services.local_today()
    )
    assert status_of(certificate) == ("suspended", "membership")
    assert len(mailoutbox) == 1 and "certificate" not in mailoutbox[0].subject.lower()
