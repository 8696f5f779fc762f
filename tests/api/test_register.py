"""The public register: by API and on the web, only members who agreed to
appear, organisation and town only if they agreed to show them."""

import datetime as dt
from unittest import mock

import pytest
from django.db import connection
from django.urls import reverse

from api.throttles import KeyScopeRateThrottle
from members import services as member_services
from members.models import Member, Organisation
from tests.api.builders import make_active_member
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def person(clock, registrar, given, family, **fields):
    return make_active_member(
        clock, registrar, user=UserFactory(given_name=given, family_name=family), **fields
    )


@pytest.fixture
def people(clock, registrar):
    trust = Organisation.objects.get_or_create(name="Northshire NHS Foundation Trust")[0]
    shown = person(
        clock,
        registrar,
        "Aisha",
        "Smith",
        organisation=trust,
        organisation_other="",
        town="Northtown",
        register_show_workplace=True,
    )
    private_workplace = person(clock, registrar, "Ben", "Smithson", town="Southtown")
    hidden = person(clock, registrar, "Carol", "Smith", register_consent=False)
    clock.set(dt.date(2026, 6, 1))
    return {"shown": shown, "private_workplace": private_workplace, "hidden": hidden}


def search(api, q: str, **params):
    return api.get("/api/v1/register", {"q": q, **params})


def test_the_register_finds_only_members_who_agreed_to_appear(api, people):
    response = search(api, "smith")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [entry["name"] for entry in body["results"]] == ["Aisha Smith", "Ben Smithson"]
    assert body["next"] is None and body["previous"] is None
    aisha, ben = body["results"]
    assert aisha == {
        "membership_number": people["shown"].membership_number,
        "name": "Aisha Smith",
        "given_name": "Aisha",
        "family_name": "Smith",
        "grade": {"name": people["shown"].grade.name, "post_nominals": "MIHSM"},
        "status": {"code": "active", "words": "Active"},
        "organisation": "Northshire NHS Foundation Trust",
        "town": "Northtown",
        "accreditations": [],
        "sanctions": [],
        "url": f"http://testserver/register/{people['shown'].membership_number}/",
    }
    # Ben appears but did not agree to show where he works.
    assert (ben["organisation"], ben["town"]) == (None, None)


def test_the_register_needs_no_key_but_a_search(api, people):
    assert search(api, "s").status_code == 400
    response = api.get("/api/v1/register")
    assert response.status_code == 400
    assert list(response.json()["field_errors"]) == ["q"]


def test_a_membership_number_finds_its_entry_exactly(api, people):
    number = people["shown"].membership_number
    assert [e["name"] for e in search(api, number).json()["results"]] == ["Aisha Smith"]
    assert search(api, number[:-1]).json()["results"] == []
    hidden = people["hidden"].membership_number
    assert search(api, hidden).json()["results"] == []


def test_every_word_must_match(api, people):
    assert [e["name"] for e in search(api, "aisha smith").json()["results"]] == ["Aisha Smith"]
    assert search(api, "aisha jones").json()["results"] == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram search needs PostgreSQL")
def test_a_misspelt_name_is_found_on_postgresql(api, people):
    names = [e["name"] for e in search(api, "Smyth").json()["results"]]
    assert "Aisha Smith" in names


def test_who_appears_depends_on_status(api, people, clock, registrar):
    shown = people["shown"]
    member_services.member_suspend(
        member=shown, actor=registrar, reason="Under investigation", starts_on=clock.value
    )
    [entry] = search(api, "aisha").json()["results"]
    assert entry["status"] == {"code": "suspended", "words": "Suspended"}
    assert entry["sanctions"] == [
        {
            "kind": "suspension",
            "words": "Suspended",
            "since": "2026-06-01",
            "until": None,
            "reason": "Under investigation",
        }
    ]
    member_services.member_remove(member=shown, actor=registrar, reason="Struck off")
    assert search(api, "aisha").json()["results"] == []


def test_results_come_a_page_at_a_time_with_cursors(api, clock, registrar):
    for index in range(7):
        person(clock, registrar, f"Person{index}", f"Jones{index}")
    clock.set(dt.date(2026, 6, 1))
    first = search(api, "jones", page_size=3).json()
    assert [e["family_name"] for e in first["results"]] == ["Jones0", "Jones1", "Jones2"]
    second = api.get(first["next"]).json()
    assert [e["family_name"] for e in second["results"]] == ["Jones3", "Jones4", "Jones5"]
    third = api.get(second["next"]).json()
    assert [e["family_name"] for e in third["results"]] == ["Jones6"]
    assert third["next"] is None
    assert api.get("/api/v1/register", {"q": "jones", "cursor": "bogus"}).status_code == 404


def test_a_register_page_takes_a_fixed_number_of_queries(
    api, clock, registrar, django_assert_max_num_queries
):
    for index in range(30):
        person(clock, registrar, f"P{index}", f"Brown{index}")
    person(clock, registrar, "Brownie", "Adams")
    clock.set(dt.date(2026, 6, 1))
    # The names matched, then the people found by family name and by given name only.
    with django_assert_max_num_queries(3):
        response = search(api, "brown", page_size=25)
    assert len(response.json()["results"]) == 25
    with django_assert_max_num_queries(3):
        response = api.get(response.json()["next"])
    assert len(response.json()["results"]) == 6
    with django_assert_max_num_queries(3):
        assert search(api, "p1 brown").json()["results"]


