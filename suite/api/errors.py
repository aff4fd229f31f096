"""The one error format of the API: ``{"errors": [{"field", "code", "message"}]}``.

Validation, authentication, permission, not-found, throttling and conflicts all come out in this shape, so an
integrator writes one error handler. ``field`` is ``null`` for errors that are not about one field; nested
fields are joined with dots (``lines.0.quantity``).

Two layers produce it: ``exception_handler`` for everything raised inside a DRF view, and ``ApiErrorMiddleware``
for what Django answers outside DRF under ``/api/`` (unknown URLs, a body that is too large, a lock-out by
django-axes, a crash), so no HTML page ever reaches an API client.
"""

from __future__ import annotations

import json
import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


def _flatten(detail, field: str | None, out: list[dict]) -> None:
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = None if key in ("non_field_errors", "__all__") else (f"{field}.{key}" if field else str(key))
            _flatten(value, name if name is not None else field, out)
    elif isinstance(detail, list | tuple):
        if all(isinstance(item, exceptions.ErrorDetail | str) for item in detail):
            for item in detail:
                _flatten(item, field, out)
        else:
            for index, item in enumerate(detail):
                if item in ({}, [], None):
                    continue  # a valid element of a nested list: DRF reports it as an empty dict
                _flatten(item, f"{field}.{index}" if field else str(index), out)
    else:
        code = getattr(detail, "code", None) or "invalid"
        out.append({"field": field, "code": str(code), "message": str(detail)})


def errors_body(detail, default_code: str = "invalid") -> dict:
    """``detail`` of a DRF exception (str, list or dict, nested to any depth) in the one format."""
    out: list[dict] = []
    _flatten(detail, None, out)
    if not out:
        out.append({"field": None, "code": default_code, "message": str(detail)})
    return {"errors": out}


def error_body(code: str, message, field: str | None = None) -> dict:
    return {"errors": [{"field": field, "code": code, "message": str(message)}]}


def _drf_validation_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    """Django's ValidationError (from ``full_clean`` or a service) as DRF's, keeping each message's code."""

    def details(errors) -> list[exceptions.ErrorDetail]:
        return [
            exceptions.ErrorDetail(
                str(error.message % error.params if error.params else error.message), code=error.code or "invalid"
            )
            for error in errors
        ]

    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError(
            {
                ("non_field_errors" if name == "__all__" else name): details(errors)
                for name, errors in exc.error_dict.items()
            }
        )
    return exceptions.ValidationError({"non_field_errors": details(exc.error_list)})


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The request conflicts with the current state of the record.")
    default_code = "conflict"


def exception_handler(exc, context):
    """DRF's handler with every error rewritten into the one format (and Django's errors mapped first).

    Database errors caused by input (a value out of range, a NUL byte, a unique constraint lost in a race)
    become 400/409 instead of a 500.
    """
    if isinstance(exc, DjangoValidationError):
        exc = _drf_validation_error(exc)
    elif isinstance(exc, IntegrityError):
        logger.info("integrity error answered as 409: %s", exc)
        exc = ConflictError()
    elif isinstance(exc, DataError):
        logger.info("data error answered as 400: %s", exc)
        exc = exceptions.ValidationError(
            {"non_field_errors": [exceptions.ErrorDetail(str(_("A value is invalid or out of range.")), "invalid")]}
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, Http404):
        body = error_body("not_found", exceptions.NotFound.default_detail)
    elif isinstance(exc, PermissionDenied):
        body = error_body("permission_denied", exceptions.PermissionDenied.default_detail)
    elif isinstance(exc, exceptions.APIException):
        if isinstance(exc.detail, dict | list):
            body = errors_body(exc.detail, default_code=exc.default_code)
        else:
            code = getattr(exc.detail, "code", None) or exc.default_code
            body = error_body(str(code), exc.detail)
    else:  # pragma: no cover - DRF only answers for the above
        body = errors_body(response.data)
    response.data = body
    return response


def json_error(status_code: int, code: str, message, field: str | None = None) -> JsonResponse:
    """An error in the API format from outside DRF (middleware, Django's 404/500 handlers for /api/)."""
    return JsonResponse(error_body(code, message, field), status=status_code)


def api_error_response(status_code: int, code: str, message, field: str | None = None) -> Response:
    return Response(error_body(code, message, field), status=status_code)


_CODE_BY_STATUS = {
    400: ("invalid", _("The request is invalid.")),
    401: ("not_authenticated", _("Authentication credentials were not provided.")),
    403: ("permission_denied", _("You do not have permission to perform this action.")),
    404: ("not_found", _("Not found.")),
    405: ("method_not_allowed", _("Method not allowed.")),
    406: ("not_acceptable", _("Could not satisfy the request Accept header.")),
    409: ("conflict", _("The request conflicts with the current state of the record.")),
    413: ("too_large", _("The request body is too large.")),
    415: ("unsupported_media_type", _("Unsupported media type in the request.")),
    429: ("throttled", _("Request was throttled.")),
}


def _is_api_error_body(response) -> bool:
    if not response.get("Content-Type", "").startswith("application/json"):
        return False
    if getattr(response, "streaming", False):
        return False
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("errors"), list)


class ApiErrorMiddleware:
    """Under ``/api/``, any 4xx/5xx answer not already in the error format is replaced by one that is.

    Covers Django's own 404 for unknown URLs, 400 for a too large or malformed request, django-axes' lock-out
    page and the 500 page; headers such as ``Retry-After`` are kept.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(API_PREFIX) or response.status_code < 400:
            return response
        if _is_api_error_body(response):
            return response
        if getattr(request, "axes_locked_out", False):
            code, message = "locked_out", _("Too many failed login attempts; try again later.")
        elif response.status_code >= 500:
            code, message = "server_error", _("A server error occurred.")
        else:
            code, message = _CODE_BY_STATUS.get(response.status_code, ("error", _("The request failed.")))
        replacement = json_error(response.status_code, code, message)
        for header in ("Retry-After", "Allow", "WWW-Authenticate", "X-Request-ID"):
            if header in response:
                replacement[header] = response[header]
        return replacement
