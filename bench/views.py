"""The two floors the benchmarks compare against (mounted only with BENCH_ENDPOINTS=1).

Both are DRF views served by the same gunicorn configuration and middleware as
the rest of the site, with no authentication or throttling of their own:
(a) a fixed small JSON document, no database; (b) one row read by a unique
index, five fields. Anything that must consult the register cannot beat (b).
"""

from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from members.models import Member

FLOOR_DOCUMENT = {"service": "register", "status": "ok", "version": 1}
FLOOR_FIELDS = ("membership_number", "status", "status_since", "period_ends_on", "public_id")


class _Floor(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []
    versioning_class = None


class FloorStatic(_Floor):
    """Floor (a): what DRF and the middleware cost with nothing else to do."""

    def get(self, request):
        return Response(FLOOR_DOCUMENT)


class FloorRow(_Floor):
    """Floor (b): one indexed row from the database, five fields."""

    def get(self, request, number: str):
        try:
            row = Member.objects.values(*FLOOR_FIELDS).get(membership_number=number)
        except Member.DoesNotExist:
            raise NotFound from None
        return Response(row)
