"""The member's own pages: joining, paying, the dashboard, documents and actions.

Views hold no business rules: they validate input, call a service and turn a
``MembershipError`` into a form error, so the page re-renders with the
message and everything typed is kept.
"""

from functools import wraps

from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.dateformat import format as date_format
from django.views.decorators.http import require_POST

from accreditation import selectors as accreditation_selectors
from api import selectors as api_selectors
from audit.selectors import audit_events_for_subject
from config.forms import form_data
from cpd import sharing as cpd_sharing
from members import documents, services
from members.forms import (
    ConfirmForm,
    GradeChangeForm,
    InvoicePaymentForm,
    JoinForm,
    PauseForm,
    ProfileForm,
    ResignForm,
)
from members.models import Invoice, Member, Payment, Status
from members.selectors import (
    NextStep,
    audit_event_changes,
    member_dashboard,
    member_for_user,
    member_pending_grade_change,
)
from members.services import MembershipError
from members.stripe_gateway import stripe_enabled


def home(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "members/home.html")


@login_required
def dashboard(request):
    member = member_for_user(
        user=request.user, annotations=api_selectors.member_checked_by_annotations()
    )
    if member is None:
        from api.portal_views import employer_for_user

        # An employer's person who is not a member has the employer portal for a dashboard.
        if employer_for_user(request.user) is not None:
            return redirect("employer:home")
    today = services.local_today()
    return render(
        request,
        "members/dashboard.html",
        {
            "mfa_enabled": is_mfa_enabled(request.user),
            "member": member,
            "board": member_dashboard(member=member) if member else None,
            # Open goals due within 30 days or overdue, in one query: the card needs
            # neither their standards nor their entries, so nothing is prefetched.
            "goals_due": list(
                cpd_sharing.goals_due(member=member, today=today).prefetch_related(None)
            )
            if member
            else [],
            "today": today,
            "card_payments_enabled": stripe_enabled(),
            # Every certificate the member holds, with its level and scheme: one query.
            "certificates": accreditation_selectors.member_certificates(member=member)
            if member
            else [],
            # The latest employer checks that found the member, read with the member.
            "checked_by": api_selectors.member_checked_by(member=member) if member else [],
        },
    )


@login_required
def mfa_required(request):
    """Explain why staff and assessors must add a second factor, and how."""
    if not request.user.requires_mfa or is_mfa_enabled(request.user):
        return redirect("dashboard")
    return render(request, "members/mfa_required.html")


