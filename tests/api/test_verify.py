"""Verification: one member or a thousand, as of any date, every lookup logged,
and an unknown number answered exactly like a wrong name."""

import datetime as dt
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api import services as api_services
from api.models import ApiKey, LookupChannel, LookupResult, VerificationLookup
from api.throttles import KeyRateThrottle, KeyScopeRateThrottle
from cpd.models import AnnualReturn
from members import services as member_services
from members.models import Status
from tests.api.builders import JOIN_DAY, make_active_member, make_key
from tests.factories import GradeFactory, UserFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 1)


def url(number: str, family_name: str | None = None, on: str | None = None) -> str:
    params = []
    if family_name is not None:
        params.append(f"family_name={family_name}")
    if on is not None:
        params.append(f"on={on}")
    return f"/api/v1/verify/{number}" + ("?" + "&".join(params) if params else "")


@pytest.fixture
def member(clock, registrar):
    grade = GradeFactory(name="Member", slug="member", post_nominals="MIHSM")
    member = make_active_member(
        clock,
        registrar,
        grade=grade,
        user=UserFactory(given_name="Aisha", family_name="O’Brien-Khan"),
    )
    clock.set(TODAY)
    return member


def test_an_active_member_is_verified_with_everything_an_employer_needs(
    employer_api, member, verify_key
):
    response = employer_api.get(url(member.membership_number, "O’Brien-Khan"))
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "membership_number": member.membership_number,
        "given_name": "Aisha",
        "family_name": "O’Brien-Khan",
        "on": "2026-06-01",
        "status": {
            "code": "active",
            "words": "Active",
            "meaning": "A member in good standing.",
            "since": "2026-03-10",
            "in_good_standing": True,
        },
        "grade": {"name": "Member", "post_nominals": "MIHSM"},
        "membership": {"valid_until": "2027-03-09"},
        "cpd": {
            # 2025/26 ended in March and its return was due on 30 April; she was a
            # member by its end (joined 10 March), and sent none.
            "year": "2025/26",
            "year_starts_on": "2025-04-01",
            "year_ends_on": "2026-03-31",
            "returned": False,
            "standing": "not_returned",
            "words": "not returned",
        },
        "accreditations": [],
        "sanctions": [],
    }
    lookup = VerificationLookup.objects.get()
    assert (lookup.employer, lookup.api_key, lookup.member) == (
        verify_key.key.employer,
        verify_key.key,
        member,
    )
    assert (lookup.result, lookup.status, lookup.on_date, lookup.channel) == (
        LookupResult.FOUND,
        "active",
        TODAY,
        LookupChannel.API,
    )


def test_a_sent_return_shows_as_returned(employer_api, member):
    AnnualReturn.objects.create(
        member=member,
        year_starts_on=dt.date(2025, 4, 1),
        year_ends_on=dt.date(2026, 3, 31),
        due_on=dt.date(2026, 4, 30),
        state=AnnualReturn.State.SUBMITTED,
        meets_requirement=True,
    )
    cpd = employer_api.get(url(member.membership_number, "o'brien khan")).json()["cpd"]
    assert (cpd["returned"], cpd["standing"]) == (True, "accepted")


@pytest.mark.parametrize("written", ["o'brien-khan", "O’BRIEN KHAN", " O'Brién-Khan "])
def test_the_family_name_matches_whatever_the_case_accents_or_punctuation(
    employer_api, member, written
):
    assert employer_api.get(url(member.membership_number, written)).status_code == 200


def test_an_unknown_number_and_a_wrong_name_get_the_same_answer(employer_api, member):
    wrong_name = employer_api.get(url(member.membership_number, "Smith"))
    unknown = employer_api.get(url("9999999", "O’Brien-Khan"))
    assert wrong_name.status_code == unknown.status_code == 404
    assert (
        wrong_name.json()
        == unknown.json()
        == {
            "code": "no_match",
            "message": "No member has this membership number and family name.",
            "field_errors": {},
        }
    )
    assert dict(wrong_name.headers).keys() == dict(unknown.headers).keys()
    # Both are logged, apart for us, and neither is linked to the member.
    results = list(VerificationLookup.objects.order_by("id").values_list("result", "member"))
    assert results == [(LookupResult.NAME_MISMATCH, None), (LookupResult.UNKNOWN_NUMBER, None)]


def test_the_family_name_is_required(employer_api, member):
    response = employer_api.get(url(member.membership_number))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and list(body["field_errors"]) == ["family_name"]
    assert not VerificationLookup.objects.exists()