def test_the_register_is_strictly_limited_per_address(api, people):
    with mock.patch.object(KeyScopeRateThrottle, "THROTTLE_RATES", {"register": "2/minute"}):
        assert search(api, "smith").status_code == 200
        assert search(api, "smith").status_code == 200
        refused = search(api, "smith")
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled" and int(refused["Retry-After"]) > 0


# --- The web pages -------------------------------------------------------------------


def test_the_search_page_lists_matching_members(client, people):
    page = client.get(reverse("register:search"))
    assert page.status_code == 200
    assert "Search the register" in page.content.decode()
    response = client.get(reverse("register:search"), {"q": "smith"})
    html = response.content.decode()
    assert "2 members found" in html
    assert "Aisha Smith" in html and "Ben Smithson" in html and "Carol" not in html
    assert reverse("register:entry", args=[people["shown"].membership_number]) in html


def test_the_search_page_explains_a_short_or_empty_search(client, people):
    html = client.get(reverse("register:search"), {"q": "a"}).content.decode()
    assert "Enter at least 2 characters" in html
    html = client.get(reverse("register:search"), {"q": "zzzz"}).content.decode()
    assert "No members found" in html


def test_an_entry_page_shows_what_the_member_agreed_to(client, people):
    shown = client.get(reverse("register:entry", args=[people["shown"].membership_number]))
    html = shown.content.decode()
    assert shown.status_code == 200
    assert "Aisha Smith" in html and "Northshire NHS Foundation Trust" in html
    assert "Northtown" in html
    private = client.get(
        reverse("register:entry", args=[people["private_workplace"].membership_number])
    ).content.decode()
    assert "Ben Smithson" in private and "Southtown" not in private
    assert "Northshire" not in private


def test_someone_not_on_the_register_has_no_entry_page(client, people):
    for number in (people["hidden"].membership_number, "9999999"):
        assert client.get(reverse("register:entry", args=[number])).status_code == 404


def test_a_suspended_members_entry_shows_the_suspension(client, people, registrar, clock):
    member_services.member_suspend(
        member=people["shown"],
        actor=registrar,
        reason="Under investigation",
        starts_on=clock.value,
        ends_on=dt.date(2026, 9, 1),
    )
    html = client.get(
        reverse("register:entry", args=[people["shown"].membership_number])
    ).content.decode()
    assert "Suspended" in html and "Under investigation" in html and "1 September 2026" in html


def test_a_member_chooses_on_their_profile_whether_the_register_shows_their_workplace(
    client, api, people
):
    ben = people["private_workplace"]
    client.force_login(ben.user)
    response = client.post(
        reverse("membership_profile"),
        {
            "organisation": "Southshire Community Trust",
            "town": " Southtown ",
            "job_title": "Service manager",
            "management_level": "middle",
            "register_consent": "on",
            "register_show_workplace": "on",
        },
        follow=True,
    )
    assert "Your details are updated." in response.text
    [entry] = search(api, ben.membership_number).json()["results"]
    assert (entry["organisation"], entry["town"]) == ("Southshire Community Trust", "Southtown")
    assert "Southtown" in client.get(reverse("register:entry", args=[ben.membership_number])).text


def test_the_register_pages_are_limited_per_address(client, people):
    from api.throttles import RegisterPageThrottle

    with mock.patch.object(RegisterPageThrottle, "THROTTLE_RATES", {"register_pages": "2/minute"}):
        assert client.get(reverse("register:search"), {"q": "smith"}).status_code == 200
        entry = reverse("register:entry", args=[people["shown"].membership_number])
        assert client.get(entry).status_code == 200
        refused = client.get(entry)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many searches" in refused.text


def test_register_pages_take_a_fixed_number_of_queries(
    client, clock, registrar, django_assert_max_num_queries
):
    for index in range(25):
        person(clock, registrar, f"P{index}", f"Green{index}")
    clock.set(dt.date(2026, 6, 1))
    # The names matched, the count, and the page (with each entry's accreditations)
    # in its two parts: people found by family name and by given name only.
    person(clock, registrar, "Green", "Adams")
    with django_assert_max_num_queries(4):
        page = client.get(reverse("register:search"), {"q": "green"})
    assert "26 members found" in page.text
    member = Member.objects.filter(user__family_name="Green3").get()
    with django_assert_max_num_queries(1):
        client.get(reverse("register:entry", args=[member.membership_number]))


def test_a_forged_forwarded_for_header_does_not_escape_the_limit(api, people):
    with mock.patch.object(KeyScopeRateThrottle, "THROTTLE_RATES", {"register": "1/minute"}):
        for forged, status in (("10.0.0.1", 200), ("10.0.0.2", 429)):
            response = api.get("/api/v1/register", {"q": "smith"}, HTTP_X_FORWARDED_FOR=forged)
            assert response.status_code == status


