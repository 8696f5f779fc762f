"""The member's CPD pages: the log, adding, changing and deleting entries,
downloading evidence, and progress against the year's requirement.

Views hold no business rules: they read through ``cpd.selectors``, write
through ``cpd.services`` and show a ``CPDError`` on the form, so the page
re-renders with the message and everything typed is kept (except files,
which a browser never sends back).
"""

import datetime as dt
import textwrap
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Sum
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateformat import format as date_format
from django.views.decorators.http import require_http_methods

from config.pagination import paginate
from cpd import selectors, services
from cpd.forms import EntryForm, LogFilterForm
from cpd.models import AnnualReturn, Entry, Evidence
from cpd.selectors import FrameworkView, Progress, cpd_year_containing, cpd_year_starting
from cpd.services import CPDError
from members import services as member_services
from members.models import Member
from members.views import member_required

PAGE_SIZE = 20


def _today() -> dt.date:
    return member_services.local_today()


def _locked_years(member: Member) -> set[dt.date]:
    """The first days of the CPD years whose return is submitted (one query): their
    entries are locked, so the pages offer no way to change them."""
    return set(
        AnnualReturn.objects.filter(member=member, state=AnnualReturn.State.SUBMITTED).values_list(
            "year_starts_on", flat=True
        )
    )


def _is_locked(entry: Entry, locked_years: set[dt.date]) -> bool:
    return cpd_year_containing(entry.ends_on).starts_on in locked_years


def _log_url(entry: Entry) -> str:
    """The log showing the year the entry counts in, so the member sees it there."""
    year = cpd_year_containing(entry.ends_on)
    return f"{reverse('cpd:log')}?year={year.starts_on.year}"


# --- The log ---------------------------------------------------------------------------


@member_required
def log(request: HttpRequest, member: Member) -> HttpResponse:
    today = _today()
    years = selectors.cpd_years_for(member=member, today=today)
    picker = selectors.standards_for_picker()
    asked = LogFilterForm(request.GET or None, years=years, standards=picker)
    chosen = asked.filters(default_year=str(cpd_year_containing(today).starts_on.year))
    # The form as shown: what is in effect, so an unknown value in the address is dropped.
    form = LogFilterForm(initial=chosen, years=years, standards=picker)

    year = (
        None
        if chosen["year"] == LogFilterForm.ALL_YEARS
        else cpd_year_starting(int(chosen["year"]))
    )
    standard = next(
        (s for d in picker for s in d.standards.all() if s.code == chosen["standard"]), None
    )
    entries = selectors.cpd_entries(
        member=member,
        year=year,
        activity_type=chosen["activity_type"],
        standard=standard,
        text=chosen["q"],
        sort=chosen["sort"],
    )
    totals = entries.order_by().aggregate(count=Count("pk"), minutes=Sum("minutes"))
    page, pagination = paginate(request, entries, per_page=PAGE_SIZE, count=totals["count"])
    filtered = any(chosen[name] for name in ("activity_type", "standard", "q"))
    locked_years = _locked_years(member)
    for entry in page.object_list:
        entry.locked = _is_locked(entry, locked_years)
    return render(
        request,
        "cpd/log.html",
        {
            "member": member,
            "form": form,
            "year": year,
            "page": page,
            "pagination": pagination,
            "total_entries": totals["count"],
            "total_minutes": totals["minutes"] or 0,
            "filtered": filtered,
            "has_frameworks": bool(picker),
        },
    )


# --- Adding, changing and deleting entries -----------------------------------------------


def _posted(request: HttpRequest):
    """The submitted data and files for a bound form, or None on GET."""
    if request.method == "POST":
        return request.POST, request.FILES
    return None, None


def _entry_form_page(
    request, form: EntryForm, *, entry: Entry | None = None, locked: bool = False
) -> HttpResponse:
    files_chosen = [f.name for f in request.FILES.getlist("files")]
    if request.method == "POST" and files_chosen:
        # A browser never re-sends files after a page comes back with a problem.
        form.add_error(
            None,
            "Choose your evidence files again: files are not kept when there is a problem "
            "with the form.",
        )
    return render(
        request,
        "cpd/entry_form.html",
        {
            "form": form,
            "entry": entry,
            "files_chosen": files_chosen,
            "current_evidence": list(entry.evidence.all()) if entry else [],
            "locked": locked,
            "locked_year": cpd_year_containing(entry.ends_on) if locked else None,
        },
    )


def _max_file_mb() -> int:
    return settings.EVIDENCE_MAX_BYTES // (1024 * 1024)


@member_required
def entry_add(request: HttpRequest, member: Member) -> HttpResponse:
    data, files = _posted(request)
    form = EntryForm(data, files, max_file_mb=_max_file_mb())
    if request.method == "POST" and form.is_valid():
        try:
            entry = services.cpd_entry_create(
                member=member,
                actor=request.user,
                standards=form.cleaned_data["standards"],
                files=form.cleaned_data["files"],
                **form.entry_fields(),
            )
        except CPDError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"“{entry.title}” is in your CPD log.")
            return redirect(_log_url(entry))
    return _entry_form_page(request, form)


def _own_entry(member: Member, public_id) -> Entry:
    try:
        return selectors.cpd_entry_for_member(member=member, public_id=public_id)
    except Entry.DoesNotExist:
        raise Http404("No such CPD entry.") from None


