"""Shapes of the watch list and webhook endpoints in the API. No rules here."""

from rest_framework import serializers

from api.models import WatchEntry, WebhookDelivery, WebhookEndpoint, WebhookEventType


class WatchEntrySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    status = serializers.CharField(
        source="member.status", read_only=True, help_text="The member's status today (code)."
    )
    status_words = serializers.CharField(source="member.get_status_display", read_only=True)

    class Meta:
        model = WatchEntry
        fields = ["id", "membership_number", "family_name", "status", "status_words", "added_at"]
        read_only_fields = ["added_at"]


class WatchEntryAddSerializer(serializers.Serializer):
    membership_number = serializers.CharField(max_length=40)
    family_name = serializers.CharField(max_length=150)


class CsvRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Row number in the file; the header is row 1.")
    message = serializers.CharField()


class WatchListCsvResultSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    already_on_list = serializers.IntegerField()
    errors = CsvRowErrorSerializer(many=True)


class WatchListCsvUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV with membership_number,family_name per row (a header row is optional)."
    )


class WebhookEndpointSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices),
        required=False,
        help_text="Event types to receive; all of them if left out.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "active",
            "disabled_at",
            "disabled_reason",
            "failure_count",
            "created_at",
        ]
        read_only_fields = ["disabled_at", "disabled_reason", "failure_count", "created_at"]
        extra_kwargs = {"active": {"required": False}, "description": {"required": False}}


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret (whsec_…). Shown only in this response: store it now.",
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class DeliveryAttemptSerializer(serializers.Serializer):
    attempted_at = serializers.DateTimeField()
    response_code = serializers.IntegerField(allow_null=True)
    response_body = serializers.CharField(help_text="The start of what the receiver answered.")
    error = serializers.CharField()
    duration_ms = serializers.IntegerField()
    succeeded = serializers.BooleanField()


class WebhookDeliverySerializer(serializers.ModelSerializer):
    attempts_log = DeliveryAttemptSerializer(source="attempt_log", many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_response_code",
            "last_error",
            "delivered_at",
            "created_at",
            "payload",
            "attempts_log",
        ]
        read_only_fields = fields
