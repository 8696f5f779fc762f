"""The member's accreditation pages and the referee's page.

Views hold no business rules: they read through ``accreditation.selectors``,
write through ``accreditation.services`` and show an ``AccreditationError``
on the page, keeping what was typed.
"""

import datetime as dt

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accreditation import fees, selectors, services
from accreditation.forms import (
    AppealForm,
    DetailsForm,
    FeeInvoiceForm,
    InformationResponseForm,
    RefereeForm,
    RefereeResponseForm,
    StartForm,
    StatementForm,
)
from accreditation.models import (
    Appeal,
    Application,
    ApplicationFee,
    Level,
    Referee,
    StandardStatement,
)
from accreditation.services import AccreditationError, NotEligible
from members import services as member_services
from members.models import Member
from members.stripe_gateway import stripe_enabled
from members.views import member_required

State = Application.State


def _open_levels():
    return Level.objects.filter(scheme__is_open=True).select_related("scheme")


def _own(member: Member, public_id) -> Application:
    try:
        return selectors.application_for_member(public_id=public_id, member=member)
    except Application.DoesNotExist:
        raise Http404("No such application.") from None


# --- The member's applications ------------------------------------------------------


@member_required
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest, member: Member) -> HttpResponse:
    applications = selectors.applications_for_member(member=member)
    open_level_ids = {a.level_id for a in applications if a.state not in Application.CLOSED}
    levels = _open_levels().exclude(pk__in=open_level_ids)
    form = StartForm(request.POST or None, levels=levels)
    if request.method == "POST" and form.is_valid():
        try:
            application = services.application_create(
                member=member, level=form.cleaned_data["level"]
            )
        except AccreditationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Your application for {application.level.name} is started.")
            return redirect("accreditation:detail", public_id=application.public_id)
    return render(
        request,
        "accreditation/index.html",
        {"member": member, "applications": applications, "form": form, "levels": levels},
    )


def _detail_context(application: Application) -> dict:
    statements = {
        s.standard_id: s
        for s in StandardStatement.objects.filter(application=application).prefetch_related(
            "entries"
        )
    }
    standards = [
        {"standard": standard, "statement": statements.get(standard.pk)}
        for standard in application.level.required_standards.select_related("domain").order_by(
            "domain__order", "order", "code"
        )
    ]
    open_request = application.information_requests.filter(responded_at__isnull=True).first()
    appeal = Appeal.objects.filter(application=application).first()
    appeal_last_day = None
    if application.state == State.DECLINED and application.decided_at:
        appeal_last_day = timezone.localdate(application.decided_at) + dt.timedelta(
            days=services.APPEAL_WINDOW_DAYS
        )
    return {
        "application": application,
        "is_draft": application.state == State.DRAFT,
        # An assessor's question may be answered by improving a statement.
        "can_edit_statements": application.state in (State.DRAFT, State.INFO_REQUESTED),
        "standards": standards,
        "now": timezone.now(),
        "fee": ApplicationFee.objects.filter(application=application).first(),
        "stripe_enabled": stripe_enabled(),
        "referees": [
            (referee, services.referee_replaceable(referee))
            for referee in application.referees.all()
        ],
        "missing": (
            selectors.application_missing(application=application)
            if application.state == State.DRAFT
            else []
        ),
        "can_withdraw": application.state in Application.UNDECIDED,
        "open_request": open_request,
        "answered_requests": list(
            application.information_requests.filter(responded_at__isnull=False)
        ),
        "appeal": appeal,
        "can_appeal": appeal_last_day is not None
        and member_services.local_today() <= appeal_last_day,
        "appeal_last_day": appeal_last_day,
    }


