"""Shapes of what the API reads and writes. No rules live here: views call selectors."""

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: e.g. `not_found`, `invalid`.")
    message = serializers.CharField(help_text="For people.")
    field_errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Each invalid input (dotted path) and what was wrong with it; empty otherwise.",
    )
