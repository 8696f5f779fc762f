"""Certificates: issued on approval, following the membership, suspended, lifted
or revoked by the registrar, expired at the end of validity, renewed.

Every status change locks the certificate row, re-checks it, bumps its
``version`` (so the cached PDF is re-rendered) and writes one audit event with
``subject_type="certificate"``, ``subject_id=str(certificate.pk)`` and an
``after`` of ``certificate_event_payload`` (status, member pk, public id,
level pk and more). Employer webhooks are built from exactly these events:
keep that shape.

Membership drives certificates through ``certificates_follow_membership``,
which ``members.services`` calls on every change of a member's status:

- active, in grace or paused: valid (a suspension the membership caused is lifted);
- suspended, lapsed, resigned, deceased (or back to applicant): suspended;
- removed: revoked, which is final.
"""

import datetime as dt
import secrets

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accreditation.models import (
    Application,
    ApplicationState,
    Certificate,
    CertificateStatus,
    SuspendedBy,
)
from audit.models import Action
from audit.services import EventSpec, audit_record_many
from members import services as member_services
from members.models import Member, Status, User
from members.numbering import damm_check_digit, number_next
from members.tasks import send_email

SUBJECT_TYPE = "certificate"
# W3C Bitstring Status List: at least 131,072 entries so one bit says little about whom.
STATUS_LIST_SIZE = 131_072

# What each membership status means for the member's certificates.
MEMBERSHIP_KEEPS = (Status.ACTIVE, Status.GRACE, Status.PAUSED)
MEMBERSHIP_REVOKES = (Status.REMOVED,)

# An application in these states has been approved (an upheld appeal overturns a decline).
AWARDING_STATES = (ApplicationState.APPROVED, ApplicationState.APPEAL_UPHELD)

# Statuses a certificate can still move out of.
LIVE = (CertificateStatus.VALID, CertificateStatus.SUSPENDED)


class CertificateError(Exception):
    """A change the certificate's current status does not allow; the message says why."""


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return dt.date(day.year + years, 3, 1)


def certificate_event_payload(certificate: Certificate) -> dict:
    """The ``after`` of every certificate audit event: the contract webhooks rely on."""
    return {
        "status": certificate.status,
        "member": certificate.member_id,
        "public_id": str(certificate.public_id),
        "level": certificate.level_id,
        "serial": certificate.serial,
        "valid_from": certificate.valid_from,
        "valid_until": certificate.valid_until,
        "suspended_by": certificate.suspended_by,
    }


def _event(
    certificate: Certificate,
    action: Action,
    *,
    actor: User | None,
    before: dict | None = None,
    reason: str = "",
) -> EventSpec:
    return EventSpec(
        action=action,
        subject_type=SUBJECT_TYPE,
        subject_id=str(certificate.pk),
        actor=actor,
        before=before or {},
        after=certificate_event_payload(certificate),
        reason=reason,
    )


def _changed(certificate: Certificate, events: list[EventSpec]) -> None:
    """Save a changed certificate, append its events, and re-render its PDF after commit."""
    certificate.version += 1
    certificate.status_changed_at = timezone.now()
    certificate.save()
    audit_record_many(events=events)
    _pdf_refresh_on_commit(certificate)


def _pdf_refresh_on_commit(certificate: Certificate) -> None:
    from accreditation import tasks  # the task module imports the renderer (WeasyPrint)

    pk = certificate.pk
    transaction.on_commit(lambda: tasks.certificate_pdf_render.enqueue(certificate_id=pk))


def _lock(certificate: Certificate) -> Certificate:
    return (
        Certificate.objects.select_for_update(of=("self",))
        .select_related("member__user", "level__scheme")
        .get(pk=certificate.pk)
    )


