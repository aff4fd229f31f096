"""``Idempotency-Key`` on API POSTs: the same key and request give the same response and no second record.

For a ``POST`` under ``/api/`` carrying ``Idempotency-Key`` from an authenticated caller (session or token):

1. The key is claimed for (user, key) by inserting an ``in_flight`` row that commits at once, before the view
   runs — the unique constraint makes exactly one of several concurrent requests the owner.
2. The owner runs the view and stores the status, body and content headers on the row (``completed``).
   Answers ≥ 500, 401, 409 and 429 are not stored: the row is dropped so that the client can retry.
3. A later request with the same key and the same fingerprint (method, path, query, company, body) gets the
   stored answer again with ``Idempotent-Replayed: true``; with another fingerprint it gets 422
   (``idempotency_key_reused``); while the first is still running it gets 409 (``idempotency_in_progress``).

A claim left ``in_flight`` by a crashed process is taken over after ``TROIKA_IDEMPOTENCY_LOCK_SECONDS``. Keys
expire after ``TROIKA_IDEMPOTENCY_TTL_SECONDS`` (24 h); ``idempotency_keys_purge`` (beat) deletes them.
A request without the header, a GET, or an anonymous caller is passed through untouched.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from suite.api.errors import json_error
from suite.middleware import COMPANY_HEADER
from suite.models import IdempotencyKey

logger = logging.getLogger(__name__)

HEADER = "HTTP_IDEMPOTENCY_KEY"
REPLAYED_HEADER = "Idempotent-Replayed"
STORED_HEADERS = ("Content-Type", "Location", "Content-Language")
NOT_STORED_STATUSES = frozenset({401, 409, 429})
MAX_KEY_LENGTH = 255


def ttl() -> timedelta:
    return timedelta(seconds=getattr(settings, "TROIKA_IDEMPOTENCY_TTL_SECONDS", 24 * 3600))


def lock_timeout() -> timedelta:
    return timedelta(seconds=getattr(settings, "TROIKA_IDEMPOTENCY_LOCK_SECONDS", 300))


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


def _caller(request):
    """The user a request acts as — the session's, or the API token's (DRF authenticates only later, in the
    view) — and the membership a token binds it to. ``(None, None)`` for anonymous or bad credentials."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _sep, secret = header.partition(" ")
    if scheme.lower() == "token" and secret:
        from suite.services.tokens import api_token_authenticate

        token = api_token_authenticate(secret.strip())
        if token is None or not token.membership.user.is_active:
            return None, None
        return token.membership.user, token.membership_id
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user, None
    return None, None


def _fingerprint(request, membership_id) -> str:
    digest = hashlib.sha256()
    for part in (
        request.method,
        request.path,
        request.META.get("QUERY_STRING", ""),
        str(membership_id or ""),
        request.META.get(COMPANY_HEADER, ""),
        request.content_type or "",
    ):
        digest.update(part.encode("utf-8", "surrogateescape"))
        digest.update(b"\x00")
    digest.update(request.body)
    return digest.hexdigest()


def _claim(*, user, key: str, fingerprint: str, request) -> tuple[IdempotencyKey, bool]:
    """Insert the in-flight row (committed at once) or return the existing one. Takes over an expired key or a
    stale claim with a conditional UPDATE, so two takers cannot both win."""
    now = timezone.now()
    with transaction.atomic():
        record, created = IdempotencyKey.objects.get_or_create(
            user_id=user.pk,
            key=key,
            defaults={
                "fingerprint": fingerprint,
                "method": request.method,
                "path": request.path[:2048],
                "created_at": now,
                "locked_at": now,
            },
        )
    if created:
        return record, True
    expired = record.created_at < now - ttl()
    stale = record.state == IdempotencyKey.State.IN_FLIGHT and record.locked_at < now - lock_timeout()
    if expired or (stale and record.fingerprint == fingerprint):
        taken = IdempotencyKey.objects.filter(pk=record.pk, locked_at=record.locked_at, state=record.state).update(
            fingerprint=fingerprint,
            method=request.method,
            path=request.path[:2048],
            state=IdempotencyKey.State.IN_FLIGHT,
            response_status=None,
            response_headers={},
            response_body=b"",
            created_at=now if expired else record.created_at,
            locked_at=now,
        )
        if taken:
            record.refresh_from_db()
            return record, True
        record.refresh_from_db()
    return record, False


def _replay(record: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(bytes(record.response_body), status=record.response_status)
    for name, value in (record.response_headers or {}).items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def _store(record: IdempotencyKey, response) -> None:
    if (
        response.status_code >= 500
        or response.status_code in NOT_STORED_STATUSES
        or getattr(response, "streaming", False)
    ):
        IdempotencyKey.objects.filter(pk=record.pk).delete()
        return
    IdempotencyKey.objects.filter(pk=record.pk).update(
        state=IdempotencyKey.State.COMPLETED,
        response_status=response.status_code,
        response_headers={name: response[name] for name in STORED_HEADERS if name in response},
        response_body=bytes(response.content),
    )


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.META.get(HEADER)
        if key is None or request.method != "POST" or not request.path.startswith("/api/"):
            return self.get_response(request)
        if not _valid_key(key):
            return json_error(
                400, "invalid", _("Idempotency-Key must be 1 to 255 printable ASCII characters."), "Idempotency-Key"
            )
        user, membership_id = _caller(request)
        if user is None:
            return self.get_response(request)  # the view answers 401; nothing to remember
        try:
            fingerprint = _fingerprint(request, membership_id)
        except Exception:  # a body over DATA_UPLOAD_MAX_MEMORY_SIZE and the like: let the view refuse it
            return self.get_response(request)
        record, owner = _claim(user=user, key=key, fingerprint=fingerprint, request=request)
        if not owner:
            if record.fingerprint != fingerprint:
                return json_error(
                    422,
                    "idempotency_key_reused",
                    _("This Idempotency-Key was used with a different request."),
                    "Idempotency-Key",
                )
            if record.state == IdempotencyKey.State.IN_FLIGHT:
                response = json_error(
                    409, "idempotency_in_progress", _("A request with this Idempotency-Key is still in progress.")
                )
                response["Retry-After"] = "1"
                return response
            return _replay(record)
        try:
            response = self.get_response(request)
        except BaseException:
            IdempotencyKey.objects.filter(pk=record.pk).delete()
            raise
        _store(record, response)
        return response


@shared_task(name="suite.idempotency_keys_purge")
def idempotency_keys_purge() -> int:
    """Delete idempotency keys older than the TTL (beat, hourly). Returns how many were deleted."""
    deleted, _details = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - ttl()).delete()
    return deleted