@member_required
def detail(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    application = _own(member, public_id)
    return render(
        request,
        "accreditation/detail.html",
        {
            **_detail_context(application),
            "referee_form": RefereeForm(),
            "info_form": InformationResponseForm(),
        },
    )


@member_required
@require_http_methods(["GET", "POST"])
def details(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    application = _own(member, public_id)
    form = DetailsForm(
        request.POST or None,
        initial={
            "career_summary": application.career_summary,
            "management_since": application.management_since,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.application_details_save(application=application, **form.cleaned_data)
        except AccreditationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Your career summary is saved.")
            return redirect("accreditation:detail", public_id=application.public_id)
    return render(request, "accreditation/details.html", {"application": application, "form": form})


@member_required
@require_http_methods(["GET", "POST"])
def statement(request: HttpRequest, member: Member, public_id, standard_id: int) -> HttpResponse:
    application = _own(member, public_id)
    standard = application.level.required_standards.filter(pk=standard_id).first()
    if standard is None:
        raise Http404("Not one of this level's standards.")
    existing = StandardStatement.objects.filter(application=application, standard=standard).first()
    initial = (
        {"statement": existing.statement, "entries": list(existing.entries.all())}
        if existing
        else {}
    )
    form = StatementForm(request.POST or None, member=member, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.statement_save(
                application=application,
                standard=standard,
                statement=form.cleaned_data["statement"],
                entries=list(form.cleaned_data["entries"]),
            )
        except AccreditationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Your statement for {standard.code} is saved.")
            return redirect("accreditation:detail", public_id=application.public_id)
    return render(
        request,
        "accreditation/statement.html",
        {"application": application, "standard": standard, "form": form},
    )


@member_required
@require_POST
def referee_invite(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    application = _own(member, public_id)
    form = RefereeForm(request.POST)
    if form.is_valid():
        try:
            referee, _ = services.referee_invite(application=application, **form.cleaned_data)
        except AccreditationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"We have emailed {referee.name} a link to respond.")
            return redirect("accreditation:detail", public_id=application.public_id)
    return render(
        request,
        "accreditation/detail.html",
        {**_detail_context(application), "referee_form": form, "info_form": None},
        status=400,
    )


@member_required
@require_http_methods(["GET", "POST"])
def referee_replace(request: HttpRequest, member: Member, public_id, referee_id) -> HttpResponse:
    """Name someone else in place of a referee who declined or never answered."""
    application = _own(member, public_id)
    referee = application.referees.filter(public_id=referee_id).first()
    if referee is None or not services.referee_replaceable(referee):
        raise Http404("No referee to replace.")
    form = RefereeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            new, _ = services.referee_replace(referee=referee, **form.cleaned_data)
        except AccreditationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request, f"We have emailed {new.name} a link to respond in place of {referee.name}."
            )
            return redirect("accreditation:detail", public_id=application.public_id)
    return render(
        request,
        "accreditation/referee_replace.html",
        {"application": application, "referee": referee, "form": form},
        status=400 if form.errors else 200,
    )


# --- The fee ---------------------------------------------------------------------------


def _own_fee(member: Member, public_id) -> ApplicationFee:
    application = _own(member, public_id)
    fee = ApplicationFee.objects.filter(application=application).select_related(
        "application__member__user", "application__level__scheme"
    )
    if not fee:
        raise Http404("No fee for this application.")
    return fee[0]


@member_required
@require_POST
def fee_checkout(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    """Send the member to Stripe Checkout to pay the fee by card or Direct Debit."""
    if not stripe_enabled():
        raise Http404("Card payments are not available.")
    fee = _own_fee(member, public_id)
    here = reverse("accreditation:detail", args=[public_id])
    try:
        url = fees.fee_checkout_start(
            fee=fee,
            success_url=request.build_absolute_uri(
                reverse("accreditation:fee_paid", args=[public_id])
            ),
            cancel_url=request.build_absolute_uri(here),
        )
    except fees.FeeError as error:
        messages.error(request, str(error))
        return redirect(here)
    return redirect(url)


@member_required
def fee_paid(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    """Where Stripe sends the member back; settles the fee at once if the webhook has not."""
    if not stripe_enabled():
        raise Http404("Card payments are not available.")
    fee = _own_fee(member, public_id)
    try:
        fee = fees.fee_checkout_fulfil(fee=fee, session_id=request.GET.get("session_id", ""))
    except fees.FeeError:
        raise Http404("No such payment.") from None
    if fee.state == ApplicationFee.State.PAID:
        messages.success(request, f"Thank you: your {fee.amount_display} fee is paid.")
    else:
        messages.info(
            request,
            "Your Direct Debit is set up. The fee is paid when the money arrives, in about "
            "3 working days; we will email you.",
        )
    return redirect("accreditation:detail", public_id=public_id)


@member_required
@require_http_methods(["GET", "POST"])
def fee_invoice(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    """Ask for an invoice to the employer, with their purchase order."""
    fee = _own_fee(member, public_id)
    initial = {
        "payer_organisation": fee.payer_organisation or member.organisation_name,
        "purchase_order": fee.purchase_order,
        "payer_email": fee.payer_email,
    }
    form = FeeInvoiceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            fee = fees.fee_invoice_request(fee=fee, **form.cleaned_data)
        except fees.FeeError as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request,
                f"Invoice {fee.invoice_number} is ready. Download it and pass it to your "
                "finance team.",
            )
            return redirect("accreditation:detail", public_id=public_id)
    return render(
        request,
        "accreditation/fee_invoice.html",
        {"application": fee.application, "fee": fee, "form": form},
        status=400 if form.errors else 200,
    )


@member_required
def fee_invoice_pdf(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    fee = _own_fee(member, public_id)
    if not fee.invoice_number:
        raise Http404("No invoice for this fee.")
    response = HttpResponse(fees.fee_invoice_pdf(fee), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{fee.invoice_number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@member_required
@require_POST
def submit(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    application = _own(member, public_id)
    try:
        services.application_submit(application=application)
    except NotEligible as refusal:
        failures = refusal.failures
    except AccreditationError as error:
        failures = [str(error)]
    else:
        messages.success(request, "Your application is submitted. We will assign an assessor.")
        return redirect("accreditation:detail", public_id=application.public_id)
    application.refresh_from_db()
    return render(
        request,
        "accreditation/detail.html",
        {
            **_detail_context(application),
            "referee_form": RefereeForm(),
            "info_form": None,
            "submit_failures": failures,
        },
        status=400,
    )


@member_required
@require_http_methods(["GET", "POST"])
def withdraw(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    """GET asks for confirmation; only a POST withdraws."""
    application = _own(member, public_id)
    error = ""
    if request.method == "POST":
        try:
            services.application_withdraw(
                application=application, reason=request.POST.get("reason", "")
            )
        except AccreditationError as refusal:
            error = str(refusal)
        else:
            messages.success(request, "Your application is withdrawn.")
            return redirect("accreditation:detail", public_id=application.public_id)
    return render(
        request, "accreditation/withdraw.html", {"application": application, "error": error}
    )


@member_required
@require_POST
def information_respond(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    application = _own(member, public_id)
    form = InformationResponseForm(request.POST)
    if form.is_valid():
        try:
            services.information_respond(
                application=application, response=form.cleaned_data["response"]
            )
        except AccreditationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Your answer is sent to your assessor.")
            return redirect("accreditation:detail", public_id=application.public_id)
    return render(
        request,
        "accreditation/detail.html",
        {**_detail_context(application), "referee_form": None, "info_form": form},
        status=400,
    )


@member_required
@require_http_methods(["GET", "POST"])
def appeal(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    application = _own(member, public_id)
    form = AppealForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.appeal_lodge(application=application, grounds=form.cleaned_data["grounds"])
        except AccreditationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Your appeal is lodged.")
            return redirect("accreditation:detail", public_id=application.public_id)
    return render(request, "accreditation/appeal.html", {"application": application, "form": form})


# --- The referee's page (no sign-in: the emailed token is the key) ------------------------


def _referee_gone(referee: Referee | None) -> str:
    """Why the link no longer works, or nothing if it does."""
    if referee is None:
        return "This referee link is not recognised. Check you copied the whole link."
    if referee.responded_at is not None:
        return "This referee link has already been used. Thank you for your response."
    if referee.application.state in Application.CLOSED:
        return "This application is closed; no reference is needed."
    if referee.expires_at <= timezone.now():
        return "This referee link has expired. Ask the applicant to send you a new one."
    return ""


@require_http_methods(["GET", "POST"])
def referee(request: HttpRequest, token: str) -> HttpResponse:
    found = selectors.referee_for_token(token=token)
    gone = _referee_gone(found)
    if gone:
        return render(
            request,
            "accreditation/referee_gone.html",
            {"message": gone},
            status=404 if found is None else 410,
        )
    form = RefereeResponseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            answered = services.referee_respond(
                token=token,
                confirm=form.cleaned_data["response"] == "confirm",
                comment=form.cleaned_data["comment"],
            )
        except AccreditationError as error:
            return render(
                request, "accreditation/referee_gone.html", {"message": str(error)}, status=410
            )
        return render(request, "accreditation/referee_done.html", {"referee": answered})
    application = found.application
    response = render(
        request,
        "accreditation/referee.html",
        {
            "referee": found,
            "application": application,
            "statements": StandardStatement.objects.filter(application=application)
            .select_related("standard")
            .exclude(statement=""),
            "form": form,
        },
    )
    # The site's "same-origin" referrer policy already keeps the token from other
    # sites; "no-referrer" here would make browsers send "Origin: null" with the
    # form, which Django's CSRF check rightly refuses.
    response["Cache-Control"] = "private, no-store"
    return response