def _email(certificate: Certificate, template: str, reason: str = "") -> None:
    """Queue an email to the holder from templates/accreditation/certificates/email/.

    Changes the membership caused are not emailed: the membership's own email says why.
    """
    context = {
        "certificate": certificate,
        "member": certificate.member,
        "reason": reason,
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "verify_url": f"{settings.SITE_URL}/verify/{certificate.public_id}",
    }
    folder = "accreditation/certificates/email"
    subject = render_to_string(f"{folder}/{template}_subject.txt", context)
    send_email.enqueue(
        subject=f"[{settings.SITE_NAME}] " + " ".join(subject.split()),
        body=render_to_string(f"{folder}/{template}_message.txt", context).strip() + "\n",
        to=[certificate.member.user.email],
    )


def _before(certificate: Certificate) -> dict:
    return {"status": certificate.status, "suspended_by": certificate.suspended_by}


def _serial(today: dt.date) -> str:
    """``AC-2026-000123-4``: a never-reused number with a check digit, read over the phone."""
    number = number_next(series="certificate")
    digits = f"{today.year}{number:06d}"
    return f"AC-{today.year}-{number:06d}-{damm_check_digit(digits)}"


def _status_list_index() -> int:
    """A random free index: neighbours in the list say nothing about each other.

    Called after the serial's counter is locked, so issuers queue and never pick
    the same index.
    """
    used = set(Certificate.objects.values_list("status_list_index", flat=True))
    if len(used) >= STATUS_LIST_SIZE // 2:
        # Random picks slow down and herd privacy thins out; time to add a second list.
        raise CertificateError("The status list is half full; add another list first.")
    while True:
        index = secrets.randbelow(STATUS_LIST_SIZE)
        if index not in used:
            return index


def _membership_suspension_reason(member: Member) -> str:
    """Shown on the public verification page, so it says no more than the register would."""
    if member.status == Status.DECEASED:
        return "Membership ended"
    return f"Membership {member.get_status_display().lower()}"


# ---------------------------------------------------------------- issuing


@transaction.atomic
def certificate_issue(*, application: Application, actor: User | None = None) -> Certificate:
    """Issue the certificate an approved application (or an upheld appeal) earns; idempotent.

    A second call for the same application returns the certificate already
    issued. Valid from today for the level's validity, or suspended from the
    start if the membership is not in good standing by then.
    """
    existing = Certificate.objects.filter(application=application).first()
    if existing is not None:
        return existing
    application = (
        Application.objects.select_for_update(of=("self",))
        .select_related("level__scheme")
        .get(pk=application.pk)
    )
    existing = Certificate.objects.filter(application=application).first()
    if existing is not None:
        return existing
    if application.state not in AWARDING_STATES:
        raise CertificateError("Only an approved application earns a certificate.")
    member = Member.objects.select_related("user").get(pk=application.member_id)
    today = member_services.local_today()
    level = application.level
    certificate = Certificate(
        member=member,
        level=level,
        application=application,
        serial=_serial(today),
        valid_from=today,
        valid_until=add_years(today, level.validity_years) - dt.timedelta(days=1),
        status_changed_at=timezone.now(),
    )
    certificate.status_list_index = _status_list_index()
    if member.status not in MEMBERSHIP_KEEPS:
        certificate.status = CertificateStatus.SUSPENDED
        certificate.suspended_by = SuspendedBy.MEMBERSHIP
        certificate.status_reason = _membership_suspension_reason(member)
    certificate.save()
    audit_record_many(events=[_event(certificate, Action.CERTIFICATE_ISSUED, actor=actor)])
    _pdf_refresh_on_commit(certificate)
    _email(certificate, "issued")
    return certificate


# ---------------------------------------------------------------- the registrar


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise CertificateError("Give a reason. The verification page shows it.")
    return reason


