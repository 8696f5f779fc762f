from django import forms
from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html

from cpd.frameworks import FrameworkError, framework_draft_create, framework_publish
from cpd.models import (
    AnnualReturn,
    AuditCase,
    AuditSample,
    Domain,
    Entry,
    Evidence,
    Framework,
    Goal,
    Indicator,
    ShareLink,
    Standard,
)

# --- Frameworks ---------------------------------------------------------------------------
#
# Only drafts can be edited. A current or retired version is what members'
# entries point at, so it is shown read-only; to change it, copy it into a draft
# ("Create a draft from this version"), edit the draft, then publish it.

DRAFTS_ONLY = (
    "Only drafts can be edited. Current and retired versions are read-only because "
    "members' CPD entries point at them: to change a framework, tick the current "
    "version in the list of frameworks, choose \u201cCreate a draft from this version\u201d, "
    "edit the draft, then publish it with \u201cPublish this draft\u201d."
)


def framework_of(obj) -> Framework:
    if isinstance(obj, Framework):
        return obj
    if isinstance(obj, Indicator):
        return obj.standard.framework
    return obj.framework  # a domain or a standard


# Framework actions are offered in the list and on each version's own page.
BOTH = [admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM]


def domain_label(domain: Domain) -> str:
    """Which framework and version a domain belongs to, for pickers that mix them."""
    framework = domain.framework
    return f"{framework.short_name} v{framework.version}: {domain.code} {domain.title}"


class DraftsOnlyMixin:
    """Edit and delete only what belongs to a draft; ``obj`` is the row itself, or
    for an inline the parent row being edited."""

    def _is_draft(self, obj) -> bool:
        return obj is None or framework_of(obj).status == Framework.Status.DRAFT

    def has_change_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_delete_permission(request, obj)


class DraftsOnlyInlineMixin(DraftsOnlyMixin):
    def has_add_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_add_permission(request, obj)


class DomainInline(DraftsOnlyInlineMixin, admin.TabularInline):
    model = Domain
    fields = ("order", "code", "title", "description")
    extra = 0
    show_change_link = True


class FrameworkAddForm(forms.ModelForm):
    class Meta:
        model = Framework
        fields = ("key", "name", "short_name", "is_primary", "source_note")

    def clean_key(self):
        key = self.cleaned_data["key"]
        if Framework.objects.filter(key=key).exists():
            raise forms.ValidationError(
                "A framework with this key already exists: to change it, create a draft "
                "from its current version instead."
            )
        return key

    def clean_is_primary(self):
        is_primary = self.cleaned_data["is_primary"]
        if is_primary and Framework.objects.filter(is_primary=True).exists():
            raise forms.ValidationError("There is already a primary framework.")
        return is_primary


@admin.register(Framework)
class FrameworkAdmin(DraftsOnlyMixin, admin.ModelAdmin):
    list_display = ("name", "version", "status", "published_on", "is_primary")
    list_filter = ("status", "key")
    search_fields = ("name", "short_name", "key")
    inlines = [DomainInline]
    actions = ["create_draft", "publish_draft"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = FrameworkAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # Status and dates change only through the actions; the family is fixed.
        if obj is None:
            return ("version", "status", "published_on")
        return ("key", "version", "status", "published_on", "is_primary")

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return (
                (
                    None,
                    {
                        "description": "A new framework starts as a draft, version 1. "
                        "Add its domains, then publish it from the list of frameworks.",
                        "fields": ("key", "name", "short_name", "is_primary", "source_note"),
                    },
                ),
            )
        return (
            (
                None,
                {
                    "description": DRAFTS_ONLY,
                    "fields": (
                        "name",
                        "short_name",
                        "key",
                        "version",
                        "status",
                        "published_on",
                        "is_primary",
                        "source_note",
                    ),
                },
            ),
        )

    def has_delete_permission(self, request, obj=None):
        # Never in bulk, and (through the mixin) never a published version: members'
        # entries point at its standards. A draft can be deleted from its own page.
        return obj is not None and super().has_delete_permission(request, obj)

    def _link(self, framework: Framework) -> str:
        url = reverse("admin:cpd_framework_change", args=[framework.pk])
        return format_html('<a href="{}">{}</a>', url, framework)

    @admin.action(
        description="Create a draft from this version", permissions=["change"], location=BOTH
    )
    def create_draft(self, request, queryset):
        for framework in queryset.order_by("pk"):
            try:
                draft = framework_draft_create(framework=framework, actor=request.user)
            except FrameworkError as error:
                self.message_user(request, f"{framework}: {error}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    format_html(
                        "Created {}. Edit it, then publish it when it is ready.",
                        self._link(draft),
                    ),
                    messages.SUCCESS,
                )

    @admin.action(description="Publish this draft", permissions=["change"], location=BOTH)
    def publish_draft(self, request, queryset):
        for framework in queryset.order_by("pk"):
            was_current = framework.status == Framework.Status.CURRENT
            try:
                published = framework_publish(framework=framework, actor=request.user)
            except FrameworkError as error:
                self.message_user(request, f"{framework}: {error}", messages.ERROR)
                continue
            if was_current:
                self.message_user(
                    request, f"{published} is already the current version.", messages.WARNING
                )
            else:
                self.message_user(
                    request,
                    f"Published {published.name} version {published.version}; the version "
                    "before it is now retired. Entries already mapped to it keep their "
                    "standards.",
                    messages.SUCCESS,
                )


class StandardInlineFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        codes = [
            form.cleaned_data["code"]
            for form in self.forms
            if form.cleaned_data.get("code") and not form.cleaned_data.get("DELETE")
        ]
        duplicates = sorted({code for code in codes if codes.count(code) > 1})
        if duplicates:
            raise forms.ValidationError(
                f"Each standard needs its own code: {', '.join(duplicates)} is used twice."
            )


class StandardForm(forms.ModelForm):
    """A standard belongs to its domain's framework; the code is unique within it."""

    class Meta:
        model = Standard
        fields = ("domain", "order", "code", "title", "description", "counts_towards")

    def clean(self):
        cleaned = super().clean()
        domain = cleaned.get("domain") or getattr(self.instance, "domain", None)
        code = cleaned.get("code")
        if domain is not None:
            self.instance.framework_id = domain.framework_id
            clash = Standard.objects.filter(framework_id=domain.framework_id, code=code)
            if code and clash.exclude(pk=self.instance.pk).exists():
                self.add_error("code", "Another standard in this framework has this code.")
        return cleaned


class StandardInline(DraftsOnlyInlineMixin, admin.TabularInline):
    model = Standard
    form = StandardForm
    formset = StandardInlineFormSet
    fields = ("order", "code", "title", "description")
    extra = 0
    show_change_link = True


class DomainForm(forms.ModelForm):
    class Meta:
        model = Domain
        fields = ("framework", "order", "code", "title", "description")

    def clean(self):
        cleaned = super().clean()
        # The framework is read-only once the domain exists, so the form cannot
        # check the (framework, code) constraint by itself.
        framework_id = cleaned["framework"].pk if cleaned.get("framework") else None
        framework_id = framework_id or self.instance.framework_id
        code = cleaned.get("code")
        clash = Domain.objects.filter(framework_id=framework_id, code=code)
        if framework_id and code and clash.exclude(pk=self.instance.pk).exists():
            self.add_error("code", "Another domain in this framework has this code.")
        return cleaned


@admin.register(Domain)
class DomainAdmin(DraftsOnlyMixin, admin.ModelAdmin):
    form = DomainForm
    list_display = ("code", "title", "framework", "order")
    list_filter = ("framework__key", "framework__status")
    search_fields = ("code", "title")
    list_select_related = ("framework",)
    inlines = [StandardInline]

    def get_readonly_fields(self, request, obj=None):
        return ("framework",) if obj else ()

    def get_fieldsets(self, request, obj=None):
        return ((None, {"description": DRAFTS_ONLY, "fields": DomainForm.Meta.fields}),)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "framework":
            kwargs["queryset"] = Framework.objects.filter(status=Framework.Status.DRAFT)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class IndicatorInline(DraftsOnlyInlineMixin, admin.TabularInline):
    model = Indicator
    fields = ("level", "text")
    extra = 0
    max_num = 4


