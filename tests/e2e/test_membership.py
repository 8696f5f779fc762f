"""Membership in a real browser: joining, paying by invoice, the registrar's
actions and what the member then sees, with axe on every page visited.

The journey is one test because each step hands work to the next person: the
invoice the member raises in the browser is the one the registrar finds and
records, and the member then sees the result of what the registrar did.
Elements are found by label, role and accessible name.
"""

import datetime as dt
import re

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from playwright.sync_api import expect

from audit.models import Action, AuditEvent
from members import services
from members.models import Grade, Invoice, Member, Organisation, Payment, Status
from members.numbering import membership_number_is_valid
from tests.e2e.conftest import at, heading, main, sign_in, sign_in_with_code, sign_out
from tests.factories import GradeFactory, StaffFactory, UserFactory
from tests.totp import enable_totp

pytestmark = pytest.mark.browser

ORGANISATION = "Northshire NHS Foundation Trust"
PAYER = "Northshire and Southshire Integrated Care Board"
PURCHASE_ORDER = "PO-4471-2026"
JOB_TITLE = "Outpatients service manager"
BANK_REFERENCE = "BACS NSFT 88213"
SUSPEND_REASON = "Under investigation by the conduct committee (case 2026-014)."
LIFT_REASON = "The conduct committee closed case 2026-014 with no finding."
ACTIVE_SINCE = re.compile(r"^\s*Active\s+since\b")


@pytest.fixture
def grades(transactional_db):
    """Exactly these grades are open: the seeded ones exist or not depending on
    which transactional test ran first, so they are replaced (no member uses them)."""
    Grade.objects.all().delete()
    return {
        "associate": GradeFactory(
            name="Associate",
            slug="associate",
            post_nominals="AIHSM",
            annual_fee_pence=9500,
            display_order=1,
            eligibility="First-line managers who lead a team or a service day to day.",
        ),
        "fellow": GradeFactory(
            name="Fellow",
            slug="fellow",
            post_nominals="FIHSM",
            annual_fee_pence=19500,
            requires_review=True,
            display_order=2,
            eligibility="Senior and executive leaders with a substantial record.",
        ),
    }


@pytest.fixture
def organisation(transactional_db):
    Organisation.objects.all().delete()
    Organisation.objects.create(name="Southshire Hospitals NHS Trust")
    return Organisation.objects.create(name=ORGANISATION)


# --- Helpers ----------------------------------------------------------------------


def summary_value(scope, key):
    """The value beside a key in an NHS.UK summary list."""
    term = scope.page.locator("dt", has_text=re.compile(rf"^\s*{re.escape(key)}\s*$"))
    return scope.locator(".nhsuk-summary-list__row").filter(has=term).locator("dd").first


def success_banner(page):
    return main(page).get_by_role("region", name="Success")


def fill_date(page, legend, day: dt.date):
    """Type a date into the NHS.UK date input whose fieldset has this legend."""
    group = main(page).get_by_role("group", name=legend, exact=True)
    group.get_by_label("Day", exact=True).fill(str(day.day))
    group.get_by_label("Month", exact=True).fill(str(day.month))
    group.get_by_label("Year", exact=True).fill(str(day.year))


def assert_pdf_download(page, link, filename):
    """The link's target is a PDF attachment, fetched with the browser's session."""
    expect(link).to_have_attribute("download", "")
    response = page.request.get(link.get_attribute("href"))
    assert response.ok, f"{response.status} for {response.url}"
    assert response.headers["content-type"] == "application/pdf"
    assert f'filename="{filename}"' in response.headers["content-disposition"]
    assert response.body().startswith(b"%PDF-")


def emails_to(user) -> list[str]:
    """Subjects of the emails sent to the user so far, without the site name."""
    prefix = f"[{settings.SITE_NAME}] "
    return [m.subject.removeprefix(prefix) for m in mail.outbox if m.to == [user.email]]


def table_rows(page, caption):
    """The body rows of the table with this caption (its accessible name)."""
    return main(page).get_by_role("table", name=caption).locator("tbody tr")


