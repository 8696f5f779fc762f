"""Forms for sharing a portfolio, the development plan and importing CPD."""

from django import forms

from config.forms import DateField
from cpd.forms import YES_NO, StandardsField
from cpd.models import Entry, Framework, Goal, Standard
from cpd.selectors import CPDYear
from cpd.sharing import SHARE_EXPIRY_DAYS


class ShareLinkForm(forms.Form):
    use_required_attribute = False
    WHOLE_PORTFOLIO = "all"

    label = forms.CharField(
        label="Who is it for?",
        max_length=200,
        help_text="For example, “Appraisal with Dr Patel”. Only you see this.",
        error_messages={"required": "Enter who the link is for"},
    )
    scope = forms.ChoiceField(
        label="What do you want to share?",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose what to share"},
    )
    expires_in_days = forms.TypedChoiceField(
        label="How long should the link work?",
        choices=[(str(days), f"{days} days") for days in SHARE_EXPIRY_DAYS],
        coerce=int,
        widget=forms.RadioSelect,
        help_text="You can turn it off sooner at any time.",
        error_messages={"required": "Choose how long the link should work"},
    )
    include_evidence = forms.TypedChoiceField(
        label="Include your evidence files?",
        choices=YES_NO,
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
        help_text="Whoever has the link can download them.",
        error_messages={"required": "Say whether to include your evidence files"},
    )

    def __init__(self, *args, years: list[CPDYear], **kwargs):
        super().__init__(*args, **kwargs)
        self.years = {str(year.starts_on.year): year for year in years}
        self.fields["scope"].choices = [
            (self.WHOLE_PORTFOLIO, "My whole CPD portfolio"),
            *((key, f"The CPD year {year.label}") for key, year in self.years.items()),
        ]

    def year(self) -> CPDYear | None:
        return self.years.get(self.cleaned_data["scope"])


class GoalForm(forms.Form):
    use_required_attribute = False

    title = forms.CharField(
        label="Goal",
        max_length=200,
        help_text="For example, “Lead a service improvement project”.",
        error_messages={"required": "Enter the goal"},
    )
    description = forms.CharField(
        label="How will you work towards it? (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    target_on = DateField(
        label="Target date",
        help_text="For example, 31 3 2027.",
        error_messages={"required": "Enter a target date"},
    )
    state = forms.ChoiceField(
        label="Status",
        choices=Goal.State.choices,
        initial=Goal.State.PLANNED,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a status"},
    )
    standards = StandardsField(
        label="Which standards is it about? (optional)",
        queryset=Standard.objects.none(),
        required=False,
        error_messages={"invalid_choice": "Choose standards from the list"},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["standards"].queryset = (
            Standard.objects.filter(
                framework__is_primary=True, framework__status=Framework.Status.CURRENT
            )
            .select_related("domain__framework")
            .order_by("domain__order", "domain__code", "order", "code")
        )

    @classmethod
    def initial_for(cls, goal: Goal) -> dict:
        return {
            "title": goal.title,
            "description": goal.description,
            "target_on": goal.target_on,
            "state": goal.state,
            "standards": [s.pk for s in goal.standards.all()],
        }

    def standards_by_domain(self) -> list[dict]:
        groups: list[dict] = []
        for option in self["standards"]:
            standard = option.data["value"].instance
            if not groups or groups[-1]["domain"] != standard.domain:
                groups.append({"domain": standard.domain, "options": [], "open": False})
            groups[-1]["options"].append(option)
            groups[-1]["open"] |= bool(option.data["selected"])
        return groups

    def goal_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in ("title", "description", "target_on")}


class EntryChoiceField(forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, entry: Entry) -> str:
        return f"{entry.title} ({entry.ends_on:%-d %b %Y})"


class GoalEntriesForm(forms.Form):
    entries = EntryChoiceField(
        label="CPD entries that work towards this goal",
        queryset=Entry.objects.none(),
        to_field_name="public_id",
        required=False,
    )

    def __init__(self, *args, member, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entries"].queryset = Entry.objects.filter(member=member).order_by(
            "-ends_on", "-id"
        )


class ImportUploadForm(forms.Form):
    use_required_attribute = False

    file = forms.FileField(
        label="Upload a CSV file",
        help_text="In the same format as the CSV export of your CPD log, up to 2 MB.",
        error_messages={"required": "Choose a CSV file"},
    )
