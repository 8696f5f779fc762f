"""Certificate pages: the public verification page and credential checker, the
published keys and status lists, the member's downloads and the registrar's
suspend, lift and revoke.

Views hold no rules: they read through ``accreditation.selectors`` and write
through ``accreditation.certificates``.
"""

import json
import uuid

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.throttling import BaseThrottle

from accreditation import certificates, credentials, renewals, selectors, status_lists
from accreditation.certificate_forms import CertificateActionForm, CredentialCheckForm
from accreditation.certificate_pdf import certificate_pdf_refresh
from accreditation.certificates import CertificateError
from accreditation.models import Certificate
from members import services as member_services
from members.models import Member
from members.staff_views import staff_required
from members.views import member_required

Status = Certificate.Status


def _rate_limited(request: HttpRequest) -> bool:
    """True once an address has made VERIFY_RATE_PER_MINUTE public checks this minute."""
    # The client's address as DRF's throttles read it: X-Forwarded-For is trusted
    # only for the TRUSTED_PROXY_COUNT proxies in front of us, else REMOTE_ADDR.
    key = f"verify-rate:{BaseThrottle().get_ident(request)}"
    cache.add(key, 0, timeout=60)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=60)
        count = 1
    return count > settings.VERIFY_RATE_PER_MINUTE


def _too_many(request: HttpRequest) -> HttpResponse:
    response = render(request, "accreditation/certificates/rate_limited.html", status=429)
    response["Retry-After"] = "60"
    return response


# ---------------------------------------------------------------- public


@never_cache
@require_GET
def verify(request: HttpRequest, public_id) -> HttpResponse:
    """Who, what level, the dates and the live status in words. No sign-in."""
    if _rate_limited(request):
        return _too_many(request)
    try:
        certificate = selectors.certificate_for_verification(public_id=uuid.UUID(public_id))
    except (ValueError, Certificate.DoesNotExist):
        return render(
            request,
            "accreditation/certificates/verify_unknown.html",
            {"public_id": public_id},
            status=404,
        )
    return render(
        request,
        "accreditation/certificates/verify.html",
        {"certificate": certificate, "today": member_services.local_today()},
    )


@never_cache
@require_http_methods(["GET", "POST"])
def verify_credential(request: HttpRequest) -> HttpResponse:
    """Paste a credential (VC-JWT or its JSON envelope): signature, dates and both status lists."""
    form = CredentialCheckForm(request.POST or None)
    result = None
    if request.method == "POST":
        if _rate_limited(request):
            return _too_many(request)
        if form.is_valid():
            result = credentials.credential_verify(form.cleaned_data["credential"])
    return render(
        request,
        "accreditation/certificates/verify_credential.html",
        {"form": form, "result": result},
        status=200,
    )


def _json(data: dict, content_type: str = "application/json") -> HttpResponse:
    response = HttpResponse(json.dumps(data, indent=2), content_type=content_type)
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
@cache_control(public=True, max_age=300)
def did_document(request: HttpRequest) -> HttpResponse:
    return _json(credentials.did_document(), "application/did+json")


@require_GET
@cache_control(public=True, max_age=300)
def jwks(request: HttpRequest) -> HttpResponse:
    return _json(credentials.jwks(), "application/jwk-set+json")


@require_GET
@cache_control(no_cache=True)
def status_list(request: HttpRequest, purpose: str) -> HttpResponse:
    """The signed BitstringStatusListCredential as a VC-JWT (built live: changes show at once).

    ``?format=json`` gives the same credential unsigned, for reading.
    """
    if purpose not in status_lists.PURPOSES:
        raise Http404("No such status list.")
    if request.GET.get("format") == "json":
        return _json(status_lists.status_list_credential(purpose))
    response = HttpResponse(
        status_lists.status_list_jwt(purpose), content_type="application/vc+jwt"
    )
    response["Access-Control-Allow-Origin"] = "*"
    return response


# ---------------------------------------------------------------- the member


def _own(member: Member, public_id) -> Certificate:
    try:
        return selectors.certificate_for_member(member=member, public_id=public_id)
    except Certificate.DoesNotExist:
        raise Http404("No such certificate.") from None


