"""The public register: a search page and a page per member, minimal by design.

Only members who agreed to appear are shown (``api.selectors.register_members``);
their organisation and town only if they agreed to show those too. Anyone else
is a 404, exactly like a number that was never issued.
"""

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from api import selectors
from api.throttles import RegisterPageThrottle
from config.forms import PlainForm
from config.pagination import paginate
from members import services

PAGE_SIZE = 20


class RegisterSearchForm(PlainForm):
    q = forms.CharField(
        label="Name or membership number",
        min_length=selectors.SEARCH_MIN_LENGTH,
        max_length=100,
        error_messages={
            "required": "Enter a name or membership number",
            "min_length": "Enter at least 2 characters",
        },
    )


def _too_many(request: HttpRequest) -> HttpResponse | None:
    """A 429 page once an address has asked for too many register pages."""
    throttle = RegisterPageThrottle()
    if throttle.allow_request(request, None):
        return None
    response = render(request, "register/rate_limited.html", status=429)
    response["Retry-After"] = str(max(1, int(throttle.wait() or 60)))
    return response


def register_search(request: HttpRequest) -> HttpResponse:
    if refused := _too_many(request):
        return refused
    form = RegisterSearchForm(request.GET or None)
    searched = form.is_bound and form.is_valid()
    context = {"form": form, "searched": searched, "query": ""}
    if searched:
        query = form.cleaned_data["q"]
        page, pagination = paginate(request, selectors.register_search(q=query), per_page=PAGE_SIZE)
        context |= {
            "query": query,
            "page": page,
            "pagination": pagination,
            "entries": selectors.register_entries(page.object_list),
        }
    return render(request, "register/search.html", context)


def register_entry(request: HttpRequest, membership_number: str) -> HttpResponse:
    if refused := _too_many(request):
        return refused
    try:
        member = selectors.register_entry(membership_number=membership_number)
    except selectors.Member.DoesNotExist as missing:
        raise Http404("Not on the register.") from missing
    [entry] = selectors.register_entries([member])
    return render(request, "register/entry.html", {"entry": entry, "today": services.local_today()})