@member_required
def entry_edit(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    entry = _own_entry(member, public_id)
    data, files = _posted(request)
    form = EntryForm(
        data,
        files,
        entry=entry,
        initial=EntryForm.initial_for(entry),
        max_file_mb=_max_file_mb(),
    )
    if request.method == "POST" and form.is_valid():
        try:
            entry = services.cpd_entry_update(
                entry=entry,
                actor=request.user,
                standards=form.cleaned_data["standards"],
                add_files=form.cleaned_data["files"],
                remove_evidence=form.cleaned_data["remove_evidence"],
                **form.entry_fields(),
            )
        except CPDError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Your changes to “{entry.title}” are saved.")
            return redirect(_log_url(entry))
    locked = _is_locked(entry, _locked_years(member))
    return _entry_form_page(request, form, entry=entry, locked=locked)


@member_required
@require_http_methods(["GET", "POST"])
def entry_delete(request: HttpRequest, member: Member, public_id) -> HttpResponse:
    """GET asks for confirmation; only a POST deletes."""
    entry = _own_entry(member, public_id)
    error = ""
    if request.method == "POST":
        try:
            services.cpd_entry_delete(entry=entry, actor=request.user)
        except CPDError as refusal:
            error = str(refusal)
        else:
            messages.success(request, f"“{entry.title}” is deleted from your CPD log.")
            return redirect(_log_url(entry))
    return render(request, "cpd/entry_delete.html", {"entry": entry, "error": error})


# --- Evidence ------------------------------------------------------------------------------


@member_required
def evidence_download(request: HttpRequest, member: Member, public_id) -> FileResponse:
    """The file, to its owner only, as a download the browser will not render or sniff."""
    try:
        evidence: Evidence = selectors.cpd_evidence_for_member(member=member, public_id=public_id)
        handle = evidence.file.open("rb")
    except (Evidence.DoesNotExist, FileNotFoundError):
        raise Http404("No such evidence.") from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=evidence.original_name,
        content_type=evidence.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Should a browser ever render it anyway, it runs in a sandbox with nothing allowed.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    return response


# --- Progress ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartBar:
    label_lines: list[tuple[int, str]]  # (y, text): long names wrap onto more lines
    minutes: int
    bar_y: int
    width: int
    value_x: int
    value_y: int

    @property
    def label(self) -> str:
        return " ".join(text for _, text in self.label_lines)


@dataclass(frozen=True)
class BarChart:
    """A horizontal bar chart laid out on the server: each domain's name above
    its bar, and the hours written at the end of the bar, so it reads without
    colour; the page puts the same numbers in a table beside it."""

    view: FrameworkView
    bars: list[ChartBar]
    height: int

    WIDTH = 560
    BAR_SPACE = 440  # the rest is room for the hours after the longest bar
    BAR_HEIGHT = 24
    LINE = 21  # the height of a line of label text (17px)
    LABEL_CHARACTERS = 56
    GAP = 18

    @classmethod
    def of(cls, view: FrameworkView) -> "BarChart":
        most = view.max_minutes
        bars, top = [], 0
        for domain in view.domains:
            lines = textwrap.wrap(
                f"{domain.domain.code} {domain.domain.title}",
                cls.LABEL_CHARACTERS,
                break_on_hyphens=False,
            )
            bar_y = top + cls.LINE * len(lines) + 6
            width = round(domain.minutes / most * cls.BAR_SPACE) if most else 0
            if domain.minutes:
                width = max(width, 2)
            bars.append(
                ChartBar(
                    label_lines=[(top + 16 + cls.LINE * i, line) for i, line in enumerate(lines)],
                    minutes=domain.minutes,
                    bar_y=bar_y,
                    width=width,
                    value_x=width + 8,
                    value_y=bar_y + 18,
                )
            )
            top = bar_y + cls.BAR_HEIGHT + cls.GAP
        return cls(view=view, bars=bars, height=max(top - cls.GAP, cls.LINE))


def _pro_rating(progress: Progress) -> str:
    """Why the requirement is less than the grade's, in a sentence (or nothing)."""
    req, year = progress.requirement, progress.year
    if req.fraction >= 1:
        return ""
    reasons = []
    if req.owing_from and req.owing_from > year.starts_on:
        reasons.append(f"you joined in {date_format(req.owing_from, 'F Y')}")
    if req.paused_days:
        days = req.paused_days
        reasons.append(f"your membership was paused for {days} day{'s' if days != 1 else ''}")
    if not reasons:
        reasons.append(f"you are a member for {req.member_days} of its {year.days} days")
    return " and ".join(reasons)


@member_required
def progress(request: HttpRequest, member: Member) -> HttpResponse:
    today = _today()
    years = selectors.cpd_years_for(member=member, today=today)
    labels = {str(year.starts_on.year): year for year in years}
    year = labels.get(request.GET.get("year", ""), cpd_year_containing(today))
    progress = selectors.cpd_progress(member=member, year=year, today=today)
    return render(
        request,
        "cpd/progress.html",
        {
            "member": member,
            "years": years,
            "year": year,
            "today": today,
            "is_current_year": year.contains(today),
            "progress": progress,
            "requirement": progress.requirement,
            "met": progress.met,
            "pro_rating": _pro_rating(progress),
            "charts": [BarChart.of(view) for view in progress.views],
        },
    )