def test_pages_of_one_shared_name_never_repeat_or_need_an_offset(api, clock, registrar):
    import base64
    from urllib.parse import parse_qs, urlsplit

    for index in range(7):
        person(clock, registrar, f"Person{index}", "Smith")
    clock.set(dt.date(2026, 6, 1))
    seen, page = [], search(api, "smith", page_size=3).json()
    while True:
        seen += [e["membership_number"] for e in page["results"]]
        if not page["next"]:
            break
        cursor = parse_qs(urlsplit(page["next"]).query)["cursor"][0]
        # A unique sort key: the cursor is a position, not "the nth row after a tie",
        # which DRF caps at 1,000 and which would loop on a common name.
        assert "o=" not in base64.b64decode(cursor).decode()
        page = api.get(page["next"]).json()
    assert len(seen) == len(set(seen)) == 7


def test_pages_go_back_as_they_came(api, clock, registrar):
    for index in range(7):
        person(clock, registrar, f"Person{index}", "Smith")
    clock.set(dt.date(2026, 6, 1))
    pages, page = [], search(api, "smith", page_size=3).json()
    while True:
        pages.append([e["given_name"] for e in page["results"]])
        if not page["next"]:
            break
        page = api.get(page["next"]).json()
    back = []
    while page["previous"]:
        page = api.get(page["previous"]).json()
        back.append([e["given_name"] for e in page["results"]])
    assert pages == [
        ["Person0", "Person1", "Person2"],
        ["Person3", "Person4", "Person5"],
        ["Person6"],
    ]
    assert back == pages[-2::-1]


def test_family_and_given_name_matches_come_in_one_register_order(api, clock, registrar):
    # "Green" matches these family names and given names; the order is family name,
    # then given name, then id, however each was found.
    person(clock, registrar, "Zoe", "Green")
    person(clock, registrar, "Green", "Adams")
    person(clock, registrar, "Amy", "Greenwood")
    person(clock, registrar, "Green", "Zeller")
    person(clock, registrar, "Green", "Green")
    twin = [person(clock, registrar, "Ann", "Green") for _ in range(2)]
    person(clock, registrar, "Ann", "Black")
    clock.set(dt.date(2026, 6, 1))
    expected = [
        "Green Adams",
        "Ann Green",
        "Ann Green",
        "Green Green",
        "Zoe Green",
        "Amy Greenwood",
        "Green Zeller",
    ]
    body = search(api, "green").json()
    assert [e["name"] for e in body["results"]] == expected
    twins = [e["membership_number"] for e in body["results"][1:3]]
    assert twins == [m.membership_number for m in sorted(twin, key=lambda m: m.pk)]
    seen, page = [], search(api, "GREEN", page_size=2).json()
    while True:
        seen += [e["name"] for e in page["results"]]
        if not page["next"]:
            break
        page = api.get(page["next"]).json()
    assert seen == expected
    assert [e["name"] for e in search(api, "green ann").json()["results"]] == ["Ann Green"] * 2


def test_a_changed_name_is_found_by_the_new_name_only(api, people):
    user = people["shown"].user
    user.family_name = "Okonkwo-Bright"
    user.save()
    assert [e["name"] for e in search(api, "okonkwo").json()["results"]] == ["Aisha Okonkwo-Bright"]
    assert [e["name"] for e in search(api, "smith").json()["results"]] == ["Ben Smithson"]


def test_a_cursor_that_is_not_a_register_position_is_refused(api, people):
    import base64

    # The last: a JSON-escaped NUL, which PostgreSQL refuses in text (found by review).
    for position in ("smith", "[1, 2, 3]", '["A", "B", "3"]', r'["\u0000","",1]'):
        cursor = base64.b64encode(f"p={position}".encode()).decode()
        response = api.get("/api/v1/register", {"q": "smith", "cursor": cursor})
        assert response.status_code == 404


def test_the_search_pages_number_the_same_order(client, clock, registrar):
    for index in range(23):
        person(clock, registrar, f"P{index:02d}", "Green")
    person(clock, registrar, "Green", "Adams")
    clock.set(dt.date(2026, 6, 1))
    first = client.get(reverse("register:search"), {"q": "green"}).text
    second = client.get(reverse("register:search"), {"q": "green", "page": 2}).text
    assert "24 members found" in first
    assert "Green Adams" in first and "P18 Green" in first and "P19 Green" not in first
    assert all(f"P{index} Green" in second for index in range(19, 23))
    assert "Green Adams" not in second


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the names table is PostgreSQL's")
def test_names_loaded_without_the_trigger_are_added_back(api, people):
    from api.models import RegisterName
    from api.services import register_names_refresh

    assert RegisterName.objects.filter(kind="family", name="Smithson").exists()
    RegisterName.objects.all().delete()  # as after COPY with triggers off
    assert search(api, "smith").json()["results"] == []
    assert register_names_refresh() >= 4
    assert register_names_refresh() == 0
    assert [e["name"] for e in search(api, "smith").json()["results"]] == [
        "Aisha Smith",
        "Ben Smithson",
    ]
