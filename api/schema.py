"""OpenAPI: every operation documents the one error shape for each error it can give."""

from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import AllowAny

from api.serializers import ErrorSerializer

ERROR_DESCRIPTIONS = {
    400: "Invalid input: `field_errors` says which field and why.",
    401: "No API key, or a wrong, revoked or expired one.",
    403: "The key lacks the scope this call needs.",
    404: "Not found (also the answer for anything the caller may not see).",
    405: "Method not allowed.",
    429: "Too many requests: wait the seconds in `Retry-After`.",
}


class ApiAutoSchema(AutoSchema):
    def _is_public(self) -> bool:
        return any(isinstance(permission, AllowAny) for permission in self.view.get_permissions())

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction=direction)
        codes = [400, 404, 405, 429]
        if not self._is_public():
            codes += [401, 403]
        for code in sorted(codes):
            if str(code) in responses:
                continue
            response = self._get_response_for_code(ErrorSerializer, str(code), direction=direction)
            response["description"] = ERROR_DESCRIPTIONS[code]
            responses[str(code)] = response
        return responses
