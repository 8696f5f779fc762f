from django.tasks import task


@task()
def cpd_portfolio_render(*, member_id: int, name: str) -> None:
    """Render a member's PDF portfolio into storage under ``name`` (see cpd.portability)."""
    from cpd.portability import portfolio_render
    from members.models import Member

    member = Member.objects.select_related("user", "grade").get(pk=member_id)
    portfolio_render(member=member, name=name)
