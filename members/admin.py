from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.urls import reverse
from django.utils.html import format_html

from members.models import (
    Grade,
    GradeChange,
    Invoice,
    Member,
    Organisation,
    Payment,
    Reminder,
    StatusEvent,
    User,
)


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "given_name", "family_name")


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    ordering = ("email",)
    list_display = ("email", "given_name", "family_name", "is_staff", "is_assessor", "is_active")
    list_filter = ("is_staff", "is_assessor", "is_superuser", "is_active")
    search_fields = ("email", "given_name", "family_name")
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Name", {"fields": ("given_name", "family_name")}),
        (
            "Roles",
            {"fields": ("is_active", "is_staff", "is_assessor", "is_superuser", "groups")},
        ),
        ("Permissions", {"classes": ("collapse",), "fields": ("user_permissions",)}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "given_name", "family_name", "password1", "password2"),
            },
        ),
    )


# --- Membership -------------------------------------------------------------------
#
# Grades and organisations are edited here. Everything that changes a member's
# standing (status, number, periods, invoices, payments) goes through
# members.services, from the registrar pages at /registrar/, so each change
# writes its status event and audit record; here those are read-only.


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record that only services write: staff can look, never add, edit or delete."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Grade)
class GradeAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "post_nominals",
        "annual_fee",
        "cpd_hours_required",
        "requires_review",
        "is_open",
        "display_order",
    )
    list_editable = ("display_order",)
    list_filter = ("is_open", "requires_review")
    search_fields = ("name", "post_nominals")
    prepopulated_fields = {"slug": ("name",)}
    fieldsets = (
        (None, {"fields": ("name", "slug", "post_nominals", "eligibility")}),
        (
            "Fees and requirements",
            {
                "description": "A new fee applies to invoices raised and renewals paid from now on; "
                "open invoices keep the fee they were raised at.",
                "fields": (
                    "annual_fee_pence",
                    "stripe_price_id",
                    "cpd_hours_required",
                    "requires_review",
                ),
            },
        ),
        ("Offering", {"fields": ("is_open", "display_order")}),
    )

    @admin.display(description="Annual fee", ordering="annual_fee_pence")
    def annual_fee(self, grade: Grade) -> str:
        return grade.annual_fee_display

    def has_delete_permission(self, request, obj=None):
        # Members, periods and invoices point at grades; close a grade instead.
        return False


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "ods_code")
    search_fields = ("name", "ods_code")


class MemberAdminForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = (
            "job_title",
            "management_level",
            "organisation",
            "organisation_other",
            "register_consent",
        )

    def clean(self):
        cleaned = super().clean()
        # Said here too so the admin shows it on the form; the service enforces it.
        if not cleaned.get("organisation") and not cleaned.get("organisation_other", "").strip():
            raise forms.ValidationError("Choose an organisation from the list or type one.")
        return cleaned


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    """Members are listed and searched here; their standing changes on the registrar pages."""

    form = MemberAdminForm
    list_display = ("full_name", "membership_number", "grade", "status", "period_ends_on")
    list_filter = ("status", "grade")
    search_fields = (
        "membership_number",
        "user__email",
        "user__given_name",
        "user__family_name",
    )
    list_select_related = ("user", "grade")
    autocomplete_fields = ("organisation",)
    readonly_fields = (
        "registrar_page",
        "user",
        "membership_number",
        "grade",
        "status",
        "status_since",
        "period_ends_on",
        "resign_at_period_end",
        "paused_on",
        "suspended_until",
        "suspension_reason",
        "reapply_after",
        "code_of_conduct_agreed_at",
        "created_at",
    )
    fieldsets = (
        (
            "Membership",
            {
                "description": "Status, number, grade and periods are read-only here: "
                "they change only through the registrar pages (suspend, remove, record "
                "payment, grade reviews), which record a reason, write the member's "
                "history and email them.",
                "fields": (
                    "registrar_page",
                    "user",
                    "membership_number",
                    "grade",
                    "status",
                    "status_since",
                    "period_ends_on",
                    "resign_at_period_end",
                    "paused_on",
                    "suspended_until",
                    "suspension_reason",
                    "reapply_after",
                ),
            },
        ),
        (
            "Profile",
            {
                "description": "Changes here are recorded in the member's audit history.",
                "fields": (
                    "job_title",
                    "management_level",
                    "organisation",
                    "organisation_other",
                    "register_consent",
                ),
            },
        ),
        ("Dates", {"fields": ("code_of_conduct_agreed_at", "created_at")}),
    )

    @admin.display(description="Name", ordering="user__family_name")
    def full_name(self, member: Member) -> str:
        return member.user.get_full_name() or member.user.email

    @admin.display(description="Registrar page")
    def registrar_page(self, member: Member) -> str:
        url = reverse("registrar:member_detail", kwargs={"public_id": member.public_id})
        return format_html('<a href="{}">Open the member on the registrar pages</a>', url)

    def has_add_permission(self, request):
        # People join through the site, which starts their history properly.
        return False

    def has_change_permission(self, request, obj=None):
        # The service refuses profile changes once a membership has ended
        # (removed, deceased); show those records read-only rather than offer a
        # form whose save would fail.
        from members.services import member_can

        if obj is not None and not member_can(obj, "update_profile"):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Through the service, so the change is locked, checked and audited. Imported
        # here, not at the top: the admin loads during django.setup(), and importing the
        # services then creates the email task's backend before tests can choose theirs.
        from members.services import member_profile_update

        member_profile_update(
            member=obj,
            actor=request.user,
            **{name: form.cleaned_data[name] for name in form.changed_data},
        )


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = (
        "number",
        "member",
        "grade",
        "amount",
        "payer_organisation",
        "purchase_order",
        "issued_on",
        "due_on",
        "state",
    )
    list_filter = ("state", "grade")
    search_fields = ("number", "payer_organisation", "purchase_order", "member__membership_number")
    list_select_related = ("member__user", "grade")
    date_hierarchy = "issued_on"

    @admin.display(description="Amount", ordering="amount_pence")
    def amount(self, invoice: Invoice) -> str:
        return invoice.amount_display


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("receipt_number", "member", "method", "amount", "received_on", "reference")
    list_filter = ("method",)
    search_fields = ("receipt_number", "reference", "member__membership_number")
    list_select_related = ("member__user",)
    date_hierarchy = "received_on"

    @admin.display(description="Amount", ordering="amount_pence")
    def amount(self, payment: Payment) -> str:
        return payment.amount_display


@admin.register(StatusEvent)
class StatusEventAdmin(ReadOnlyAdmin):
    list_display = ("member", "from_status", "to_status", "effective_date", "source", "actor")
    list_filter = ("to_status", "source")
    search_fields = ("member__membership_number", "member__user__email", "reason")
    list_select_related = ("member__user", "actor")
    date_hierarchy = "effective_date"


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ("period", "member", "kind", "due_on", "sent_at", "attempts", "last_error")
    list_filter = ("kind",)
    search_fields = ("period__member__membership_number", "period__member__user__email")
    list_select_related = ("period__member__user",)
    date_hierarchy = "due_on"

    @admin.display(description="Member")
    def member(self, reminder: Reminder) -> Member:
        return reminder.period.member


@admin.register(GradeChange)
class GradeChangeAdmin(ReadOnlyAdmin):
    """Requests are decided on the registrar's grade review page."""

    list_display = ("member", "from_grade", "to_grade", "state", "requested_at", "decided_by")
    list_filter = ("state", "to_grade")
    search_fields = ("member__membership_number", "member__user__email")
    list_select_related = ("member__user", "from_grade", "to_grade", "decided_by")
