"""Registrar forms for employer clients and their people."""

from django import forms

from config.forms import PlainForm


class EmployerForm(PlainForm):
    name = forms.CharField(
        label="Organisation name",
        max_length=200,
        error_messages={"required": "Enter the organisation's name"},
    )
    contact_email = forms.EmailField(
        label="Contact email",
        help_text="Who we write to about the account.",
        error_messages={
            "required": "Enter a contact email address",
            "invalid": "Enter an email address like name@example.nhs.uk",
        },
    )


class EmployerPersonForm(PlainForm):
    email = forms.EmailField(
        label="Email address",
        help_text="If they have no account yet, we make one and email them how to set a password.",
        error_messages={
            "required": "Enter their email address",
            "invalid": "Enter an email address like name@example.nhs.uk",
        },
    )
    given_name = forms.CharField(label="Given name", max_length=150, required=False)
    family_name = forms.CharField(label="Family name", max_length=150, required=False)
