"""Forms for the member's CPD pages.

They check the shape of what was typed (a real date, hours in quarter-hour
steps, a choice from the list); whether the log allows a change is for
``cpd.services`` to say, and the views show its ``CPDError`` on the form.
"""

from django import forms
from django.db.models import Q

from config.forms import DateField
from cpd.models import ActivityType, Entry, Framework, Standard
from cpd.selectors import SORTS
from cpd.services import MAX_FILES_PER_ENTRY, CPDError, hours_to_minutes


class LogFilterForm(forms.Form):
    """The log's filters and sort order, read from the query string."""

    ALL_YEARS = "all"
    SORT_LABELS = {
        "newest": "Newest first",
        "oldest": "Oldest first",
        "hours": "Most hours first",
        "title": "Title (A to Z)",
    }

    year = forms.ChoiceField(label="CPD year", required=False)
    activity_type = forms.ChoiceField(
        label="Type of activity",
        required=False,
        choices=[("", "All types"), *ActivityType.choices],
    )
    standard = forms.ChoiceField(label="Standard", required=False)
    q = forms.CharField(
        label="Search titles, providers and reflections",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    sort = forms.ChoiceField(label="Sort by", required=False)

    def __init__(self, *args, years, standards, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["year"].choices = [
            *((str(year.starts_on.year), year.label) for year in years),
            (self.ALL_YEARS, "All years"),
        ]
        self.fields["standard"].choices = [
            ("", "All standards"),
            *(
                (
                    domain.title,
                    [(s.code, f"{s.code} {s.title}") for s in domain.standards.all()],
                )
                for domain in standards
            ),
        ]
        self.fields["sort"].choices = [(key, self.SORT_LABELS[key]) for key in SORTS]

    def filters(self, *, default_year: str) -> dict:
        """The filters in effect, as strings: an invalid value counts as not given."""
        data = {}
        if self.is_bound:
            self.is_valid()  # fields with a valid value are in cleaned_data; the rest default
            data = self.cleaned_data
        return {
            "year": data.get("year") or default_year,
            "activity_type": data.get("activity_type") or "",
            "standard": data.get("standard") or "",
            "q": (data.get("q") or "").strip(),
            "sort": data.get("sort") or "newest",
        }


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class EvidenceFilesField(forms.FileField):
    """Any number of files from one ``<input type=file multiple>``; checked by the service."""

    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, (list, tuple)) else [data] if data else []
        return [super(EvidenceFilesField, self).clean(upload, initial) for upload in files]


class StandardsField(forms.ModelMultipleChoiceField):
    """The standards picker: checkboxes grouped by domain (see the template)."""

    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, standard: Standard) -> str:
        return f"{standard.code} {standard.title}"


class HoursInput(forms.TextInput):
    """A short box for a number of hours (the renderer sets the input's own classes)."""

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget_attrs = context["widget"]["attrs"]
        widget_attrs["class"] = f"{widget_attrs.get('class', '')} nhsuk-input--width-4".strip()
        return context


YES_NO = [("yes", "Yes"), ("no", "No")]


