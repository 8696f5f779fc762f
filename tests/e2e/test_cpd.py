"""The CPD log in a real browser: a member logs an entry with a file and a
standard, then sees their progress change, with axe on every page visited.

Elements are found by label, role and accessible name.
"""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cpd.models import Entry
from cpd.selectors import cpd_year_containing
from tests.cpd.test_pages import PDF, make_frameworks, make_member
from tests.e2e.conftest import at, heading, main, sign_in

pytestmark = pytest.mark.browser

TITLE = "Rota and budget planning workshop"


@pytest.fixture
def standards(transactional_db):
    return make_frameworks()


@pytest.fixture
def member(transactional_db):
    return make_member()


def fill_date(page, legend, day):
    group = main(page).get_by_role("group", name=legend, exact=True)
    group.get_by_label("Day", exact=True).fill(str(day.day))
    group.get_by_label("Month", exact=True).fill(str(day.month))
    group.get_by_label("Year", exact=True).fill(str(day.year))


def requirement_row(page, name):
    table = main(page).get_by_role("table", name=re.compile("^Your CPD requirement"))
    return table.get_by_role("row", name=re.compile(rf"^{re.escape(name)}"))


def test_log_an_entry_with_evidence_and_see_progress_change(page, axe, member, standards, tmp_path):
    today = timezone.localdate()
    year = cpd_year_containing(today)

    sign_in(page, axe, member.user.email)
    expect(page).to_have_url(at("dashboard"))
    axe(page)

    # The header leads to the log, and the log to progress.
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="CPD").click()
    expect(page).to_have_url(at("cpd:log", exact=False))
    expect(heading(page)).to_have_text("Your CPD log")
    expect(main(page).get_by_role("status")).to_contain_text("You have not logged any CPD")
    axe(page)

    main(page).get_by_role("link", name=re.compile("^See your progress")).click()
    expect(page).to_have_url(at("cpd:progress", exact=False))
    axe(page)
    expect(requirement_row(page, "Hours of CPD")).to_contain_text("Not met yet")
    expect(requirement_row(page, "Hours of CPD").get_by_role("cell").first).to_have_text("0")
    budgets_chart = main(page).get_by_role(
        "img", name=re.compile("^Hours of CPD by domain of the Standards")
    )
    expect(budgets_chart).to_contain_text("D2 Finance and resources")
    expect(budgets_chart.locator("g", has_text="D2 Finance and resources")).to_contain_text(
        "0 hours"
    )

    # Add an entry: dates, hours, type, reflection, a standard found by searching, a file.
    main(page).get_by_role("link", name="Add CPD").click()
    expect(page).to_have_url(at("cpd:entry_add"))
    axe(page)
    form = main(page)
    form.get_by_label("Title").fill(TITLE)
    fill_date(page, "Start date", today)
    fill_date(page, "End date", today)
    form.get_by_label("Hours", exact=True).fill("3.5")
    form.get_by_role("group", name="Type of activity").get_by_label("Formal learning").check()
    form.get_by_role("group", name="Did you learn with other people?").get_by_label(
        "Yes", exact=True
    ).check()
    form.get_by_label("What did you learn?").fill("Building a rota from demand, not habit.")
    form.get_by_label("How have you applied it?").fill("Rebuilt the outpatients rota.")
    form.get_by_label(re.compile("^What difference did it make")).fill("Fewer agency shifts.")

    # The search box comes with the script; it hides the standards that do not match.
    search = form.get_by_label("Find a standard")
    expect(search).to_be_visible()
    search.fill("budget")
    expect(form.get_by_role("status").filter(has_text="match")).to_have_text("1 standard match.")
    budgets = form.get_by_label("D2.1 Setting and managing budgets")
    expect(budgets).to_be_visible()
    expect(form.get_by_label("D1.1 Building inclusive teams")).to_be_hidden()
    budgets.check()
    search.fill("")
    expect(form.get_by_label("D1.1 Building inclusive teams")).to_be_attached()
    axe(page)

    certificate = tmp_path / "certificate.pdf"
    certificate.write_bytes(PDF)
    form.locator("input[type=file][name=files]").set_input_files(str(certificate))
    form.get_by_role("button", name="Save entry").click()

    # Back on the log for the year, with the entry and its evidence.
    expect(page).to_have_url(at("cpd:log", exact=False))
    axe(page)
    expect(main(page).get_by_role("region", name="Success")).to_contain_text(
        f"“{TITLE}” is in your CPD log."
    )
    row = main(page).get_by_role("row", name=re.compile(re.escape(TITLE)))
    expect(row).to_contain_text("3.5")
    expect(row).to_contain_text("D2.1")
    expect(row.get_by_role("cell").last).to_have_text(re.compile(r"^\s*1\s*file\s*$"))
    entry = Entry.objects.get(member=member)
    assert list(entry.standards.values_list("code", flat=True)) == ["D2.1"]
    assert entry.evidence.get().original_name == "certificate.pdf"

    # The edit page offers the evidence back, as a download.
    row.get_by_role("link", name=re.compile(re.escape(TITLE))).click()
    expect(page).to_have_url(at("cpd:entry_edit", public_id=entry.public_id))
    axe(page)
    download = main(page).get_by_role("link", name="Download certificate.pdf")
    response = page.request.get(download.get_attribute("href"))
    assert response.ok and response.body() == PDF
    assert response.headers["content-disposition"].startswith("attachment")
    main(page).get_by_role("link", name="Cancel and go back to your CPD log").click()
    axe(page)

    # Progress has moved: hours, and the finance domain's bar, in each framework.
    main(page).get_by_role("link", name=f"See your progress in {year.label}").click()
    expect(page).to_have_url(at("cpd:progress", exact=False))
    axe(page)
    expect(requirement_row(page, "Hours of CPD").get_by_role("cell").first).to_have_text("3.5")
    expect(requirement_row(page, "Reflections")).to_contain_text("1")
    chart = main(page).get_by_role(
        "img", name=re.compile("^Hours of CPD by domain of the Standards")
    )
    expect(chart.locator("g", has_text="D2 Finance and resources")).to_contain_text("3.5 hours")
    expect(
        chart.locator("g", has_text="D2 Finance and resources").locator("rect")
    ).to_have_attribute("width", "440")
    expect(chart.locator("g", has_text="D1 Leading people and teams")).to_contain_text("0 hours")
    # Through the crosswalk, the board framework's outcomes domain counts it too.
    main(page).get_by_role("tab", name="Board competency framework").click()
    board = main(page).get_by_role(
        "img", name=re.compile("^Hours of CPD by domain of the Leadership")
    )
    expect(board).to_be_visible()
    expect(board.locator("g", has_text="LCF1")).to_contain_text("3.5 hours")
    axe(page)
    assert not axe.unchecked_pages()
