"""A lean middleware chain for API requests authenticated by token (``Authorization: Token <secret>`` on ``/api/``).

Such a request carries no cookie that matters: no session, no CSRF token (DRF views are CSRF-exempt and only
``SessionAuthentication`` checks CSRF, which a token request never reaches), no flash messages, no htmx, no
two-factor session step (``TwoFactorRequiredMiddleware`` applies to sessions; a token is checked by
``ApiTokenAuthentication`` in the view), no static files, no django-axes lock-out page (axes counts password
logins, which are not token requests; the login endpoints are excluded below anyway). Running those ten
middlewares for it cost ~1.5 ms of CPU per request on the bench machine (docs/performance.md, "CRM at scale").

``ApiTokenLeanMiddleware`` sits early in ``MIDDLEWARE`` (after the request id, the API error format and the
security headers). For a token request it hands the request to a second chain built once from the middlewares
that follow it in ``MIDDLEWARE`` **minus** ``SKIPPED_FOR_TOKEN_REQUESTS``; every other request goes on through
the full chain. So what is kept is kept by default (a middleware added later runs for token requests too unless
added to the skip list): locale, common (slashes), company/actor, audit context (who/where, request id),
Idempotency-Key, X-Frame-Options, CSP, metrics. Authentication, throttling, the policy layer and the tenant scope
are in the view (DRF) and unchanged.

The same chain serves endpoints that authenticate each request themselves and read nothing of a session — a
platform's signed webhook (SCRM's ``/api/v1/scrm/channels/<id>/webhook/``: signature and timestamp checked by
the channel's connector) — registered by their app with ``lean_path_register``.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.utils.module_loading import import_string

SELF = "suite.api.lean.ApiTokenLeanMiddleware"
SKIPPED_FOR_TOKEN_REQUESTS = frozenset(
    {
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "suite.middleware.NulByteGuardMiddleware",  # pages only: the API answers a NUL with a field error
        "django_otp.middleware.OTPMiddleware",
        "suite.ui.module_gate.ModuleGateMiddleware",
        "suite.auth.middleware.TwoFactorRequiredMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django_htmx.middleware.HtmxMiddleware",
        "axes.middleware.AxesMiddleware",
    }
)
# password logins and token issuing stay on the full chain (django-axes, sessions)
FULL_CHAIN_PREFIXES = ("/api/v1/suite/auth/",)


# Paths (regular expressions on ``path_info``) of /api/ endpoints that authenticate each request themselves
# and use no session, login, CSRF token, messages or htmx — a platform's signed webhook: they take the lean
# chain whatever their headers. Apps register theirs in ``AppConfig.ready`` (``lean_path_register``).
_LEAN_PATHS: list[re.Pattern] = []


def lean_path_register(pattern: str) -> None:
    """Send requests whose path matches ``pattern`` (a regex, anchored by the caller) through the lean chain:
    only for endpoints that check their own credentials (a signature) and read nothing of a session."""
    compiled = re.compile(pattern)
    if compiled.pattern not in {known.pattern for known in _LEAN_PATHS}:
        _LEAN_PATHS.append(compiled)


def is_token_api_request(request) -> bool:
    if not request.path_info.startswith("/api/") or request.path_info.startswith(FULL_CHAIN_PREFIXES):
        return False
    scheme, _sep, secret = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "token" and bool(secret.strip())


def takes_lean_chain(request) -> bool:
    """A token /api/ request, or a request to a registered self-authenticating endpoint (``lean_path_register``)."""
    if is_token_api_request(request):
        return True
    path = request.path_info
    return path.startswith("/api/") and any(pattern.match(path) for pattern in _LEAN_PATHS)


class _LeanHandler(BaseHandler):
    """Django's handler machinery (view, template-response and exception middleware hooks) over a given list of
    middleware paths; synchronous, like Troika's gunicorn workers."""

    def __init__(self, paths: list[str]):
        super().__init__()
        self.paths = paths

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(self.paths):
            middleware = import_string(path)
            try:
                instance = middleware(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler


def lean_middleware_paths() -> list[str]:
    """The middlewares after this one in ``MIDDLEWARE``, without those a token request does not need."""
    paths = list(settings.MIDDLEWARE)
    after = paths[paths.index(SELF) + 1 :] if SELF in paths else paths
    return [path for path in after if path not in SKIPPED_FOR_TOKEN_REQUESTS]


class ApiTokenLeanMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.lean = _LeanHandler(lean_middleware_paths())
        self.lean.load_middleware()

    def __call__(self, request):
        if not takes_lean_chain(request):
            return self.get_response(request)
        request.lean_chain = True
        if "user" not in request.__dict__:
            request.user = AnonymousUser()  # as AuthenticationMiddleware leaves a request without a session
        return self.lean._middleware_chain(request)
