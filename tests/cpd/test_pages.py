"""The member's CPD pages: the log, adding, changing and deleting entries with
evidence, downloading evidence, and progress against the year's requirement."""

import datetime as dt
import io
import re
from html import unescape
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from audit.models import Action, AuditEvent
from cpd import services
from cpd.models import Domain, Entry, Evidence, Framework, Standard
from members import services as member_services
from members.models import Status, StatusEvent
from tests.factories import GradeFactory, MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 16)  # in the CPD year 1 April 2026 to 31 March 2027
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def png(extra: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, "PNG")
    return buffer.getvalue() + extra


@pytest.fixture(autouse=True)
def today():
    """Pin today for the services and the pages, which both read it from members.services."""
    with mock.patch.object(member_services, "local_today", return_value=TODAY):
        yield


@pytest.fixture
def standards():
    return make_frameworks()


def make_frameworks() -> dict[str, Standard]:
    """Three current frameworks with a crosswalk, in place of whatever the data
    migration loaded (retired for the test, so the pages show only these).
    Returns our standards by code."""
    Framework.objects.update(status=Framework.Status.RETIRED)
    ours = Framework.objects.create(
        key="test-standards",
        name="Standards for health service managers",
        short_name="Our standards",
        status="current",
        is_primary=True,
    )
    hlm = Framework.objects.create(
        key="test-hlm",
        name="Healthcare Leadership Model",
        short_name="Healthcare Leadership Model",
        status="current",
    )
    board = Framework.objects.create(
        key="test-board",
        name="Leadership competency framework for board members",
        short_name="Board competency framework",
        status="current",
    )
    hlm_sharing = Domain.objects.create(framework=hlm, code="HLM1", title="Sharing the vision")
    hlm_team = Domain.objects.create(framework=hlm, code="HLM2", title="Engaging the team", order=1)
    board_outcomes = Domain.objects.create(
        framework=board, code="LCF1", title="Driving high-quality and sustainable outcomes"
    )
    titles = {
        "D1": ("Leading people and teams", ["Building inclusive teams", "Developing people"]),
        "D2": ("Finance and resources", ["Setting and managing budgets", "Planning rotas"]),
        "D3": ("Quality and improvement", ["Improving services", "Learning from incidents"]),
    }
    crosswalk = {"D1": [hlm_team], "D2": [board_outcomes], "D3": [hlm_sharing, board_outcomes]}
    made = {}
    for order, (code, (title, standard_titles)) in enumerate(titles.items()):
        domain = Domain.objects.create(framework=ours, code=code, title=title, order=order)
        for number, standard_title in enumerate(standard_titles, start=1):
            standard = Standard.objects.create(
                framework=ours,
                domain=domain,
                code=f"{code}.{number}",
                title=standard_title,
                order=number,
            )
            standard.counts_towards.set(crosswalk[code])
            made[standard.code] = standard
    return made


def make_member(*, active_from=dt.date(2020, 1, 1), hours=30):
    member = MemberFactory(
        grade=GradeFactory(cpd_hours_required=hours),
        status=Status.ACTIVE,
        status_since=active_from,
        period_ends_on=max(TODAY, timezone.localdate()) + dt.timedelta(days=180),
    )
    StatusEvent.objects.create(
        member=member, to_status=Status.ACTIVE, effective_date=active_from, source="payment"
    )
    return member


@pytest.fixture
def member():
    return make_member()


@pytest.fixture
def member_client(client, member):
    client.force_login(member.user)
    return client


def log(member, standards=(), files=(), **overrides):
    fields = {
        "title": "Budget setting workshop",
        "starts_on": dt.date(2026, 5, 1),
        "ends_on": dt.date(2026, 5, 1),
        "hours": "3.5",
        "activity_type": "formal",
        "participatory": True,
        "provider": "Northshire ICB finance team",
        "reflection_learned": "How to read a cost centre report.",
        "reflection_applied": "Rebuilt our rota budget.",
        "reflection_impact": "Fewer agency shifts.",
        **overrides,
    }
    return services.cpd_entry_create(
        member=member, actor=member.user, standards=standards, files=files, **fields
    )