def member_required(view):
    """Sign-in required, and a membership: the view gets the member as its second argument."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        member = member_for_user(user=request.user)
        if member is None:
            return redirect("membership_join")
        return view(request, member, *args, **kwargs)

    return wrapped


# --- Joining and paying ------------------------------------------------------------


@login_required
def join(request):
    if member_for_user(user=request.user) is not None:
        return redirect("dashboard")
    form = JoinForm(form_data(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            member = services.member_join(
                user=request.user,
                grade=data["grade"],
                job_title=data["job_title"],
                management_level=data["management_level"],
                register_consent=data["register_consent"],
                agreed_code_of_conduct=data["agreed_code_of_conduct"],
                statement=data["statement"],
                **data["organisation"],
            )
        except services.AlreadyJoined:
            # A double submit: the other request joined; this one has nothing to add.
            return redirect("dashboard")
        except MembershipError as error:
            form.add_error(None, str(error))
        else:
            if member.grade.requires_review:
                return redirect("membership_join_review")
            messages.success(request, "Your details are saved. Now pay for your membership.")
            return redirect("membership_pay")
    return render(request, "members/join.html", {"form": form})


@member_required
def join_review(request, member: Member):
    change = member_pending_grade_change(member=member)
    if change is None:
        return redirect("dashboard")
    return render(request, "members/join_review.html", {"member": member, "change": change})


# Next steps in which the member cannot pay now; the dashboard explains why.
CANNOT_PAY = {
    NextStep.AWAITING_REVIEW,
    NextStep.CHOOSE_GRADE,
    NextStep.PAUSED,
    NextStep.SUSPENDED,
    NextStep.REMOVED,
}


def _pay_page(request, member: Member, *, invoice_form: InvoicePaymentForm | None = None):
    """How to pay: one section per payment method.

    Card and Bacs Direct Debit (Stripe, when configured) sit beside invoice,
    each section posting to its own view and service.
    """
    board = member_dashboard(member=member)
    if invoice_form is None:  # arriving, rather than coming back with a refused form
        if board.open_invoice:
            invoice = board.open_invoice
            messages.info(request, f"You already have invoice {invoice.number} to pay.")
            return redirect("membership_invoice", public_id=invoice.public_id)
        if board.next_step in CANNOT_PAY:
            return redirect("dashboard")
        invoice_form = InvoicePaymentForm(initial={"payer_organisation": member.organisation_name})
    return render(
        request,
        "members/pay.html",
        {
            "member": member,
            "board": board,
            "invoice_form": invoice_form,
            "card_payments": stripe_enabled() and bool(member.grade.stripe_price_id),
        },
    )


@member_required
def pay(request, member: Member):
    return _pay_page(request, member)


@require_POST
@member_required
def pay_by_invoice(request, member: Member):
    form = InvoicePaymentForm(request.POST)
    if form.is_valid():
        try:
            invoice = services.invoice_raise(member=member, actor=request.user, **form.cleaned_data)
        except MembershipError as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request,
                f"Invoice {invoice.number} raised. We have emailed it to you: "
                "pass it to your finance team to pay.",
            )
            return redirect("membership_invoice", public_id=invoice.public_id)
    return _pay_page(request, member, invoice_form=form)


# --- Invoices and receipts ---------------------------------------------------------


def _own_invoice(request, public_id) -> Invoice:
    """The signed-in member's invoice; anyone else's is a 404, never a 403."""
    return get_object_or_404(
        Invoice.objects.select_related("member__user", "member__organisation", "grade"),
        public_id=public_id,
        member__user=request.user,
    )


@login_required
def invoice_detail(request, public_id):
    invoice = _own_invoice(request, public_id)
    return render(request, "members/invoice.html", {"invoice": invoice})


def _pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def invoice_pdf(request, public_id):
    invoice = _own_invoice(request, public_id)
    return _pdf_response(documents.invoice_pdf(invoice), f"{invoice.number}.pdf")


@login_required
def receipt_pdf(request, public_id):
    payment = get_object_or_404(
        Payment.objects.select_related("member__user", "period__grade", "invoice"),
        public_id=public_id,
        member__user=request.user,
    )
    return _pdf_response(documents.receipt_pdf(payment), f"{payment.receipt_number}.pdf")


# --- Member actions ----------------------------------------------------------------


def _action(request, member: Member, *, form, template: str, perform, context=None):
    """GET shows the form; a valid POST calls ``perform(form)`` (a service call that
    returns the success message) and goes back to the dashboard."""
    if request.method == "POST" and form.is_valid():
        try:
            message = perform(form)
        except MembershipError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, message)
            return redirect("dashboard")
    return render(request, template, {"member": member, "form": form, **(context or {})})


@member_required
def resign(request, member: Member):
    def perform(form):
        at_period_end = form.cleaned_data["when"] == ResignForm.AT_PERIOD_END
        member_after = services.member_resign(
            member=member, at_period_end=at_period_end, reason=form.cleaned_data["reason"]
        )
        if member_after.status == Status.RESIGNED:
            return "You have resigned. Your membership has ended."
        return (
            "Your resignation is booked. Your membership ends on "
            f"{date_format(member_after.period_ends_on, 'j F Y')}."
        )

    return _action(
        request,
        member,
        form=ResignForm(form_data(request), member=member),
        template="members/resign.html",
        perform=perform,
    )


@member_required
def pause(request, member: Member):
    def perform(form):
        services.member_pause(member=member, reason=form.cleaned_data["reason"])
        return "Your membership is paused. Resume it from your dashboard when you are back."

    return _action(
        request,
        member,
        form=PauseForm(form_data(request)),
        template="members/pause.html",
        perform=perform,
    )


@member_required
def resume(request, member: Member):
    def perform(form):
        member_after = services.member_resume(member=member)
        return (
            "Welcome back. Your membership is "
            f"{member_after.get_status_display().lower()} and runs until "
            f"{date_format(member_after.period_ends_on, 'j F Y')}."
            if member_after.period_ends_on
            else "Welcome back. Your membership is no longer paused."
        )

    return _action(
        request,
        member,
        form=ConfirmForm(form_data(request)),
        template="members/resume.html",
        perform=perform,
    )


@member_required
def profile(request, member: Member):
    def perform(form):
        services.member_profile_update(member=member, actor=request.user, **form.changes())
        return "Your details are updated."

    return _action(
        request,
        member,
        form=ProfileForm(form_data(request), initial=ProfileForm.initial_for(member)),
        template="members/profile.html",
        perform=perform,
    )


@member_required
def grade_change(request, member: Member):
    pending = member_pending_grade_change(member=member)

    def perform(form):
        change = services.grade_change_request(
            member=member,
            to_grade=form.cleaned_data["grade"],
            statement=form.cleaned_data["statement"],
        )
        if change.state == change.State.APPROVED:
            return (
                f"Your grade is now {change.to_grade.name}. "
                "The new fee applies from your next invoice."
            )
        return (
            f"The {change.to_grade.name} grade is awarded on review: make your case in an "
            "application from the Accreditation page. We will email you the decision."
        )

    return _action(
        request,
        member,
        form=GradeChangeForm(form_data(request), member=member),
        template="members/grade_change.html",
        perform=perform,
        context={"pending": pending},
    )


@member_required
@require_POST
def grade_change_withdraw(request, member: Member):
    change = services.grade_change_withdraw(member=member, reason="Withdrawn by the member")
    if change is not None:
        messages.success(
            request,
            f"Your request for the {change.to_grade.name} grade is withdrawn."
            + (" Choose a grade to join at." if member.status == Status.APPLICANT else ""),
        )
    return redirect("membership_grade_change")


# --- History -----------------------------------------------------------------------


@member_required
def history(request, member: Member):
    events = audit_events_for_subject(
        subject_type=services.SUBJECT_TYPE, subject_id=str(member.public_id)
    ).order_by("-sequence")
    rows = []
    for event in events:
        if event.actor_id is None:
            who = "Automatic"
        elif event.actor_id == request.user.pk:
            who = "You"
        elif event.actor.is_staff:
            who = "A registrar"
        else:
            who = "Someone else"
        rows.append({"event": event, "who": who, "changes": audit_event_changes(event)})
    return render(request, "members/history.html", {"member": member, "rows": rows})