@transaction.atomic
def certificate_revoke(*, certificate: Certificate, actor: User | None, reason: str) -> Certificate:
    """Revoke for good, with a reason the verification page shows. Revoking twice is a no-op.

    Flips the certificate's bit in the revocation status list at once (the list
    is built from this table whenever it is asked for).
    """
    reason = _require_reason(reason)
    certificate = _lock(certificate)
    if certificate.status == CertificateStatus.REVOKED:
        return certificate
    before = _before(certificate)
    certificate.status = CertificateStatus.REVOKED
    certificate.suspended_by = ""
    certificate.status_reason = reason
    _changed(
        certificate,
        [
            _event(
                certificate, Action.CERTIFICATE_REVOKED, actor=actor, before=before, reason=reason
            )
        ],
    )
    _email(certificate, "revoked", reason)
    return certificate


@transaction.atomic
def certificate_suspend(*, certificate: Certificate, actor: User, reason: str) -> Certificate:
    """The registrar suspends a certificate; only the registrar lifts it again."""
    reason = _require_reason(reason)
    certificate = _lock(certificate)
    if certificate.status not in LIVE:
        raise CertificateError(
            f"A certificate that is {certificate.get_status_display().lower()} cannot be suspended."
        )
    if certificate.suspended_by == SuspendedBy.REGISTRAR:
        return certificate
    before = _before(certificate)
    certificate.status = CertificateStatus.SUSPENDED
    certificate.suspended_by = SuspendedBy.REGISTRAR
    certificate.status_reason = reason
    _changed(
        certificate,
        [
            _event(
                certificate, Action.CERTIFICATE_SUSPENDED, actor=actor, before=before, reason=reason
            )
        ],
    )
    _email(certificate, "suspended", reason)
    return certificate


@transaction.atomic
def certificate_suspension_lift(
    *, certificate: Certificate, actor: User, reason: str
) -> Certificate:
    """Lift the registrar's suspension.

    If the membership is not in good standing the certificate stays suspended,
    now because of the membership, and is restored with it.
    """
    reason = _require_reason(reason)
    certificate = _lock(certificate)
    if certificate.suspended_by != SuspendedBy.REGISTRAR:
        raise CertificateError("This certificate is not suspended by the registrar.")
    before = _before(certificate)
    member = certificate.member
    if member.status in MEMBERSHIP_KEEPS:
        certificate.status = CertificateStatus.VALID
        certificate.suspended_by = ""
        certificate.status_reason = ""
        action = Action.CERTIFICATE_REINSTATED
    else:
        certificate.suspended_by = SuspendedBy.MEMBERSHIP
        certificate.status_reason = _membership_suspension_reason(member)
        action = Action.CERTIFICATE_SUSPENDED
    _changed(certificate, [_event(certificate, action, actor=actor, before=before, reason=reason)])
    _email(certificate, "reinstated", reason)
    return certificate


# ---------------------------------------------------------------- membership and dates


def certificates_follow_membership(
    *, members: list[Member], actor: User | None = None, reason: str = ""
) -> int:
    """Bring the live certificates of these members into line with their (new) status.

    Call inside the transaction that changed the status, with the members as
    they now are. One query when none of them holds a certificate. Returns how
    many certificates changed.
    """
    by_pk = {member.pk: member for member in members}
    if not by_pk:
        return 0
    certificates = list(
        Certificate.objects.select_for_update()
        .filter(member_id__in=by_pk, status__in=LIVE)
        .order_by("pk")
    )
    changed = 0
    for certificate in certificates:
        member = by_pk[certificate.member_id]
        before = _before(certificate)
        if member.status in MEMBERSHIP_REVOKES:
            certificate.status = CertificateStatus.REVOKED
            certificate.suspended_by = ""
            # The staff's own reason stays in the audit log; the public page says only this.
            certificate.status_reason = "Removed from the register"
            action = Action.CERTIFICATE_REVOKED
        elif member.status in MEMBERSHIP_KEEPS:
            if certificate.suspended_by != SuspendedBy.MEMBERSHIP:
                continue
            certificate.status = CertificateStatus.VALID
            certificate.suspended_by = ""
            certificate.status_reason = ""
            action = Action.CERTIFICATE_REINSTATED
        else:
            if certificate.status == CertificateStatus.SUSPENDED:
                continue  # already held (by the registrar, or by the membership)
            certificate.status = CertificateStatus.SUSPENDED
            certificate.suspended_by = SuspendedBy.MEMBERSHIP
            certificate.status_reason = _membership_suspension_reason(member)
            action = Action.CERTIFICATE_SUSPENDED
        _changed(
            certificate,
            [_event(certificate, action, actor=actor, before=before, reason=reason)],
        )
        changed += 1
    return changed


