"""The assessor's and the registrar's accreditation pages.

Views hold no business rules: they read through ``accreditation.selectors``,
write through ``accreditation.services`` and show an ``AccreditationError`` on
the form. Assessor pages are for assessors only, and only for applications
assigned to them (404 for anyone else, as registrar pages are).
"""

from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accreditation import fees, selectors, services
from accreditation.assess_forms import (
    AcceptForm,
    AppealDecisionForm,
    AssessmentForm,
    AssignForm,
    ConflictForm,
    DecisionForm,
    FeePaymentForm,
    FeeWaiverForm,
    InformationRequestForm,
)
from accreditation.models import (
    Application,
    ApplicationFee,
    ApplicationState,
    Assessment,
    Assignment,
    AssignmentRole,
    StandardStatement,
)
from accreditation.services import AccreditationConflict, AccreditationError, JudgementInput
from audit.selectors import audit_events_for_subject
from cpd.returns_views import assessor_required
from members.selectors import audit_event_changes
from members.staff_views import staff_required

State = ApplicationState


def _action(request: HttpRequest, name: str):
    return request.POST if request.method == "POST" and request.POST.get("action") == name else None


def _done(form, service, **kwargs) -> bool:
    """Call a service; on an AccreditationError put its message on the form and say so."""
    try:
        service(**kwargs)
    except AccreditationError as error:
        form.add_error(None, str(error))
        return False
    return True


def _statements(application: Application):
    return list(
        StandardStatement.objects.filter(application=application)
        .select_related("standard__domain")
        .prefetch_related("entries")
    )


def _assessments(application: Application):
    return list(
        Assessment.objects.filter(assignment__application=application)
        .select_related("assignment__assessor")
        .prefetch_related("judgements__standard")
        .order_by("submitted_at")
    )


# --- The assessor -----------------------------------------------------------------


@assessor_required
def assess_queue(request: HttpRequest) -> HttpResponse:
    items = selectors.assessor_queue(assessor=request.user)
    return render(
        request,
        "accreditation/assess/queue.html",
        {"items": items, "target": selectors.TARGET_WORKING_DAYS},
    )


@assessor_required
def assess_application(request: HttpRequest, public_id) -> HttpResponse:
    try:
        application = selectors.application_for_assessor(public_id=public_id, assessor=request.user)
    except Application.DoesNotExist:
        raise Http404 from None
    assignment = Assignment.objects.get(
        application=application, assessor=request.user, declined_at__isnull=True
    )
    statements = _statements(application)
    accept_form = AcceptForm(_action(request, "accept"))
    conflict_form = ConflictForm(_action(request, "conflict"))
    info_form = InformationRequestForm(_action(request, "info"))
    assess_form = AssessmentForm(
        _action(request, "assess"), standards=[s.standard for s in statements]
    )
    appeal_form = AppealDecisionForm(_action(request, "appeal"))
    here = redirect("accreditation_assess:application", public_id=application.public_id)
    user = request.user
    if (
        accept_form.is_bound
        and accept_form.is_valid()
        and _done(
            accept_form,
            services.assignment_accept,
            assignment=assignment,
            actor=user,
            no_conflict=accept_form.cleaned_data["no_conflict"],
        )
    ):
        messages.success(request, "You accepted the assignment, declaring no conflict.")
        return here
    if (
        conflict_form.is_bound
        and conflict_form.is_valid()
        and _done(
            conflict_form,
            services.assignment_declare_conflict,
            assignment=assignment,
            actor=user,
            reason=conflict_form.cleaned_data["reason"],
        )
    ):
        messages.success(request, "Your conflict is recorded and the registrar will reassign this.")
        return redirect("accreditation_assess:queue")
    if (
        info_form.is_bound
        and info_form.is_valid()
        and _done(
            info_form,
            services.information_request,
            assignment=assignment,
            actor=user,
            question=info_form.cleaned_data["question"],
        )
    ):
        messages.success(request, "Your question is sent to the applicant.")
        return here
    if assess_form.is_bound and assess_form.is_valid():
        judgements = [
            JudgementInput(standard=standard, judgement=judgement, comment=comment)
            for standard, judgement, comment in assess_form.judgements()
        ]
        if _done(
            assess_form,
            services.assessment_submit,
            assignment=assignment,
            actor=user,
            judgements=judgements,
            recommendation=assess_form.cleaned_data["recommendation"],
            reasons=assess_form.cleaned_data["reasons"],
        ):
            messages.success(request, "Your assessment is submitted. Thank you.")
            return redirect("accreditation_assess:queue")
    if (
        appeal_form.is_bound
        and appeal_form.is_valid()
        and _done(
            appeal_form,
            services.appeal_decide,
            assignment=assignment,
            actor=user,
            upheld=appeal_form.cleaned_data["outcome"] == "upheld",
            reasons=appeal_form.cleaned_data["reasons"],
        )
    ):
        messages.success(request, "Your decision on the appeal is recorded. Thank you.")
        return redirect("accreditation_assess:queue")
    accepted = assignment.accepted_at is not None
    submitted = Assessment.objects.filter(assignment=assignment).first()
    judging = State.IN_MODERATION if assignment.role == AssignmentRole.MODERATOR else None
    can_assess = (
        accepted
        and submitted is None
        and assignment.role != AssignmentRole.APPEAL
        and application.state == (judging or State.IN_ASSESSMENT)
    )
    can_decide_appeal = (
        accepted
        and assignment.role == AssignmentRole.APPEAL
        and application.state == State.APPEALED
    )
    appeal = application.appeal if can_decide_appeal else None
    return render(
        request,
        "accreditation/assess/application.html",
        {
            "application": application,
            "assignment": assignment,
            "statements": statements,
            "referees": list(application.referees.all()),
            "requests": list(application.information_requests.all()),
            "submitted": submitted,
            "accepted": accepted,
            "can_assess": can_assess,
            "accept_form": accept_form,
            "conflict_form": conflict_form,
            "info_form": info_form,
            "assess_form": assess_form,
            "can_decide_appeal": can_decide_appeal,
            "appeal": appeal,
            "appeal_form": appeal_form,
        },
    )


