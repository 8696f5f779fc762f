from django.contrib import admin, messages

from api import services
from api.models import (
    ApiKey,
    BulkVerification,
    DeliveryAttempt,
    EmployerClient,
    EmployerUser,
    VerificationLookup,
    WatchEntry,
    WebhookDelivery,
    WebhookEndpoint,
)


class EmployerUserInline(admin.TabularInline):
    model = EmployerUser
    extra = 0
    autocomplete_fields = ("user",)
    readonly_fields = ("created_at",)


@admin.register(EmployerClient)
class EmployerClientAdmin(admin.ModelAdmin):
    list_display = ("name", "contact_email", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "contact_email")
    readonly_fields = ("public_id", "created_at")
    inlines = [EmployerUserInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made in the employer portal (the secret is shown once there);
    here registrars can see them and revoke them."""

    list_display = (
        "prefix",
        "name",
        "employer",
        "scopes",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("employer",)
    search_fields = ("prefix", "name", "employer__name")
    fields = (
        "employer",
        "name",
        "prefix",
        "scopes",
        "created_by",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            services.api_key_revoke(key=key, actor=request.user, reason="Revoked in the admin")
        self.message_user(request, f"Revoked {queryset.count()} keys.", messages.SUCCESS)


@admin.register(VerificationLookup)
class VerificationLookupAdmin(admin.ModelAdmin):
    list_display = ("at", "employer", "channel", "membership_number", "result", "status", "on_date")
    list_filter = ("channel", "result")
    search_fields = ("membership_number", "employer__name")
    date_hierarchy = "at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- Watch lists, webhooks and bulk checks (read-only: changed through the portal) ---


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WatchEntry)
class WatchEntryAdmin(_ReadOnly):
    list_display = ("membership_number", "family_name", "employer", "added_at")
    list_filter = ("employer",)
    search_fields = ("membership_number", "family_name", "employer__name")
    list_select_related = ("employer",)


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("attempted_at", "response_code", "error", "duration_ms", "succeeded")
    readonly_fields = fields


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_ReadOnly):
    list_display = ("url", "employer", "active", "failure_count", "disabled_at")
    list_filter = ("active", "employer")
    search_fields = ("url", "employer__name")
    exclude = ("secret",)
    list_select_related = ("employer",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnly):
    list_display = ("event_id", "event_type", "endpoint", "status", "attempts", "created_at")
    list_filter = ("status", "event_type")
    search_fields = ("event_id", "endpoint__url", "endpoint__employer__name")
    list_select_related = ("endpoint",)
    inlines = [DeliveryAttemptInline]


@admin.register(BulkVerification)
class BulkVerificationAdmin(_ReadOnly):
    list_display = ("filename", "employer", "status", "total_rows", "matched_rows", "created_at")
    list_filter = ("status",)
    exclude = ("rows", "result_csv")
    list_select_related = ("employer",)
