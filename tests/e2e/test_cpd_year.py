"""The CPD year in a real browser, with axe on every page visited.

A member submits their annual return (and sees the year's entries locked),
shares the year with an appraiser by link (opened without signing in, then
turned off), adds a development goal, exports their log as CSV and has a bad
CSV's rows reported on import. Then the audit: a registrar draws the year's
sample, an assessor asks for more information, and the member sees the outcome
and responds.

"Today" is pinned through members.services.local_today, which the services and
pages read through the module, so the live server sees it too.
"""

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from cpd import returns
from cpd.models import AnnualReturn, AuditCase, Entry, Goal, ShareLink
from cpd.selectors import cpd_year_starting
from members import services as member_services
from tests.cpd.test_pages import make_frameworks
from tests.cpd.test_returns import log, make_member
from tests.e2e.conftest import (
    AXE_PATH,
    AXE_SOURCE,
    EXPECT_TIMEOUT_MS,
    Axe,
    PageWatch,
    at,
    heading,
    main,
    sign_in,
    sign_in_with_code,
    sign_out,
)
from tests.factories import AssessorFactory, StaffFactory
from tests.totp import enable_totp

pytestmark = pytest.mark.browser

YEAR = cpd_year_starting(2026)  # 1 April 2026 to 31 March 2027; the return is due 30 April
TODAY = dt.date(2027, 4, 10)
FIRST = "Leading change workshop"
SECOND = "Budget setting with the finance team"
EXPLANATION = "I was on long-term sick leave from October."


@pytest.fixture(autouse=True)
def today(monkeypatch):
    monkeypatch.setattr(member_services, "local_today", lambda: TODAY)
    return TODAY


@pytest.fixture
def standards(transactional_db):
    return make_frameworks()


@pytest.fixture
def member(transactional_db, standards):
    """A member since 2020 (so eligible for audit) with two entries in 2026/27,
    well short of the year's 30 hours."""
    member = make_member()
    member.user.given_name, member.user.family_name = "Priya", "Shah"
    member.user.save()
    member.period_ends_on = dt.date(2027, 12, 31)
    member.save()
    log(member, ends_on=dt.date(2026, 6, 1), hours="2", title=FIRST)
    log(
        member,
        ends_on=dt.date(2026, 11, 12),
        hours="3.5",
        title=SECOND,
        standards=[standards["D2.1"]],
    )
    return member


def success(page):
    return main(page).get_by_role("region", name="Success")


def fill_date(page, legend, day):
    group = main(page).get_by_role("group", name=legend, exact=True)
    group.get_by_label("Day", exact=True).fill(str(day.day))
    group.get_by_label("Month", exact=True).fill(str(day.month))
    group.get_by_label("Year", exact=True).fill(str(day.year))


class FreshBrowser:
    """A second browser context with no cookies (the appraiser), watched and
    checked with axe like the test's own page."""

    def __init__(self, chromium, live_server):
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(live_server.url))
        self.watch = PageWatch(origin=origin)
        self.axe = Axe(self.watch)
        self.context = chromium.new_context(base_url=live_server.url, locale="en-GB")
        self.context.set_default_timeout(EXPECT_TIMEOUT_MS)
        self.context.route("**/*", self._route)
        self.context.on("request", self.watch.on_request)
        self.page = self.context.new_page()
        self.page.on("console", self.watch.on_console)
        self.page.on("pageerror", self.watch.on_page_error)
        self.page.on("framenavigated", lambda frame: self.watch.on_navigated(self.page, frame))

    def _route(self, route):
        url = route.request.url
        if "{0.scheme}://{0.netloc}".format(urlsplit(url)) != self.watch.origin:
            route.abort("blockedbyclient")
        elif urlsplit(url).path == AXE_PATH:
            route.fulfill(path=AXE_SOURCE, content_type="text/javascript")
        else:
            route.fallback()

    def close(self):
        self.context.close()


@pytest.fixture
def appraiser(chromium, live_server):
    fresh = FreshBrowser(chromium, live_server)
    yield fresh
    fresh.close()


