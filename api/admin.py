from django.contrib import admin, messages

from api import services
from api.models import ApiKey, EmployerClient, EmployerUser, VerificationLookup


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
