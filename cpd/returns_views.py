"""Pages for annual returns and the CPD audit: the member's, the assessor's
queue, and the registrar's lists.

Views hold no business rules: they read and write through ``cpd.returns`` and
show a ``CPDError`` on the form. Members see only their own returns and cases;
assessor pages are for assessors only (404 for anyone else, as registrar pages
are); an assessor never sees their own case.
"""

import datetime as dt
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from config.forms import form_data
from config.pagination import paginate
from cpd import returns
from cpd.models import AnnualReturn, AuditCase, AuditSample
from cpd.returns_forms import (
    AuditSubmitForm,
    CaseAddForm,
    DeferForm,
    DeferralRequestForm,
    OutcomeForm,
    ReturnSubmitForm,
    SampleDrawForm,
)
from cpd.selectors import cpd_entries, cpd_year_containing, cpd_year_starting, cpd_years_for
from cpd.services import CPDError
from members import services as member_services
from members.models import Member
from members.staff_views import staff_required
from members.views import member_required

PAGE_SIZE = 25


def _today() -> dt.date:
    return member_services.local_today()


def _done(form, service, **kwargs) -> bool:
    """Call a service; on a CPDError put its message on the form and say so."""
    try:
        service(**kwargs)
    except CPDError as error:
        form.add_error(None, str(error))
        return False
    return True


def _year_from(value, *, default) -> "returns.CPDYear":
    try:
        return cpd_year_starting(int(value))
    except (TypeError, ValueError):
        return default


# --- The member's returns ------------------------------------------------------------


@member_required
def return_list(request: HttpRequest, member: Member) -> HttpResponse:
    today = _today()
    saved = {r.year_starts_on: r for r in returns.returns_for_member(member=member)}
    years = [
        {
            "year": year,
            "annual_return": saved.get(year.starts_on),
            "due_on": returns.return_due_on(year),
            "is_open": returns.return_is_open(year=year, today=today),
        }
        for year in cpd_years_for(member=member, today=today)
    ]
    cases = list(returns.audit_cases_for_member(member=member))
    return render(
        request, "cpd/returns/list.html", {"years": years, "cases": cases, "today": today}
    )


@member_required
def return_detail(request: HttpRequest, member: Member, year: int) -> HttpResponse:
    today = _today()
    cpd_year = cpd_year_starting(year)
    if cpd_year.starts_on > today:
        raise Http404
    form = ReturnSubmitForm(form_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            returns.annual_return_submit(
                member=member,
                year=cpd_year,
                actor=request.user,
                declaration_confirmed=form.cleaned_data["declaration"],
                shortfall_explanation=form.cleaned_data["shortfall_explanation"],
            )
        except CPDError as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request,
                f"Your {cpd_year.label} return is submitted. Its entries are now locked.",
            )
            return redirect("cpd:return_detail", year=year)
    view = returns.return_for_member(member=member, year=cpd_year, today=today)
    return render(
        request,
        "cpd/returns/detail.html",
        {
            "member": member,
            "view": view,
            "year": cpd_year,
            "progress": view.progress,
            "requirement": view.progress.requirement,
            "met": view.progress.met,
            "form": form,
            "today": today,
        },
    )


# --- The member's audit ---------------------------------------------------------------


