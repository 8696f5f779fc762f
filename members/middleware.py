from allauth.mfa.utils import is_mfa_enabled
from django.shortcuts import redirect
from django.urls import reverse

# Paths a user who still has to set up MFA may reach: account pages (which
# include MFA set-up and sign-out), the page that explains, and health checks.
MFA_EXEMPT_PREFIXES = ("/accounts/", "/healthz", "/readyz", "/static/")


class RequireMFAMiddleware:
    """Send staff and assessors to MFA set-up until they have a second factor."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and user.requires_mfa
            and not request.path.startswith(MFA_EXEMPT_PREFIXES)
            and request.path != reverse("mfa_required")
            and not is_mfa_enabled(user)
        ):
            return redirect("mfa_required")
        return self.get_response(request)
