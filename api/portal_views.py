"""The employer portal at /employer/: API keys, the watch list, webhook endpoints
with their delivery log, and CSV bulk verification.

Every view is wrapped in ``employer_required``: anonymous visitors are sent to
sign in, anyone signed in who is not one of an active employer's people gets a
404, and each view receives the caller's employer and reads only through it,
so another employer's keys, entries, endpoints or uploads are a 404 too.
"""

import datetime as dt
from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from api import bulk, portal_forms, watchlist, webhooks
from api.models import (
    ApiKey,
    BulkVerification,
    EmployerClient,
    EmployerUser,
    WatchEntry,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)
from api.services import EmployerError, api_key_create, api_key_revoke
from config.forms import form_data
from config.pagination import paginate

PAGE_SIZE = 25
NEW_KEY_SESSION_KEY = "employer_new_api_key"
NEW_SECRET_SESSION_KEY = "employer_new_webhook_secret"  # noqa: S105 (a session key name)


def employer_for_user(user) -> EmployerClient | None:
    """The active employer whose portal this user may use (one query), or None."""
    if not user.is_authenticated:
        return None
    link = (
        EmployerUser.objects.select_related("employer")
        .filter(user=user, employer__is_active=True)
        .first()
    )
    return link.employer if link else None


def employer_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        employer = employer_for_user(request.user)
        if employer is None:
            raise Http404
        return view(request, employer, *args, **kwargs)

    wrapper.employer_required = True  # lets a test check every portal URL is wrapped
    return wrapper


def _no_store(response: HttpResponse) -> HttpResponse:
    """Pages showing a secret once must not be kept by the browser or a proxy."""
    response["Cache-Control"] = "no-store"
    return response


# --- Home -------------------------------------------------------------------------


@employer_required
def home(request: HttpRequest, employer: EmployerClient) -> HttpResponse:
    return render(
        request,
        "employer/home.html",
        {
            "employer": employer,
            "key_count": ApiKey.objects.filter(employer=employer, revoked_at__isnull=True).count(),
            "watch_count": WatchEntry.objects.filter(employer=employer).count(),
            "endpoint_count": WebhookEndpoint.objects.filter(employer=employer).count(),
        },
    )


# --- API keys ---------------------------------------------------------------------


@employer_required
def keys(request: HttpRequest, employer: EmployerClient) -> HttpResponse:
    form = portal_forms.ApiKeyForm(form_data(request))
    if request.method == "POST" and form.is_valid():
        expires_on = form.cleaned_data["expires_on"]
        expires_at = (
            timezone.make_aware(dt.datetime.combine(expires_on, dt.time.min))
            if expires_on
            else None
        )
        try:
            new = api_key_create(
                employer=employer,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                actor=request.user,
                expires_at=expires_at,
            )
        except EmployerError as error:
            form.add_error(None, str(error))
        else:
            request.session[NEW_KEY_SESSION_KEY] = [str(new.key.public_id), new.raw]
            return redirect("employer:keys")
    new_key = None
    if request.method == "GET" and (new := request.session.pop(NEW_KEY_SESSION_KEY, None)):
        new_key = {"public_id": new[0], "raw": new[1]}
    now = timezone.now()
    api_keys = list(ApiKey.objects.filter(employer=employer).order_by("-created_at", "-id"))
    for key in api_keys:
        key.state = "revoked" if key.is_revoked else "expired" if key.is_expired(now) else "active"
    return _no_store(
        render(
            request,
            "employer/keys.html",
            {"employer": employer, "form": form, "api_keys": api_keys, "new_key": new_key},
        )
    )


@employer_required
def key_revoke(request: HttpRequest, employer: EmployerClient, public_id) -> HttpResponse:
    try:
        key = ApiKey.objects.get(employer=employer, public_id=public_id)
    except ApiKey.DoesNotExist:
        raise Http404("No such key.") from None
    if request.method == "POST":
        api_key_revoke(key=key, actor=request.user, reason="Revoked in the employer portal")
        messages.success(request, f"The key “{key.name}” ({key.prefix}) no longer works.")
        return redirect("employer:keys")
    return render(request, "employer/key_revoke.html", {"employer": employer, "key": key})


# --- Watch list -------------------------------------------------------------------


