"""Forms for the employer portal."""

from django import forms

from api.models import Scope, WebhookEventType
from config.forms import DateField, PlainForm


class ApiKeyForm(PlainForm):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What the key is for, so you can tell your keys apart. For example, “HR system”.",
        error_messages={"required": "Enter a name for the key"},
    )
    scopes = forms.MultipleChoiceField(
        label="What may the key do?",
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one thing the key may do"},
    )
    expires_on = DateField(
        label="Expiry date (optional)",
        required=False,
        help_text="The key stops working at the start of this day. For example, 31 3 2027.",
    )


class WatchEntryForm(PlainForm):
    membership_number = forms.CharField(
        label="Membership number",
        max_length=40,
        error_messages={"required": "Enter the membership number"},
    )
    family_name = forms.CharField(
        label="Family name",
        max_length=150,
        error_messages={"required": "Enter the family name"},
    )


class CsvUploadForm(PlainForm):
    file = forms.FileField(
        label="CSV file",
        help_text="One person a row: membership number, then family name. "
        "A first row naming the columns is fine. Up to 10,000 rows.",
        error_messages={"required": "Choose a CSV file", "empty": "The file is empty"},
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > 2 * 1024 * 1024:
            raise forms.ValidationError("The file must be smaller than 2 MB")
        return upload


class WebhookEndpointForm(PlainForm):
    url = forms.URLField(
        label="Address (URL)",
        max_length=500,
        assume_scheme="https",
        help_text="Where we send the messages, for example https://hr.example.nhs.uk/hooks.",
        error_messages={
            "required": "Enter the address",
            "invalid": "Enter a web address, like https://hr.example.nhs.uk/hooks",
        },
    )
    description = forms.CharField(label="Description (optional)", max_length=200, required=False)
    events = forms.MultipleChoiceField(
        label="Which changes should we send?",
        choices=WebhookEventType.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only for people on your watch list.",
        error_messages={"required": "Choose at least one kind of change"},
    )
