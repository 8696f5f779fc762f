"""Forms for annual returns and the CPD audit.

They check the shape of what was typed; whether a step is allowed is for
``cpd.returns`` to say, and the views show its ``CPDError`` on the form.
"""

from decimal import Decimal

from django import forms
from django.conf import settings

from config.forms import DateField, PlainForm
from cpd.models import AuditCase
from cpd.returns import OUTCOMES


class ReturnSubmitForm(PlainForm):
    declaration = forms.BooleanField(
        label=(
            "I declare that the CPD in this return is a true record of what I did, and that I "
            "can show evidence of it if my return is audited."
        ),
        error_messages={"required": "Confirm the declaration to submit your return."},
    )
    shortfall_explanation = forms.CharField(
        label="Why have you not met the requirement?",
        help_text="Needed only if your return falls short. The registrar reads it.",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
    )


class DeferralRequestForm(PlainForm):
    reason = forms.CharField(
        label="Why do you need more time?",
        help_text="For example illness, parental leave or a service emergency.",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Tell us why you need more time."},
    )


class AuditSubmitForm(PlainForm):
    response = forms.CharField(
        label="Your response",
        help_text="Answer what the assessor asked for. You can also add or change entries "
        "in other years; this year's are locked.",
        required=False,
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 6}),
    )


class OutcomeForm(PlainForm):
    outcome = forms.ChoiceField(
        label="Outcome",
        choices=[(state.value, state.label) for state in OUTCOMES],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose an outcome."},
    )
    reasons = forms.CharField(
        label="Reasons",
        help_text="The member reads these. For more information, say exactly what you need.",
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages={"required": "Give your reasons: the member reads them."},
    )

    def clean_outcome(self):
        return AuditCase.State(self.cleaned_data["outcome"])


class SampleDrawForm(PlainForm):
    seed = forms.CharField(
        label="Seed (optional)",
        help_text="Leave empty for a random one. The same seed draws the same members.",
        required=False,
        max_length=64,
    )
    percent = forms.DecimalField(
        label="Percentage of eligible members",
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        max_digits=5,
        decimal_places=2,
        initial=lambda: settings.CPD_AUDIT_PERCENT,
    )
    add_members = forms.CharField(
        label="Also audit these members (optional)",
        help_text="Membership numbers, one a line.",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_add_members(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["add_members"].split() if line.strip()]


class CaseAddForm(PlainForm):
    membership_number = forms.CharField(label="Membership number", max_length=20)


class DeferForm(PlainForm):
    respond_by = DateField(label="New date to respond by", help_text="For example, 27 3 2027")
