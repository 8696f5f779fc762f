"""Render every Django form in the design system's markup.

Set as ``FORM_RENDERER``, so ``{{ form }}`` in our templates and allauth's
forms alike come out as NHS.UK frontend form groups, with error messages
linked to their inputs for screen readers.
"""

from django import forms
from django.forms.renderers import TemplatesSetting
from django.forms.widgets import Input

WIDGET_CLASSES = {
    forms.CheckboxInput: "nhsuk-checkboxes__input",
    forms.CheckboxSelectMultiple: "nhsuk-checkboxes__input",
    forms.RadioSelect: "nhsuk-radios__input",
    forms.Select: "nhsuk-select",
    forms.SelectMultiple: "nhsuk-select",
    forms.Textarea: "nhsuk-textarea",
    forms.ClearableFileInput: "nhsuk-file-upload__input",
    forms.FileInput: "nhsuk-file-upload__input",
    Input: "nhsuk-input",
}
ERROR_CLASSES = {
    "nhsuk-input": "nhsuk-input--error",
    "nhsuk-select": "nhsuk-select--error",
    "nhsuk-textarea": "nhsuk-textarea--error",
}


def widget_class(widget: forms.Widget) -> str:
    for widget_type in type(widget).__mro__:
        if widget_type in WIDGET_CLASSES:
            return WIDGET_CLASSES[widget_type]
    return ""


class DesignSystemBoundField(forms.BoundField):
    def build_widget_attrs(self, attrs, widget=None):
        # Django already sets aria-invalid and aria-describedby (hint and error ids).
        attrs = super().build_widget_attrs(attrs, widget)
        widget = widget or self.field.widget
        if widget.is_hidden:
            return attrs
        base = widget_class(widget)
        classes = [base, attrs.get("class", "")]
        if self.errors:
            classes.append(ERROR_CLASSES.get(base, ""))
        attrs["class"] = " ".join(c for c in classes if c)
        return attrs


class DesignSystemRenderer(TemplatesSetting):
    form_template_name = "components/forms/form.html"
    field_template_name = "components/forms/field.html"
    bound_field_class = DesignSystemBoundField
