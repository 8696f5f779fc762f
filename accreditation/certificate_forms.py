"""Forms for the certificate pages: checking a pasted credential, and the
registrar's suspend, lift and revoke (each with a reason)."""

from django import forms

from accreditation.models import Certificate, SuspendedBy

Status = Certificate.Status


class CredentialCheckForm(forms.Form):
    credential = forms.CharField(
        label="Paste the credential",
        max_length=50_000,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "autocomplete": "off"}),
        help_text="The contents of the .jwt file (starting eyJ), or of the .json file.",
        error_messages={"required": "Paste the credential to check."},
    )


ACTIONS = {
    "suspend": "Suspend it (reversible)",
    "lift": "Lift the registrar's suspension",
    "revoke": "Revoke it (final: it can never be valid again)",
}


def actions_for(certificate: Certificate) -> list[str]:
    if certificate.status == Status.REVOKED:
        return []
    if certificate.status == Status.EXPIRED:
        return ["revoke"]
    if certificate.suspended_by == SuspendedBy.REGISTRAR:
        return ["lift", "revoke"]
    return ["suspend", "revoke"]


class CertificateActionForm(forms.Form):
    action = forms.ChoiceField(
        label="What do you want to do?",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose what to do with the certificate."},
    )
    reason = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The verification page shows it to anyone who checks the certificate.",
        error_messages={"required": "Give a reason."},
    )

    def __init__(self, *args, certificate: Certificate, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [(a, ACTIONS[a]) for a in actions_for(certificate)]