def form_data(**overrides) -> dict:
    """What the entry form posts (dates in the NHS.UK three-box date input)."""
    data = {
        "title": "Coaching for service managers",
        "starts_on_day": "3",
        "starts_on_month": "6",
        "starts_on_year": "2026",
        "ends_on_day": "4",
        "ends_on_month": "6",
        "ends_on_year": "2026",
        "hours": "7.5",
        "activity_type": "formal",
        "provider": "Leadership academy",
        "participatory": "yes",
        "reflection_learned": "Asking before telling.",
        "reflection_applied": "Coaching conversations in one-to-ones.",
        "reflection_impact": "Two team leads now run their own rota reviews.",
        "link": "",
    }
    data.update(overrides)
    return data


def text_of(response) -> str:
    """The page's visible words on one line, for asserting on sentences."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def error_summary(response) -> str:
    match = re.search(
        r'<div class="nhsuk-error-summary".*?</ul>', response.content.decode(), flags=re.S
    )
    assert match, "no error summary on the page"
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", match.group(0))))


def stored_files() -> list[str]:
    storage = Evidence.file.field.storage
    found = []
    for folder in storage.listdir("")[0]:
        found += [f"{folder}/{name}" for name in storage.listdir(folder)[1]]
    return found


# --- Access -------------------------------------------------------------------------------


def test_cpd_pages_need_a_sign_in_and_a_membership(client, member, standards):
    entry = log(member, files=[SimpleUploadedFile("notes.txt", b"Notes")])
    evidence = entry.evidence.get()
    urls = [
        reverse("cpd:log"),
        reverse("cpd:entry_add"),
        reverse("cpd:entry_edit", args=[entry.public_id]),
        reverse("cpd:entry_delete", args=[entry.public_id]),
        reverse("cpd:evidence", args=[evidence.public_id]),
        reverse("cpd:progress"),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("account_login"))

    client.force_login(UserFactory())
    for url in urls:
        assert client.get(url).url == reverse("membership_join")


def test_another_members_entries_and_evidence_are_not_found(client, member, standards):
    entry = log(member, files=[SimpleUploadedFile("certificate.pdf", PDF)])
    evidence = entry.evidence.get()
    client.force_login(make_member().user)

    assert client.get(reverse("cpd:entry_edit", args=[entry.public_id])).status_code == 404
    assert (
        client.post(
            reverse("cpd:entry_edit", args=[entry.public_id]), form_data(title="Mine now")
        ).status_code
        == 404
    )
    assert client.get(reverse("cpd:entry_delete", args=[entry.public_id])).status_code == 404
    assert client.post(reverse("cpd:entry_delete", args=[entry.public_id])).status_code == 404
    assert client.get(reverse("cpd:evidence", args=[evidence.public_id])).status_code == 404
    entry.refresh_from_db()
    assert entry.title == "Budget setting workshop" and entry.evidence.count() == 1
    assert entry.title not in client.get(reverse("cpd:log") + "?year=all").content.decode()


def test_the_header_links_to_the_cpd_log(member_client):
    page = member_client.get(reverse("cpd:progress")).content.decode()
    assert re.search(
        rf'<a class="nhsuk-header__navigation-link" href="{reverse("cpd:log")}" '
        r'aria-current="true">CPD</a>',
        page,
    )


# --- The log --------------------------------------------------------------------------------


def test_the_log_shows_entries_with_their_details(member_client, member, standards):
    log(
        member,
        standards=[standards["D2.1"], standards["D1.2"]],
        files=[SimpleUploadedFile("a.pdf", PDF), SimpleUploadedFile("b.txt", b"notes")],
    )
    log(
        member,
        title="Reading: The Fearless Organization",
        starts_on=dt.date(2026, 8, 1),
        ends_on=dt.date(2026, 8, 20),
        hours="1.75",
        activity_type="self_directed",
        participatory=False,
        provider="",
    )
    log(
        member,
        title="Last year's course",
        starts_on=dt.date(2026, 3, 2),
        ends_on=dt.date(2026, 3, 2),
    )

    response = member_client.get(reverse("cpd:log"))
    page = text_of(response)
    assert "2 entries, 5.25 hours in 2026/27." in page
    # Newest first, this CPD year only.
    assert page.index("Reading: The Fearless Organization") < page.index("Budget setting workshop")
    assert "Last year's course" not in page
    assert "1 Aug 2026 to 20 Aug 2026 1.75 Self-directed learning" in page
    assert (
        "Budget setting workshop (change) Northshire ICB finance team 1 May 2026 3.5 "
        "Formal learning With others D1.2, D2.1 2 files" in page
    )
    assert "See your progress in 2026/27" in page

    page = text_of(member_client.get(reverse("cpd:log") + "?year=2025"))
    assert "1 entry, 3.5 hours in 2025/26." in page and "Last year's course" in page
    page = text_of(member_client.get(reverse("cpd:log") + "?year=all"))
    assert "3 entries, 8.75 hours." in page


def test_the_log_filters_and_sorts(member_client, member, standards):
    log(member, title="Rota planning masterclass", hours="2", standards=[standards["D2.2"]])
    log(member, title="Inclusive recruitment", hours="6", standards=[standards["D1.1"]])
    log(
        member,
        title="Action learning set",
        hours="1",
        activity_type="work_based",
        reflection_learned="Better rota handovers",
    )

    def titles(query: str) -> list[str]:
        page = member_client.get(reverse("cpd:log") + query).content.decode()
        return re.findall(r'<a href="/cpd/[0-9a-f-]+/edit/">([^<]+)<span', page)

    assert titles("?standard=D2.2") == ["Rota planning masterclass"]
    assert titles("?activity_type=work_based") == ["Action learning set"]
    # Text search covers titles and reflections, whatever the case.
    assert titles("?q=PLANNING") == ["Rota planning masterclass"]
    assert titles("?q=handovers") == ["Action learning set"]
    assert titles("?sort=hours") == [
        "Inclusive recruitment",
        "Rota planning masterclass",
        "Action learning set",
    ]
    assert titles("?sort=title") == sorted(titles("?sort=title"))
    page = text_of(member_client.get(reverse("cpd:log") + "?q=nothing-like-this"))
    assert "No entries match your filters in 2026/27." in page
    # Unknown values in the address are ignored rather than an error.
    assert len(titles("?year=1066&sort=sideways&standard=Z9&activity_type=juggling")) == 3


def test_the_log_filter_form_shows_what_is_in_effect(member_client, member, standards):
    page = member_client.get(reverse("cpd:log") + "?standard=D1.2&sort=oldest").content.decode()
    assert '<option value="2026" selected>2026/27</option>' in page
    assert '<option value="all">All years</option>' in page
    assert '<optgroup label="Leading people and teams">' in page
    assert '<option value="D1.2" selected>D1.2 Developing people</option>' in page
    assert '<option value="oldest" selected>Oldest first</option>' in page


def test_the_log_is_paginated(member_client, member):
    Entry.objects.bulk_create(
        Entry(
            member=member,
            title=f"Entry {i:02}",
            starts_on=dt.date(2026, 6, 1),
            ends_on=dt.date(2026, 6, 1),
            minutes=60,
            activity_type="formal",
            participatory=True,
        )
        for i in range(45)
    )
    page = member_client.get(reverse("cpd:log") + "?sort=title&page=2").content.decode()
    assert "Showing 21 to 40." in text_of(member_client.get(reverse("cpd:log") + "?page=2"))
    assert "Entry 20" in page and "Entry 19" not in page and "Entry 40" not in page
    assert 'class="nhsuk-pagination nhsuk-pagination--numbered"' in page
    assert 'href="?sort=title&amp;page=3" class="nhsuk-pagination__next"' in page
    assert 'aria-label="Page 2" aria-current="page"' in page


def bulk_entries(member, standards, n: int) -> None:
    entries = Entry.objects.bulk_create(
        Entry(
            member=member,
            title=f"Entry {i}",
            starts_on=dt.date(2026, 4, 1) + dt.timedelta(days=i % 200),
            ends_on=dt.date(2026, 4, 1) + dt.timedelta(days=i % 200),
            minutes=60 + 15 * (i % 4),
            activity_type="formal",
            participatory=bool(i % 2),
            reflection_learned="a",
            reflection_applied="b",
            reflection_impact="c",
        )
        for i in range(n)
    )
    through = Entry.standards.through
    through.objects.bulk_create(
        through(entry=entry, standard=standard)
        for entry in entries
        for standard in (standards["D1.1"], standards["D3.2"])
    )
    Evidence.objects.bulk_create(
        Evidence(
            entry=entry,
            file=f"{member.public_id}/{i}",
            original_name="notes.txt",
            content_type="text/plain",
            size=5,
        )
        for i, entry in enumerate(entries)
    )


@pytest.mark.parametrize("url_name", ["cpd:log", "cpd:progress"])
def test_the_log_and_progress_take_the_same_queries_for_5_and_500_entries(
    client, standards, django_assert_max_num_queries, url_name
):
    # The log: session, user, member, first entry (for the years), the framework, its
    # domains and standards (for the filter), the count and hours, one page of
    # entries, their standards and evidence, and the years whose return is submitted
    # (their entries show as locked). Progress: session, user, member, first entry,
    # status history, entries, their standards and the crosswalk, frameworks,
    # domains, standards.
    expected = {"cpd:log": 12, "cpd:progress": 11}[url_name]
    counts = []
    for n in (5, 500):
        member = make_member()
        bulk_entries(member, standards, n)
        client.force_login(member.user)
        with django_assert_max_num_queries(expected) as queries:
            response = client.get(reverse(url_name))
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    page = text_of(response)
    if url_name == "cpd:log":
        assert "500 entries" in page and "Showing 1 to 20." in page
    else:
        assert "Hours of CPD 687.5 30 Met" in page  # 500 entries of 1 to 1.75 hours


# --- Adding ---------------------------------------------------------------------------------


def test_the_entry_form(member_client, standards):
    response = member_client.get(reverse("cpd:entry_add"))
    page = response.content.decode()
    assert 'enctype="multipart/form-data"' in page
    assert re.search(r'<input type="text" name="hours"[^>]*inputmode="decimal"', page)
    assert 'name="starts_on_day"' in page and 'name="ends_on_year"' in page
    assert re.search(
        r'<input class="nhsuk-file-upload__input" id="id_files" name="files" type="file" multiple',
        page,
    )
    assert 'class="nhsuk-form-group nhsuk-file-upload"' in page
    assert "Never upload patient-identifiable information" in page
    # The picker: a collapsed <details> per domain, each standard a checkbox.
    assert page.count("data-standards-domain>") == 3
    assert re.search(
        r'<input type="checkbox" name="standards" value="\d+" id="id_standards_0" '
        r'class="nhsuk-checkboxes__input">\s*<label class="nhsuk-label nhsuk-checkboxes__label" '
        r'for="id_standards_0">D1.1 Building inclusive teams</label>',
        page,
    )
    # The search box only appears with the script, which is a static file (the CSP
    # allows no inline script without the nonce).
    assert "data-standards-search hidden" in page
    assert '<script type="module" src="/static/cpd/standards-search.js"></script>' in page
    assert "Did you learn with other people?" in page and "action learning set" in page
    for question in ("What did you learn?", "How have you applied it?", "What difference"):
        assert question in page


def test_add_an_entry_with_evidence_and_standards(
    member_client, member, standards, django_capture_on_commit_callbacks
):
    files = [
        SimpleUploadedFile("certificate.pdf", PDF, content_type="application/pdf"),
        SimpleUploadedFile("whiteboard.png", png(), content_type="image/png"),
    ]
    response = member_client.post(
        reverse("cpd:entry_add"),
        form_data(
            standards=[standards["D1.2"].pk, standards["D3.1"].pk],
            files=files,
            link="www.example.org/coaching",
        ),
    )
    assert response.status_code == 302
    assert response.url == reverse("cpd:log") + "?year=2026"
    entry = Entry.objects.get()
    assert (entry.member, entry.title, entry.minutes) == (
        member,
        "Coaching for service managers",
        450,
    )
    assert (entry.starts_on, entry.ends_on) == (dt.date(2026, 6, 3), dt.date(2026, 6, 4))
    assert entry.participatory and entry.has_reflection
    assert entry.link == "https://www.example.org/coaching"
    assert sorted(entry.standards.values_list("code", flat=True)) == ["D1.2", "D3.1"]
    evidence = list(entry.evidence.order_by("original_name"))
    assert [(e.original_name, e.content_type) for e in evidence] == [
        ("certificate.pdf", "application/pdf"),
        ("whiteboard.png", "image/png"),
    ]
    assert evidence[0].file.read() == PDF
    assert AuditEvent.objects.get(action=Action.CPD_ENTRY_CREATED).actor == member.user

    page = text_of(member_client.get(response.url))
    assert "“Coaching for service managers” is in your CPD log." in page
    assert "Coaching for service managers (change)" in page


def test_a_refused_file_re_renders_the_form_and_saves_nothing(member_client, standards):
    before = stored_files()
    response = member_client.post(
        reverse("cpd:entry_add"),
        form_data(
            standards=[standards["D2.1"].pk],
            files=[
                SimpleUploadedFile("notes.txt", b"Fine notes"),
                SimpleUploadedFile("photo.png", png(b"<script>alert(1)</script>")),
            ],
        ),
    )
    assert response.status_code == 200
    assert "photo.png: The picture contains web page code" in error_summary(response)
    assert "Choose your evidence files again" in error_summary(response)
    page = response.content.decode()
    assert "<title>Error: Add CPD" in page
    assert "Choose your files again (notes.txt, photo.png)" in text_of(response)
    # Everything typed is kept, including the standard ticked (its domain open).
    assert 'value="Coaching for service managers"' in page
    assert "Two team leads now run their own rota reviews.</textarea>" in page
    assert re.search(rf'value="{standards["D2.1"].pk}"[^>]*checked', page)
    assert re.search(
        r"<details[^>]*data-standards-domain open>\s*<summary[^>]*>\s*<span[^>]*>D2 ", page
    )
    assert not Entry.objects.exists() and not Evidence.objects.exists()
    assert stored_files() == before


@pytest.mark.parametrize(
    ("overrides", "message", "anchor"),
    [
        ({"title": "", "hours": ""}, "Enter a title for the activity", "#id_title"),
        ({"hours": "1.3"}, "Enter hours in quarter-hour steps", "#id_hours"),
        ({"hours": "two"}, "Enter the hours as a number", "#id_hours"),
        ({"starts_on_day": "31", "starts_on_month": "2"}, "Enter a real date", "#id_starts_on_0"),
        ({"participatory": ""}, "Say whether you learned with other people", "#id_participatory_0"),
        ({"link": "not a link"}, "Enter a web address", "#id_link"),
    ],
)
def test_form_errors_are_linked_from_the_summary(member_client, overrides, message, anchor):
    response = member_client.post(reverse("cpd:entry_add"), form_data(**overrides))
    assert response.status_code == 200
    assert message in error_summary(response)
    assert f'href="{anchor}"' in response.content.decode()
    assert not Entry.objects.exists()


def test_a_refusal_from_the_log_is_shown_in_the_summary(member_client):
    response = member_client.post(
        reverse("cpd:entry_add"), form_data(ends_on_day="17", ends_on_month="11")
    )
    assert "the end date cannot be in the future" in error_summary(response)
    response = member_client.post(
        reverse("cpd:entry_add"), form_data(ends_on_day="2", starts_on_day="3")
    )
    assert "The end date must be the same as or after the start date" in error_summary(response)
    assert not Entry.objects.exists()


# --- Changing and deleting ------------------------------------------------------------------


def test_edit_shows_the_entry_and_its_evidence(member_client, member, standards):
    entry = log(
        member,
        standards=[standards["D2.1"]],
        hours="1.75",
        files=[SimpleUploadedFile("budget.pdf", PDF)],
    )
    evidence = entry.evidence.get()
    page = member_client.get(reverse("cpd:entry_edit", args=[entry.public_id])).content.decode()
    assert "Change “Budget setting workshop”" in page
    assert 'name="hours" value="1.75"' in page
    assert 'name="starts_on_day" type="text" inputmode="numeric" value="1"' in page
    assert re.search(r'value="yes"[^>]*checked', page)
    assert re.search(rf'value="{standards["D2.1"].pk}"[^>]*checked', page)
    assert re.search(
        rf'<input type="checkbox" name="remove_evidence" value="{evidence.public_id}"', page
    )
    assert "Remove budget.pdf" in page
    assert f'href="{reverse("cpd:evidence", args=[evidence.public_id])}" download' in page
    assert f'href="{reverse("cpd:entry_delete", args=[entry.public_id])}"' in page


def test_edit_changes_fields_adds_and_removes_evidence(
    member_client, member, standards, django_capture_on_commit_callbacks
):
    entry = log(
        member,
        standards=[standards["D2.1"]],
        files=[SimpleUploadedFile("old.pdf", PDF), SimpleUploadedFile("keep.txt", b"keep")],
    )
    old = entry.evidence.get(original_name="old.pdf")
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(
            reverse("cpd:entry_edit", args=[entry.public_id]),
            form_data(
                title="Budget setting, day 2",
                hours="4",
                standards=[standards["D2.2"].pk],
                remove_evidence=[str(old.public_id)],
                files=[SimpleUploadedFile("new.png", png())],
                starts_on_day="1",
                starts_on_month="5",
                ends_on_day="1",
                ends_on_month="5",
            ),
        )
    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.title, entry.minutes) == ("Budget setting, day 2", 240)
    assert list(entry.standards.values_list("code", flat=True)) == ["D2.2"]
    assert sorted(entry.evidence.values_list("original_name", flat=True)) == ["keep.txt", "new.png"]
    assert not Evidence.file.field.storage.exists(old.file.name)
    event = AuditEvent.objects.get(action=Action.CPD_ENTRY_UPDATED)
    assert event.after["evidence_removed"] == ["old.pdf"]
    assert event.after["evidence_added"] == ["new.png"]
    assert "Your changes to “Budget setting, day 2” are saved." in text_of(
        member_client.get(response.url)
    )


def test_a_refused_edit_changes_nothing(member_client, member, standards):
    entry = log(member, files=[SimpleUploadedFile("old.pdf", PDF)])
    old = entry.evidence.get()
    response = member_client.post(
        reverse("cpd:entry_edit", args=[entry.public_id]),
        form_data(
            title="Changed",
            remove_evidence=[str(old.public_id)],
            files=[SimpleUploadedFile("tool.pdf", b"MZ\x90\x00" + b"\0" * 100)],
        ),
    )
    assert response.status_code == 200
    assert "tool.pdf: Programs cannot be uploaded as evidence." in error_summary(response)
    entry.refresh_from_db()
    assert entry.title == "Budget setting workshop" and list(entry.evidence.all()) == [old]
    # The tick to remove the old file is kept on the page.
    assert re.search(rf'value="{old.public_id}"[^>]*checked', response.content.decode())


def test_an_entry_mapped_to_an_earlier_version_keeps_its_standard(member_client, member, standards):
    entry = log(member, standards=[standards["D1.1"]])
    Framework.objects.filter(key="test-standards").update(status=Framework.Status.RETIRED)
    new = Framework.objects.create(
        key="test-standards",
        name="Standards v2",
        short_name="Our standards",
        version=2,
        status="current",
        is_primary=True,
    )
    domain = Domain.objects.create(framework=new, code="D1", title="Leading people")
    reworded = Standard.objects.create(
        framework=new, domain=domain, code="D1.1", title="Leading inclusive teams"
    )

    page = member_client.get(reverse("cpd:entry_edit", args=[entry.public_id])).content.decode()
    assert "D1 Leading people and teams (an earlier version of the standards)" in page
    assert re.search(rf'value="{standards["D1.1"].pk}"[^>]*checked', page)
    assert f'value="{reworded.pk}"' in page

    response = member_client.post(
        reverse("cpd:entry_edit", args=[entry.public_id]),
        form_data(title="Renamed", standards=[standards["D1.1"].pk, reworded.pk]),
    )
    assert response.status_code == 302
    assert sorted(entry.standards.values_list("framework__version", flat=True)) == [1, 2]


def test_delete_asks_first_and_deletes_only_on_post(
    member_client, member, standards, django_capture_on_commit_callbacks
):
    entry = log(member, files=[SimpleUploadedFile("notes.txt", b"notes")])
    name = entry.evidence.get().file.name
    url = reverse("cpd:entry_delete", args=[entry.public_id])

    page = text_of(member_client.get(url))
    assert "Are you sure you want to delete “Budget setting workshop”?" in page
    assert "notes.txt" in page and "This cannot be undone" in page
    assert Entry.objects.filter(pk=entry.pk).exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(url)
    assert response.status_code == 302 and response.url == reverse("cpd:log") + "?year=2026"
    assert not Entry.objects.exists() and not Evidence.file.field.storage.exists(name)
    assert AuditEvent.objects.filter(action=Action.CPD_ENTRY_DELETED).count() == 1
    assert "“Budget setting workshop” is deleted from your CPD log." in text_of(
        member_client.get(response.url)
    )
    assert member_client.put(url).status_code in (404, 405)


# --- Evidence -------------------------------------------------------------------------------


def test_evidence_downloads_only_as_an_attachment(member_client, member, standards):
    entry = log(member, files=[SimpleUploadedFile("Certificate – café.pdf", PDF)])
    evidence = entry.evidence.get()
    response = member_client.get(reverse("cpd:evidence", args=[evidence.public_id]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=utf-8''Certificate%20%E2%80%93%20caf%C3%A9.pdf" in disposition
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("sandbox")
    assert "no-store" in response["Cache-Control"]


def test_evidence_missing_from_storage_is_not_found(member_client, member, standards):
    entry = log(member, files=[SimpleUploadedFile("notes.txt", b"notes")])
    evidence = entry.evidence.get()
    evidence.file.storage.delete(evidence.file.name)
    assert member_client.get(reverse("cpd:evidence", args=[evidence.public_id])).status_code == 404


def test_evidence_is_not_served_from_its_storage_path(member_client, member, standards, settings):
    entry = log(member, files=[SimpleUploadedFile("notes.txt", b"private notes")])
    name = entry.evidence.get().file.name
    for path in (
        f"/{settings.MEDIA_URL}{name}",
        f"/media/{name}",
        f"/var/evidence/{name}",
        f"/evidence/{name}",
        f"/static/{name}",
        f"/{name}",
    ):
        response = member_client.get(path)
        assert response.status_code == 404, path
        assert b"private notes" not in response.content


# --- Progress -------------------------------------------------------------------------------


def test_progress_against_the_requirement(member_client, member, standards):
    log(member, standards=[standards["D1.1"], standards["D2.1"]], hours="6")
    log(
        member,
        title="Reading on improvement",
        standards=[standards["D3.1"]],
        hours="2.25",
        participatory=False,
        reflection_impact="",
        starts_on=dt.date(2026, 8, 1),
        ends_on=dt.date(2026, 8, 1),
    )
    response = member_client.get(reverse("cpd:progress"))
    page = text_of(response)
    html = response.content.decode()
    assert "Your CPD progress in 2026/27" in page
    assert (
        "You have logged 8.25 hours of the 30 hours you need for 2026/27, from 2 entries." in page
    )
    assert "Hours of CPD 8.25 30 Not met yet" in page
    assert "Hours learning with other people 6 15 Not met yet" in page
    assert "Reflections (entries with all three questions answered) 1 3 Not met yet" in page
    assert "Domains of our standards worked on 3 3 Met" in page
    assert "pro-rated" not in page
    # Nothing logged from 2 May to 31 July, nor since 2 August (up to today).
    assert "No CPD from 2 May 2026 to 31 July 2026." in page
    assert "No CPD from 2 August 2026 to today, 16 November 2026." in page
    assert "No CPD from 1 April" not in page
    # Untouched standards.
    assert "3 of our standards have no CPD mapped to them this year." in page
    assert re.search(r"<li><strong>D1.2</strong> Developing people</li>", html)
    assert "<strong>D1.1</strong>" not in html


def test_progress_charts_each_framework_with_a_table(member_client, member, standards):
    log(member, standards=[standards["D1.1"], standards["D2.1"]], hours="6")
    log(member, standards=[standards["D3.1"]], hours="2.25")
    response = member_client.get(reverse("cpd:progress"))
    html = response.content.decode()
    page = text_of(response)
    tabs = re.findall(r'<a class="nhsuk-tabs__tab" href="#framework-([\w-]+)">([^<]+)</a>', html)
    assert tabs == [
        ("test-standards", "Our standards"),
        ("test-board", "Board competency framework"),
        ("test-hlm", "Healthcare Leadership Model"),
    ]
    charts = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    assert len(charts) == 3
    ours = charts[0]
    assert 'role="img"' in ours and 'aria-labelledby="chart-1-title chart-1-desc"' in ours
    assert (
        '<title id="chart-1-title">Hours of CPD by domain of the Standards for health service '
        "managers, 2026/27</title>" in ours
    )
    assert (
        '<desc id="chart-1-desc">D1 Leading people and teams: 6 hours. D2 Finance and '
        "resources: 6 hours. D3 Quality and improvement: 2.25 hours.</desc>" in ours
    )
    # Bars are scaled to the longest and labelled in text, not by colour alone.
    assert re.findall(r'<rect x="0" y="\d+" width="(\d+)"', ours) == ["440", "440", "165"]
    assert ours.count(">6 hours</text>") == 2 and ">2.25 hours</text>" in ours
    # The crosswalk: D2 and D3 count towards the board domain, once per entry.
    assert "LCF1 Driving high-quality and sustainable outcomes 8.25 2" in page
    assert "HLM1 Sharing the vision 2.25 1" in page and "HLM2 Engaging the team 6 1" in page
    assert "D1 Leading people and teams 6 1 D2 Finance and resources 6 1" in page


def test_progress_explains_a_pro_rated_requirement(client, standards):
    joiner = make_member(active_from=dt.date(2026, 7, 1))
    client.force_login(joiner.user)
    page = text_of(client.get(reverse("cpd:progress")))
    # 1 July to 31 March is 274 of 365 days: 22.52 hours, up to the next quarter hour.
    assert (
        "Your requirement is pro-rated. In 2026/27 you joined in July 2026, so your requirement "
        "is 22.75 hours rather than the 30 hours of a full year." in page
    )
    assert "Hours of CPD 0 22.75 Not met yet" in page

    StatusEvent.objects.create(
        member=joiner,
        to_status=Status.PAUSED,
        effective_date=dt.date(2026, 10, 1),
        source="member",
    )
    page = text_of(client.get(reverse("cpd:progress")))
    assert (
        "In 2026/27 you joined in July 2026 and your membership was paused for 182 days, so" in page
    )


def test_progress_for_an_earlier_year(member_client, member, standards):
    log(member, hours="30", starts_on=dt.date(2025, 5, 1), ends_on=dt.date(2025, 5, 5))
    page = text_of(member_client.get(reverse("cpd:progress") + "?year=2025"))
    assert "Your CPD progress in 2025/26" in page
    assert "Hours of CPD 30 30 Met" in page
    assert "Reflections (entries with all three questions answered) 1 3 Not met" in page
    assert "Not met yet" not in page
    # An unknown year shows the current one.
    assert "Your CPD progress in 2026/27" in text_of(
        member_client.get(reverse("cpd:progress") + "?year=1999")
    )


def test_progress_for_an_applicant_owes_nothing_yet(client, standards):
    applicant = MemberFactory()
    client.force_login(applicant.user)
    page = text_of(client.get(reverse("cpd:progress")))
    assert "You owe no CPD for 2026/27" in page


def test_long_domain_names_wrap_in_the_chart(member_client, member, standards):
    Domain.objects.filter(code="LCF1").update(
        title="Promoting equality and inclusion, and reducing health and workforce inequalities"
    )
    log(member, standards=[standards["D2.1"]], hours="2")
    html = member_client.get(reverse("cpd:progress")).content.decode()
    board = re.findall(r"<svg .*?</svg>", html, flags=re.S)[1]
    assert re.findall(r'<tspan x="0" y="(\d+)">([^<]+)</tspan>', board) == [
        ("16", "LCF1 Promoting equality and inclusion, and reducing"),
        ("37", "health and workforce inequalities"),
    ]
    assert 'viewBox="0 0 560 72"' in board and '<rect x="0" y="48" width="440"' in board
    assert (
        "LCF1 Promoting equality and inclusion, and reducing health and workforce inequalities: "
        "2 hours.</desc>" in board
    )
