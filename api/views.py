"""API v1 views: thin. They check input with serializers, call a selector or
service, and render the answer; every error goes out in the one shape
(``api.exceptions``)."""

import datetime as dt
import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accreditation import selectors as accreditation_selectors
from accreditation.models import Certificate
from api import selectors, serializers, services
from api.models import LookupChannel, Scope
from api.pagination import ApiCursorPagination
from api.serializers import ErrorSerializer, RegisterQuerySerializer
from api.throttles import KeyScopeRateThrottle
from members import services as member_services

NO_MATCH = "No member has this membership number and family name."

# One serializer for every single check: DRF deep-copies a serializer's fields
# (and each nested serializer's) the first time an instance is used, which cost
# more than the rest of the answer; the copy on this instance is kept. It holds
# no per-request state.
VERIFICATION = serializers.VerificationSerializer()


# Nobody was a member before the body existed; earlier dates are typing mistakes.
EARLIEST_ON = dt.date(2000, 1, 1)


def _on_date(value: dt.date | None) -> dt.date:
    today = member_services.local_today()
    if value is None:
        return today
    if value > today:
        raise ValidationError({"on": ["The date cannot be in the future."]})
    if value < EARLIEST_ON:
        raise ValidationError({"on": [f"The date cannot be before {EARLIEST_ON:%-d %B %Y}."]})
    return value


class VerifyView(APIView):
    required_scope = Scope.VERIFY
    throttle_scope = "verify"

    @extend_schema(
        operation_id="verify_member",
        summary="Verify one member",
        description=(
            "The member's status on a date (default today) from the status history, "
            "grade, membership end date, current accreditations, CPD standing for the "
            "last year due and sanctions in force. The family name is required: an "
            "unknown number and a name that does not match give the same 404, so the "
            "API never confirms that a number exists."
        ),
        parameters=[
            OpenApiParameter(
                "membership_number",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="e.g. 1000017",
            ),
            serializers.VerifyQuerySerializer,
        ],
        responses={
            200: serializers.VerificationSerializer,
            404: OpenApiResponse(ErrorSerializer, description=NO_MATCH),
        },
    )
    def get(self, request, membership_number: str, **kwargs):
        query = serializers.VerifyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        on = _on_date(query.validated_data.get("on"))
        [check] = services.members_verify(
            employer=request.auth.employer,
            api_key=request.auth,
            pairs=[(membership_number, query.validated_data["family_name"])],
            on=on,
            channel=LookupChannel.API,
        )
        if check.verification is None:
            raise NotFound(NO_MATCH, code="no_match")
        return Response(VERIFICATION.to_representation(check.verification))


class BulkVerifyView(APIView):
    required_scope = Scope.VERIFY
    throttle_scope = "verify_bulk"

    @extend_schema(
        operation_id="verify_members_bulk",
        summary="Verify up to 1,000 members",
        description=(
            "One result per check, in the order sent. A check that matches nobody has "
            "`found: false` and no verification (an unknown number and a wrong name look "
            "the same)."
        ),
        request=serializers.BulkVerifyRequestSerializer,
        responses={200: serializers.BulkVerifyResponseSerializer},
    )
    def post(self, request, **kwargs):
        body = serializers.BulkVerifyRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        on = _on_date(body.validated_data.get("on"))
        checks = services.members_verify(
            employer=request.auth.employer,
            api_key=request.auth,
            pairs=[
                (check["membership_number"], check["family_name"])
                for check in body.validated_data["checks"]
            ],
            on=on,
            channel=LookupChannel.API_BULK,
        )
        return Response(
            serializers.BulkVerifyResponseSerializer({"on": on, "results": checks}).data
        )


class RegisterPagination(ApiCursorPagination):
    """Cursor pages of a ``selectors.RegisterSearch``: the cursor's position is a
    ``register_position`` (unique), and the search reads the page after or before
    it from its indexes. DRF's own link building is kept."""

    ordering = ("sort_key",)  # the attribute RegisterSearch sets on each member

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        position = cursor.position if cursor else None
        if position is not None and selectors.register_position_parse(position) is None:
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def paginate_queryset(self, queryset, request, view=None):
        search: selectors.RegisterSearch = queryset
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.cursor = self.decode_cursor(request)
        offset, reverse, position = self.cursor or (0, False, None)
        results = search.page(
            after=None if reverse else position,
            before=position if reverse else None,
            offset=offset,
            limit=self.page_size + 1,
        )
        # From here as DRF's CursorPagination.paginate_queryset.
        self.page = results[: self.page_size]
        has_following = len(results) > len(self.page)
        following = (
            self._get_position_from_instance(results[-1], self.ordering) if has_following else None
        )
        if reverse:
            self.page.reverse()
            self.has_next = position is not None or offset > 0
            self.has_previous = has_following
            self.next_position = position
            self.previous_position = following
        else:
            self.has_next = has_following
            self.has_previous = position is not None or offset > 0
            self.next_position = following
            self.previous_position = position
        self.display_page_controls = self.has_previous or self.has_next
        return self.page


class RegisterView(generics.ListAPIView):
    """The public register: no key needed, a strict limit per address."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [KeyScopeRateThrottle]
    throttle_scope = "register"
    pagination_class = RegisterPagination
    serializer_class = serializers.RegisterEntrySerializer

    @extend_schema(
        operation_id="register_search",
        summary="Search the public register",
        description=(
            "Members who chose to appear on the register (active, in grace, paused or "
            "suspended), by name or membership number. Organisation and town only if "
            "the member agreed. No key needed; 20 calls a minute per address."
        ),
        parameters=[RegisterQuerySerializer],
        auth=[],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = RegisterQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.register_search(q=query.validated_data["q"])

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        entries = selectors.register_entries(page)
        return self.get_paginated_response(self.get_serializer(entries, many=True).data)


class CertificateView(APIView):
    required_scope = Scope.VERIFY
    throttle_scope = "certificates"

    @extend_schema(
        operation_id="certificate_get",
        summary="A certificate's status",
        description=(
            "A certificate by the public id printed on it and in its QR code: its status "
            "(a revoked or expired certificate still answers, saying so, with the reason), "
            "holder, scheme, level and dates."
        ),
        parameters=[
            OpenApiParameter(
                "public_id",
                OpenApiTypes.UUID,
                OpenApiParameter.PATH,
                description="The certificate's public id",
            )
        ],
        responses={200: serializers.CertificateSerializer},
    )
    def get(self, request, public_id: str, **kwargs):
        try:
            certificate = accreditation_selectors.certificate_for_verification(
                public_id=uuid.UUID(public_id)
            )
        except (ValueError, Certificate.DoesNotExist) as missing:
            raise NotFound("No certificate has this id.") from missing
        return Response(
            serializers.CertificateSerializer(certificate, context={"request": request}).data
        )
