from allauth.account import forms as allauth_forms
from django import forms
from django.urls import reverse
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

from members.models import Grade, ManagementLevel, Member, Organisation
from members.services import member_can


class PlainFieldsMixin:
    """allauth's forms in our words, without placeholders (which vanish as people
    type and are often mistaken for filled-in values)."""

    labels: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.widget.attrs.pop("placeholder", None)
            if name in self.labels:
                field.label = self.labels[name]


class LoginForm(PlainFieldsMixin, allauth_forms.LoginForm):
    labels = {"login": "Email address", "remember": "Keep me signed in on this device"}


class SignupForm(PlainFieldsMixin, allauth_forms.SignupForm):
    """Sign-up, asking for the names a certificate will carry."""

    labels = {
        "email": "Email address",
        "password1": "Create a password",
        "password2": "Confirm your password",
    }
    given_name = forms.CharField(
        label="Given name",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    family_name = forms.CharField(
        label="Family name",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    field_order = ["given_name", "family_name", "email", "password1", "password2"]


class AddEmailForm(PlainFieldsMixin, allauth_forms.AddEmailForm):
    labels = {"email": "New email address"}


class ChangePasswordForm(PlainFieldsMixin, allauth_forms.ChangePasswordForm):
    labels = {
        "oldpassword": "Current password",
        "password1": "New password",
        "password2": "Confirm your new password",
    }


class SetPasswordForm(PlainFieldsMixin, allauth_forms.SetPasswordForm):
    labels = {"password1": "Password", "password2": "Confirm your password"}


class ResetPasswordForm(PlainFieldsMixin, allauth_forms.ResetPasswordForm):
    labels = {"email": "Email address"}


class ResetPasswordKeyForm(PlainFieldsMixin, allauth_forms.ResetPasswordKeyForm):
    labels = {"password1": "New password", "password2": "Confirm your new password"}


# --- Membership ---------------------------------------------------------------


class OrganisationInput(forms.TextInput):
    """A text input with a <datalist> of listed organisations.

    Browsers offer matching names as the member types; without support (or
    without a match) it is a plain text box, so a name not on the list works too.
    """

    template_name = "members/widgets/organisation_input.html"

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        list_id = f"{context['widget']['attrs'].get('id', name)}_list"
        context["widget"]["attrs"]["list"] = list_id
        context["widget"]["list_id"] = list_id
        context["widget"]["options"] = Organisation.objects.values_list("name", flat=True)
        return context


class OrganisationField(forms.CharField):
    """Cleans to a listed ``Organisation`` when the name matches one, else the typed text."""

    widget = OrganisationInput

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Organisation you work for")
        kwargs.setdefault(
            "help_text",
            "Start typing to pick your organisation from the list. "
            "If it is not listed, type its full name.",
        )
        kwargs.setdefault("max_length", 200)
        kwargs.setdefault("error_messages", {"required": "Enter the organisation you work for"})
        super().__init__(**kwargs)

    def clean(self, value):
        name = super().clean(value)
        if not name:
            return {"organisation": None, "organisation_other": ""}
        listed = Organisation.objects.filter(name__iexact=name).first()
        if listed:
            return {"organisation": listed, "organisation_other": ""}
        return {"organisation": None, "organisation_other": name}


def grade_field(**kwargs) -> forms.ModelChoiceField:
    """Grade radios, each showing its fee, who it is for and whether a registrar reviews it."""
    return forms.ModelChoiceField(
        queryset=Grade.objects.filter(is_open=True),
        widget=forms.RadioSelect,
        empty_label=None,
        template_name="members/forms/grade_field.html",
        error_messages={
            "required": "Choose a membership grade",
            "invalid_choice": "Choose a membership grade from the list",
        },
        **kwargs,
    )


def management_level_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Your management level",
        choices=ManagementLevel.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose your management level"},
    )


def job_title_field() -> forms.CharField:
    return forms.CharField(
        label="Job title",
        max_length=200,
        error_messages={"required": "Enter your job title"},
        widget=forms.TextInput(attrs={"autocomplete": "organization-title"}),
    )


def register_consent_field() -> forms.BooleanField:
    return forms.BooleanField(
        label="Show me on the public register",
        required=False,
        help_text="Employers and the public can then find your name, membership number, "
        "grade and status. You can change this at any time.",
    )


STATEMENT_HELP = (
    "Only for grades a registrar reviews. Tell us about your management experience "
    "and why this grade fits: roles, years, the size of the services you lead."
)


class JoinForm(forms.Form):
    organisation = OrganisationField()
    job_title = job_title_field()
    management_level = management_level_field()
    register_consent = register_consent_field()
    grade = grade_field(label="Membership grade")
    statement = forms.CharField(
        label="Your case for the grade (optional)",
        required=False,
        help_text=STATEMENT_HELP,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    agreed_code_of_conduct = forms.BooleanField(
        label="I agree to follow the code of conduct",
        error_messages={"required": "Agree to the code of conduct to join"},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agreed_code_of_conduct"].help_text = format_html(
            'Read the <a href="{}">code of conduct</a> before you agree.',
            reverse("code_of_conduct"),
        )


class InvoicePaymentForm(forms.Form):
    payer_organisation = forms.CharField(
        label="Organisation paying the invoice",
        max_length=200,
        help_text="Usually your employer. The invoice is made out to them.",
        error_messages={"required": "Enter the organisation paying the invoice"},
    )
    purchase_order = forms.CharField(
        label="Purchase order (PO) number (optional)",
        max_length=100,
        required=False,
        help_text="If your finance team needs one to pay, ask them for it first.",
    )
    payer_email = forms.EmailField(
        label="Accounts team email address (optional)",
        required=False,
        help_text="Printed on the invoice so it reaches the right team. "
        "We email the invoice to you, not to this address.",
        error_messages={
            "invalid": "Enter an email address in the correct format, like name@example.org"
        },
    )


class ResignForm(forms.Form):
    AT_PERIOD_END = "period_end"
    NOW = "now"

    when = forms.ChoiceField(
        label="When do you want to resign?",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose when you want to resign"},
    )
    reason = forms.CharField(
        label="Why are you leaving? (optional)",
        required=False,
        help_text="This helps us improve. It is kept in your membership history.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, member: Member, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(self.NOW, "Now: my membership ends today")]
        if member_can(member, "resign_at_period_end"):
            ends = date_format(member.period_ends_on, "j F Y")
            choices.insert(0, (self.AT_PERIOD_END, f"When my current period ends on {ends}"))
        self.fields["when"].choices = choices


class PauseForm(forms.Form):
    reason = forms.CharField(
        label="Why are you pausing your membership?",
        help_text="For example, a career break or parental leave. It is kept in your membership history.",
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Tell us why you are pausing your membership"},
    )


class ConfirmForm(forms.Form):
    """A form with no fields: the button is the confirmation."""


class ProfileForm(forms.Form):
    organisation = OrganisationField()
    town = forms.CharField(
        label="Town or city where you work (optional)", required=False, max_length=100
    )
    job_title = job_title_field()
    management_level = management_level_field()
    register_consent = register_consent_field()
    register_show_workplace = forms.BooleanField(
        label="Also show my organisation and town on the register",
        required=False,
        help_text="Only if you appear on the register. Without this, the register shows neither.",
    )

    @classmethod
    def initial_for(cls, member: Member) -> dict:
        return {
            "organisation": member.organisation_name,
            "town": member.town,
            "job_title": member.job_title,
            "management_level": member.management_level,
            "register_consent": member.register_consent,
            "register_show_workplace": member.register_show_workplace,
        }

    def changes(self) -> dict:
        """The cleaned data as keyword arguments for ``member_profile_update``."""
        data = self.cleaned_data
        return {
            **data["organisation"],
            "job_title": data["job_title"],
            "management_level": data["management_level"],
            "register_consent": data["register_consent"],
            "town": data["town"].strip(),
            "register_show_workplace": data["register_show_workplace"],
        }


class GradeChangeForm(forms.Form):
    grade = grade_field(label="Which grade do you want to move to?")
    statement = forms.CharField(
        label="Your case for the grade (optional)",
        required=False,
        help_text=STATEMENT_HELP,
        widget=forms.Textarea(attrs={"rows": 5}),
    )

    def __init__(self, *args, member: Member, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["grade"]
        field.queryset = field.queryset.exclude(pk=member.grade_id)