def in_order(*parts) -> re.Pattern:
    """Text containing each part, in this order."""
    return re.compile(".*".join(re.escape(part) for part in parts), re.DOTALL)


def expect_rows(page, caption, *rows):
    """The table has exactly these body rows, in this order (text as people read it)."""
    expect(table_rows(page, caption)).to_have_text(list(rows), use_inner_text=True)


# --- The journey ------------------------------------------------------------------


def member_joins_and_raises_an_invoice(page, axe, user, grades, organisation) -> Invoice:
    sign_in(page, axe, user.email)
    expect(page).to_have_url(at("dashboard"))
    expect(heading(page)).to_have_text(f"Welcome, {user.given_name}")
    axe(page)

    main(page).get_by_role("link", name="Join now").click()
    expect(page).to_have_url(at("membership_join"))
    expect(page).to_have_title(re.compile(r"^Join\b"))
    axe(page)

    form = main(page)
    # Typing a listed organisation's name (in any case) picks it from the list.
    organisation_box = form.get_by_label("Organisation you work for")
    suggestions = page.locator(f"datalist#{organisation_box.get_attribute('list')} > option")
    expect(suggestions).to_have_count(Organisation.objects.count())
    organisation_box.fill(ORGANISATION.lower())
    form.get_by_label("Job title").fill(JOB_TITLE)
    management = form.get_by_role("group", name="Your management level")
    management.get_by_role("radio", name="Middle manager").check()
    form.get_by_role("checkbox", name="Show me on the public register").check()
    grade = form.get_by_role("group", name="Membership grade")
    expect(grade.get_by_role("radio")).to_have_count(2)
    grade.get_by_role("radio", name=re.compile(r"^Associate \(AIHSM\) – £95\.00 a year")).check()
    form.get_by_role("checkbox", name="I agree to follow the code of conduct").check()
    form.get_by_role("button", name="Continue").click()

    expect(page).to_have_url(at("membership_pay"))
    expect(heading(page)).to_have_text("Pay for your membership")
    expect(success_banner(page)).to_contain_text("Now pay for your membership")
    axe(page)

    member = Member.objects.get(user=user)
    assert member.status == Status.APPLICANT
    assert member.grade == grades["associate"]
    assert member.organisation == organisation
    assert (member.job_title, member.management_level) == (JOB_TITLE, "middle")
    assert member.register_consent
    assert member.code_of_conduct_agreed_at is not None
    assert member.membership_number is None

    invoice_form = main(page).get_by_role("region", name="Pay by invoice")
    payer = invoice_form.get_by_label("Organisation paying the invoice")
    expect(payer).to_have_value(ORGANISATION)  # suggested from the profile
    payer.fill(PAYER)
    invoice_form.get_by_label("Purchase order (PO) number").fill(PURCHASE_ORDER)
    invoice_form.get_by_role("button", name="Raise the invoice").click()

    expect(heading(page)).to_have_text(re.compile(r"^Invoice \S+$"))
    invoice = Invoice.objects.get(member=member)
    assert (invoice.state, invoice.amount_pence) == (Invoice.State.OPEN, 9500)
    assert (invoice.payer_organisation, invoice.purchase_order) == (PAYER, PURCHASE_ORDER)
    expect(page).to_have_url(at("membership_invoice", public_id=invoice.public_id))
    expect(heading(page)).to_have_text(f"Invoice {invoice.number}")
    expect(success_banner(page)).to_contain_text(f"Invoice {invoice.number} raised")
    expect(summary_value(main(page), "Amount")).to_have_text("£95.00")
    expect(summary_value(main(page), "Made out to")).to_have_text(PAYER)
    expect(summary_value(main(page), "Purchase order number")).to_have_text(PURCHASE_ORDER)
    axe(page)
    download = main(page).get_by_role(
        "link", name=f"Download invoice {invoice.number} (PDF)", exact=True
    )
    assert_pdf_download(page, download, f"{invoice.number}.pdf")
    assert emails_to(user) == [f"Invoice {invoice.number} for your membership"]

    page.get_by_role("link", name="Back to your dashboard").click()
    expect(page).to_have_url(at("dashboard"))
    next_step = main(page).locator("#next-step")
    expect(next_step.get_by_role("heading")).to_have_text(f"Pay invoice {invoice.number}")
    expect(next_step).to_contain_text(f"waiting for payment by {PAYER}")
    assert_pdf_download(
        page,
        next_step.get_by_role("link", name=f"Download invoice {invoice.number} (PDF)"),
        f"{invoice.number}.pdf",
    )
    expect(summary_value(main(page), "Status")).to_contain_text("Applicant")
    expect(summary_value(main(page), "Membership number")).to_have_text(
        "You get one when your first payment is recorded"
    )
    invoices = table_rows(page, "Your invoices, newest first")
    expect(invoices).to_have_count(1)
    expect(invoices.first).to_contain_text(invoice.number)
    expect(invoices.first).to_contain_text(Invoice.State.OPEN.label)
    axe(page)

    sign_out(page)
    axe(page)
    return invoice


