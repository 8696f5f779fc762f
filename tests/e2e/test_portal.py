"""The employer portal in a real browser: an employer's person makes an API key
(shown once), puts a member on the watch list, registers a webhook endpoint and
sends it a test message, then checks a CSV of people; axe on every page."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from api.models import ApiKey, WatchEntry, WebhookEndpoint
from tests.api.builders import make_employer
from tests.api.receiver import Receiver
from tests.api.watch_builders import active_member, employer_person
from tests.e2e.conftest import at, heading, main, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def setting(transactional_db):
    employer = make_employer(name="Northshire NHS Foundation Trust")
    person = employer_person(employer, email="hr@northshire.example")
    member = active_member(family_name="Price")
    return employer, person, member


def test_an_employer_makes_a_key_and_watches_a_member(page, axe, setting, tmp_path):
    employer, person, member = setting
    sign_in(page, axe, person.email)
    # Their dashboard is the portal.
    expect(page).to_have_url(at("employer:home"))
    expect(heading(page)).to_have_text("Check your managers’ membership")
    axe(page)

    # An API key, shown once.
    page.get_by_role("navigation", name=employer.name).get_by_role("link", name="API keys").click()
    expect(page).to_have_url(at("employer:keys"))
    axe(page)
    main(page).get_by_role("button", name="Make a key").click()
    expect(main(page).get_by_role("alert")).to_contain_text("Enter a name for the key")
    axe(page)
    main(page).get_by_label("Name").fill("HR system")
    main(page).get_by_label("Verify members").check()
    main(page).get_by_label("Manage the watch list").check()
    main(page).get_by_role("button", name="Make a key").click()
    key = main(page).get_by_label("API key")
    expect(key).to_have_value(re.compile(r"^ihsm_[0-9a-f]{8}\..+"))
    raw = key.input_value()
    axe(page)
    assert ApiKey.objects.get().prefix == raw.split(".")[0]
    page.reload()
    expect(main(page).get_by_label("API key")).to_have_count(0)
    expect(main(page).get_by_role("table")).to_contain_text(raw.split(".")[0])

    # The watch list: a wrong name is refused, the right one added.
    page.get_by_role("navigation", name=employer.name).get_by_role(
        "link", name="Watch list"
    ).click()
    expect(page).to_have_url(at("employer:watch_list"))
    axe(page)
    main(page).get_by_label("Membership number").fill(member.membership_number)
    main(page).get_by_label("Family name").fill("Pryce")
    main(page).get_by_role("button", name="Add to the watch list").click()
    expect(main(page).get_by_role("alert")).to_contain_text(
        "No member has this membership number and family name."
    )
    axe(page)
    main(page).get_by_label("Family name").fill("price")
    main(page).get_by_role("button", name="Add to the watch list").click()
    expect(main(page)).to_contain_text("is now on your watch list")
    expect(main(page).get_by_role("table")).to_contain_text(member.membership_number)
    axe(page)
    assert WatchEntry.objects.get().employer == employer

    # A webhook endpoint on a local receiver, its secret once, a test message logged.
    with Receiver() as receiver:
        page.get_by_role("navigation", name=employer.name).get_by_role(
            "link", name="Webhooks"
        ).click()
        axe(page)
        main(page).get_by_role("link", name="Add an endpoint").click()
        expect(page).to_have_url(at("employer:webhook_new"))
        axe(page)
        main(page).get_by_label("Address (URL)").fill(receiver.url)
        main(page).get_by_role("button", name="Add the endpoint").click()
        expect(main(page).get_by_label("Signing secret")).to_have_value(re.compile("^whsec_"))
        axe(page)
        main(page).get_by_role("button", name="Send a test message").click()
        expect(main(page).get_by_role("table")).to_contain_text("webhook.ping")
        expect(main(page).get_by_role("table")).to_contain_text("Delivered")
        axe(page)
        assert len(receiver.received) == 1
    assert WebhookEndpoint.objects.get().employer == employer
    main(page).get_by_role("link", name=re.compile("details of webhook.ping")).click()
    expect(main(page).get_by_role("table")).to_contain_text("HTTP 200")
    axe(page)

    # A CSV of people checked in the background, with the result to download.
    page.get_by_role("navigation", name=employer.name).get_by_role(
        "link", name="Check a list of people"
    ).click()
    axe(page)
    upload = tmp_path / "staff.csv"
    upload.write_text(f"number,family name\n{member.membership_number},Price\n123,Nobody\n")
    main(page).get_by_label("CSV file").set_input_files(upload)
    main(page).get_by_role("button", name="Upload and check").click()
    expect(main(page).get_by_role("link", name="Download the results (CSV)")).to_be_visible()
    expect(main(page)).to_contain_text("2 rows checked")
    expect(main(page)).to_contain_text("1 matched a member")
    axe(page)
    with page.expect_download() as download:
        main(page).get_by_role("link", name="Download the results (CSV)").click()
    text = Path(download.value.path()).read_text()
    assert f"{member.membership_number},Price,yes,Active,active" in text
