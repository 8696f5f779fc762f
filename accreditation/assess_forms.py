"""Forms for the assessor's and the registrar's accreditation pages.

They check the shape of what was typed; whether a step is allowed is for
``accreditation.services`` to say, and the views show its ``AccreditationError``
on the form.
"""

from django import forms

from accreditation.models import Judgement, Recommendation
from config.forms import DateField, PlainForm
from members.models import User


class AcceptForm(PlainForm):
    no_conflict = forms.BooleanField(
        label="I have no conflict of interest with this applicant",
        help_text="For example: you do not manage them, work with them, or know them personally.",
        error_messages={"required": "Declare that you have no conflict of interest to accept."},
    )


class ConflictForm(PlainForm):
    reason = forms.CharField(
        label="What is the conflict?",
        help_text="You will not be assigned to this applicant again.",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Describe the conflict of interest."},
    )


class InformationRequestForm(PlainForm):
    question = forms.CharField(
        label="What do you need from the applicant?",
        help_text="The applicant reads this. Say exactly what would help you judge.",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Say what you need from the applicant."},
    )


class AssessmentForm(PlainForm):
    """A judgement and comment for every evidenced standard, then a recommendation."""

    def __init__(self, *args, standards, **kwargs):
        super().__init__(*args, **kwargs)
        self.standards = list(standards)
        for standard in self.standards:
            self.fields[f"judgement_{standard.pk}"] = forms.ChoiceField(
                label=f"{standard.code} {standard.title}: your judgement",
                choices=Judgement.choices,
                widget=forms.RadioSelect,
                error_messages={"required": f"Judge {standard.code} as met, partly or not met."},
            )
            self.fields[f"comment_{standard.pk}"] = forms.CharField(
                label=f"{standard.code} {standard.title}: comment",
                required=False,
                max_length=5000,
                widget=forms.Textarea(attrs={"rows": 3}),
            )
        self.fields["recommendation"] = forms.ChoiceField(
            label="Your overall recommendation",
            choices=Recommendation.choices,
            widget=forms.RadioSelect,
            error_messages={"required": "Recommend approve or decline."},
        )
        self.fields["reasons"] = forms.CharField(
            label="Reasons for your recommendation",
            help_text="The registrar reads these, and the applicant reads the decision's reasons.",
            max_length=10000,
            widget=forms.Textarea(attrs={"rows": 6}),
            error_messages={"required": "Give reasons for your recommendation."},
        )

    def judgements(self) -> list[tuple]:
        """(standard, judgement, comment) for each standard, from cleaned data."""
        return [
            (
                standard,
                self.cleaned_data[f"judgement_{standard.pk}"],
                self.cleaned_data[f"comment_{standard.pk}"],
            )
            for standard in self.standards
        ]


class AssessorChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, user):
        return f"{user.get_full_name() or user.email} ({user.email})"


class AssignForm(PlainForm):
    assessors = AssessorChoiceField(
        label="Choose who to assign",
        queryset=User.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one person to assign."},
    )

    def __init__(self, *args, include_staff=False, **kwargs):
        super().__init__(*args, **kwargs)
        people = User.objects.filter(is_active=True)
        people = (
            people.filter(is_assessor=True) | people.filter(is_staff=True)
            if include_staff
            else people.filter(is_assessor=True)
        )
        self.fields["assessors"].queryset = people.order_by("family_name", "given_name", "email")


class DecisionForm(PlainForm):
    decision = forms.ChoiceField(
        label="Your decision",
        choices=[("approve", "Approve"), ("decline", "Decline")],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose approve or decline."},
    )
    reasons = forms.CharField(
        label="Reasons",
        help_text="The applicant reads these.",
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages={"required": "Give reasons for the decision: the applicant reads them."},
    )


class AppealDecisionForm(PlainForm):
    outcome = forms.ChoiceField(
        label="Your decision on the appeal",
        choices=[("upheld", "Uphold the appeal"), ("dismissed", "Dismiss the appeal")],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose to uphold or dismiss the appeal."},
    )
    reasons = forms.CharField(
        label="Reasons",
        help_text="The applicant and the registrar read these.",
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages={"required": "Give reasons for the appeal outcome."},
    )


class FeePaymentForm(PlainForm):
    received_on = DateField(
        label="Date the payment was received",
        error_messages={"required": "Enter the date the payment was received."},
    )
    reference = forms.CharField(
        label="Payment reference",
        help_text="For example, the bank transfer's reference.",
        required=False,
        max_length=200,
    )


class FeeWaiverForm(PlainForm):
    reason = forms.CharField(
        label="Why is the fee waived?",
        help_text="Kept on the record.",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Give a reason for waiving the fee."},
    )
