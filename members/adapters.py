from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.contrib.sites.shortcuts import get_current_site

from members.tasks import send_email


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user.given_name = form.cleaned_data.get("given_name", "").strip()
        user.family_name = form.cleaned_data.get("family_name", "").strip()
        return super().save_user(request, user, form, commit=commit)

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """Render allauth's email as usual, then hand it to the task queue."""
        request = allauth_context.request
        message = self.render_mail(
            template_prefix,
            email,
            {
                "request": request,
                "email": email,
                "current_site": get_current_site(request),
                **context,
            },
        )
        html_body = next(
            (
                content
                for content, mimetype in getattr(message, "alternatives", [])
                if mimetype == "text/html"
            ),
            "",
        )
        send_email.enqueue(
            subject=message.subject,
            body=message.body,
            to=list(message.to),
            from_email=message.from_email,
            html_body=html_body,
            headers=message.extra_headers or None,
        )
