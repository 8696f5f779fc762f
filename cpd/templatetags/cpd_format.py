"""How the CPD pages write hours: 90 minutes is "1.5 hours", 60 is "1 hour"."""

from django import template

from cpd.forms import hours_typed

register = template.Library()


@register.filter
def hours_number(minutes: int) -> str:
    return hours_typed(minutes or 0)


@register.filter
def hours(minutes: int) -> str:
    number = hours_typed(minutes or 0)
    return f"{number} hour" if number == "1" else f"{number} hours"
