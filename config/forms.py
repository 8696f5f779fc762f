"""Render every Django form in the design system's markup.

Set as ``FORM_RENDERER``, so ``{{ form }}`` in our templates and allauth's
forms alike come out as NHS.UK frontend form groups, with error messages
linked to their inputs for screen readers.
"""

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
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


class DateInputWidget(forms.MultiWidget):
    """The NHS.UK date input: separate day, month and year boxes, no JavaScript needed.

    A half-filled or impossible date comes back as the typed parts, so the page
    shows exactly what was entered next to the error.
    """

    template_name = "components/forms/date_input.html"
    use_fieldset = True
    parts = (("day", "Day", 2), ("month", "Month", 2), ("year", "Year", 4))

    def __init__(self, attrs=None):
        super().__init__({name: forms.TextInput for name, _, _ in self.parts}, attrs)

    def decompress(self, value):
        if isinstance(value, dt.date):
            return [value.day, value.month, value.year]
        return [None, None, None]

    def value_from_datadict(self, data, files, name):
        typed = super().value_from_datadict(data, files, name)
        if not any((part or "").strip() for part in typed):
            return None
        return typed

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget = context["widget"]
        widget["has_error"] = widget["attrs"].get("aria-invalid") == "true"
        for subwidget, (_, label, width) in zip(widget["subwidgets"], self.parts, strict=True):
            subwidget["label"] = label
            subwidget["width"] = width
        return context


class DateField(forms.DateField):
    """A date typed into the three-box NHS.UK date input."""

    widget = DateInputWidget
    default_error_messages = {
        "incomplete": "Enter a day, month and year.",
        "invalid": "Enter a real date, for example 27 3 2026.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("template_name", "components/forms/date_field.html")
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, dt.date):
            return value
        if isinstance(value, (list, tuple)):
            day, month, year = (str(part or "").strip() for part in value)
            if not (day and month and year):
                raise ValidationError(self.error_messages["incomplete"], code="incomplete")
            if not (day.isdigit() and month.isdigit() and year.isdigit() and len(year) == 4):
                raise ValidationError(self.error_messages["invalid"], code="invalid")
            try:
                return dt.date(int(year), int(month), int(day))
            except ValueError:
                raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        return super().to_python(value)


class PlainForm(forms.Form):
    """A form whose errors come from the server in the design system's style,
    not from browser pop-ups."""

    use_required_attribute = False


def form_data(request):
    """The submitted data for a bound form, or None on GET (an empty POST still binds)."""
    return request.POST if request.method == "POST" else None
