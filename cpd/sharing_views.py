"""Pages for sharing a portfolio by link (the member's page and the public one),
the development plan, and exporting and importing CPD."""

import uuid

from django.contrib import messages
from django.core import signing
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from cpd import portability, selectors, sharing, tasks
from cpd.models import Evidence, Goal, ShareLink, evidence_storage
from cpd.services import CPDError
from cpd.sharing_forms import GoalEntriesForm, GoalForm, ImportUploadForm, ShareLinkForm
from members import services as member_services
from members.models import Member
from members.views import member_required

# The token of a link just made, kept only until the sharing page shows it once.
NEW_LINK_SESSION_KEY = "cpd_share_new_link"


# --- The member's sharing page -----------------------------------------------------------


@member_required
def sharing_page(request: HttpRequest, member: Member) -> HttpResponse:
    years = selectors.cpd_years_for(member=member, today=member_services.local_today())
    form = ShareLinkForm(request.POST or None, years=years)
    if request.method == "POST" and form.is_valid():
        try:
            link, token = sharing.share_link_create(
                member=member,
                actor=request.user,
                label=form.cleaned_data["label"],
                expires_in_days=form.cleaned_data["expires_in_days"],
                year=form.year(),
                include_evidence=form.cleaned_data["include_evidence"],
            )
        except CPDError as error:
            form.add_error(None, str(error))
        else:
            request.session[NEW_LINK_SESSION_KEY] = [str(link.public_id), token]
            return redirect("cpd:sharing")
    new_link = None
    if request.method == "GET" and (new := request.session.pop(NEW_LINK_SESSION_KEY, None)):
        new_link = {
            "public_id": new[0],
            "url": request.build_absolute_uri(reverse("cpd:shared", args=[new[1]])),
        }
    links = list(sharing.share_links_for_member(member=member))
    for link in links:
        link.state = sharing.share_link_state(link)
        link.year = sharing.share_link_year(link)
    return render(
        request,
        "cpd/sharing/index.html",
        {"form": form, "links": links, "new_link": new_link},
    )


@member_required
@require_POST
def share_revoke(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    try:
        link = sharing.share_link_for_member(member=member, public_id=public_id)
    except ShareLink.DoesNotExist:
        raise Http404("No such link.") from None
    sharing.share_link_revoke(link=link, actor=request.user)
    messages.success(request, f"The link “{link.label}” no longer works.")
    return redirect("cpd:sharing")


# --- The shared (public) pages -----------------------------------------------------------


def _private(response: HttpResponse) -> HttpResponse:
    """Shared pages stay out of search engines and caches, and never leak the token onwards."""
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _live_link(request: HttpRequest, token: str) -> ShareLink | HttpResponse:
    try:
        return sharing.share_link_for_token(token)
    except sharing.ShareLinkNotFound:
        return _private(
            render(request, "cpd/sharing/gone.html", {"reason": "not_found"}, status=404)
        )
    except sharing.ShareLinkGone as gone:
        return _private(
            render(request, "cpd/sharing/gone.html", {"reason": gone.reason}, status=410)
        )


def shared(request: HttpRequest, token: str) -> HttpResponse:
    """The portfolio as the link shares it; no sign-in; every view is logged."""
    link = _live_link(request, token)
    if isinstance(link, HttpResponse):
        return link
    sharing.share_view_record(
        link=link,
        ip_address=request.META.get("REMOTE_ADDR"),
        user_agent=request.headers.get("User-Agent", ""),
    )
    portfolio = sharing.shared_portfolio(link=link, today=member_services.local_today())
    return _private(
        render(request, "cpd/sharing/shared.html", {"portfolio": portfolio, "token": token})
    )


def shared_evidence(request: HttpRequest, token: str, public_id) -> HttpResponse:
    """An evidence file, only if the link (checked again here) includes evidence."""
    link = _live_link(request, token)
    if isinstance(link, HttpResponse):
        return link
    try:
        evidence = sharing.shared_evidence(link=link, public_id=public_id)
        handle = evidence.file.open("rb")
    except (Evidence.DoesNotExist, FileNotFoundError):
        raise Http404("No such evidence.") from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=evidence.original_name,
        content_type=evidence.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return _private(response)


# --- The development plan ----------------------------------------------------------------


@member_required
def plan(request: HttpRequest, member: Member) -> HttpResponse:
    today = member_services.local_today()
    goals = list(sharing.goals_for_member(member=member))
    for goal in goals:
        goal.due = sharing.goal_is_due(goal, today=today)
    return render(
        request,
        "cpd/sharing/plan.html",
        {
            "goals": goals,
            "due": [g for g in goals if g.due],
            "today": today,
            "due_days": sharing.GOALS_DUE_WITHIN_DAYS,
        },
    )


@member_required
def goal_add(request: HttpRequest, member: Member) -> HttpResponse:
    form = GoalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            goal = sharing.goal_create(
                member=member,
                actor=request.user,
                standards=form.cleaned_data["standards"],
                state=form.cleaned_data["state"],
                **form.goal_fields(),
            )
        except CPDError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"“{goal.title}” is in your development plan.")
            return redirect("cpd:goal", public_id=goal.public_id)
    return render(request, "cpd/sharing/goal_form.html", {"form": form, "goal": None})