@transaction.atomic
def certificates_expire(*, today: dt.date | None = None) -> int:
    """Expire every live certificate whose validity ended before ``today``; safe to rerun."""
    today = today or member_services.local_today()
    certificates = list(
        Certificate.objects.select_for_update(of=("self",))
        .select_related("member__user", "level__scheme")
        .filter(status__in=LIVE, valid_until__lt=today)
        .order_by("pk")
    )
    for certificate in certificates:
        before = _before(certificate)
        certificate.status = CertificateStatus.EXPIRED
        certificate.suspended_by = ""
        certificate.status_reason = ""
        _changed(
            certificate,
            [
                _event(
                    certificate,
                    Action.CERTIFICATE_EXPIRED,
                    actor=None,
                    before=before,
                    reason=f"Validity ended on {certificate.valid_until:%-d %B %Y}",
                )
            ],
        )
        _email(certificate, "expired")
    return len(certificates)


# ---------------------------------------------------------------- approval and renewal


def certificate_on_approval(*, application: Application, actor: User | None) -> Certificate:
    """What an approval awards: a renewal extends its certificate, anything else issues one."""
    renewal = getattr(application, "renewal", None)
    if renewal is not None:
        return certificate_renew(application=application, actor=actor)
    return certificate_issue(application=application, actor=actor)


@transaction.atomic
def certificate_renew(*, application: Application, actor: User | None) -> Certificate:
    """Extend the certificate an approved renewal application names; idempotent.

    The new validity runs on from the end of the old one for the level's
    validity, so renewing early loses nothing. The public id, serial and
    status-list bit stay the same; an expired certificate becomes current
    again (suspended if the membership is not in good standing).
    """
    from accreditation.models import CertificateRenewal

    renewal = (
        CertificateRenewal.objects.select_for_update(of=("self",))
        .select_related("application")
        .get(application_id=application.pk)
    )
    certificate = _lock(renewal.certificate)
    if renewal.renewed_at is not None:
        return certificate
    if renewal.application.state not in AWARDING_STATES:
        raise CertificateError("Only an approved renewal extends a certificate.")
    if certificate.status == CertificateStatus.REVOKED:
        raise CertificateError("A revoked certificate cannot be renewed.")
    before = {**_before(certificate), "valid_until": certificate.valid_until}
    renewal.previous_valid_until = certificate.valid_until
    renewal.renewed_at = timezone.now()
    renewal.save(update_fields=["previous_valid_until", "renewed_at"])
    certificate.valid_until = add_years(
        certificate.valid_until + dt.timedelta(days=1), certificate.level.validity_years
    ) - dt.timedelta(days=1)
    if certificate.status == CertificateStatus.EXPIRED:
        member = certificate.member
        if member.status in MEMBERSHIP_KEEPS:
            certificate.status = CertificateStatus.VALID
        else:
            certificate.status = CertificateStatus.SUSPENDED
            certificate.suspended_by = SuspendedBy.MEMBERSHIP
            certificate.status_reason = _membership_suspension_reason(member)
    _changed(
        certificate,
        [
            _event(
                certificate,
                Action.CERTIFICATE_RENEWED,
                actor=actor,
                before=before,
                reason="Renewal approved",
            )
        ],
    )
    _email(certificate, "renewed")
    return certificate