class EntryForm(forms.Form):
    # Errors come from the server in the design system's style, not from the
    # browser's own pop-ups (NHS.UK and GOV.UK guidance).
    use_required_attribute = False

    title = forms.CharField(
        label="Title",
        max_length=200,
        help_text="For example, “Finance for non-finance managers” or “Shadowing the deputy "
        "director of operations”.",
        error_messages={"required": "Enter a title for the activity"},
    )
    starts_on = DateField(
        label="Start date",
        help_text="For example, 27 3 2026.",
        error_messages={"required": "Enter the date the activity started"},
    )
    ends_on = DateField(
        label="End date",
        help_text="The same as the start date for something done in a day. "
        "It cannot be in the future.",
        error_messages={"required": "Enter the date the activity ended"},
    )
    hours = forms.CharField(
        label="Hours",
        max_length=6,
        help_text="In quarter hours: for example, 0.25 for 15 minutes, 1.5 for an hour and a "
        "half, 7.5 for a full day.",
        widget=HoursInput(attrs={"inputmode": "decimal", "spellcheck": "false"}),
        error_messages={"required": "Enter the hours you spent"},
    )
    activity_type = forms.ChoiceField(
        label="Type of activity",
        choices=ActivityType.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the type of activity"},
    )
    provider = forms.CharField(
        label="Provider (optional)",
        max_length=200,
        required=False,
        help_text="Who ran it: a university, a trust's learning team, a conference.",
    )
    participatory = forms.TypedChoiceField(
        label="Did you learn with other people?",
        choices=YES_NO,
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
        help_text="Yes for a course, workshop, conference, coaching, mentoring or action "
        "learning set. No for reading, e-learning or study on your own.",
        error_messages={"required": "Say whether you learned with other people"},
    )
    reflection_learned = forms.CharField(
        label="What did you learn?",
        required=False,
        help_text="The ideas, skills or insight you took away.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    reflection_applied = forms.CharField(
        label="How have you applied it?",
        required=False,
        help_text="What you did differently at work because of it.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    reflection_impact = forms.CharField(
        label="What difference did it make to your service and the people who use it?",
        required=False,
        help_text="For patients, staff or the wider system. It counts as a reflection when "
        "all three questions are answered.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    standards = StandardsField(
        label="Which standards does it help you meet? (optional)",
        queryset=Standard.objects.none(),
        required=False,
        help_text="Choose all that apply. Open a domain to see its standards.",
        error_messages={"invalid_choice": "Choose standards from the list"},
    )
    files = EvidenceFilesField(
        label="Evidence (optional)",
        required=False,
        help_text=f"For example, a certificate, slides or notes. Up to {MAX_FILES_PER_ENTRY} "
        "files, each up to 10 MB: PDF, PNG, JPEG, Word (.docx), Excel (.xlsx) or plain text.",
    )
    link = forms.URLField(
        label="Link (optional)",
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text="A web page about the activity, such as the course page.",
        error_messages={"invalid": "Enter a web address, like https://www.example.org/course"},
    )

    def __init__(self, *args, entry: Entry | None = None, max_file_mb: int = 10, **kwargs):
        super().__init__(*args, **kwargs)
        self.entry = entry
        current = Q(framework__is_primary=True, framework__status=Framework.Status.CURRENT)
        if entry is not None:
            # Standards from an older version of the framework stay on the entry until unticked.
            current |= Q(entries=entry)
        self.fields["standards"].queryset = (
            Standard.objects.filter(current)
            .distinct()
            .select_related("domain__framework")
            .order_by("-framework__version", "domain__order", "domain__code", "order", "code")
        )
        self.fields["files"].help_text = self.fields["files"].help_text.replace(
            "10 MB", f"{max_file_mb} MB"
        )
        if entry is not None:
            self.fields["remove_evidence"] = forms.ModelMultipleChoiceField(
                label="Remove evidence",
                queryset=entry.evidence.all(),
                to_field_name="public_id",
                required=False,
                widget=forms.CheckboxSelectMultiple,
            )

    @classmethod
    def initial_for(cls, entry: Entry) -> dict:
        return {
            "title": entry.title,
            "starts_on": entry.starts_on,
            "ends_on": entry.ends_on,
            "hours": hours_typed(entry.minutes),
            "activity_type": entry.activity_type,
            "provider": entry.provider,
            "participatory": "yes" if entry.participatory else "no",
            "reflection_learned": entry.reflection_learned,
            "reflection_applied": entry.reflection_applied,
            "reflection_impact": entry.reflection_impact,
            "standards": [s.pk for s in entry.standards.all()],
            "link": entry.link,
        }

    def clean_hours(self):
        hours = self.cleaned_data["hours"].strip()
        try:
            hours_to_minutes(hours)
        except CPDError as error:
            raise forms.ValidationError(str(error)) from error
        return hours

    def entry_fields(self) -> dict:
        """The cleaned data as keyword arguments for ``cpd_entry_create`` / ``cpd_entry_update``."""
        data = self.cleaned_data
        return {
            name: data[name]
            for name in (
                "title", "starts_on", "ends_on", "hours", "activity_type", "provider",
                "participatory", "reflection_learned", "reflection_applied",
                "reflection_impact", "link",
            )
        }  # fmt: skip

    def standards_by_domain(self) -> list[dict]:
        """The picker's checkboxes grouped by domain, a group open if one of its boxes is ticked."""
        groups: list[dict] = []
        for option in self["standards"]:
            standard = option.data["value"].instance
            if not groups or groups[-1]["domain"] != standard.domain:
                groups.append({"domain": standard.domain, "options": [], "open": False})
            groups[-1]["options"].append(option)
            groups[-1]["open"] |= bool(option.data["selected"])
        return groups


def hours_typed(minutes: int) -> str:
    """Minutes as a member would type the hours: 90 → "1.5", 105 → "1.75", 120 → "2"."""
    whole, quarters = divmod(minutes // 15, 4)
    return f"{whole}{['', '.25', '.5', '.75'][quarters]}"