def registrar_activates_suspends_and_lifts(page, axe, registrar, secret, user, invoice) -> Member:
    sign_in_with_code(page, axe, registrar.email, secret)
    axe(page)

    page.get_by_role("banner").get_by_role("link", name="Registrar", exact=True).click()
    expect(page).to_have_url(at("registrar:home"))
    axe(page)

    main(page).get_by_role("link", name="Members", exact=True).click()
    expect(page).to_have_url(at("registrar:member_list"))
    axe(page)
    full_name = user.get_full_name()
    main(page).get_by_label("Name, email or membership number").fill(full_name)
    main(page).get_by_role("button", name="Search").click()
    expect(page).to_have_url(at("registrar:member_list", exact=False))
    expect(main(page).get_by_role("status")).to_have_text("Showing 1 to 1 of 1 member")
    axe(page)
    found = table_rows(page, "Members")
    expect(found).to_have_count(1)
    expect(found.first).to_contain_text("Applicant")
    expect(found.first).to_contain_text("Not yet allocated")
    found.first.get_by_role("link", name=full_name).click()

    member = Member.objects.get(user=user)
    expect(page).to_have_url(at("registrar:member_detail", public_id=member.public_id))
    expect(heading(page)).to_contain_text("No membership number yet")
    expect(heading(page)).to_contain_text(full_name)
    axe(page)

    breadcrumb = page.get_by_role("navigation", name="Breadcrumb")
    breadcrumb.get_by_role("link", name="Registrar", exact=True).click()
    expect(page).to_have_url(at("registrar:home"))
    axe(page)
    main(page).get_by_role("link", name="Open invoices").click()
    expect(page).to_have_url(at("registrar:invoice_list", exact=False))
    axe(page)
    row = table_rows(page, "Invoices, open first").filter(has_text=invoice.number)
    expect(row).to_contain_text(full_name)
    expect(row).to_contain_text(f"PO {PURCHASE_ORDER}")
    row.get_by_role("link", name=f"Record payment for {invoice.number}").click()

    expect(page).to_have_url(at("registrar:invoice_record_payment", public_id=invoice.public_id))
    axe(page)
    today = timezone.localdate()
    fill_date(page, "Date the money was received", today)
    main(page).get_by_label("Bank reference").fill(BANK_REFERENCE)
    main(page).get_by_role("button", name="Record payment").click()

    expect(page).to_have_url(at("registrar:member_detail", public_id=member.public_id))
    member.refresh_from_db()
    payment = Payment.objects.get(invoice=invoice)
    assert member.status == Status.ACTIVE
    assert member.status_since == today
    assert membership_number_is_valid(member.membership_number)
    assert member.period_ends_on == services.period_end_for(today)
    assert (payment.received_on, payment.reference) == (today, BANK_REFERENCE)
    assert payment.recorded_by == registrar
    invoice.refresh_from_db()
    assert invoice.state == Invoice.State.PAID
    expect(success_banner(page)).to_contain_text(f"Membership number {member.membership_number}")
    expect(heading(page)).to_contain_text(f"Membership number {member.membership_number}")
    expect(summary_value(main(page), "Status")).to_have_text(ACTIVE_SINCE)
    axe(page)

    main(page).get_by_role("link", name="Suspend membership").click()
    expect(page).to_have_url(at("registrar:member_suspend", public_id=member.public_id))
    axe(page)
    main(page).get_by_label("Reason", exact=True).fill(SUSPEND_REASON)
    fill_date(page, "Start date", today)
    main(page).get_by_role("button", name="Suspend membership").click()

    expect(page).to_have_url(at("registrar:member_detail", public_id=member.public_id))
    expect(success_banner(page)).to_contain_text("Membership suspended")
    expect(main(page)).to_contain_text(f"with the reason: {SUSPEND_REASON}")
    member.refresh_from_db()
    assert member.status == Status.SUSPENDED
    assert (member.suspension_reason, member.suspended_until) == (SUSPEND_REASON, None)
    axe(page)

    main(page).get_by_role("link", name="Lift the suspension").click()
    expect(page).to_have_url(at("registrar:member_lift_suspension", public_id=member.public_id))
    axe(page)
    main(page).get_by_label("Reason", exact=True).fill(LIFT_REASON)
    main(page).get_by_role("button", name="Lift the suspension").click()

    expect(page).to_have_url(at("registrar:member_detail", public_id=member.public_id))
    expect(success_banner(page)).to_contain_text("Suspension lifted")
    member.refresh_from_db()
    assert member.status == Status.ACTIVE
    assert member.suspension_reason == ""
    expect(summary_value(main(page), "Status")).to_have_text(ACTIVE_SINCE)

    expect_rows(
        page,
        "Status history, latest first",
        in_order("Suspended to Active", "Staff", registrar.email, LIFT_REASON),
        in_order("Active to Suspended", "Staff", registrar.email, SUSPEND_REASON),
        in_order("Applicant to Active", "Payment", registrar.email, "Payment received"),
        in_order("Applicant", "Member", user.email),
    )
    expect_rows(
        page,
        "Audit history, latest first",
        in_order("Status changed", "Status: Suspended to Active", LIFT_REASON),
        in_order("Status changed", "Status: Active to Suspended", SUSPEND_REASON),
        in_order("Status changed", "Status: Applicant to Active", "Payment received"),
        in_order("Membership period started", f"Receipt: {payment.receipt_number}"),
        in_order("Invoice paid", f"Reference: {BANK_REFERENCE}"),
        in_order("Invoice raised", f"Invoice: {invoice.number}"),
        in_order("Joined", "Grade: Associate"),
    )
    axe(page)

    assert list(
        AuditEvent.objects.filter(subject_id=str(member.public_id))
        .order_by("sequence")
        .values_list("action", flat=True)
    ) == [
        Action.MEMBER_JOINED,
        Action.INVOICE_RAISED,
        Action.INVOICE_PAID,
        Action.MEMBER_PERIOD_STARTED,
        Action.MEMBER_STATUS_CHANGED,
        Action.MEMBER_STATUS_CHANGED,
        Action.MEMBER_STATUS_CHANGED,
    ]
    assert emails_to(user) == [
        f"Invoice {invoice.number} for your membership",
        "Welcome: you are now a member",
        "Your membership is suspended",
        "Your membership has been reinstated",
    ]

    sign_out(page)
    axe(page)
    return member