@employer_required
def watch_list(request: HttpRequest, employer: EmployerClient) -> HttpResponse:
    form = portal_forms.WatchEntryForm(form_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            entry, created = watchlist.watch_entry_add(
                employer=employer, actor=request.user, **form.cleaned_data
            )
        except watchlist.WatchListError as error:
            form.add_error(None, str(error))
        else:
            who = f"{entry.membership_number} ({entry.member.user.get_full_name()})"
            if created:
                messages.success(request, f"{who} is now on your watch list.")
            else:
                messages.info(request, f"{who} was already on your watch list.")
            return redirect("employer:watch_list")
    entries = watchlist.watch_entries_for(employer=employer).select_related("member__user")
    page, pagination = paginate(request, entries, per_page=PAGE_SIZE)
    return render(
        request,
        "employer/watch_list.html",
        {
            "employer": employer,
            "form": form,
            "upload_form": portal_forms.CsvUploadForm(),
            "page": page,
            "pagination": pagination,
        },
    )


@employer_required
def watch_list_upload(request: HttpRequest, employer: EmployerClient) -> HttpResponse:
    form = portal_forms.CsvUploadForm(form_data(request), request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        try:
            result = watchlist.watch_entries_add_csv(
                employer=employer, upload=form.cleaned_data["file"], actor=request.user
            )
        except watchlist.WatchListError as error:
            form.add_error("file", str(error))
    return render(
        request,
        "employer/watch_list_upload.html",
        {"employer": employer, "form": form, "result": result},
    )


@employer_required
def watch_entry_remove(request: HttpRequest, employer: EmployerClient, public_id) -> HttpResponse:
    try:
        entry = watchlist.watch_entry_get(employer=employer, public_id=public_id)
    except WatchEntry.DoesNotExist:
        raise Http404("No such entry.") from None
    if request.method == "POST":
        watchlist.watch_entry_remove(entry=entry, actor=request.user)
        messages.success(request, f"{entry.membership_number} is no longer on your watch list.")
        return redirect("employer:watch_list")
    return render(
        request, "employer/watch_entry_remove.html", {"employer": employer, "entry": entry}
    )


# --- Webhook endpoints -------------------------------------------------------------


def _endpoint(employer: EmployerClient, public_id) -> WebhookEndpoint:
    try:
        return webhooks.webhook_endpoint_get(employer=employer, public_id=public_id)
    except WebhookEndpoint.DoesNotExist:
        raise Http404("No such endpoint.") from None


def _event_labels(events: list[str]) -> list[str]:
    labels = dict(WebhookEventType.choices)
    return [labels.get(event, event) for event in events]


@employer_required
def webhook_list(request: HttpRequest, employer: EmployerClient) -> HttpResponse:
    endpoints = list(webhooks.webhook_endpoints_for(employer=employer))
    for endpoint in endpoints:
        endpoint.event_labels = _event_labels(endpoint.events)
    return render(
        request, "employer/webhook_list.html", {"employer": employer, "endpoints": endpoints}
    )


@employer_required
def webhook_new(request: HttpRequest, employer: EmployerClient) -> HttpResponse:
    form = portal_forms.WebhookEndpointForm(
        form_data(request), initial={"events": WebhookEventType.values}
    )
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = webhooks.webhook_endpoint_create(
                employer=employer, actor=request.user, **form.cleaned_data
            )
        except webhooks.WebhookError as error:
            form.add_error(error.field, str(error))
        else:
            request.session[NEW_SECRET_SESSION_KEY] = [str(endpoint.public_id), secret]
            return redirect("employer:webhook_detail", public_id=endpoint.public_id)
    return render(request, "employer/webhook_form.html", {"employer": employer, "form": form})


@employer_required
def webhook_edit(request: HttpRequest, employer: EmployerClient, public_id) -> HttpResponse:
    endpoint = _endpoint(employer, public_id)
    form = portal_forms.WebhookEndpointForm(
        form_data(request),
        initial={
            "url": endpoint.url,
            "description": endpoint.description,
            "events": endpoint.events,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            webhooks.webhook_endpoint_update(
                endpoint=endpoint, actor=request.user, **form.cleaned_data
            )
        except webhooks.WebhookError as error:
            form.add_error(error.field, str(error))
        else:
            messages.success(request, "Your changes to the endpoint are saved.")
            return redirect("employer:webhook_detail", public_id=endpoint.public_id)
    return render(
        request,
        "employer/webhook_form.html",
        {"employer": employer, "form": form, "endpoint": endpoint},
    )


@employer_required
def webhook_detail(request: HttpRequest, employer: EmployerClient, public_id) -> HttpResponse:
    endpoint = _endpoint(employer, public_id)
    endpoint.event_labels = _event_labels(endpoint.events)
    secret = None
    new = request.session.get(NEW_SECRET_SESSION_KEY)
    if new and new[0] == str(endpoint.public_id):
        secret = request.session.pop(NEW_SECRET_SESSION_KEY)[1]
    deliveries = endpoint.deliveries.order_by("-created_at", "-id")
    page, pagination = paginate(request, deliveries, per_page=PAGE_SIZE)
    return _no_store(
        render(
            request,
            "employer/webhook_detail.html",
            {
                "employer": employer,
                "endpoint": endpoint,
                "secret": secret,
                "page": page,
                "pagination": pagination,
            },
        )
    )


@employer_required
@require_POST
def webhook_toggle(request: HttpRequest, employer: EmployerClient, public_id) -> HttpResponse:
    endpoint = _endpoint(employer, public_id)
    turn_on = not endpoint.active
    webhooks.webhook_endpoint_update(endpoint=endpoint, actor=request.user, active=turn_on)
    messages.success(
        request,
        "The endpoint is on: new changes will be sent to it."
        if turn_on
        else "The endpoint is off: nothing more will be sent to it until you turn it back on.",
    )
    return redirect("employer:webhook_detail", public_id=endpoint.public_id)


@employer_required
@require_POST
def webhook_ping(request: HttpRequest, employer: EmployerClient, public_id) -> HttpResponse:
    endpoint = _endpoint(employer, public_id)
    delivery = webhooks.webhook_ping(endpoint=endpoint)
    messages.info(
        request,
        "A test message is on its way. Its outcome shows in the delivery log below.",
    )
    return redirect(
        reverse("employer:webhook_detail", kwargs={"public_id": endpoint.public_id})
        + f"#delivery-{delivery.event_id}"
    )


@employer_required
def webhook_delete(request: HttpRequest, employer: EmployerClient, public_id) -> HttpResponse:
    endpoint = _endpoint(employer, public_id)
    if request.method == "POST":
        webhooks.webhook_endpoint_delete(endpoint=endpoint, actor=request.user)
        messages.success(request, f"The endpoint {endpoint.url} is deleted.")
        return redirect("employer:webhook_list")
    return render(
        request, "employer/webhook_delete.html", {"employer": employer, "endpoint": endpoint}
    )


@employer_required
def delivery_detail(
    request: HttpRequest, employer: EmployerClient, public_id, event_id: str
) -> HttpResponse:
    endpoint = _endpoint(employer, public_id)
    try:
        delivery = endpoint.deliveries.prefetch_related("attempt_log").get(event_id=event_id)
    except WebhookDelivery.DoesNotExist:
        raise Http404("No such delivery.") from None
    return render(
        request,
        "employer/delivery_detail.html",
        {
            "employer": employer,
            "endpoint": endpoint,
            "delivery": delivery,
            "body": webhooks.delivery_body(delivery).decode(),
        },
    )


# --- CSV bulk verification ---------------------------------------------------------


def _job(employer: EmployerClient, public_id) -> BulkVerification:
    try:
        return bulk.bulk_verification_get(employer=employer, public_id=public_id)
    except BulkVerification.DoesNotExist:
        raise Http404("No such upload.") from None


@employer_required
def verify_index(request: HttpRequest, employer: EmployerClient) -> HttpResponse:
    form = portal_forms.CsvUploadForm(form_data(request), request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = bulk.bulk_verification_start(
                employer=employer, user=request.user, upload=form.cleaned_data["file"]
            )
        except bulk.BulkVerificationError as error:
            form.add_error("file", str(error))
        else:
            return redirect("employer:verify_detail", public_id=job.public_id)
    jobs = bulk.bulk_verifications_for(employer=employer).defer("result_csv")[:20]
    return render(
        request,
        "employer/verify_index.html",
        {"employer": employer, "form": form, "jobs": jobs},
    )


@employer_required
def verify_detail(request: HttpRequest, employer: EmployerClient, public_id) -> HttpResponse:
    job = _job(employer, public_id)
    return render(request, "employer/verify_detail.html", {"employer": employer, "job": job})


@employer_required
def verify_progress(request: HttpRequest, employer: EmployerClient, public_id) -> JsonResponse:
    """What the progress page polls while the check runs."""
    job = _job(employer, public_id)
    return JsonResponse(
        {
            "status": job.status,
            "status_words": job.get_status_display(),
            "processed_rows": job.processed_rows,
            "total_rows": job.total_rows,
            "percent": job.percent_done,
            "finished": job.status
            in (BulkVerification.Status.DONE, BulkVerification.Status.FAILED),
        }
    )


@employer_required
def verify_result(request: HttpRequest, employer: EmployerClient, public_id) -> HttpResponse:
    job = _job(employer, public_id)
    if job.status != BulkVerification.Status.DONE:
        raise Http404("The results are not ready.")
    stem = slugify(job.filename.rsplit(".", 1)[0])[:40] or "upload"
    response = HttpResponse(job.result_csv, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="checked-{job.created_at:%Y-%m-%d}-{stem}.csv"'
    )
    response["Cache-Control"] = "no-store"
    return response
