"""The watch list and webhook endpoints through API v1: scoped to the key's
employer (anyone else's is a 404), cursor pages, CSV row errors."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from api.models import WatchEntry, WebhookDelivery, WebhookEndpoint
from api.watchlist import watch_entry_add
from audit.models import Action, AuditEvent
from tests.api.builders import bearer, make_employer, make_key
from tests.api.receiver import Receiver
from tests.api.watch_builders import active_member

pytestmark = pytest.mark.django_db

API = "/api/v1"


def client_for(employer, scopes=("watchlist", "webhooks")):
    client = APIClient()
    client.credentials(**bearer(make_key(employer, scopes=scopes).raw))
    return client


@pytest.fixture
def employer():
    return make_employer()


@pytest.fixture
def other():
    return make_employer(name="Southshire Community Trust")


@pytest.fixture
def member():
    return active_member(family_name="O'Brien")


def test_adding_listing_and_removing_a_member(employer, member):
    api = client_for(employer)
    response = api.post(
        f"{API}/watchlist",
        {"membership_number": f" {member.membership_number} ", "family_name": "o’brien"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["membership_number"] == member.membership_number
    assert body["status"] == "active" and body["status_words"] == "Active"
    entry = WatchEntry.objects.get()
    assert body["id"] == str(entry.public_id) and entry.employer == employer
    assert AuditEvent.objects.filter(
        action=Action.WATCHLIST_ADDED, subject_id=str(member.public_id)
    ).exists()

    again = api.post(
        f"{API}/watchlist",
        {"membership_number": member.membership_number, "family_name": "O'Brien"},
        format="json",
    )
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert WatchEntry.objects.count() == 1

    listed = api.get(f"{API}/watchlist").json()
    assert [row["id"] for row in listed["results"]] == [body["id"]]

    assert api.delete(f"{API}/watchlist/{body['id']}").status_code == 204
    assert not WatchEntry.objects.exists()
    assert api.delete(f"{API}/watchlist/{body['id']}").status_code == 404
    assert AuditEvent.objects.filter(action=Action.WATCHLIST_REMOVED).count() == 1


@pytest.mark.parametrize("family_name", ["Obrian", ""])
def test_a_wrong_name_and_an_unknown_number_get_the_same_answer(employer, member, family_name):
    api = client_for(employer)
    wrong_name = api.post(
        f"{API}/watchlist",
        {"membership_number": member.membership_number, "family_name": family_name or "Smith"},
        format="json",
    )
    unknown = api.post(
        f"{API}/watchlist",
        {"membership_number": "99999999", "family_name": "O'Brien"},
        format="json",
    )
    assert wrong_name.status_code == unknown.status_code == 400
    assert wrong_name.json() == unknown.json()
    assert wrong_name.json()["message"] == "No member has this membership number and family name."
    assert not WatchEntry.objects.exists()


def test_the_list_comes_in_cursor_pages_in_a_fixed_number_of_queries(
    employer, django_assert_max_num_queries
):
    for n in range(5):
        member = active_member(family_name=f"Person{n}")
        watch_entry_add(
            employer=employer,
            membership_number=member.membership_number,
            family_name=f"Person{n}",
            actor=None,
        )
    api = client_for(employer)
    seen = []
    url = f"{API}/watchlist?page_size=2"
    while url:
        with django_assert_max_num_queries(3):  # the key (and its last use), the page
            page = api.get(url).json()
        assert len(page["results"]) <= 2
        seen += [row["family_name"] for row in page["results"]]
        url = page["next"]
    assert seen == [f"Person{n}" for n in reversed(range(5))]


def test_another_employers_entries_endpoints_and_deliveries_are_404(employer, other, member):
    mine = client_for(employer)
    theirs = client_for(other)
    entry_id = mine.post(
        f"{API}/watchlist",
        {"membership_number": member.membership_number, "family_name": "O'Brien"},
        format="json",
    ).json()["id"]
    endpoint_id = mine.post(
        f"{API}/webhooks", {"url": "https://hooks.example.com/in"}, format="json"
    ).json()["id"]

    assert theirs.get(f"{API}/watchlist").json()["results"] == []
    assert theirs.get(f"{API}/webhooks").json()["results"] == []
    for method, url in [
        ("get", f"{API}/watchlist/{entry_id}"),
        ("delete", f"{API}/watchlist/{entry_id}"),
        ("get", f"{API}/webhooks/{endpoint_id}"),
        ("patch", f"{API}/webhooks/{endpoint_id}"),
        ("delete", f"{API}/webhooks/{endpoint_id}"),
        ("post", f"{API}/webhooks/{endpoint_id}/ping"),
        ("get", f"{API}/webhooks/{endpoint_id}/deliveries"),
    ]:
        response = getattr(theirs, method)(url, {"active": False}, format="json")
        assert response.status_code == 404, (method, url)
        assert response.json()["code"] == "not_found"
    assert WatchEntry.objects.count() == 1
    assert WebhookEndpoint.objects.get().active
    assert not WebhookDelivery.objects.exists()


def test_keys_need_the_right_scope(employer, member):
    verify_only = client_for(employer, scopes=["verify"])
    assert verify_only.get(f"{API}/watchlist").status_code == 403
    assert verify_only.get(f"{API}/webhooks").status_code == 403
    watch_only = client_for(employer, scopes=["watchlist"])
    assert watch_only.get(f"{API}/watchlist").status_code == 200
    assert watch_only.post(f"{API}/webhooks", {"url": "https://x.example"}).status_code == 403
    assert APIClient().get(f"{API}/watchlist").status_code == 401


def test_a_csv_adds_the_rows_that_match_and_reports_each_that_does_not(employer, member):
    second = active_member(family_name="Hughes")
    watch_entry_add(
        employer=employer,
        membership_number=second.membership_number,
        family_name="Hughes",
        actor=None,
    )
    csv = (
        "membership_number,family_name\n"
        f"{member.membership_number},O'Brien\n"
        f"{second.membership_number},Hughes\n"
        "12345678,Nobody\n"
        f"{member.membership_number},Wrong\n"
        "\n"
        "just-one-cell\n"
    )
    api = client_for(employer)
    upload = SimpleUploadedFile("staff.csv", csv.encode(), content_type="text/csv")
    response = api.post(f"{API}/watchlist/csv", {"file": upload}, format="multipart")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "added": 1,
        "already_on_list": 1,
        "errors": [
            {"row": 4, "message": "No member has this membership number and family name."},
            {"row": 5, "message": "No member has this membership number and family name."},
            {"row": 7, "message": "Give a membership number and a family name."},
        ],
    }
    assert set(WatchEntry.objects.values_list("member", flat=True)) == {member.pk, second.pk}

    # The same file as the body of a text/csv request adds nothing more.
    again = api.generic("POST", f"{API}/watchlist/csv", csv.encode(), content_type="text/csv")
    assert again.json()["added"] == 0 and again.json()["already_on_list"] == 2


def test_a_csv_that_is_not_utf8_or_empty_is_refused(employer):
    api = client_for(employer)
    for content in ["ĉ".encode("utf-16"), b""]:
        upload = SimpleUploadedFile("staff.csv", content, content_type="text/csv")
        response = api.post(f"{API}/watchlist/csv", {"file": upload}, format="multipart")
        assert response.status_code == 400
        assert response.json()["field_errors"]["file"]


def test_a_csv_of_many_rows_is_added_in_a_fixed_number_of_queries(
    employer, django_assert_max_num_queries
):
    members = [active_member(family_name=f"Bulk{n}") for n in range(30)]
    csv = "".join(f"{m.membership_number},Bulk{n}\n" for n, m in enumerate(members))
    api = client_for(employer)
    # The key, the members, what is already listed, one INSERT, reading it back and one
    # append to the audit chain (with its lock and savepoints): the same for 30 or 10,000.
    with django_assert_max_num_queries(14):
        response = api.generic(
            "POST", f"{API}/watchlist/csv", csv.encode(), content_type="text/csv"
        )
    assert response.json()["added"] == 30


def test_registering_an_endpoint_shows_its_secret_once(employer):
    api = client_for(employer)
    created = api.post(
        f"{API}/webhooks",
        {"url": "https://hooks.example.com/in", "events": ["member.status_changed"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == endpoint.secret and body["secret"].startswith("whsec_")
    assert body["events"] == ["member.status_changed"] and body["active"] is True
    shown = api.get(f"{API}/webhooks/{body['id']}").json()
    assert "secret" not in shown
    assert all("secret" not in row for row in api.get(f"{API}/webhooks").json()["results"])

    bad = api.post(
        f"{API}/webhooks", {"url": "https://x.example", "events": ["nope"]}, format="json"
    )
    assert bad.status_code == 400 and "events.0" in bad.json()["field_errors"]


def test_updating_turning_off_and_deleting_an_endpoint(employer):
    api = client_for(employer)
    endpoint_id = api.post(
        f"{API}/webhooks", {"url": "https://hooks.example.com/in"}, format="json"
    ).json()["id"]
    changed = api.patch(
        f"{API}/webhooks/{endpoint_id}",
        {"url": "https://hooks.example.com/v2", "active": False},
        format="json",
    )
    assert changed.status_code == 200
    assert changed.json()["url"] == "https://hooks.example.com/v2"
    assert changed.json()["active"] is False and changed.json()["disabled_at"]
    assert api.delete(f"{API}/webhooks/{endpoint_id}").status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.filter(action=Action.WEBHOOK_ENDPOINT_DELETED).count() == 1


def test_a_ping_is_delivered_and_listed_with_its_attempts(
    employer, django_capture_on_commit_callbacks
):
    api = client_for(employer)
    with Receiver() as receiver:
        endpoint_id = api.post(f"{API}/webhooks", {"url": receiver.url}, format="json").json()["id"]
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(f"{API}/webhooks/{endpoint_id}/ping")
        assert response.status_code == 202
        assert len(receiver.received) == 1
    deliveries = api.get(f"{API}/webhooks/{endpoint_id}/deliveries").json()["results"]
    assert [d["event_type"] for d in deliveries] == ["webhook.ping"]
    assert deliveries[0]["status"] == "delivered"
    assert deliveries[0]["event_id"] == receiver.received[0].headers["webhook-id"]
    assert [a["response_code"] for a in deliveries[0]["attempts_log"]] == [200]


def test_an_endpoint_needs_at_least_one_event_and_a_web_address(employer):
    api = client_for(employer)
    endpoint_id = api.post(
        f"{API}/webhooks", {"url": "https://hooks.example.com/in"}, format="json"
    ).json()["id"]
    no_events = api.patch(f"{API}/webhooks/{endpoint_id}", {"events": []}, format="json")
    assert no_events.status_code == 400
    assert no_events.json()["field_errors"] == {"events": ["Choose at least one event to receive."]}
    not_web = api.post(f"{API}/webhooks", {"url": "ftp://files.example.com/"}, format="json")
    assert not_web.status_code == 400 and "url" in not_web.json()["field_errors"]
