"""The public register and the API documentation in a real browser: a visitor
searches the register and opens an entry (axe on each page), and the API docs
page loads Swagger UI from our own files within the site's security policy."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from members import services as member_services
from tests.e2e.conftest import heading, main
from tests.factories import MemberFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def member(transactional_db):
    member = MemberFactory(
        user=UserFactory(given_name="Aisha", family_name="Okafor"),
        town="Northtown",
        register_show_workplace=True,
    )
    invoice = member_services.invoice_raise(member=member, payer_organisation="Northshire NHS FT")
    member_services.invoice_record_payment(
        invoice=invoice,
        received_on=member_services.local_today() - dt.timedelta(days=10),
        reference="BACS",
        actor=StaffFactory(),
    )
    member.refresh_from_db()
    return member


def test_a_visitor_finds_a_member_on_the_register(page, axe, live_server, member):
    page.goto(f"{live_server.url}/register/")
    expect(heading(page)).to_have_text("Search the register")
    axe(page)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter a name or membership number")
    axe(page)
    page.get_by_label("Name or membership number").fill("okafor")
    page.get_by_role("button", name="Search").click()
    expect(main(page).get_by_role("status")).to_have_text("1 member found")
    axe(page)
    main(page).get_by_role("link", name="Aisha Okafor").click()
    expect(heading(page)).to_contain_text("Aisha Okafor")
    expect(main(page)).to_contain_text(member.membership_number)
    expect(main(page)).to_contain_text("Northtown")
    axe(page)


def test_the_api_documentation_loads_from_local_files(page, live_server):
    page.goto(f"{live_server.url}/api/v1/docs/")
    expect(page.get_by_text("/api/v1/verify/{membership_number}")).to_be_visible()
    expect(page.get_by_text("/api/v1/register")).to_be_visible()
