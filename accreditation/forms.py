"""Forms for the member's accreditation pages and the referee's page.

They check the shape of what was typed; whether the application's state
allows a change is for ``accreditation.services`` to say, and the views show
its ``AccreditationError`` on the form.
"""

from django import forms

from accreditation.models import Level
from config.forms import DateField, PlainForm
from cpd.models import Entry


class StartForm(forms.Form):
    level = forms.ModelChoiceField(
        label="Level", queryset=Level.objects.none(), widget=forms.RadioSelect, empty_label=None
    )

    def __init__(self, *args, levels, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["level"].queryset = levels
        self.fields["level"].label_from_instance = lambda level: str(level)


class DetailsForm(forms.Form):
    management_since = DateField(
        label="When did you start in a management role?",
        required=False,
        help_text="For example, 1 9 2019.",
    )
    career_summary = forms.CharField(
        label="Career summary",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Your roles, what you were responsible for and for how long.",
    )


class StatementForm(forms.Form):
    statement = forms.CharField(
        label="Your statement",
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="How your work shows this standard, with examples.",
    )
    entries = forms.ModelMultipleChoiceField(
        label="CPD entries that back this statement",
        queryset=Entry.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, member, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the member's own entries can be picked.
        self.fields["entries"].queryset = Entry.objects.filter(member=member).order_by(
            "-ends_on", "title"
        )
        self.fields["entries"].label_from_instance = lambda entry: (
            f"{entry.title} ({entry.ends_on:%-d %B %Y})"
        )


class RefereeForm(forms.Form):
    name = forms.CharField(label="Referee's full name", max_length=200)
    email = forms.EmailField(label="Referee's email address")


class InformationResponseForm(forms.Form):
    response = forms.CharField(label="Your answer", widget=forms.Textarea(attrs={"rows": 8}))


class AppealForm(forms.Form):
    grounds = forms.CharField(
        label="Your grounds for appeal",
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Say why you think the decision was wrong.",
    )


class RefereeResponseForm(forms.Form):
    response = forms.ChoiceField(
        label="Do you confirm the applicant's statements?",
        choices=[
            ("confirm", "Yes, I confirm them"),
            ("decline", "No, I cannot confirm them"),
        ],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label="Comment (optional)", required=False, widget=forms.Textarea(attrs={"rows": 5})
    )


class FeeInvoiceForm(PlainForm):
    payer_organisation = forms.CharField(
        label="Organisation that will pay",
        max_length=200,
        error_messages={"required": "Name the organisation that will pay the invoice."},
    )
    purchase_order = forms.CharField(
        label="Purchase order number (if your organisation uses them)",
        required=False,
        max_length=100,
    )
    payer_email = forms.EmailField(
        label="Email address of their accounts team",
        help_text="Optional. It is printed on the invoice.",
        required=False,
    )
