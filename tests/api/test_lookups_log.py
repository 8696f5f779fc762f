"""The lookup log stores what was asked exactly as typed, whichever way it is
written (an unnest INSERT on PostgreSQL, bulk_create elsewhere)."""

import datetime as dt

import pytest

from api.models import LookupChannel, LookupResult, VerificationLookup
from api.services import LookupRecord, lookups_log
from tests.api.builders import make_active_member, make_employer, make_key

pytestmark = pytest.mark.django_db

AWKWARD = [
    "NULL", "null", " Smith ", "", 'O"Brien', "O'Brien", "back\\slash", "{Smith}", "a,b",
    "tab\there", "new\nline", "nul\x00byte", "é" * 200, "  ", "\\N",
]  # fmt: skip


def test_awkward_text_is_stored_as_typed(clock, registrar):
    member = make_active_member(clock, registrar)
    key = make_key()
    records = [
        LookupRecord(
            membership_number=text, family_name=text,
            result=LookupResult.FOUND if i == 0 else LookupResult.NAME_MISMATCH,
            member_id=member.pk if i == 0 else None,
            status="active" if i == 0 else "", on_date=dt.date(2026, 6, 1),
        )
        for i, text in enumerate(AWKWARD)
    ]  # fmt: skip
    lookups_log(employer=key.key.employer, records=records, channel=LookupChannel.API_BULK,
                api_key=key.key)  # fmt: skip
    rows = list(
        VerificationLookup.objects.order_by("id").values_list(
            "membership_number", "family_name", "result", "member_id", "status", "channel",
            "api_key_id", "user_id", "on_date",
        )
    )  # fmt: skip
    assert rows == [
        (
            r.membership_number.replace("\x00", "")[:40], r.family_name.replace("\x00", "")[:150],
            str(r.result), r.member_id, r.status, "api_bulk", key.key.pk, None, r.on_date,
        )
        for r in records
    ]  # fmt: skip


def test_a_single_check_with_no_key_and_no_user(db):
    employer = make_employer()
    lookups_log(
        employer=employer,
        records=[
            LookupRecord("123", "x", LookupResult.UNKNOWN_NUMBER, None, "", dt.date(2026, 1, 1))
        ],
        channel=LookupChannel.PORTAL,
    )
    row = VerificationLookup.objects.get()
    assert (row.result, row.channel, row.api_key_id, row.user_id) == (
        "unknown_number",
        "portal",
        None,
        None,
    )