def test_submit_the_return_share_plan_export_and_import(page, axe, member, appraiser, tmp_path):
    sign_in(page, axe, member.user.email)
    expect(page).to_have_url(at("dashboard"))
    axe(page)

    # --- The annual return: short of the requirement, so it needs an explanation.
    page.goto(reverse("cpd:return_list"))
    axe(page)
    row = main(page).get_by_role("row", name=re.compile(r"^2026\/27"))
    expect(row).to_contain_text("Ready to submit")
    row.get_by_role("link", name="2026/27").click()
    expect(page).to_have_url(at("cpd:return_detail", year=2026))
    expect(heading(page)).to_have_text("Your CPD return for 2026/27")
    axe(page)
    form = main(page)
    form.get_by_label(re.compile("^I declare that the CPD in this return")).check()
    form.get_by_role("button", name="Submit return").click()
    expect(
        form.get_by_text(re.compile("^Explain why you have not met the requirement"))
    ).to_be_visible()
    assert AnnualReturn.objects.filter(member=member, state="submitted").count() == 0
    axe(page)
    form.get_by_label(re.compile("^I declare that the CPD in this return")).check()
    form.get_by_label("Why have you not met the requirement?").fill(EXPLANATION)
    form.get_by_role("button", name="Submit return").click()
    expect(page).to_have_url(at("cpd:return_detail", year=2026))
    expect(success(page)).to_contain_text(
        "Your 2026/27 return is submitted. Its entries are now locked."
    )
    expect(main(page).locator("#submitted")).to_contain_text(EXPLANATION)
    axe(page)

    # --- The year's entries are locked: a tag, and no way to change or delete them.
    page.get_by_role("link", name="Back to your returns").click()
    expect(page).to_have_url(at("cpd:return_list"))
    axe(page)
    page.goto(reverse("cpd:log") + "?year=2026")
    axe(page)
    for title in (FIRST, SECOND):
        entry_row = main(page).get_by_role("row", name=re.compile(re.escape(title)))
        expect(entry_row).to_contain_text("Locked")
    expect(main(page).get_by_role("link", name=re.compile(r"\(change\)$"))).to_have_count(0)
    main(page).get_by_role("link", name=re.compile(re.escape(FIRST))).click()
    expect(page).to_have_url(re.compile(r"/cpd/[0-9a-f-]+/edit/$"))
    expect(heading(page)).to_contain_text("Locked")
    expect(main(page).locator("#locked")).to_contain_text("2026/27 return, which is submitted")
    expect(main(page).get_by_role("button", name=re.compile("^Save"))).to_have_count(0)
    expect(main(page).get_by_role("link", name="Delete this entry")).to_have_count(0)
    axe(page)

    # --- A share link for the year, opened by an appraiser without signing in.
    page.goto(reverse("cpd:sharing"))
    axe(page)
    form = main(page)
    form.get_by_label("Who is it for?").fill("Appraiser, Dr Lee")
    form.get_by_role("group", name="What do you want to share?").get_by_label(
        "The CPD year 2026/27"
    ).check()
    form.get_by_role("group", name="How long should the link work?").get_by_label("30 days").check()
    form.get_by_role("group", name="Include your evidence files?").get_by_label(
        "No", exact=True
    ).check()
    form.get_by_role("button", name="Make a link").click()
    expect(page).to_have_url(at("cpd:sharing"))
    axe(page)
    shared_url = main(page).get_by_label("Link", exact=True).input_value()
    assert "/cpd/shared/" in shared_url

    visitor = appraiser.page
    response = visitor.goto(shared_url)
    assert response.status == 200
    expect(heading(visitor)).to_have_text("Priya Shah")
    expect(main(visitor)).to_contain_text("CPD in the year 2026/27")
    for title in (FIRST, SECOND):
        expect(main(visitor).get_by_role("heading", name=title)).to_be_visible()
    appraiser.axe(visitor)

    # The member sees the view, then turns the link off.
    page.reload()
    card = main(page).locator(".nhsuk-card", has_text="Appraiser, Dr Lee")
    expect(card).to_contain_text("1 time")
    axe(page)
    card.get_by_role("button", name=re.compile("^Turn off this link")).click()
    expect(success(page)).to_contain_text("The link “Appraiser, Dr Lee” no longer works.")
    expect(card).to_contain_text("Turned off")
    axe(page)
    assert ShareLink.objects.get(member=member).revoked_at is not None

    response = visitor.goto(shared_url)
    assert response.status == 410
    # Chromium logs every error status on the console; this one is the point.
    gone = [e for e in appraiser.watch.console_errors if urlsplit(shared_url).path in e]
    assert gone and "status of 410" in gone[0]
    appraiser.watch.console_errors[:] = [e for e in appraiser.watch.console_errors if e not in gone]
    expect(heading(visitor)).to_have_text("This link no longer works")
    expect(main(visitor)).to_contain_text("turned it off")
    appraiser.axe(visitor)
    assert not appraiser.axe.unchecked_pages()
    assert not appraiser.watch.problems(), appraiser.watch.problems()

    # --- A development goal due in a fortnight, shown on the plan and the dashboard.
    page.goto(reverse("cpd:plan"))
    axe(page)
    main(page).get_by_role("link", name="Add a goal").click()
    expect(page).to_have_url(at("cpd:goal_add"))
    axe(page)
    form = main(page)
    form.get_by_label("Goal", exact=True).fill("Lead a budget review")
    fill_date(page, "Target date", TODAY + dt.timedelta(days=14))
    form.get_by_role("group", name="Status").get_by_label("In progress").check()
    form.get_by_role("button", name="Save goal").click()
    goal = Goal.objects.get(member=member)
    expect(page).to_have_url(at("cpd:goal", public_id=goal.public_id))
    expect(success(page)).to_contain_text("“Lead a budget review” is in your development plan.")
    axe(page)
    page.goto(reverse("cpd:plan"))
    expect(main(page).locator("#goals-due")).to_contain_text("Lead a budget review")
    axe(page)
    page.goto(reverse("dashboard"))
    due = main(page).locator("#goals-due")
    expect(due).to_contain_text("Lead a budget review, due 24 April 2027")
    axe(page)
    due.get_by_role("link", name="See your development plan").click()
    expect(page).to_have_url(at("cpd:plan"))
    axe(page)

    # --- Export the log as CSV.
    page.goto(reverse("cpd:export"))
    expect(heading(page)).to_have_text("Export or import your CPD")
    axe(page)
    with page.expect_download() as download_info:
        main(page).get_by_role("link", name="Download your CPD log (CSV)").click()
    download = download_info.value
    assert download.suggested_filename == "cpd-log-2027-04-10.csv"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    exported = path.read_text(encoding="utf-8-sig")
    assert exported.splitlines()[0].startswith("title,starts_on,ends_on,hours")
    assert FIRST in exported and SECOND in exported and "D2.1" in exported

    # --- Import a bad CSV: each problem by row and column, and nothing saved.
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "title,starts_on,ends_on,hours,activity_type,participatory,provider,"
        "reflection_learned,reflection_applied,reflection_impact,link,standards\n"
        "Mentoring,2026-13-01,2026-05-01,2,formal,yes,,,,,,\n"
        "Conference,2026-05-01,2026-05-01,1.1,formal,maybe,,,,,,ZZ9\n",
        encoding="utf-8",
    )
    main(page).get_by_label("Upload a CSV file").set_input_files(str(bad))
    main(page).get_by_role("button", name="Check the file").click()
    expect(page).to_have_url(at("cpd:import_preview"))
    expect(heading(page)).to_have_text("Problems to correct")
    problems = main(page).get_by_role("table", name="Problems by row")
    expect(problems.get_by_role("row", name=re.compile(r"^2 starts_on "))).to_contain_text(
        "Enter the date as YYYY-MM-DD"
    )
    expect(problems.get_by_role("row", name=re.compile(r"^3 hours "))).to_contain_text(
        "quarter-hour steps"
    )
    expect(problems.get_by_role("row", name=re.compile(r"^3 participatory "))).to_be_visible()
    expect(problems.get_by_role("row", name=re.compile(r"^3 standards "))).to_contain_text("ZZ9")
    expect(main(page).get_by_role("button", name=re.compile("^Import"))).to_have_count(0)
    axe(page)
    assert Entry.objects.filter(member=member).count() == 2
    assert not axe.unchecked_pages()