@member_required
def audit_case(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    try:
        case = returns.audit_case_for_member(member=member, public_id=public_id)
    except AuditCase.DoesNotExist:
        raise Http404 from None
    action = request.POST.get("action") if request.method == "POST" else None
    submit_form = AuditSubmitForm(request.POST if action == "submit" else None)
    deferral_form = DeferralRequestForm(request.POST if action == "defer" else None)
    if action == "submit" and submit_form.is_valid():
        response = submit_form.cleaned_data["response"]
        if _done(
            submit_form, returns.audit_case_submit, case=case, actor=request.user, response=response
        ):
            messages.success(request, "Your record is sent to an assessor for review.")
            return redirect("cpd:audit_case", public_id=case.public_id)
    if action == "defer" and deferral_form.is_valid():
        reason = deferral_form.cleaned_data["reason"]
        if _done(
            deferral_form,
            returns.audit_case_deferral_request,
            case=case,
            actor=request.user,
            reason=reason,
        ):
            messages.success(request, "Your request for more time is sent to the registrar.")
            return redirect("cpd:audit_case", public_id=case.public_id)
    year = cpd_year_starting(case.sample.year_starts_on.year)
    annual_return = AnnualReturn.objects.filter(
        member=member, year_starts_on=year.starts_on
    ).first()
    return render(
        request,
        "cpd/returns/audit_case.html",
        {
            "case": case,
            "year": year,
            "annual_return": annual_return,
            "submit_form": submit_form,
            "deferral_form": deferral_form,
            "with_member": case.state in returns.WITH_MEMBER,
        },
    )


# --- The assessor's queue --------------------------------------------------------------


def assessor_required(view):
    """Assessors only: anonymous visitors sign in, everyone else gets a 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_assessor:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


@assessor_required
def assess_queue(request: HttpRequest) -> HttpResponse:
    queue = returns.audit_queue_for_assessor(assessor=request.user)
    return render(request, "cpd/returns/assess_queue.html", queue)


@assessor_required
def assess_case(request: HttpRequest, public_id) -> HttpResponse:
    try:
        case = returns.audit_case_for_assessor(assessor=request.user, public_id=public_id)
    except AuditCase.DoesNotExist:
        raise Http404 from None
    form = OutcomeForm(form_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            returns.audit_case_decide(
                case=case,
                assessor=request.user,
                outcome=form.cleaned_data["outcome"],
                reasons=form.cleaned_data["reasons"],
            )
        except CPDError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "The outcome is recorded and the member is told by email.")
            return redirect("cpd:assess_queue")
    year = cpd_year_starting(case.sample.year_starts_on.year)
    annual_return = AnnualReturn.objects.filter(
        member=case.member, year_starts_on=year.starts_on
    ).first()
    return render(
        request,
        "cpd/returns/assess_case.html",
        {
            "case": case,
            "year": year,
            "annual_return": annual_return,
            "entries": cpd_entries(member=case.member, year=year, sort="oldest"),
            "form": form,
            "can_decide": case.state == AuditCase.State.IN_REVIEW,
        },
    )


# --- The registrar's pages --------------------------------------------------------------


RETURN_VIEWS = {
    "due": "Not yet submitted, not yet due",
    "late": "Late (overdue, or submitted after the due date)",
    "short": "Submitted below the requirement",
    "all": "All returns",
}


def _last_ended_year(today: dt.date):
    year = cpd_year_containing(today)
    return year if today == year.ends_on else cpd_year_containing(year.starts_on - dt.timedelta(1))


@staff_required
def registrar_returns(request: HttpRequest) -> HttpResponse:
    today = _today()
    year = _year_from(request.GET.get("year"), default=_last_ended_year(today))
    show = request.GET.get("show") if request.GET.get("show") in RETURN_VIEWS else "late"
    rows = returns.returns_for_registrar(year=year, show=show, today=today)
    page, pagination = paginate(request, rows, per_page=PAGE_SIZE)
    return render(
        request,
        "cpd/returns/registrar_returns.html",
        {
            "year": year,
            "show": show,
            "views": RETURN_VIEWS,
            "page": page,
            "pagination": pagination,
            "today": today,
        },
    )


@staff_required
def registrar_audit(request: HttpRequest) -> HttpResponse:
    today = _today()
    year = _year_from(request.GET.get("year"), default=_last_ended_year(today))
    sample = AuditSample.objects.filter(year_starts_on=year.starts_on).first()
    action = request.POST.get("action") if request.method == "POST" else None
    draw_form = SampleDrawForm(request.POST if action == "draw" else None)
    add_form = CaseAddForm(request.POST if action == "add" else None)
    here = f"{reverse('registrar_cpd:audit')}?year={year.starts_on.year}"
    if action == "draw" and draw_form.is_valid():
        numbers = draw_form.cleaned_data["add_members"]
        extra = list(Member.objects.filter(membership_number__in=numbers))
        missing = set(numbers) - {m.membership_number for m in extra}
        if missing:
            draw_form.add_error("add_members", f"No member numbered {', '.join(sorted(missing))}.")
        else:
            try:
                sample = returns.audit_sample_draw(
                    year=year,
                    actor=request.user,
                    seed=draw_form.cleaned_data["seed"],
                    percent=draw_form.cleaned_data["percent"],
                    extra_members=extra,
                )
            except CPDError as error:
                draw_form.add_error(None, str(error))
            else:
                messages.success(
                    request, f"The {year.label} sample is drawn: {sample.cases.count()} members."
                )
                return redirect(here)
    if action == "add" and sample and add_form.is_valid():
        number = add_form.cleaned_data["membership_number"].strip()
        member = Member.objects.filter(membership_number=number).first()
        if member is None:
            add_form.add_error("membership_number", f"No member numbered {number}.")
        else:
            returns.audit_case_add(sample=sample, member=member, actor=request.user)
            messages.success(request, f"Member {number} is added to the {year.label} sample.")
            return redirect(here)
    return render(
        request,
        "cpd/returns/registrar_audit.html",
        {
            "year": year,
            "sample": sample,
            "cases": returns.audit_cases_for_registrar(sample=sample) if sample else [],
            "eligible_count": returns.audit_eligible_members(year=year).count(),
            "draw_form": draw_form,
            "add_form": add_form,
            "follow_ups": returns.audit_follow_ups(),
            "deferral_requests": returns.audit_deferral_requests(),
        },
    )


@staff_required
def registrar_case_defer(request: HttpRequest, public_id) -> HttpResponse:
    case = get_object_or_404(
        AuditCase.objects.select_related("member__user", "sample"), public_id=public_id
    )
    form = DeferForm(form_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            returns.audit_case_defer(
                case=case, actor=request.user, respond_by=form.cleaned_data["respond_by"]
            )
        except CPDError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "More time is granted and the member is told by email.")
            return redirect(
                f"{reverse('registrar_cpd:audit')}?year={case.sample.year_starts_on.year}"
            )
    return render(request, "cpd/returns/registrar_defer.html", {"case": case, "form": form})
