"""The one error format of the API: ``{"errors": [{"field", "code", "message"}]}``.

Validation, authentication, permission, not-found, throttling and conflicts all come out in this shape, so an
integrator writes one error handler. ``field`` is ``null`` for errors that are not about one field; nested
fields are joined with dots (``lines.0.quantity``).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _flatten(detail, field: str | None, out: list[dict]) -> None:
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = None if key in ("non_field_errors", "__all__") else (f"{field}.{key}" if field else str(key))
            _flatten(value, name if name is not None else field, out)
    elif isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail | str) for item in detail):
            for item in detail:
                _flatten(item, field, out)
        else:
            for index, item in enumerate(detail):
                _flatten(item, f"{field}.{index}" if field else str(index), out)
    else:
        code = getattr(detail, "code", None) or "invalid"
        out.append({"field": field, "code": str(code), "message": str(detail)})


def errors_body(detail, default_code: str = "invalid") -> dict:
    out: list[dict] = []
    _flatten(detail, None, out)
    if not out:
        out.append({"field": None, "code": default_code, "message": str(detail)})
    return {"errors": out}


def exception_handler(exc, context):
    """DRF's handler with every error rewritten into the one format (and Django's errors mapped first)."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, Http404):
        body = {"errors": [{"field": None, "code": "not_found", "message": str(exceptions.NotFound().detail)}]}
    elif isinstance(exc, PermissionDenied):
        body = {"errors": [{"field": None, "code": "permission_denied", "message": str(exceptions.PermissionDenied().detail)}]}
    elif isinstance(exc, exceptions.APIException):
        default_code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        if isinstance(exc.detail, dict | list):
            body = errors_body(exc.detail)
        else:
            body = {"errors": [{"field": None, "code": str(default_code), "message": str(exc.detail)}]}
    else:  # pragma: no cover - DRF only answers for the above
        body = errors_body(response.data)
    response.data = body
    return response


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the record."
    default_code = "conflict"


def json_error(status_code: int, code: str, message: str, field: str | None = None) -> JsonResponse:
    """An error in the API format from outside DRF (middleware, Django's 404/500 handlers for /api/)."""
    return JsonResponse({"errors": [{"field": field, "code": code, "message": message}]}, status=status_code)


def api_error_response(status_code: int, code: str, message: str) -> Response:
    return Response({"errors": [{"field": None, "code": code, "message": message}]}, status=status_code)
