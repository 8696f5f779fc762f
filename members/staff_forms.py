"""Forms for the registrar pages.

They check only the shape of what was typed (a real date, a reason given);
whether an action is allowed is for ``members.services`` to say, and the
views show its ``MembershipError`` on the form.
"""

from django import forms
from django.core.exceptions import ValidationError

from config.forms import DateField
from members import services
from members.models import Grade, Invoice, Status


def reason_field(label: str = "Reason", help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        help_text=help_text or "Kept in the member's history and sent to them by email.",
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Give a reason. It is kept in the member's history."},
    )


class StaffForm(forms.Form):
    # Errors come from the server in the design system's style, not from the
    # browser's own pop-ups (NHS.UK and GOV.UK guidance).
    use_required_attribute = False


# --- Staff actions on a member ---------------------------------------------------


class SuspendForm(StaffForm):
    reason = reason_field(
        help_text="This is shown on the public register next to the member's name, "
        "and sent to the member. Write it so a member of the public understands it."
    )
    starts_on = DateField(
        label="Start date",
        help_text="Today or earlier. For example, 27 3 2026.",
        error_messages={"required": "Enter the date the suspension starts."},
    )
    ends_on = DateField(
        label="End date (optional)",
        required=False,
        help_text="Leave blank for a suspension with no end date. The member is "
        "reinstated automatically the day after this date.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["starts_on"].initial = services.local_today()


class LiftSuspensionForm(StaffForm):
    reason = reason_field()


class RemoveForm(StaffForm):
    reason = reason_field()
    reapply_after = DateField(
        label="Earliest date they may apply to rejoin (optional)",
        required=False,
        help_text="Leave blank if they may apply again at any time. For example, 27 3 2028.",
    )


class RecordDeathForm(StaffForm):
    died_on = DateField(
        label="Date of death",
        help_text="For example, 27 3 2026.",
        error_messages={"required": "Enter the date of death."},
    )
    reason = reason_field(
        label="How we found out",
        help_text="Who told us and how, for example: email from their employer's HR team. "
        "No email is sent to the member.",
    )


class ReinstateForm(StaffForm):
    reason = reason_field()


# --- Invoices and grade reviews ---------------------------------------------------


class RecordPaymentForm(StaffForm):
    received_on = DateField(
        label="Date the money was received",
        help_text="As shown on the bank statement. For example, 27 3 2026.",
        error_messages={"required": "Enter the date the money was received."},
    )
    reference = forms.CharField(
        label="Bank reference",
        max_length=200,
        help_text="The reference on the bank statement, so finance can reconcile it.",
        error_messages={"required": "Enter the bank reference."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["received_on"].initial = services.local_today()


class CancelInvoiceForm(StaffForm):
    reason = reason_field(help_text="Kept in the member's history.")


# --- Search and filters (GET) -----------------------------------------------------


class MemberSearchForm(StaffForm):
    q = forms.CharField(label="Name, email or membership number", required=False, max_length=200)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *Status.choices]
    )
    grade = forms.ModelChoiceField(
        label="Grade",
        required=False,
        queryset=Grade.objects.all(),
        to_field_name="slug",
        empty_label="Any grade",
    )


class InvoiceFilterForm(StaffForm):
    q = forms.CharField(
        label="Invoice number, member, membership number or payer",
        required=False,
        max_length=200,
    )
    state = forms.ChoiceField(
        label="State", required=False, choices=[("", "Any state"), *Invoice.State.choices]
    )


class ExportFilterForm(StaffForm):
    """An optional date range for the finance exports; either end may be left open."""

    from_date = forms.DateField(
        label="From (inclusive)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Leave blank to start from the first record.",
    )
    to_date = forms.DateField(
        label="To (inclusive)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Leave blank to include everything up to today.",
    )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("from_date"), cleaned.get("to_date")
        if start and end and start > end:
            raise ValidationError("The 'from' date must be on or before the 'to' date.")
        return cleaned
