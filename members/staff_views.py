"""Registrar (staff) pages: members, staff actions, invoices, finance exports, grade reviews.

Every view is wrapped in ``staff_required``: anonymous visitors are sent to
sign in and signed-in members get a 404, so the pages' existence is not
advertised. (Staff reach here only after ``RequireMFAMiddleware`` has made them
use a second factor.) Views hold no business rules: they call
``members.services`` and show a ``MembershipError`` on the form, keeping what
was typed.
"""

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.dateformat import format as date_format

from accreditation.models import CLOSED_STATES
from audit.selectors import audit_events_for_subject
from config.pagination import paginate
from members import services, staff_forms
from members.models import (
    GradeChange,
    Invoice,
    Member,
    Payment,
    Refund,
    Status,
    pounds,
)
from members.selectors import audit_event_changes
from members.services import SUBJECT_TYPE, MembershipError

PAGE_SIZE = 25


def staff_required(view: Callable) -> Callable:
    """Let registrars in; send anonymous visitors to sign in; 404 for everyone else."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise Http404
        return view(request, *args, **kwargs)

    wrapper.staff_required = True  # lets a test check every registrar URL is wrapped
    return wrapper


# --- Helpers shared by the list pages -------------------------------------------


def _member_detail_url(member: Member) -> str:
    return reverse("registrar:member_detail", kwargs={"public_id": member.public_id})


# --- Home -----------------------------------------------------------------------


@staff_required
def home(request: HttpRequest) -> HttpResponse:
    by_status = {
        row["status"]: row["n"]
        for row in Member.objects.order_by().values("status").annotate(n=Count("pk"))
    }
    status_counts = [
        {"status": status, "label": status.label, "count": by_status.get(status, 0)}
        for status in Status
    ]
    return render(
        request,
        "members/staff/home.html",
        {
            "status_counts": status_counts,
            "member_total": sum(by_status.values()),
            "open_invoices": Invoice.objects.filter(state=Invoice.State.OPEN).count(),
            "pending_reviews": GradeChange.objects.filter(state=GradeChange.State.PENDING).count(),
        },
    )


# --- Members --------------------------------------------------------------------


def _member_search(queryset: QuerySet[Member], text: str) -> QuerySet[Member]:
    """Every word must match a name, the email or the membership number."""
    for word in text.split():
        queryset = queryset.filter(
            Q(user__given_name__icontains=word)
            | Q(user__family_name__icontains=word)
            | Q(user__email__icontains=word)
            | Q(membership_number__icontains=word)
        )
    return queryset


@staff_required
def member_list(request: HttpRequest) -> HttpResponse:
    form = staff_forms.MemberSearchForm(request.GET or None)
    members = Member.objects.select_related("user", "grade", "organisation").order_by(
        "user__family_name", "user__given_name", "pk"
    )
    if form.is_bound and form.is_valid():
        if text := form.cleaned_data["q"]:
            members = _member_search(members, text)
        if status := form.cleaned_data["status"]:
            members = members.filter(status=status)
        if grade := form.cleaned_data["grade"]:
            members = members.filter(grade=grade)
    elif form.is_bound:
        members = members.none()
    page, pagination = paginate(request, members, per_page=PAGE_SIZE)
    return render(
        request,
        "members/staff/member_list.html",
        {"form": form, "page": page, "pagination": pagination},
    )


@staff_required
def member_detail(request: HttpRequest, public_id) -> HttpResponse:
    member = get_object_or_404(
        Member.objects.select_related("user", "grade", "organisation"), public_id=public_id
    )
    context = {
        "member": member,
        "actions": [
            {"title": action.title, "url": action.url(member)}
            for action in MEMBER_ACTIONS.values()
            if action.offered_to(member)
        ],
        "periods": list(member.periods.select_related("grade").order_by("-starts_on")),
        "invoices": list(member.invoices.select_related("payment").order_by("-issued_on", "-pk")),
        "payments": list(
            member.payments.select_related("invoice", "period").order_by("-received_on", "-pk")
        ),
        "status_events": list(
            member.status_events.select_related("actor").order_by("-effective_date", "-pk")
        ),
        "grade_changes": list(
            member.grade_changes.select_related("from_grade", "to_grade", "decided_by")
        ),
        # Read as the member reads them on their history page.
        "audit_rows": [
            {"event": event, "changes": audit_event_changes(event)}
            for event in audit_events_for_subject(
                subject_type=SUBJECT_TYPE, subject_id=str(member.public_id)
            ).order_by("-sequence")
        ],
    }
    context["pending_grade_change"] = next(
        (c for c in context["grade_changes"] if c.state == GradeChange.State.PENDING), None
    )
    return render(request, "members/staff/member_detail.html", context)


@dataclass(frozen=True)
class MemberAction:
    """A staff action on a member: its page, form and the service it calls.

    ``statuses`` says when the member page offers the action; the service has
    the final word and its refusal is shown on the form.
    """

    slug: str
    title: str
    button: str
    form_class: type[forms.Form]
    service: Callable[..., Member]
    allowed: str  # the key in services.ALLOWED_FROM
    done: str
    intro: tuple[str, ...] = ()
    warning: bool = False

    @property
    def url_name(self) -> str:
        return f"member_{self.slug.replace('-', '_')}"

    def offered_to(self, member: Member) -> bool:
        return services.member_can(member, self.allowed)

    def url(self, member: Member) -> str:
        return reverse(f"registrar:{self.url_name}", kwargs={"public_id": member.public_id})


MEMBER_ACTIONS = {
    action.slug: action
    for action in (
        MemberAction(
            slug="suspend",
            title="Suspend membership",
            button="Suspend membership",
            form_class=staff_forms.SuspendForm,
            service=services.member_suspend,
            allowed="suspend",
            done="Membership suspended. The member has been emailed.",
            intro=(
                "While suspended, the public register shows the member as suspended, "
                "with the reason you give here.",
            ),
            warning=True,
        ),
        MemberAction(
            slug="lift-suspension",
            title="Lift the suspension",
            button="Lift the suspension",
            form_class=staff_forms.LiftSuspensionForm,
            service=services.member_suspension_lift,
            allowed="lift_suspension",
            done="Suspension lifted. The member has been emailed.",
            intro=(
                "The member returns to the status their paid membership gives them today "
                "(active, in grace or lapsed).",
            ),
        ),
        MemberAction(
            slug="remove",
            title="Remove from the register",
            button="Remove from the register",
            form_class=staff_forms.RemoveForm,
            service=services.member_remove,
            allowed="remove",
            done="Member removed from the register. They have been emailed.",
            intro=("The member keeps their membership number if they are later reinstated.",),
            warning=True,
        ),
        MemberAction(
            slug="record-death",
            title="Record a death",
            button="Record the death",
            form_class=staff_forms.RecordDeathForm,
            service=services.member_record_death,
            allowed="record_death",
            done="Death recorded. No email has been sent.",
            intro=(
                "The membership ends from the date of death. If this is recorded in error, "
                "you can reinstate the member.",
            ),
            warning=True,
        ),
        MemberAction(
            slug="reinstate",
            title="Reinstate",
            button="Reinstate",
            form_class=staff_forms.ReinstateForm,
            service=services.member_reinstate,
            allowed="reinstate",
            done="Member reinstated. They have been emailed.",
            intro=(
                "The member returns to the status their paid membership gives them today "
                "(active, in grace or lapsed).",
            ),
        ),
    )
}


@staff_required
def member_action(request: HttpRequest, public_id, action: str) -> HttpResponse:
    spec = MEMBER_ACTIONS[action]
    member = get_object_or_404(Member.objects.select_related("user", "grade"), public_id=public_id)
    if request.method == "POST":
        form = spec.form_class(request.POST)
        if form.is_valid():
            try:
                spec.service(member=member, actor=request.user, **form.cleaned_data)
            except MembershipError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, spec.done)
                return redirect(_member_detail_url(member))
    elif not spec.offered_to(member):
        messages.warning(
            request,
            f"{spec.title} is not available: the member is {member.get_status_display().lower()}.",
        )
        return redirect(_member_detail_url(member))
    else:
        form = spec.form_class()
    return render(
        request,
        "members/staff/member_action.html",
        {"member": member, "action": spec, "form": form},
    )


# --- Invoices -------------------------------------------------------------------


def _invoice_search(queryset: QuerySet[Invoice], text: str) -> QuerySet[Invoice]:
    for word in text.split():
        queryset = queryset.filter(
            Q(number__icontains=word)
            | Q(member__user__given_name__icontains=word)
            | Q(member__user__family_name__icontains=word)
            | Q(member__membership_number__icontains=word)
            | Q(payer_organisation__icontains=word)
            | Q(purchase_order__icontains=word)
        )
    return queryset


@staff_required
def invoice_list(request: HttpRequest) -> HttpResponse:
    form = staff_forms.InvoiceFilterForm(request.GET or None)
    invoices = (
        Invoice.objects.select_related("member__user", "grade", "payment")
        # Open invoices are the registrar's work queue, so they come first; newest first within each.
        .annotate(
            queue=Case(
                When(state=Invoice.State.OPEN, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("queue", "-issued_on", "-pk")
    )
    if form.is_bound and form.is_valid():
        if text := form.cleaned_data["q"]:
            invoices = _invoice_search(invoices, text)
        if state := form.cleaned_data["state"]:
            invoices = invoices.filter(state=state)
    elif form.is_bound:
        invoices = invoices.none()
    page, pagination = paginate(request, invoices, per_page=PAGE_SIZE)
    return render(
        request,
        "members/staff/invoice_list.html",
        {
            "form": form,
            "export_form": staff_forms.ExportFilterForm(auto_id="export_%s"),
            "page": page,
            "pagination": pagination,
            "today": services.local_today(),
        },
    )


def _invoice_for(public_id) -> Invoice:
    return get_object_or_404(
        Invoice.objects.select_related("member__user", "member__grade", "grade"),
        public_id=public_id,
    )


@staff_required
def invoice_record_payment(request: HttpRequest, public_id) -> HttpResponse:
    invoice = _invoice_for(public_id)
    if invoice.state != Invoice.State.OPEN:
        # Also where a double-submitted form lands: the payment is recorded once.
        messages.info(
            request, f"Invoice {invoice.number} is {invoice.get_state_display().lower()}."
        )
        return redirect(_member_detail_url(invoice.member))
    form = staff_forms.RecordPaymentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            payment = services.invoice_record_payment(
                invoice=invoice,
                received_on=form.cleaned_data["received_on"],
                reference=form.cleaned_data["reference"],
                actor=request.user,
            )
        except MembershipError as error:
            form.add_error(None, str(error))
        else:
            member = payment.member
            messages.success(
                request,
                f"Payment recorded (receipt {payment.receipt_number}). Membership number "
                f"{member.membership_number}, paid until {date_format(member.period_ends_on, 'j F Y')}.",
            )
            return redirect(_member_detail_url(member))
    return render(
        request, "members/staff/invoice_record_payment.html", {"invoice": invoice, "form": form}
    )


@staff_required
def invoice_cancel(request: HttpRequest, public_id) -> HttpResponse:
    invoice = _invoice_for(public_id)
    if invoice.state != Invoice.State.OPEN:
        messages.info(
            request, f"Invoice {invoice.number} is {invoice.get_state_display().lower()}."
        )
        return redirect(_member_detail_url(invoice.member))
    form = staff_forms.CancelInvoiceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.invoice_cancel(
                invoice=invoice, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except MembershipError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Invoice {invoice.number} cancelled.")
            return redirect(_member_detail_url(invoice.member))
    return render(request, "members/staff/invoice_cancel.html", {"invoice": invoice, "form": form})


# --- Finance exports ------------------------------------------------------------

# A spreadsheet may run a cell that starts with one of these as a formula
# (OWASP ASVS 5.0, 1.2.10), even after leading spaces or line breaks.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")


def csv_cell(value) -> str | int:
    """A value as a CSV cell, with text that could run as a formula defused."""
    if value is None:
        return ""
    if isinstance(value, int):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return f"'{text}" if text.lstrip(" \n").startswith(FORMULA_TRIGGERS) else text


class _Echo:
    """A file-like object whose write hands the line back, for streaming csv.writer."""

    def write(self, value: str) -> str:
        return value


def _csv_response(filename: str, header: list[str], rows: Iterable[list]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        # A byte order mark, so Excel reads names with accents correctly.
        yield "\ufeff" + writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _export_range(request: HttpRequest) -> tuple[dt.date | None, dt.date | None] | HttpResponse:
    form = staff_forms.ExportFilterForm(request.GET)
    if not form.is_valid():
        problems = "; ".join(e for errors in form.errors.values() for e in errors)
        return HttpResponse(
            f"Check the dates (use YYYY-MM-DD): {problems}\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    return form.cleaned_data["from_date"], form.cleaned_data["to_date"]


def _range_suffix(start: dt.date | None, end: dt.date | None) -> str:
    return f"-{start or 'start'}-to-{end or services.local_today()}"


INVOICE_COLUMNS = [
    "Invoice number",
    "State",
    "Issued on",
    "Due on",
    "Member name",
    "Membership number",
    "Grade",
    "Amount (GBP)",
    "Amount (pence)",
    "Payer organisation",
    "Purchase order number",
    "Payer email",
    "Paid on",
    "Receipt number",
    "Bank reference",
]


@staff_required
def invoices_csv(request: HttpRequest) -> HttpResponse:
    date_range = _export_range(request)
    if isinstance(date_range, HttpResponse):
        return date_range
    start, end = date_range
    invoices = Invoice.objects.select_related("member__user", "grade", "payment").order_by(
        "issued_on", "pk"
    )
    if start:
        invoices = invoices.filter(issued_on__gte=start)
    if end:
        invoices = invoices.filter(issued_on__lte=end)

    def rows():
        for invoice in invoices.iterator(chunk_size=1000):
            payment = getattr(invoice, "payment", None)
            yield [
                invoice.number,
                invoice.get_state_display(),
                invoice.issued_on,
                invoice.due_on,
                invoice.member.user.get_full_name(),
                invoice.member.membership_number,
                invoice.grade.name,
                pounds(invoice.amount_pence, plain=True),
                invoice.amount_pence,
                invoice.payer_organisation,
                invoice.purchase_order,
                invoice.payer_email,
                payment.received_on if payment else None,
                payment.receipt_number if payment else None,
                payment.reference if payment else None,
            ]

    return _csv_response(f"invoices{_range_suffix(start, end)}.csv", INVOICE_COLUMNS, rows())


PAYMENT_COLUMNS = [
    "Receipt number",
    "Received on",
    "Method",
    "Amount (GBP)",
    "Amount (pence)",
    "Member name",
    "Membership number",
    "Grade",
    "Invoice number",
    "Payer organisation",
    "Purchase order number",
    "Reference",
    "Period starts",
    "Period ends",
    "Recorded by",
]


@staff_required
def payments_csv(request: HttpRequest) -> HttpResponse:
    date_range = _export_range(request)
    if isinstance(date_range, HttpResponse):
        return date_range
    start, end = date_range
    payments = Payment.objects.select_related(
        "member__user", "period__grade", "invoice", "recorded_by"
    ).order_by("received_on", "pk")
    if start:
        payments = payments.filter(received_on__gte=start)
    if end:
        payments = payments.filter(received_on__lte=end)

    def rows():
        for payment in payments.iterator(chunk_size=1000):
            invoice = payment.invoice
            yield [
                payment.receipt_number,
                payment.received_on,
                payment.get_method_display(),
                pounds(payment.amount_pence, plain=True),
                payment.amount_pence,
                payment.member.user.get_full_name(),
                payment.member.membership_number,
                payment.period.grade.name,
                invoice.number if invoice else None,
                invoice.payer_organisation if invoice else None,
                invoice.purchase_order if invoice else None,
                payment.reference,
                payment.period.starts_on,
                payment.period.ends_on,
                payment.recorded_by.email if payment.recorded_by else "system",
            ]

    return _csv_response(f"payments{_range_suffix(start, end)}.csv", PAYMENT_COLUMNS, rows())


REFUND_COLUMNS = [
    "Receipt number",
    "Refunded on",
    "Amount (GBP)",
    "Amount (pence)",
    "Member name",
    "Membership number",
    "Payment method",
    "Payment received on",
    "Reason",
    "Stripe refund",
]


@staff_required
def refunds_csv(request: HttpRequest) -> HttpResponse:
    date_range = _export_range(request)
    if isinstance(date_range, HttpResponse):
        return date_range
    start, end = date_range
    refunds = Refund.objects.select_related("payment__member__user").order_by("refunded_on", "pk")
    if start:
        refunds = refunds.filter(refunded_on__gte=start)
    if end:
        refunds = refunds.filter(refunded_on__lte=end)

    def rows():
        for refund in refunds.iterator(chunk_size=1000):
            payment = refund.payment
            yield [
                payment.receipt_number,
                refund.refunded_on,
                pounds(refund.amount_pence, plain=True),
                refund.amount_pence,
                payment.member.user.get_full_name(),
                payment.member.membership_number,
                payment.get_method_display(),
                payment.received_on,
                refund.reason,
                refund.stripe_refund_id,
            ]

    return _csv_response(f"refunds{_range_suffix(start, end)}.csv", REFUND_COLUMNS, rows())


# --- Grade reviews --------------------------------------------------------------


@staff_required
def grade_review_list(request: HttpRequest) -> HttpResponse:
    """Requests for grades that need review. Each is decided on the member's
    application at the accreditation level that awards the grade."""
    changes = (
        GradeChange.objects.filter(state=GradeChange.State.PENDING)
        .select_related("member__user", "member__grade", "from_grade", "to_grade__awarding_level")
        .prefetch_related("member__applications")
        .order_by("requested_at", "pk")  # first come, first served
    )
    page, pagination = paginate(request, changes, per_page=PAGE_SIZE)
    for change in page.object_list:
        level = getattr(change.to_grade, "awarding_level", None)
        change.application = next(
            (
                a
                for a in change.member.applications.all()
                if level is not None and a.level_id == level.pk and a.state not in CLOSED_STATES
            ),
            None,
        )
    return render(
        request,
        "members/staff/grade_review_list.html",
        {"page": page, "pagination": pagination},
    )