@pytest.mark.parametrize(
    ("on", "message"),
    [("2026-06-02", "future"), ("1 June", "format"), ("0001-01-01", "before 1 January 2000")],
)
def test_the_date_must_be_a_past_iso_date(employer_api, member, on, message):
    response = employer_api.get(url(member.membership_number, "O'Brien-Khan", on))
    assert response.status_code == 400
    assert message in response.json()["field_errors"]["on"][0]


def _status_of(employer_api, member, on: dt.date | None = None) -> dict:
    response = employer_api.get(
        url(member.membership_number, member.user.family_name, on.isoformat() if on else None)
    )
    assert response.status_code == 200, response.json()
    return response.json()


def test_the_status_on_a_date_comes_from_the_history(employer_api, clock, registrar):
    member = make_active_member(clock, registrar)
    # Suspended from 1 May to 31 May 2026, lifted by the daily job on 1 June.
    clock.set(dt.date(2026, 5, 1))
    member_services.member_suspend(
        member=member,
        actor=registrar,
        reason="Conduct under investigation",
        starts_on=dt.date(2026, 5, 1),
        ends_on=dt.date(2026, 5, 31),
    )
    during = _status_of(employer_api, member)
    assert during["status"]["code"] == "suspended"
    assert not during["status"]["in_good_standing"]
    assert during["sanctions"] == [
        {
            "kind": "suspension",
            "words": "Suspended",
            "since": "2026-05-01",
            "until": "2026-05-31",
            "reason": "Conduct under investigation",
        }
    ]
    clock.set(dt.date(2026, 6, 1))
    member_services.membership_daily_run(today=dt.date(2026, 6, 1))
    # Period ended 9 March 2027: grace from the 10th, lapsed after 30 days.
    clock.set(dt.date(2027, 5, 1))
    member_services.membership_daily_run(today=dt.date(2027, 5, 1))
    assert _status_of(employer_api, member)["status"]["code"] == "lapsed"

    before_joining = _status_of(employer_api, member, JOIN_DAY - dt.timedelta(days=1))
    assert before_joining["status"] == {
        "code": "not_a_member",
        "words": "Not a member on this date",
        "meaning": "Was not a member on this date.",
        "since": None,
        "in_good_standing": False,
    }
    assert before_joining["membership"]["valid_until"] is None
    assert _status_of(employer_api, member, JOIN_DAY)["status"]["code"] == "active"
    in_suspension = _status_of(employer_api, member, dt.date(2026, 5, 15))
    assert in_suspension["status"]["code"] == "suspended"
    # Past and lifted: the reason and start are given, the end is not known from the history.
    assert in_suspension["sanctions"][0]["since"] == "2026-05-01"
    assert in_suspension["sanctions"][0]["until"] is None
    after = _status_of(employer_api, member, dt.date(2026, 6, 1))
    assert (after["status"]["code"], after["sanctions"]) == ("active", [])
    in_grace = _status_of(employer_api, member, dt.date(2027, 3, 20))
    assert in_grace["status"]["code"] == "grace"
    assert in_grace["status"]["in_good_standing"] is True
    assert in_grace["membership"]["valid_until"] == "2027-03-09"


@pytest.mark.parametrize(
    ("status", "move", "good", "sanction"),
    [
        (Status.ACTIVE, None, True, None),
        ("grace", "grace", True, None),
        ("lapsed", "lapsed", False, None),
        (Status.SUSPENDED, "suspend", False, "suspension"),
        (Status.RESIGNED, "resign", False, None),
        (Status.REMOVED, "remove", False, "removal"),
        (Status.DECEASED, "death", False, None),
        (Status.PAUSED, "pause", False, None),
    ],
)
def test_each_status_is_given_in_code_and_words(
    employer_api, clock, registrar, status, move, good, sanction
):
    member = make_active_member(clock, registrar)
    clock.set(dt.date(2026, 6, 1))
    if move == "grace":
        clock.set(dt.date(2027, 3, 20))
        member_services.membership_daily_run(today=clock.value)
    elif move == "lapsed":
        clock.set(dt.date(2027, 5, 1))
        member_services.membership_daily_run(today=clock.value)
    elif move == "suspend":
        member_services.member_suspend(
            member=member, actor=registrar, reason="Fraud inquiry", starts_on=clock.value
        )
    elif move == "resign":
        member_services.member_resign(member=member, at_period_end=False)
    elif move == "remove":
        member_services.member_remove(member=member, actor=registrar, reason="Struck off")
    elif move == "death":
        member_services.member_record_death(
            member=member, actor=registrar, reason="Told by family", died_on=clock.value
        )
    elif move == "pause":
        member_services.member_pause(member=member, reason="Parental leave")
    body = _status_of(employer_api, member)
    assert body["status"]["code"] == Status(status).value
    assert body["status"]["words"] == Status(status).label
    assert body["status"]["in_good_standing"] is good
    assert [s["kind"] for s in body["sanctions"]] == ([sanction] if sanction else [])
    if sanction == "removal":
        assert body["sanctions"][0]["reason"] == ""  # the reason is not published