# --- The registrar ----------------------------------------------------------------


# Which kind of assignment the registrar makes in each state.
ASSIGN_ROLE = {
    State.SUBMITTED: AssignmentRole.ASSESSOR,
    State.IN_MODERATION: AssignmentRole.MODERATOR,
    State.APPEALED: AssignmentRole.APPEAL,
}


@staff_required
def registrar_list(request: HttpRequest) -> HttpResponse:
    states = [s for s in State if s != State.DRAFT]
    state = request.GET.get("state")
    state = state if state in {s.value for s in states} else State.SUBMITTED.value
    counts = dict(Application.objects.values_list("state").annotate(n=Count("pk")).order_by())
    applications = (
        Application.objects.filter(state=state)
        .select_related("member__user", "level__scheme")
        .order_by("submitted_at", "created_at")
    )
    return render(
        request,
        "accreditation/registrar/list.html",
        {
            "state": State(state),
            "states": [(s, counts.get(s.value, 0)) for s in states],
            "applications": applications,
        },
    )


@staff_required
def registrar_application(request: HttpRequest, public_id) -> HttpResponse:
    application = get_object_or_404(
        Application.objects.select_related("member__user", "level__scheme").exclude(
            state=State.DRAFT
        ),
        public_id=public_id,
    )
    role = ASSIGN_ROLE.get(application.state)
    assign_form = AssignForm(
        _action(request, "assign"), include_staff=role == AssignmentRole.MODERATOR
    )
    decide_form = DecisionForm(_action(request, "decide"))
    here = redirect("registrar_accreditation:application", public_id=application.public_id)
    if assign_form.is_bound and role and assign_form.is_valid():
        people = assign_form.cleaned_data["assessors"]
        try:
            # All or nothing: one refusal assigns nobody.
            with transaction.atomic():
                for person in people:
                    services.assessor_assign(
                        application=application, assessor=person, actor=request.user, role=role
                    )
        except AccreditationError as error:
            assign_form.add_error("assessors", str(error))
        else:
            names = ", ".join(p.get_full_name() or p.email for p in people)
            messages.success(request, f"Assigned {names}. They are told by email.")
            return here
    conflict = None
    if decide_form.is_bound and decide_form.is_valid():
        try:
            services.application_decide(
                application=application,
                actor=request.user,
                approve=decide_form.cleaned_data["decision"] == "approve",
                reasons=decide_form.cleaned_data["reasons"],
            )
        except AccreditationConflict as error:
            conflict = str(error)
            application.refresh_from_db()
        except AccreditationError as error:
            decide_form.add_error(None, str(error))
        else:
            messages.success(request, "The decision is recorded and the applicant is told.")
            return here
    fee = ApplicationFee.objects.filter(application=application).first()
    fee_form = FeePaymentForm(_action(request, "fee_paid"), prefix="fee")
    waive_form = FeeWaiverForm(_action(request, "fee_waive"), prefix="waive")
    if fee is not None and (fee_form.is_bound or waive_form.is_bound):
        form = fee_form if fee_form.is_bound else waive_form
        if form.is_valid():
            try:
                if form is fee_form:
                    fees.fee_record_payment(fee=fee, actor=request.user, **form.cleaned_data)
                else:
                    fees.fee_waive(fee=fee, actor=request.user, **form.cleaned_data)
            except fees.FeeError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, "The fee is settled and the applicant is told.")
                return here
    assignments = list(application.assignments.select_related("assessor").order_by("assigned_at"))
    return render(
        request,
        "accreditation/registrar/application.html",
        {
            "application": application,
            "statements": _statements(application),
            "referees": list(application.referees.all()),
            "assignments": assignments,
            "assessments": _assessments(application),
            "requests": list(application.information_requests.all()),
            "role": role,
            "role_label": AssignmentRole(role).label if role else "",
            "assign_form": assign_form,
            "decide_form": decide_form,
            "can_decide": application.state == State.RECOMMENDED,
            "conflict": conflict,
            "fee": fee,
            "audit_rows": [
                {"event": event, "changes": audit_event_changes(event)}
                for event in audit_events_for_subject(
                    subject_type=services.SUBJECT_TYPE, subject_id=str(application.public_id)
                ).order_by("-sequence")
            ],
            "fee_form": fee_form,
            "waive_form": waive_form,
        },
    )