@member_required
@require_GET
def certificate_detail(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    certificate = _own(member, public_id)
    opens, _ = renewals.renewal_window(certificate)
    return render(
        request,
        "accreditation/certificates/detail.html",
        {
            "certificate": certificate,
            "verify_url": credentials.verification_url(certificate),
            "renewal_refusal": renewals.renewal_refusal(certificate=certificate),
            "renewal_opens_on": opens,
        },
    )


@member_required
@require_POST
def certificate_renew(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    """Start (or return to) the renewal application for the certificate."""
    certificate = _own(member, public_id)
    try:
        application = renewals.renewal_start(certificate=certificate, member=member)
    except CertificateError as error:
        messages.error(request, str(error))
        return redirect("certificates:detail", public_id=certificate.public_id)
    messages.success(
        request,
        "Your renewal application is started. Write your statement and make sure your CPD "
        "returns for the period are in, then submit it.",
    )
    return redirect("accreditation:detail", public_id=application.public_id)


@member_required
@require_GET
def certificate_pdf(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    """The cached PDF (rendered now if the task has not got to it yet); refused once revoked."""
    certificate = _own(member, public_id)
    if certificate.status == Status.REVOKED:
        return render(
            request,
            "accreditation/certificates/revoked_download.html",
            {"certificate": certificate},
            status=410,
        )
    certificate = certificate_pdf_refresh(certificate_id=certificate.pk)
    with certificate.pdf.open("rb") as handle:
        data = handle.read()
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="certificate-{certificate.serial}.pdf"'
    return response


def _credential_download(request, member: Member, public_id, *, as_json: bool) -> HttpResponse:
    certificate = _own(member, public_id)
    if certificate.status == Status.REVOKED:
        return render(
            request,
            "accreditation/certificates/revoked_download.html",
            {"certificate": certificate},
            status=410,
        )
    token = credentials.credential_jwt(certificate)
    name = f"credential-{certificate.serial}"
    if as_json:
        response = HttpResponse(
            json.dumps(credentials.credential_envelope(token), indent=2),
            content_type="application/json",
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.json"'
    else:
        response = HttpResponse(token, content_type="application/vc+jwt")
        response["Content-Disposition"] = f'attachment; filename="{name}.jwt"'
    return response


@member_required
@require_GET
def credential_jwt(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    return _credential_download(request, member, public_id, as_json=False)


@member_required
@require_GET
def credential_json(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    return _credential_download(request, member, public_id, as_json=True)


# ---------------------------------------------------------------- the registrar


@staff_required
@require_GET
def registrar_certificates(request: HttpRequest) -> HttpResponse:
    """Certificates by status, newest first, searchable by serial or name."""
    status = request.GET.get("status")
    status = status if status in Status.values else Status.VALID.value
    query = request.GET.get("q", "").strip()
    rows = selectors.certificates_for_registrar(status=status, query=query)
    return render(
        request,
        "accreditation/certificates/registrar_list.html",
        {
            "status": Status(status),
            "statuses": list(Status),
            "query": query,
            "certificates": rows,
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def registrar_certificate(request: HttpRequest, public_id) -> HttpResponse:
    certificate = get_object_or_404(
        Certificate.objects.select_related("member__user", "level__scheme", "application"),
        public_id=public_id,
    )
    form = CertificateActionForm(request.POST or None, certificate=certificate)
    if request.method == "POST" and form.is_valid():
        action = form.cleaned_data["action"]
        service = {
            "suspend": certificates.certificate_suspend,
            "lift": certificates.certificate_suspension_lift,
            "revoke": certificates.certificate_revoke,
        }[action]
        try:
            service(certificate=certificate, actor=request.user, reason=form.cleaned_data["reason"])
        except CertificateError as error:
            form.add_error(None, str(error))
        else:
            done = {"suspend": "suspended", "lift": "updated", "revoke": "revoked"}[action]
            messages.success(request, f"Certificate {certificate.serial} {done}.")
            return redirect("registrar_certificates:detail", public_id=certificate.public_id)
    return render(
        request,
        "accreditation/certificates/registrar_detail.html",
        {
            "certificate": certificate,
            "form": form,
            "history": selectors.certificate_history(certificate=certificate),
            "verify_url": credentials.verification_url(certificate),
        },
    )
