"""Gives every request an id (taken from ``X-Request-ID`` when a proxy sent a sane one) for logs and audit,
echoes it in the response, and writes one JSON access line per request (logger ``troika.access``).

The id stays set until the request has finished, so Django's own ``django.request`` lines (written after the
middleware chain returned) carry it too; ``request_finished`` clears it.
"""

import logging
import re
import time
import uuid

from django.core.signals import request_finished
from django.utils.functional import SimpleLazyObject, empty

from suite.ops.logging import set_request_id

_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
access_log = logging.getLogger("troika.access")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request.request_id = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        set_request_id(request.request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "%s %s %s",
                request.method,
                getattr(request, "log_path", request.path),
                response.status_code,
                extra={
                    "method": request.method,
                    # a view whose address holds a secret (a calendar subscription) logs it masked: ``log_path``
                    "path": getattr(request, "log_path", request.path),
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "user_id": _loaded_user_id(request),
                    "remote_addr": request.META.get("REMOTE_ADDR", ""),
                },
            )
        return response


def _loaded_user_id(request) -> int | None:
    """The id of the user the request already authenticated (session or, set by DRF, API token) — never a
    lookup of its own: the access log must not cost a query."""
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        if user._wrapped is empty:
            return None
        user = user._wrapped
    return user.pk if getattr(user, "is_authenticated", False) else None


def _clear_request_id(**_kwargs) -> None:
    set_request_id("")


request_finished.connect(_clear_request_id, dispatch_uid="troika-clear-request-id")
