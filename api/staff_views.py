"""Registrar pages for employer clients: list and create them, and give their
people access to the employer portal. Wrapped in ``staff_required`` like every
registrar page (signed-in non-staff get a 404)."""

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse

from api import services, staff_forms
from api.models import EmployerClient, EmployerUser
from config.forms import form_data
from config.pagination import paginate
from members.models import User
from members.staff_views import staff_required
from members.tasks import send_email


@staff_required
def employer_list(request: HttpRequest) -> HttpResponse:
    form = staff_forms.EmployerForm(form_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            employer = services.employer_client_create(actor=request.user, **form.cleaned_data)
        except services.EmployerError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"{employer.name} can now be given portal users and keys.")
            return redirect("registrar_employers:detail", public_id=employer.public_id)
    employers = EmployerClient.objects.annotate(
        people=Count("users", distinct=True),
        keys=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True), distinct=True),
        watched=Count("watch_entries", distinct=True),
    ).order_by("name", "pk")
    page, pagination = paginate(request, employers, per_page=25)
    return render(
        request,
        "employer/registrar/list.html",
        {"form": form, "page": page, "pagination": pagination},
    )


def _invite(request: HttpRequest, user: User, employer: EmployerClient) -> None:
    context = {
        "user": user,
        "employer": employer,
        "site_name": settings.SITE_NAME,
        "reset_url": request.build_absolute_uri(reverse("account_reset_password")),
        "portal_url": request.build_absolute_uri(reverse("employer:home")),
    }
    body = render_to_string("employer/email/portal_invitation_message.txt", context)
    transaction.on_commit(
        lambda: send_email.enqueue(
            subject=f"[{settings.SITE_NAME}] Your access to the employer portal",
            body=body.strip() + "\n",
            to=[user.email],
        )
    )


@staff_required
def employer_detail(request: HttpRequest, public_id) -> HttpResponse:
    try:
        employer = EmployerClient.objects.get(public_id=public_id)
    except EmployerClient.DoesNotExist:
        raise Http404("No such employer.") from None
    form = staff_forms.EmployerPersonForm(form_data(request))
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"].lower()
        try:
            with transaction.atomic():
                user = User.objects.filter(email__iexact=email).first()
                if user is None:
                    user = User.objects.create_user(
                        email=email,
                        password=None,
                        given_name=form.cleaned_data["given_name"].strip(),
                        family_name=form.cleaned_data["family_name"].strip(),
                    )
                    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
                services.employer_user_add(employer=employer, user=user, actor=request.user)
                _invite(request, user, employer)
        except services.EmployerError as error:
            form.add_error("email", str(error))
        else:
            messages.success(request, f"{email} can now use the employer portal.")
            return redirect("registrar_employers:detail", public_id=employer.public_id)
    people = EmployerUser.objects.filter(employer=employer).select_related("user")
    return render(
        request,
        "employer/registrar/detail.html",
        {"employer": employer, "form": form, "people": people},
    )
