"""Emails to members, rendered from text templates in templates/members/email/."""

from django.conf import settings
from django.template.loader import render_to_string

from members.models import Member
from members.tasks import send_email


def _render(member: Member, template: str, context: dict) -> dict:
    context = {
        "member": member,
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        **context,
    }
    subject = render_to_string(f"members/email/{template}_subject.txt", context)
    return {
        "subject": f"[{settings.SITE_NAME}] " + " ".join(subject.split()),
        "body": render_to_string(f"members/email/{template}_message.txt", context).strip() + "\n",
        "to": [member.user.email],
    }


def member_email_enqueue(*, member: Member, template: str, context: dict | None = None) -> None:
    """Queue an email; with the database task backend it commits with the change."""
    send_email.enqueue(**_render(member, template, context or {}))


def member_email_send_now(*, member: Member, template: str, context: dict | None = None) -> None:
    """Send an email in this process, raising if the mail server refuses it."""
    send_email.call(**_render(member, template, context or {}))
