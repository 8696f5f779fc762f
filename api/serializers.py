"""Shapes of what the API reads and writes. No rules live here: views call selectors."""

from django.urls import reverse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: e.g. `not_found`, `invalid`.")
    message = serializers.CharField(help_text="For people.")
    field_errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Each invalid input (dotted path) and what was wrong with it; empty otherwise.",
    )


# --- Verification ---------------------------------------------------------------


def _iso(day):
    return day.isoformat() if day is not None else None


class StatusSerializer(serializers.Serializer):
    code = serializers.CharField(
        source="status_code",
        help_text="applicant, active, grace, lapsed, suspended, resigned, removed, deceased, "
        "paused, or not_a_member (before joining).",
    )
    words = serializers.CharField(source="status_words", help_text="The status for people.")
    meaning = serializers.CharField(source="status_meaning")
    since = serializers.DateField(source="status_since", allow_null=True)
    in_good_standing = serializers.BooleanField(
        help_text="True when active or in the grace period."
    )


class GradeSerializer(serializers.Serializer):
    name = serializers.CharField(source="grade_name")
    post_nominals = serializers.CharField()


class MembershipSerializer(serializers.Serializer):
    valid_until = serializers.DateField(
        allow_null=True, help_text="The end of the paid period covering the date asked about."
    )


class CPDStandingSerializer(serializers.Serializer):
    year = serializers.CharField(
        source="year.label", help_text="The last CPD year due, e.g. 2025/26."
    )
    year_starts_on = serializers.DateField(source="year.starts_on")
    year_ends_on = serializers.DateField(source="year.ends_on")
    returned = serializers.SerializerMethodField(
        help_text="Whether the annual CPD return for that year was sent (or none was needed)."
    )
    standing = serializers.CharField(
        help_text="accepted, not_required, not_returned, short or failed_audit."
    )
    words = serializers.CharField()

    def get_returned(self, obj) -> bool:
        return obj.standing != "not_returned"


class SanctionSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["suspension", "removal"])
    words = serializers.CharField()
    since = serializers.DateField(allow_null=True)
    until = serializers.DateField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)


class AccreditationSerializer(serializers.Serializer):
    scheme = serializers.CharField()
    level = serializers.CharField()
    post_nominals = serializers.CharField(
        allow_blank=True, help_text="Letters after the name the level grants, if any."
    )
    status = serializers.CharField(help_text="Always valid: only current certificates are listed.")
    valid_from = serializers.DateField()
    valid_until = serializers.DateField()
    certificate_id = serializers.UUIDField(
        help_text="The certificate's public id: see GET /api/v1/certificates/{public_id}."
    )


class VerificationSerializer(serializers.Serializer):
    membership_number = serializers.CharField()
    given_name = serializers.CharField()
    family_name = serializers.CharField()
    on = serializers.DateField(help_text="The date the answer is for.")
    status = StatusSerializer(source="*")
    grade = GradeSerializer(source="*")
    membership = MembershipSerializer(source="*")
    cpd = CPDStandingSerializer()
    accreditations = AccreditationSerializer(many=True)
    sanctions = SanctionSerializer(many=True, help_text="Sanctions in force on the date.")

    def to_representation(self, v) -> dict:
        """The fields above, written out: DRF's field-by-field walk took longer
        than everything else in a bulk check of 1,000. The fields still define the
        schema, and a test holds this to what DRF's walk gives."""
        return {
            "membership_number": v.membership_number,
            "given_name": v.given_name,
            "family_name": v.family_name,
            "on": _iso(v.on),
            "status": {
                "code": v.status_code,
                "words": v.status_words,
                "meaning": v.status_meaning,
                "since": _iso(v.status_since),
                "in_good_standing": v.in_good_standing,
            },
            "grade": {"name": v.grade_name, "post_nominals": v.post_nominals},
            "membership": {"valid_until": _iso(v.valid_until)},
            "cpd": {
                "year": v.cpd.year.label,
                "year_starts_on": _iso(v.cpd.year.starts_on),
                "year_ends_on": _iso(v.cpd.year.ends_on),
                "returned": v.cpd.standing != "not_returned",
                "standing": str(v.cpd.standing),
                "words": v.cpd.words,
            },
            "accreditations": [
                {
                    "scheme": a.scheme,
                    "level": a.level,
                    "post_nominals": a.post_nominals,
                    "status": a.status,
                    "valid_from": _iso(a.valid_from),
                    "valid_until": _iso(a.valid_until),
                    "certificate_id": str(a.certificate_id),
                }
                for a in v.accreditations
            ],
            "sanctions": [
                {
                    "kind": s.kind,
                    "words": s.words,
                    "since": _iso(s.since),
                    "until": _iso(s.until),
                    "reason": s.reason,
                }
                for s in v.sanctions
            ],
        }