def test_a_single_verify_takes_three_queries_key_lookup_and_log(employer_api, member, verify_key):
    ApiKey.objects.filter(pk=verify_key.key.pk).update(last_used_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        response = employer_api.get(url(member.membership_number, "O'Brien-Khan"))
    assert response.status_code == 200
    assert len(queries) == 3, [q["sql"][:80] for q in queries]
    # With last_used_at a minute old, the one UPDATE is added.
    ApiKey.objects.filter(pk=verify_key.key.pk).update(
        last_used_at=timezone.now() - dt.timedelta(minutes=2)
    )
    with CaptureQueriesContext(connection) as queries:
        employer_api.get(url(member.membership_number, "O'Brien-Khan"))
    assert len(queries) == 4


def test_a_bulk_check_answers_each_pair_in_order(employer_api, member, clock, registrar):
    other = make_active_member(clock, registrar, joined=dt.date(2026, 4, 1))
    clock.set(TODAY)
    checks = [
        {"membership_number": other.membership_number, "family_name": other.user.family_name},
        {"membership_number": "1234567", "family_name": "Nobody"},
        {"membership_number": member.membership_number, "family_name": "Wrong"},
        {"membership_number": member.membership_number, "family_name": "O'Brien-Khan"},
    ]
    response = employer_api.post("/api/v1/verify/bulk", {"checks": checks}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["on"] == "2026-06-01"
    assert [(r["membership_number"], r["found"]) for r in body["results"]] == [
        (other.membership_number, True),
        ("1234567", False),
        (member.membership_number, False),
        (member.membership_number, True),
    ]
    assert body["results"][1]["verification"] is None
    assert body["results"][1] == {**body["results"][2], **checks[1]} | {"found": False}
    assert body["results"][3]["verification"]["given_name"] == "Aisha"
    assert VerificationLookup.objects.filter(channel=LookupChannel.API_BULK).count() == 4


def test_a_bulk_check_of_a_thousand_takes_a_fixed_number_of_queries(
    employer_api, clock, registrar, verify_key
):
    members = [make_active_member(clock, registrar) for _ in range(5)]
    clock.set(TODAY)
    ApiKey.objects.filter(pk=verify_key.key.pk).update(last_used_at=timezone.now())

    def run(count: int):
        checks = [
            {
                "membership_number": members[i % 5].membership_number,
                "family_name": members[i % 5].user.family_name if i % 3 else "Wrong",
            }
            for i in range(count)
        ]
        with CaptureQueriesContext(connection) as queries:
            response = employer_api.post("/api/v1/verify/bulk", {"checks": checks}, format="json")
        assert response.status_code == 200
        assert len(response.json()["results"]) == count
        return len(queries)

    # Key, one read of every member (with everything the answers need), the log insert.
    assert run(2) == run(1000) == 3
    assert VerificationLookup.objects.count() == 1002


@pytest.mark.parametrize("count", [0, 1001])
def test_a_bulk_check_takes_one_to_a_thousand_pairs(employer_api, count):
    checks = [{"membership_number": "1", "family_name": "X"}] * count
    response = employer_api.post("/api/v1/verify/bulk", {"checks": checks}, format="json")
    assert response.status_code == 400
    assert "checks" in response.json()["field_errors"]


def test_bulk_errors_name_the_item_and_field(employer_api):
    checks = [{"membership_number": "1", "family_name": "X"}, {"membership_number": "2"}]
    response = employer_api.post("/api/v1/verify/bulk", {"checks": checks}, format="json")
    assert response.status_code == 400
    assert response.json()["field_errors"] == {"checks.1.family_name": ["This field is required."]}


def test_the_verify_scope_is_needed(api, employer, member):
    made = make_key(employer, scopes=["watchlist"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {made.raw}")
    response = api.get(url(member.membership_number, "O'Brien-Khan"))
    assert response.status_code == 403 and response.json()["code"] == "scope_missing"
    assert api.post("/api/v1/verify/bulk", {}, format="json").status_code == 403
    assert not VerificationLookup.objects.exists()


def test_without_a_key_nothing_is_answered(api, member):
    for response in (
        api.get(url(member.membership_number, "O'Brien-Khan")),
        api.post("/api/v1/verify/bulk", {"checks": []}, format="json"),
    ):
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


def test_too_many_calls_get_a_429_with_retry_after_per_scope_and_per_key(employer_api, member):
    with mock.patch.object(
        KeyScopeRateThrottle, "THROTTLE_RATES", {"verify": "2/minute", "verify_bulk": "1/hour"}
    ):
        assert employer_api.get(url(member.membership_number, "X")).status_code == 404
        assert employer_api.get(url(member.membership_number, "X")).status_code == 404
        refused = employer_api.get(url(member.membership_number, "X"))
        assert refused.status_code == 429
        assert refused.json()["code"] == "throttled"
        assert 0 < int(refused["Retry-After"]) <= 60
        # Another scope has its own allowance.
        ok = employer_api.post(
            "/api/v1/verify/bulk",
            {"checks": [{"membership_number": "1", "family_name": "X"}]},
            format="json",
        )
        assert ok.status_code == 200


def test_the_key_wide_limit_covers_every_scope(employer, member):
    from rest_framework.test import APIClient

    made = make_key(employer, scopes=["verify"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {made.raw}")
    with mock.patch.object(KeyRateThrottle, "THROTTLE_RATES", {"key": "1/minute"}):
        assert client.get(url(member.membership_number, "X")).status_code == 404
        refused = client.post("/api/v1/verify/bulk", {"checks": []}, format="json")
        assert refused.status_code == 429 and "Retry-After" in refused
        # Another key of the same employer is counted apart.
        other = make_key(employer, scopes=["verify"])
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {other.raw}")
        assert client.get(url(member.membership_number, "X")).status_code == 404


def test_an_unexpected_error_is_a_500_in_the_one_shape(employer_api, member, caplog):
    with mock.patch.object(api_services, "members_verify", side_effect=RuntimeError("boom")):
        response = employer_api.get(url(member.membership_number, "X"))
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert set(response.json()) == {"code", "message", "field_errors"}
    assert "boom" not in response.content.decode()
    assert any("Unhandled error" in record.message for record in caplog.records)


def test_a_wrong_method_and_an_unknown_address_use_the_one_shape(employer_api):
    wrong = employer_api.delete("/api/v1/verify/bulk")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"
    missing = employer_api.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_an_unknown_address_answers_any_method_in_the_one_shape(api):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    for method in ("get", "post", "put", "delete"):
        response = getattr(client, method)("/api/v1/nowhere")
        assert response.status_code == 404, method
        assert response.json()["code"] == "not_found"


def test_a_nul_byte_or_symbols_in_a_number_match_no_one(employer_api, member, client):
    for number in (f"\x00{member.membership_number}", f"{member.membership_number}'--"):
        response = employer_api.get(url(number, member.user.family_name))
        assert response.status_code == 404 and response.json()["code"] == "no_match"
    assert client.get(f"/register/{member.membership_number}%00/").status_code == 404
    wrong_name = employer_api.get(url(member.membership_number, "Sm\x00ith"))
    assert wrong_name.status_code == 400 and wrong_name.json()["code"] == "invalid"
    assert employer_api.get("/api/v1/register?q=Sm%00ith").status_code in (200, 400)
    assert client.get("/register/?q=Sm%00ith").status_code in (200, 400)


def test_oversized_and_malformed_requests_are_4xx_in_the_one_shape(employer_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    checks = [{"membership_number": "1", "family_name": "X" * 50}] * 30
    big = employer_api.post("/api/v1/verify/bulk", {"checks": checks}, format="json")
    assert big.status_code == 413 and big.json()["code"] == "too_big"
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    many = employer_api.get("/api/v1/verify/1?" + "&".join(f"f{n}=1" for n in range(10)))
    assert many.status_code == 400 and many.json()["code"] == "bad_request"


def test_a_past_suspension_never_shows_the_current_ones_end(employer_api, clock, registrar):
    member = make_active_member(clock, registrar)
    clock.set(dt.date(2026, 5, 1))
    member_services.member_suspend(
        member=member,
        actor=registrar,
        reason="First",
        starts_on=dt.date(2026, 5, 1),
        ends_on=dt.date(2026, 5, 31),
    )
    clock.set(dt.date(2026, 6, 1))
    member_services.membership_daily_run(today=dt.date(2026, 6, 1))
    clock.set(dt.date(2026, 8, 1))
    member_services.member_suspend(
        member=member,
        actor=registrar,
        reason="Second",
        starts_on=dt.date(2026, 8, 1),
        ends_on=dt.date(2026, 9, 30),
    )
    assert _status_of(employer_api, member)["sanctions"][0]["until"] == "2026-09-30"
    earlier = _status_of(employer_api, member, dt.date(2026, 5, 15))
    assert earlier["sanctions"][0]["reason"] == "First"
    assert earlier["sanctions"][0]["until"] is None
