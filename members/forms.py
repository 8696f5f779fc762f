from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms


class SignupForm(AllauthSignupForm):
    """Allauth's sign-up form, asking for the names a certificate will carry."""

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
