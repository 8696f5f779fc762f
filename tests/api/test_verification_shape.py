"""The verification's written-out representation is exactly what DRF's walk of
its declared fields (the documented schema) gives."""

import datetime as dt

import pytest
from rest_framework import serializers as drf

from api.selectors import Accreditation, Sanction, Verification
from api.serializers import VerificationSerializer
from cpd.returns import ReturnStanding, Standing
from cpd.selectors import cpd_year_containing
from members.models import Status

DAY = dt.date(2026, 6, 1)


def verification(**changes) -> Verification:
    values = {
        "membership_number": "1000017",
        "given_name": "Aisha",
        "family_name": "O’Brien-Khan",
        "on": DAY,
        "status": Status.ACTIVE,
        "status_since": dt.date(2025, 4, 1),
        "grade_name": "Member",
        "post_nominals": "MIHSM",
        "valid_until": dt.date(2027, 3, 31),
        "cpd": ReturnStanding(cpd_year_containing(dt.date(2025, 6, 1)), Standing.ACCEPTED),
        "sanctions": [],
        "accreditations": [],
    }
    return Verification(**(values | changes))


@pytest.mark.parametrize(
    "case",
    [
        verification(),
        verification(status=None, status_since=None, valid_until=None),
        verification(
            status=Status.SUSPENDED,
            cpd=ReturnStanding(cpd_year_containing(dt.date(2024, 6, 1)), Standing.NOT_RETURNED),
            sanctions=[Sanction("suspension", "Suspended", DAY, None, "Under review")],
        ),
        verification(
            status=Status.REMOVED,
            sanctions=[Sanction("removal", "Removed from membership", DAY, None, "")],
            accreditations=[
                Accreditation(
                    scheme="Management",
                    level="Senior",
                    post_nominals="",
                    status="valid",
                    valid_from=dt.date(2025, 1, 1),
                    valid_until=dt.date(2028, 1, 1),
                    certificate_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                ),
            ],
        ),
    ],
)
def test_the_written_out_representation_matches_the_declared_fields(case):
    serializer = VerificationSerializer()
    assert serializer.to_representation(case) == drf.Serializer.to_representation(serializer, case)
