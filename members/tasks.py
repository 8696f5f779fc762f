from django.core.mail import EmailMultiAlternatives
from django.tasks import task


@task()
def send_email(
    *,
    subject: str,
    body: str,
    to: list[str],
    from_email: str | None = None,
    html_body: str = "",
    headers: dict[str, str] | None = None,
) -> None:
    """Send one email with a plain-text body (and an HTML alternative if given).

    Enqueued, not sent inline, so a slow mail server never holds up a page;
    with the database backend the task row commits with the change that caused it.
    """
    message = EmailMultiAlternatives(subject, body, from_email, to, headers=headers)
    if html_body:
        message.attach_alternative(html_body, "text/html")
    message.send()


@task()
def stripe_subscription_price_sync(*, member_id: int, grade_change_id: int) -> None:
    """After a grade change commits, move the member's subscription to the new price."""
    from members.models import GradeChange, Member
    from members.stripe_billing import stripe_subscription_change_price

    member = Member.objects.select_related("grade").get(pk=member_id)
    stripe_subscription_change_price(
        member=member,
        grade=member.grade,
        change_key=str(GradeChange.objects.get(pk=grade_change_id).pk),
    )