def _own_goal(member: Member, public_id) -> Goal:
    try:
        return sharing.goal_for_member(member=member, public_id=public_id)
    except Goal.DoesNotExist:
        raise Http404("No such goal.") from None


@member_required
def goal_edit(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    goal = _own_goal(member, public_id)
    form = GoalForm(request.POST or None, initial=GoalForm.initial_for(goal))
    if request.method == "POST" and form.is_valid():
        try:
            sharing.goal_update(
                goal=goal,
                actor=request.user,
                standards=form.cleaned_data["standards"],
                state=form.cleaned_data["state"],
                **form.goal_fields(),
            )
        except CPDError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Your changes to the goal are saved.")
            return redirect("cpd:goal", public_id=goal.public_id)
    return render(request, "cpd/sharing/goal_form.html", {"form": form, "goal": goal})


@member_required
def goal_detail(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    """The goal, and the member's entries to link to it."""
    goal = _own_goal(member, public_id)
    form = GoalEntriesForm(
        request.POST or None,
        member=member,
        initial={"entries": [e.public_id for e in goal.entries.all()]},
    )
    if request.method == "POST" and form.is_valid():
        try:
            sharing.goal_update(goal=goal, actor=request.user, entries=form.cleaned_data["entries"])
        except CPDError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "The entries linked to this goal are saved.")
            return redirect("cpd:goal", public_id=goal.public_id)
    return render(
        request,
        "cpd/sharing/goal.html",
        {
            "goal": goal,
            "form": form,
            "due": sharing.goal_is_due(goal, today=member_services.local_today()),
        },
    )


# --- Export and import -------------------------------------------------------------------


@member_required
def export_page(request: HttpRequest, member: Member) -> HttpResponse:
    return render(request, "cpd/portfolio/index.html", {"upload_form": ImportUploadForm()})


@member_required
def export_csv(request: HttpRequest, member: Member) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        portability.cpd_export_csv(member=member), content_type="text/csv; charset=utf-8"
    )
    today = member_services.local_today()
    response["Content-Disposition"] = f'attachment; filename="cpd-log-{today:%Y-%m-%d}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


IMPORT_SALT = "cpd.import"


@member_required
@require_POST
def import_preview(request: HttpRequest, member: Member) -> HttpResponse:
    """Check an uploaded CSV and show what would be imported; nothing is saved.
    The rows go to the confirm step signed, so they cannot be changed on the way,
    and are checked again there."""
    form = ImportUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "cpd/portfolio/index.html", {"upload_form": form}, status=400)
    preview = portability.cpd_import_parse(data=form.cleaned_data["file"].read())
    payload = ""
    if not preview.errors:
        payload = signing.dumps(
            {"member": str(member.public_id), "rows": preview.raw},
            salt=IMPORT_SALT,
            compress=True,
        )
    return render(
        request,
        "cpd/portfolio/import_preview.html",
        {"preview": preview, "payload": payload},
    )


@member_required
@require_POST
def import_confirm(request: HttpRequest, member: Member) -> HttpResponse:
    try:
        data = signing.loads(request.POST.get("payload", ""), salt=IMPORT_SALT, max_age=3600)
    except signing.BadSignature:
        messages.error(request, "That import has expired. Upload the file again.")
        return redirect("cpd:export")
    if data.get("member") != str(member.public_id):
        raise Http404("No such import.")
    try:
        created = portability.cpd_import(member=member, actor=request.user, rows=data["rows"])
    except portability.ImportFailed as failure:
        preview = portability.ImportPreview(errors=failure.errors)
        return render(
            request,
            "cpd/portfolio/import_preview.html",
            {"preview": preview, "payload": ""},
            status=400,
        )
    messages.success(request, f"{len(created)} entr{'y' if len(created) == 1 else 'ies'} imported.")
    return redirect("cpd:log")


# --- The PDF portfolio -------------------------------------------------------------------


@member_required
@require_POST
def portfolio_start(request: HttpRequest, member: Member) -> HttpResponse:
    """Start rendering the PDF in the background and go to the page that waits for it."""
    key = uuid.uuid4()
    name = portability.portfolio_name(member=member, key=key)
    transaction.on_commit(
        lambda: tasks.cpd_portfolio_render.enqueue(member_id=member.pk, name=name)
    )
    return redirect("cpd:portfolio", key=key)


@member_required
def portfolio_status(request: HttpRequest, member: Member, key) -> HttpResponse:
    """Preparing (the page refreshes itself), failed, or ready to download."""
    name = portability.portfolio_name(member=member, key=key)
    storage = evidence_storage()
    if storage.exists(name):
        state = "ready"
    elif storage.exists(portability.portfolio_failed_name(name)):
        state = "failed"
    else:
        state = "preparing"
    return render(request, "cpd/portfolio/status.html", {"state": state, "key": key})


@member_required
def portfolio_download(request: HttpRequest, member: Member, key) -> FileResponse:
    """The member's own portfolio: the name is built from the signed-in member."""
    name = portability.portfolio_name(member=member, key=key)
    try:
        handle = evidence_storage().open(name, "rb")
    except FileNotFoundError:
        raise Http404("No such portfolio.") from None
    today = member_services.local_today()
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=f"cpd-portfolio-{today:%Y-%m-%d}.pdf",
        content_type="application/pdf",
    )
    response["Cache-Control"] = "private, no-store"
    return response
