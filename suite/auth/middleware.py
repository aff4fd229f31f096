"""Two-factor login: required for admin and finance roles when their company turns it on.

For such a user every page — the admin site and the API (with a session) included — answers with a redirect
to the two-factor setup (no authenticator yet) or to the code check (authenticator, session not verified yet),
until the session is verified with django-otp. Logout, the login steps, static files, health checks and the
language switch stay reachable.
"""

from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from suite.auth import services

_EXEMPT_URL_NAMES = ("login", "login-verify", "logout", "two-factor-setup", "locked-out", "set_language")
_EXEMPT_PREFIXES = ("/static/", "/healthz", "/metrics", "/jsi18n/")


class TwoFactorRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._exempt_paths = None

    def _is_exempt(self, path: str) -> bool:
        if self._exempt_paths is None:
            self._exempt_paths = frozenset(reverse(name) for name in _EXEMPT_URL_NAMES)
        return path in self._exempt_paths or path.startswith(_EXEMPT_PREFIXES)

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not self._is_exempt(request.path_info):
            actor = request.get_actor()
            if services.two_factor_required(actor) and not user.is_verified():
                return self._refuse(request, user)
        return self.get_response(request)

    def _refuse(self, request, user):
        if request.path_info.startswith("/api/"):
            from suite.api.errors import json_error

            return json_error(403, "otp_required", _("Two-factor login is required: verify this session first."))
        target = "login-verify" if services.has_two_factor(user) else "two-factor-setup"
        query = urlencode({"next": request.get_full_path()}) if request.method == "GET" else ""
        url = reverse(target) + (f"?{query}" if query else "")
        if request.headers.get("HX-Request") == "true":  # django-htmx's middleware runs after this one
            response = HttpResponseRedirect(url)
            response["HX-Redirect"] = url
            return response
        return HttpResponseRedirect(url)
