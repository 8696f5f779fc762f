from django.contrib import admin

from accreditation.models import (
    Appeal,
    Application,
    Assessment,
    Assignment,
    Certificate,
    ConflictOfInterest,
    Level,
    Referee,
    Scheme,
    StandardJudgement,
    StandardStatement,
)

# Schemes and levels are set up here. Applications, assessments and appeals are
# read-only: every change to them goes through accreditation.services, which
# locks, re-checks the state and writes the audit trail.


class LevelInline(admin.TabularInline):
    model = Level
    fields = ["name", "management_level", "assessors_required", "fee_pence"]
    extra = 0
    show_change_link = True


@admin.register(Scheme)
class SchemeAdmin(admin.ModelAdmin):
    list_display = ["name", "is_open"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [LevelInline]


@admin.register(Level)
class LevelAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "scheme",
        "management_level",
        "assessors_required",
        "referees_required",
        "validity_years",
        "fee_pence",
    ]
    list_filter = ["scheme", "management_level"]
    filter_horizontal = ["required_standards"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "scheme",
                    "name",
                    "management_level",
                    "fee_pence",
                    "validity_years",
                    "post_nominals",
                ]
            },
        ),
        ("Evidence", {"fields": ["required_standards", "per_domain_minimum"]}),
        (
            "Eligibility",
            {"fields": ["min_months_in_role", "cpd_minutes_last_12_months", "referees_required"]},
        ),
        ("Assessment", {"fields": ["assessors_required"]}),
    ]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return self.fields


class StatementInline(ReadOnlyInline):
    model = StandardStatement
    fields = ["standard", "statement"]


class RefereeInline(ReadOnlyInline):
    model = Referee
    fields = ["name", "email", "invited_at", "expires_at", "response", "responded_at", "comment"]


class AssignmentInline(ReadOnlyInline):
    model = Assignment
    fk_name = "application"
    fields = ["assessor", "role", "assigned_at", "accepted_at", "declined_at"]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "member", "level", "state", "submitted_at", "decided_at"]
    list_filter = ["state", "level"]
    search_fields = ["public_id", "member__membership_number", "member__user__email"]
    list_select_related = ["member__user", "level__scheme"]
    inlines = [StatementInline, RefereeInline, AssignmentInline]


class JudgementInline(ReadOnlyInline):
    model = StandardJudgement
    fields = ["standard", "judgement", "comment"]


@admin.register(Assessment)
class AssessmentAdmin(ReadOnlyAdmin):
    list_display = ["assignment", "recommendation", "submitted_at"]
    inlines = [JudgementInline]


@admin.register(Appeal)
class AppealAdmin(ReadOnlyAdmin):
    list_display = ["application", "lodged_at", "outcome", "decided_at"]


@admin.register(ConflictOfInterest)
class ConflictOfInterestAdmin(ReadOnlyAdmin):
    list_display = ["assessor", "member", "declared_at"]


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    """Read-only: suspend, lift and revoke on the registrar's certificate pages, which audit."""

    list_display = ["serial", "member", "level", "status", "valid_from", "valid_until"]
    list_filter = ["status", "level"]
    search_fields = ["serial", "public_id", "member__membership_number", "member__user__email"]
    list_select_related = ["member__user", "level__scheme"]
