"""API v1: the watch list and webhook endpoints (included from api/urls.py).

Thin views: every query starts from the calling key's employer, so another
employer's entries, endpoints and deliveries are a 404 like anything missing.
"""

import uuid

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import BaseParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from api import watch_serializers as s
from api import watchlist, webhooks
from api.models import Scope, WatchEntry, WebhookEndpoint
from api.serializers import ErrorSerializer

NOT_FOUND = OpenApiResponse(ErrorSerializer, description="Not found (or not yours).")
INVALID = OpenApiResponse(ErrorSerializer, description="Invalid input; see field_errors.")


class CsvParser(BaseParser):
    """A CSV sent as the whole request body (``Content-Type: text/csv``)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return {"csv": stream.read()}


class _EmployerScoped(GenericAPIView):
    def employer(self):
        return self.request.auth.employer


def _uuid(value: str) -> uuid.UUID:
    """Ids in paths are UUIDs; anything else names nothing (404, like a missing id)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound() from None


# --- Watch list -------------------------------------------------------------------


class WatchListView(_EmployerScoped):
    required_scope = Scope.WATCHLIST
    throttle_scope = "watchlist"
    serializer_class = s.WatchEntrySerializer

    def get_queryset(self):
        return watchlist.watch_entries_for(employer=self.employer())

    @extend_schema(
        operation_id="watchlist_list",
        summary="List the watch list",
        responses={200: s.WatchEntrySerializer(many=True)},
    )
    def get(self, request, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="watchlist_add",
        summary="Add a member to the watch list",
        description=(
            "By membership number and family name, as for verification. Adding someone "
            "already on the list answers 200 with their entry; a number and name that match "
            "nobody answer 400 `no_match` (the same whichever is wrong)."
        ),
        request=s.WatchEntryAddSerializer,
        responses={200: s.WatchEntrySerializer, 201: s.WatchEntrySerializer, 400: INVALID},
    )
    def post(self, request, **kwargs):
        body = s.WatchEntryAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            entry, created = watchlist.watch_entry_add(
                employer=self.employer(), actor=None, **body.validated_data
            )
        except watchlist.WatchListError as error:
            raise ValidationError(str(error), code="no_match") from error
        entry = watchlist.watch_entry_get(employer=self.employer(), public_id=entry.public_id)
        return Response(
            s.WatchEntrySerializer(entry).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class WatchEntryView(_EmployerScoped):
    required_scope = Scope.WATCHLIST
    throttle_scope = "watchlist"
    serializer_class = s.WatchEntrySerializer

    def entry(self, entry_id) -> WatchEntry:
        try:
            return watchlist.watch_entry_get(employer=self.employer(), public_id=_uuid(entry_id))
        except WatchEntry.DoesNotExist as error:
            raise NotFound("No such entry on your watch list.") from error

    @extend_schema(
        operation_id="watchlist_get", responses={200: s.WatchEntrySerializer, 404: NOT_FOUND}
    )
    def get(self, request, entry_id, **kwargs):
        return Response(s.WatchEntrySerializer(self.entry(entry_id)).data)

    @extend_schema(
        operation_id="watchlist_remove",
        summary="Remove a member from the watch list",
        responses={204: None, 404: NOT_FOUND},
    )
    def delete(self, request, entry_id, **kwargs):
        watchlist.watch_entry_remove(entry=self.entry(entry_id), actor=None)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WatchListCsvView(_EmployerScoped):
    required_scope = Scope.WATCHLIST
    throttle_scope = "watchlist"
    parser_classes = [MultiPartParser, CsvParser]
    serializer_class = s.WatchListCsvUploadSerializer

    @extend_schema(
        operation_id="watchlist_add_csv",
        summary="Add many members from a CSV",
        description=(
            "Send `membership_number,family_name` rows (up to 10,000; a header row is "
            "optional) as `text/csv` or as the `file` of a multipart form. Rows that match "
            "a member are added; each row that does not is listed with its row number, so "
            "the file can be fixed and sent again (rows already on the list are skipped)."
        ),
        request={"text/csv": str, "multipart/form-data": s.WatchListCsvUploadSerializer},
        responses={
            200: s.WatchListCsvResultSerializer,
            400: INVALID,
            415: OpenApiResponse(ErrorSerializer, description="Send text/csv or a multipart form."),
        },
    )
    def post(self, request, **kwargs):
        upload = request.data.get("file") or request.data.get("csv")
        if not upload:
            raise ValidationError({"file": ["Send a CSV file."]})
        try:
            result = watchlist.watch_entries_add_csv(
                employer=self.employer(), upload=upload, actor=None
            )
        except watchlist.WatchListError as error:
            raise ValidationError({"file": [str(error)]}) from error
        return Response(
            s.WatchListCsvResultSerializer(
                {
                    "added": len(result.added),
                    "already_on_list": len(result.already),
                    "errors": [{"row": row, "message": message} for row, message in result.errors],
                }
            ).data
        )


# --- Webhook endpoints -----------------------------------------------------------


class WebhookEndpointListView(_EmployerScoped):
    required_scope = Scope.WEBHOOKS
    throttle_scope = "webhooks"
    serializer_class = s.WebhookEndpointSerializer
    parser_classes = [JSONParser]

    def get_queryset(self):
        return webhooks.webhook_endpoints_for(employer=self.employer())

    @extend_schema(
        operation_id="webhooks_list",
        summary="List webhook endpoints",
        responses={200: s.WebhookEndpointSerializer(many=True)},
    )
    def get(self, request, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="webhooks_create",
        summary="Register a webhook endpoint",
        description="The answer holds the signing secret; it is never shown again.",
        request=s.WebhookEndpointSerializer,
        responses={201: s.WebhookEndpointCreatedSerializer, 400: INVALID},
    )
    def post(self, request, **kwargs):
        body = s.WebhookEndpointSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            endpoint, secret = webhooks.webhook_endpoint_create(
                employer=self.employer(),
                url=data["url"],
                events=data.get("events"),
                description=data.get("description", ""),
            )
        except webhooks.WebhookError as error:
            raise ValidationError({error.field: [str(error)]}) from error
        endpoint.secret = secret
        return Response(
            s.WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )


class _OneEndpoint(_EmployerScoped):
    required_scope = Scope.WEBHOOKS
    throttle_scope = "webhooks"
    serializer_class = s.WebhookEndpointSerializer
    parser_classes = [JSONParser]

    def endpoint(self, endpoint_id) -> WebhookEndpoint:
        try:
            return webhooks.webhook_endpoint_get(
                employer=self.employer(), public_id=_uuid(endpoint_id)
            )
        except WebhookEndpoint.DoesNotExist as error:
            raise NotFound("No such webhook endpoint.") from error


class WebhookEndpointView(_OneEndpoint):
    @extend_schema(
        operation_id="webhooks_get", responses={200: s.WebhookEndpointSerializer, 404: NOT_FOUND}
    )
    def get(self, request, endpoint_id, **kwargs):
        return Response(s.WebhookEndpointSerializer(self.endpoint(endpoint_id)).data)

    @extend_schema(
        operation_id="webhooks_update",
        summary="Change a webhook endpoint",
        description="Send any of url, description, events, active. Turning an endpoint back "
        "on clears its run of failures.",
        request=s.WebhookEndpointSerializer,
        responses={200: s.WebhookEndpointSerializer, 400: INVALID, 404: NOT_FOUND},
    )
    def patch(self, request, endpoint_id, **kwargs):
        endpoint = self.endpoint(endpoint_id)
        body = s.WebhookEndpointSerializer(endpoint, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        try:
            endpoint = webhooks.webhook_endpoint_update(endpoint=endpoint, **body.validated_data)
        except webhooks.WebhookError as error:
            raise ValidationError({error.field: [str(error)]}) from error
        return Response(s.WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhooks_delete",
        summary="Delete a webhook endpoint and its delivery log",
        responses={204: None, 404: NOT_FOUND},
    )
    def delete(self, request, endpoint_id, **kwargs):
        webhooks.webhook_endpoint_delete(endpoint=self.endpoint(endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookPingView(_OneEndpoint):
    @extend_schema(
        operation_id="webhooks_ping",
        summary="Send a test message",
        description="Queues a signed `webhook.ping` message to the endpoint (sent once, "
        "even while the endpoint is turned off); its outcome shows in the deliveries.",
        request=None,
        responses={202: s.WebhookDeliverySerializer, 404: NOT_FOUND},
    )
    def post(self, request, endpoint_id, **kwargs):
        delivery = webhooks.webhook_ping(endpoint=self.endpoint(endpoint_id))
        delivery.refresh_from_db()
        return Response(s.WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListView(_OneEndpoint):
    serializer_class = s.WebhookDeliverySerializer

    @extend_schema(
        operation_id="webhooks_deliveries",
        summary="List an endpoint's deliveries, newest first, with every attempt",
        responses={200: s.WebhookDeliverySerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request, endpoint_id, **kwargs):
        endpoint = self.endpoint(endpoint_id)
        page = self.paginate_queryset(
            endpoint.deliveries.prefetch_related("attempt_log").order_by("-id")
        )
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


urlpatterns = [
    path("watchlist", WatchListView.as_view(), name="watchlist"),
    path("watchlist/csv", WatchListCsvView.as_view(), name="watchlist_csv"),
    path("watchlist/<str:entry_id>", WatchEntryView.as_view(), name="watchlist_entry"),
    path("webhooks", WebhookEndpointListView.as_view(), name="webhooks"),
    path("webhooks/<str:endpoint_id>", WebhookEndpointView.as_view(), name="webhook"),
    path("webhooks/<str:endpoint_id>/ping", WebhookPingView.as_view(), name="webhook_ping"),
    path(
        "webhooks/<str:endpoint_id>/deliveries",
        WebhookDeliveryListView.as_view(),
        name="webhook_deliveries",
    ),
]
