from django.tasks import task


@task()
def cpd_portfolio_render(*, member_id: int, name: str) -> None:
    """Render a member's PDF portfolio into storage under ``name`` (see cpd.portability)."""
    from cpd.portability import portfolio_render
    from members.models import Member

    member = Member.objects.select_related("user", "grade").get(pk=member_id)
    portfolio_render(member=member, name=name)


@task()
def cpd_return_reminders_send(*, annual_return_ids: list[int], kind: str) -> None:
    """Write one batch of the daily job's return reminders, one email task each
    (so one bad address never holds up the rest)."""
    from cpd.models import AnnualReturn
    from cpd.returns import cpd_email_enqueue, return_year

    annual_returns = (
        AnnualReturn.objects.filter(pk__in=annual_return_ids)
        .select_related("member__user")
        .order_by("member_id")
    )
    for annual_return in annual_returns:
        cpd_email_enqueue(
            member=annual_return.member,
            template="return_reminder",
            context={
                "annual_return": annual_return,
                "year": return_year(annual_return),
                "kind": kind,
            },
        )
