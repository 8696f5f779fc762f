"""One JSON shape for every error the API gives:

    {"code": "not_found", "message": "…", "field_errors": {"family_name": ["…"]}}

``code`` is stable for programs, ``message`` is for people, ``field_errors``
maps each input that was wrong (dotted paths for nested items, e.g.
``checks.3.family_name``) to what was wrong with it; it is empty otherwise.
"""

import logging

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

MESSAGES = {
    "invalid": "Some of what was sent is not valid; see field_errors.",
    "not_found": "Not found.",
    "server_error": "Something went wrong on our side. It has been logged; please try again.",
    "too_big": "The request body is too large.",
    "bad_request": "The request could not be read.",
}


def error_body(code: str, message: str, field_errors: dict | None = None) -> dict:
    return {"code": code, "message": message, "field_errors": field_errors or {}}


def _flatten(detail, path: str = "") -> dict[str, list[str]]:
    """ValidationError detail (nested dicts and lists) as {dotted.path: [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            # A list's own errors ("at least 1 element") belong to the list's path.
            if key == "non_field_errors" and path:
                child = path
            else:
                child = f"{path}.{key}" if path else str(key)
            for field, messages in _flatten(value, child).items():
                out.setdefault(field, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            if detail:
                out[path or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                for field, messages in _flatten(
                    item, f"{path}.{index}" if path else str(index)
                ).items():
                    out.setdefault(field, []).extend(messages)
    else:
        out[path or "non_field_errors"] = [str(detail)]
    return out


def _code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return exc.default_code


def api_exception_handler(exc, context):
    # Django's guards on oversized or malformed requests, in the one shape (not a 500).
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("too_big", MESSAGES["too_big"]), status=413)
    if isinstance(exc, SuspiciousOperation):
        return Response(error_body("bad_request", MESSAGES["bad_request"]), status=400)
    response = drf_exception_handler(exc, context)
    if response is None:
        # Anything unexpected: log it with its traceback and answer in the one shape.
        logger.exception("Unhandled error in the API", exc_info=exc)
        return Response(
            error_body("server_error", MESSAGES["server_error"]),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        field_errors = _flatten(exc.detail)
        non_field = field_errors.pop("non_field_errors", None)
        message = " ".join(non_field) if non_field else MESSAGES["invalid"]
        if non_field and field_errors:
            message += " " + MESSAGES["invalid"]
        response.data = error_body("invalid", message, field_errors)
        return response
    if isinstance(exc, exceptions.APIException):
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else MESSAGES["invalid"]
        response.data = error_body(_code(exc), message)
        return response
    response.data = error_body("error", str(response.data))  # pragma: no cover
    return response


@csrf_exempt  # API calls carry a key, not a session; any method gets the JSON 404
def api_not_found(request, *args, **kwargs):
    """Any address under /api/v1/ that names no endpoint."""
    return JsonResponse(
        error_body("not_found", "There is no API endpoint at this address."), status=404
    )