@admin.register(Standard)
class StandardAdmin(DraftsOnlyMixin, admin.ModelAdmin):
    form = StandardForm
    list_display = ("code", "title", "domain", "framework")
    list_filter = ("framework__key", "framework__status")
    search_fields = ("code", "title", "description")
    list_select_related = ("domain", "framework")
    inlines = [IndicatorInline]
    filter_horizontal = ("counts_towards",)

    def get_fieldsets(self, request, obj=None):
        return ((None, {"description": DRAFTS_ONLY, "fields": StandardForm.Meta.fields}),)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if "counts_towards" in form.base_fields:
            form.base_fields["counts_towards"].label = "Counts towards (the crosswalk)"
            form.base_fields["counts_towards"].help_text = (
                "The Healthcare Leadership Model dimensions and board framework domains "
                "that an entry mapped to this standard also counts towards."
            )
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "domain":
            kwargs["queryset"] = Domain.objects.filter(
                framework__status=Framework.Status.DRAFT
            ).select_related("framework")
            field = super().formfield_for_foreignkey(db_field, request, **kwargs)
            field.label_from_instance = domain_label
            return field
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "counts_towards":
            # Only the other frameworks' domains, and not their retired versions.
            kwargs["queryset"] = (
                Domain.objects.filter(framework__is_primary=False)
                .exclude(framework__status=Framework.Status.RETIRED)
                .select_related("framework")
                .order_by("framework__key", "framework__version", "order")
            )
            field = super().formfield_for_manytomany(db_field, request, **kwargs)
            field.label_from_instance = domain_label
            return field
        return super().formfield_for_manytomany(db_field, request, **kwargs)


# --- CPD entries and evidence -------------------------------------------------------------
#
# Members' own records: they change only through the member's CPD pages (which
# audit every change), so here they can be looked at, never edited.


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EvidenceInline(admin.TabularInline):
    model = Evidence
    fields = ("original_name", "content_type", "size", "uploaded_at")
    readonly_fields = fields
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("title", "member", "starts_on", "ends_on", "hours", "activity_type")
    list_filter = ("activity_type", "participatory")
    search_fields = ("title", "provider", "member__membership_number", "member__user__email")
    list_select_related = ("member__user",)
    date_hierarchy = "ends_on"
    exclude = ("standards",)
    readonly_fields = ("mapped_standards",)
    inlines = [EvidenceInline]

    @admin.display(description="Hours", ordering="minutes")
    def hours(self, entry: Entry) -> str:
        return f"{entry.hours:g}"

    @admin.display(description="Standards mapped")
    def mapped_standards(self, entry: Entry) -> str:
        standards = entry.standards.select_related("framework").order_by("code")
        return ", ".join(f"{s.code} {s.title} (v{s.framework.version})" for s in standards)


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyAdmin):
    # The file itself is not linked here: evidence is served only through the
    # member's download view, which checks who is asking.
    list_display = ("original_name", "entry", "member", "content_type", "size", "uploaded_at")
    list_select_related = ("entry__member__user",)
    search_fields = ("original_name", "entry__title", "entry__member__membership_number")
    exclude = ("file",)
    date_hierarchy = "uploaded_at"

    @admin.display(description="Member")
    def member(self, evidence: Evidence):
        return evidence.entry.member


# The CPD year is worked through the registrar's and assessors' pages, which
# call the services; the admin only shows it.


@admin.register(AnnualReturn)
class AnnualReturnAdmin(ReadOnlyAdmin):
    list_display = (
        "member",
        "year_starts_on",
        "state",
        "meets_requirement",
        "late",
        "submitted_at",
    )
    list_filter = ("state", "meets_requirement", "late", "year_starts_on")
    list_select_related = ("member__user",)
    search_fields = ("member__membership_number", "member__user__email")


@admin.register(AuditSample)
class AuditSampleAdmin(ReadOnlyAdmin):
    list_display = (
        "year_starts_on",
        "seed",
        "percentage",
        "eligible_count",
        "drawn_by",
        "drawn_at",
    )
    list_select_related = ("drawn_by",)


@admin.register(AuditCase)
class AuditCaseAdmin(ReadOnlyAdmin):
    list_display = ("member", "sample", "state", "respond_by", "assessor")
    list_filter = ("state", "sample__year_starts_on")
    list_select_related = ("member__user", "sample", "assessor")
    search_fields = ("member__membership_number", "member__user__email")


@admin.register(ShareLink)
class ShareLinkAdmin(ReadOnlyAdmin):
    # The token is never stored, so nothing here can open the link.
    list_display = (
        "label",
        "member",
        "year_starts_on",
        "include_evidence",
        "expires_at",
        "revoked_at",
    )
    list_select_related = ("member__user",)
    exclude = ("token_hash",)


@admin.register(Goal)
class GoalAdmin(ReadOnlyAdmin):
    list_display = ("title", "member", "target_on", "state")
    list_filter = ("state",)
    list_select_related = ("member__user",)
    exclude = ("standards", "entries")
