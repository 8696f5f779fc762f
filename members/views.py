from allauth.mfa.utils import is_mfa_enabled
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render


def home(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "members/home.html")


@login_required
def dashboard(request):
    return render(
        request,
        "members/dashboard.html",
        {"mfa_enabled": is_mfa_enabled(request.user)},
    )


@login_required
def mfa_required(request):
    """Explain why staff and assessors must add a second factor, and how."""
    if not request.user.requires_mfa or is_mfa_enabled(request.user):
        return redirect("dashboard")
    return render(request, "members/mfa_required.html")
