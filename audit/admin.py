from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "sequence",
        "occurred_at",
        "action",
        "subject_type",
        "subject_id",
        "actor_label",
    )
    list_filter = ("action", "subject_type")
    search_fields = ("subject_id", "actor_label", "reason", "request_id")
    date_hierarchy = "occurred_at"
    list_select_related = ("actor",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