class VerifyQuerySerializer(serializers.Serializer):
    family_name = serializers.CharField(
        max_length=150, help_text="The member's family name: required, so numbers cannot be walked."
    )
    on = serializers.DateField(
        required=False,
        help_text="YYYY-MM-DD: answer as of this date (default today). Not in the future.",
    )


class CheckSerializer(serializers.Serializer):
    membership_number = serializers.CharField(max_length=40)
    family_name = serializers.CharField(max_length=150)


class BulkVerifyRequestSerializer(serializers.Serializer):
    on = serializers.DateField(required=False, help_text="YYYY-MM-DD, default today.")
    checks = CheckSerializer(many=True, min_length=1, max_length=1000)


class BulkResultSerializer(serializers.Serializer):
    membership_number = serializers.CharField()
    family_name = serializers.CharField()
    found = serializers.SerializerMethodField(
        help_text="False when no member has both this number and this family name."
    )
    verification = VerificationSerializer(allow_null=True)

    def get_found(self, obj) -> bool:
        return obj.verification is not None


class BulkVerifyResponseSerializer(serializers.Serializer):
    on = serializers.DateField()
    results = BulkResultSerializer(many=True, help_text="One per check, in the order sent.")


# --- The public register ------------------------------------------------------------


class RegisterStatusSerializer(serializers.Serializer):
    code = serializers.CharField(
        source="status_code", help_text="active, grace, paused or suspended."
    )
    words = serializers.CharField(source="status_words")


class RegisterEntrySerializer(serializers.Serializer):
    membership_number = serializers.CharField()
    name = serializers.CharField()
    given_name = serializers.CharField()
    family_name = serializers.CharField()
    grade = GradeSerializer(source="*")
    status = RegisterStatusSerializer(source="*")
    organisation = serializers.CharField(
        allow_null=True, help_text="Only if the member agreed to show it."
    )
    town = serializers.CharField(allow_null=True, help_text="Only if the member agreed to show it.")
    accreditations = AccreditationSerializer(many=True)
    sanctions = SanctionSerializer(many=True)
    url = serializers.SerializerMethodField(help_text="The entry's page on the register.")

    def get_url(self, obj) -> str:
        path = reverse("register:entry", args=[obj.membership_number])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class RegisterQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        min_length=2,
        max_length=100,
        help_text="A name (or part of one) or a membership number.",
    )


# --- Certificates -------------------------------------------------------------------


class CertificateStatusSerializer(serializers.Serializer):
    code = serializers.CharField(source="status", help_text="valid, suspended, revoked or expired.")
    words = serializers.CharField(source="get_status_display")
    reason = serializers.CharField(
        source="status_reason", help_text="Why it is suspended or revoked; empty otherwise."
    )


class CertificateHolderSerializer(serializers.Serializer):
    name = serializers.CharField(source="user.get_full_name")
    membership_number = serializers.CharField(allow_null=True)


class CertificateSerializer(serializers.Serializer):
    certificate_id = serializers.UUIDField(source="public_id")
    serial = serializers.CharField()
    status = CertificateStatusSerializer(source="*")
    scheme = serializers.CharField(source="level.scheme.name")
    level = serializers.CharField(source="level.name")
    valid_from = serializers.DateField()
    valid_until = serializers.DateField()
    holder = CertificateHolderSerializer(source="member")
    verify_url = serializers.SerializerMethodField(
        help_text="The public verification page (the one the QR code opens)."
    )

    def get_verify_url(self, obj) -> str:
        path = reverse("verify", args=[obj.public_id])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path
