"""Numbered pagination in the NHS.UK style, for any list page."""

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest


def paginate(
    request: HttpRequest, queryset: QuerySet, *, per_page: int, count: int | None = None
) -> tuple[Page, dict]:
    """One page of results and the links templates/components/pagination.html shows.

    Two queries whatever the page size (the count and the page); one if the
    caller already knows the count."""
    paginator = Paginator(queryset, per_page)
    if count is not None:
        paginator.count = count  # a cached property: setting it saves the COUNT query
    page = paginator.get_page(request.GET.get("page"))

    def href(number: int) -> str:
        query = request.GET.copy()
        query["page"] = number
        return f"?{query.urlencode()}"

    items = [
        {"ellipsis": True}
        if number == Paginator.ELLIPSIS
        else {"number": number, "href": href(number), "current": number == page.number}
        for number in paginator.get_elided_page_range(page.number, on_each_side=1, on_ends=1)
    ]
    return page, {
        "items": items if paginator.num_pages > 1 else [],
        "previous": href(page.previous_page_number()) if page.has_previous() else "",
        "next": href(page.next_page_number()) if page.has_next() else "",
    }