def test_registrar_draws_the_sample_assessor_asks_for_more_and_member_responds(
    page, axe, member, totp_tolerance
):
    returns.annual_return_submit(
        member=member,
        year=YEAR,
        actor=member.user,
        declaration_confirmed=True,
        shortfall_explanation=EXPLANATION,
    )
    registrar = StaffFactory(given_name="Rachel", family_name="Okafor")
    registrar_secret = enable_totp(registrar)
    assessor = AssessorFactory(given_name="Sam", family_name="Adeyemi")
    assessor_secret = enable_totp(assessor)

    # --- The registrar draws the 2026/27 sample; the member is the one eligible.
    sign_in_with_code(page, axe, registrar.email, registrar_secret)
    axe(page)
    page.goto(reverse("registrar_cpd:audit"))
    expect(heading(page)).to_have_text("CPD audit for 2026/27")
    expect(main(page)).to_contain_text("1 member is eligible")
    axe(page)
    main(page).get_by_label("Seed (optional)").fill("e2e-2027")
    main(page).get_by_role("button", name="Draw the sample").click()
    expect(success(page)).to_contain_text("The 2026/27 sample is drawn: 1 members.")
    cases = main(page).get_by_role("table", name="Members in the sample")
    expect(cases.get_by_role("row", name=re.compile("Priya Shah"))).to_contain_text("Drawn")
    expect(main(page).locator("#sample")).to_contain_text("e2e-2027")
    axe(page)
    case = AuditCase.objects.get(member=member)
    sign_out(page)
    axe(page)

    # --- The member sends their record for review.
    sign_in(page, axe, member.user.email)
    expect(page).to_have_url(at("dashboard"))
    axe(page)
    page.goto(reverse("cpd:return_list"))
    axe(page)
    main(page).get_by_role("link", name="Audit of your 2026 CPD year").click()
    expect(page).to_have_url(at("cpd:audit_case", public_id=case.public_id))
    expect(heading(page)).to_have_text("Audit of your 2026/27 CPD")
    axe(page)
    main(page).get_by_role("button", name="Send for review").click()
    expect(success(page)).to_contain_text("Your record is sent to an assessor for review.")
    expect(main(page).locator("#case")).to_contain_text("With an assessor")
    axe(page)
    sign_out(page)
    axe(page)

    # --- The assessor asks for more information.
    sign_in_with_code(page, axe, assessor.email, assessor_secret)
    axe(page)
    page.goto(reverse("cpd:assess_queue"))
    axe(page)
    main(page).get_by_role("link", name=re.compile("^Priya Shah, 2026 CPD year")).click()
    expect(page).to_have_url(at("cpd:assess_case", public_id=case.public_id))
    expect(main(page)).to_contain_text(EXPLANATION)
    expect(main(page).get_by_role("heading", name=FIRST)).to_be_visible()
    axe(page)
    form = main(page)
    form.get_by_role("group", name="Outcome").get_by_label("More information needed").check()
    form.get_by_label("Reasons").fill("Add a certificate for the workshop.")
    form.get_by_role("button", name="Record outcome").click()
    expect(page).to_have_url(at("cpd:assess_queue"))
    expect(success(page)).to_contain_text("The outcome is recorded")
    axe(page)
    sign_out(page)
    axe(page)
    case.refresh_from_db()
    assert case.state == AuditCase.State.MORE_INFORMATION

    # --- The member sees the outcome and responds.
    sign_in(page, axe, member.user.email)
    expect(page).to_have_url(at("dashboard"))
    axe(page)
    page.goto(reverse("cpd:audit_case", args=[case.public_id]))
    summary = main(page).locator("#case")
    expect(summary).to_contain_text("More information needed")
    expect(summary).to_contain_text("Add a certificate for the workshop.")
    axe(page)
    form = main(page)
    form.get_by_label("Your response").fill("The certificate is with the entry now.")
    form.get_by_role("button", name="Send for review").click()
    expect(success(page)).to_contain_text("Your record is sent to an assessor for review.")
    expect(summary).to_contain_text("With an assessor")
    expect(summary).to_contain_text("The certificate is with the entry now.")
    axe(page)
    case.refresh_from_db()
    assert case.state == AuditCase.State.IN_REVIEW
    assert case.member_response == "The certificate is with the entry now."
    assert not axe.unchecked_pages()
