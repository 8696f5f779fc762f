"""CSV export and import of the CPD log, and the PDF portfolio."""

import datetime as dt
import io
import re
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pypdf import PdfReader

from audit.models import Action, AuditEvent
from cpd import services
from cpd.models import Entry
from members import services as member_services
from tests.cpd.test_pages import make_frameworks, make_member

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 16)


@pytest.fixture(autouse=True)
def today():
    with mock.patch.object(member_services, "local_today", return_value=TODAY):
        yield


@pytest.fixture
def standards():
    return make_frameworks()


@pytest.fixture
def member(standards):
    member = make_member()
    services.cpd_entry_create(
        member=member,
        actor=member.user,
        title='Finance, "budgets" and rotas',
        starts_on=dt.date(2026, 5, 1),
        ends_on=dt.date(2026, 5, 3),
        hours="7.75",
        activity_type="formal",
        participatory=True,
        provider="=HYPERLINK(evil)",
        reflection_learned="Line one\nLine two",
        reflection_applied="Applied",
        reflection_impact="Impact",
        link="https://www.example.org/course",
        standards=[standards["D2.1"], standards["D1.1"]],
    )
    services.cpd_entry_create(
        member=member,
        actor=member.user,
        title="Reading on quality improvement",
        starts_on=dt.date(2025, 9, 1),
        ends_on=dt.date(2025, 9, 1),
        hours="0.25",
        activity_type="self_directed",
        participatory=False,
    )
    return member


@pytest.fixture
def member_client(client, member):
    client.force_login(member.user)
    return client


def export(client) -> bytes:
    response = client.get(reverse("cpd:export_csv"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return b"".join(response.streaming_content)


def upload(client, data: bytes):
    return client.post(
        reverse("cpd:import_preview"),
        {"file": SimpleUploadedFile("cpd.csv", data, content_type="text/csv")},
    )


def test_the_export_has_every_field_with_codes_iso_dates_and_decimal_hours(member_client):
    text = export(member_client).decode()
    lines = text.splitlines()
    assert lines[0] == (
        "title,starts_on,ends_on,hours,activity_type,participatory,provider,"
        "reflection_learned,reflection_applied,reflection_impact,link,standards"
    )
    assert (
        lines[1]
        == "Reading on quality improvement,2025-09-01,2025-09-01,0.25,self_directed,no,,,,,,"
    )
    assert '"Finance, ""budgets"" and rotas",2026-05-01,2026-05-03,7.75,formal,yes,' in text
    assert "'=HYPERLINK(evil)" in text  # not a formula when opened in a spreadsheet
    assert text.rstrip().endswith("https://www.example.org/course,D1.1;D2.1")


def test_export_delete_import_export_round_trips_exactly(member_client, member):
    before = export(member_client)
    for entry in Entry.objects.filter(member=member):
        services.cpd_entry_delete(entry=entry, actor=member.user)

    preview = upload(member_client, before)
    assert preview.status_code == 200
    assert "2 entries" in preview.text and not Entry.objects.filter(member=member).exists()
    payload = re.search(r'name="payload" value="([^"]+)"', preview.text).group(1)
    response = member_client.post(reverse("cpd:import_confirm"), {"payload": payload})
    assert response.status_code == 302
    assert Entry.objects.filter(member=member).count() == 2
    assert export(member_client) == before
    assert AuditEvent.objects.filter(action=Action.CPD_IMPORTED).count() == 1


def test_bad_rows_are_reported_by_row_and_field_and_nothing_is_saved(member_client, member):
    data = (
        b"title,starts_on,ends_on,hours,activity_type,participatory,provider,"
        b"reflection_learned,reflection_applied,reflection_impact,link,standards\n"
        b"Good row,2026-01-01,2026-01-01,1,formal,yes,,,,,,D1.1\n"
        b"Bad date,2026-13-01,2026-01-01,1,formal,yes,,,,,,\n"
        b"Bad hours,2026-01-01,2026-01-01,1.1,formal,maybe,,,,,,\n"
        b"Bad code,2026-01-01,2026-01-01,1,formal,no,,,,,,D1.1;Z9.9\n"
        b",2027-01-01,2027-01-01,1,dancing,no,,,,,not a link,\n"
    )
    count = Entry.objects.count()
    page = upload(member_client, data).text
    rows = re.findall(r"<td[^>]*>(\d+)</td>\s*<td[^>]*>(\w+)</td>\s*<td[^>]*>([^<]+)</td>", page)
    found = {(int(row), column) for row, column, _ in rows}
    assert found == {
        (3, "starts_on"),
        (4, "hours"),
        (4, "participatory"),
        (5, "standards"),
        (6, "title"),
        (6, "ends_on"),
        (6, "activity_type"),
        (6, "link"),
    }
    assert "Unknown standard code: Z9.9." in page
    assert 'name="payload"' not in page
    assert Entry.objects.count() == count


def test_a_tampered_payload_is_refused(member_client, member):
    preview = upload(member_client, export(member_client)).text
    payload = re.search(r'name="payload" value="([^"]+)"', preview).group(1)
    count = Entry.objects.count()
    member_client.post(reverse("cpd:import_confirm"), {"payload": payload[:-2] + "xx"})
    assert Entry.objects.count() == count


def test_another_members_payload_cannot_be_imported(client, member):
    client.force_login(member.user)
    preview = upload(client, export(client)).text
    payload = re.search(r'name="payload" value="([^"]+)"', preview).group(1)
    other = make_member()
    client.force_login(other.user)
    assert client.post(reverse("cpd:import_confirm"), {"payload": payload}).status_code == 404
    assert not Entry.objects.filter(member=other).exists()


def test_the_pdf_portfolio_is_rendered_by_the_task_and_contains_the_titles(member_client, member):
    with mock.patch("django.db.transaction.on_commit", side_effect=lambda f, **kw: f()):
        response = member_client.post(reverse("cpd:portfolio_start"))
    status_url = response["Location"]
    page = member_client.get(status_url).text
    assert "Your portfolio is ready" in page
    download = member_client.get(f"{status_url}download/")
    assert download.status_code == 200
    pdf = b"".join(download.streaming_content)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    text = " ".join(text.split())
    assert 'Finance, "budgets" and rotas' in text
    assert "Reading on quality improvement" in text
    assert member.user.get_full_name() in text

    # Another member cannot fetch it.
    other = make_member()
    member_client.force_login(other.user)
    assert member_client.get(f"{status_url}download/").status_code == 404


def test_the_waiting_page_refreshes_itself_while_preparing(member_client):
    page = member_client.get(
        reverse("cpd:portfolio", args=["00000000-0000-4000-8000-000000000000"])
    ).text
    assert "Preparing your portfolio" in page
    assert '<meta http-equiv="refresh" content="3">' in page