def member_sees_active_membership(page, axe, user, member, invoice):
    payment = Payment.objects.get(invoice=invoice)
    sign_in(page, axe, user.email)
    expect(page).to_have_url(at("dashboard"))
    axe(page)

    expect(summary_value(main(page), "Status")).to_have_text(ACTIVE_SINCE)
    expect(summary_value(main(page), "Membership number")).to_have_text(member.membership_number)
    expect(summary_value(main(page), "Current period ends")).to_have_text(
        date_format(member.period_ends_on, "j F Y")
    )
    expect(main(page).locator("#next-step").get_by_role("heading")).to_have_text("Nothing to do")
    receipts = table_rows(page, "Payments received, newest first")
    expect(receipts).to_have_count(1)
    expect(receipts.first).to_contain_text(payment.receipt_number)
    expect(receipts.first).to_contain_text(f"Invoice ({invoice.number})")
    assert_pdf_download(
        page,
        receipts.first.get_by_role("link", name=f"Download receipt {payment.receipt_number}"),
        f"{payment.receipt_number}.pdf",
    )
    expect(table_rows(page, "Your invoices, newest first").first).to_contain_text(
        Invoice.State.PAID.label
    )

    main(page).get_by_role("link", name="See the full history of your membership record").click()
    expect(page).to_have_url(at("membership_history"))
    axe(page)
    expect_rows(
        page,
        "Changes to your membership record, newest first",
        in_order("Status changed", "Suspended to Active", LIFT_REASON, "A registrar"),
        in_order("Status changed", "Active to Suspended", SUSPEND_REASON, "A registrar"),
        in_order("Status changed", "Applicant to Active", "Payment received", "A registrar"),
        in_order("Membership period started", f"Receipt: {payment.receipt_number}"),
        in_order("Invoice paid", f"Reference: {BANK_REFERENCE}", "A registrar"),
        in_order("Invoice raised", f"Invoice: {invoice.number}", "You"),
        in_order("Joined", "Grade: Associate", "You"),
    )


def test_join_pay_by_invoice_then_registrar_activates_suspends_and_lifts(
    page, axe, grades, organisation, totp_tolerance
):
    user = UserFactory(given_name="Sunita", family_name="Ramaswamy")
    registrar = StaffFactory(given_name="Rachel", family_name="Okafor")
    secret = enable_totp(registrar)

    invoice = member_joins_and_raises_an_invoice(page, axe, user, grades, organisation)
    member = registrar_activates_suspends_and_lifts(page, axe, registrar, secret, user, invoice)
    member_sees_active_membership(page, axe, user, member, invoice)

    assert axe.unchecked_pages() == []


# --- Form errors ------------------------------------------------------------------


def test_empty_join_form_is_summarised_and_each_error_links_to_its_field(page, axe, grades):
    user = UserFactory()
    sign_in(page, axe, user.email)
    expect(page).to_have_url(at("dashboard"))
    axe(page)
    page.goto(reverse("membership_join"))
    axe(page)

    main(page).get_by_role("button", name="Continue").click()

    expect(page).to_have_title(re.compile(r"^Error: Join"))
    expect(page).to_have_url(at("membership_join"))
    summary = main(page).locator("[data-module='nhsuk-error-summary']")
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    # The design system's script moves focus to the summary so it is read out first.
    expect(summary).to_be_focused()
    axe(page)

    form = main(page)
    organisation = form.get_by_label("Organisation you work for")
    job_title = form.get_by_label("Job title")
    management = form.get_by_role("group", name="Your management level")
    grade = form.get_by_role("group", name="Membership grade")
    code_of_conduct = form.get_by_role("checkbox", name="I agree to follow the code of conduct")
    # Each message: the field its link focuses, and what announces the message
    # (the input itself, or the fieldset around a set of radios).
    fields = {
        "Enter the organisation you work for": (organisation, organisation),
        "Enter your job title": (job_title, job_title),
        "Choose your management level": (management.get_by_role("radio").first, management),
        "Choose a membership grade": (grade.get_by_role("radio").first, grade),
        "Agree to the code of conduct to join": (code_of_conduct, code_of_conduct),
    }
    expect(summary.get_by_role("link")).to_have_text(list(fields))
    for message, (target, described) in fields.items():
        summary.get_by_role("link", name=message, exact=True).click()
        expect(target).to_be_focused()
        expect(described).to_have_accessible_description(
            re.compile(rf"Error:\s+{re.escape(message)}\s*$")
        )
    assert not Member.objects.filter(user=user).exists()

    assert axe.unchecked_pages() == []
