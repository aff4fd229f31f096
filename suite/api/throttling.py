"""API throttling, counted in Redis (the default cache) so every web worker shares one count.

DRF's throttles read their rates once, at import; these read ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` on
every request, so a rate changed in settings (or by ``override_settings`` in a test) takes effect at once.

Scopes: ``anon`` (per IP), ``user`` (per user), ``login`` (per IP, strict: the token login endpoint) and any
``throttle_scope`` a view declares (per user, else per IP).
"""

from django.core.cache import cache
from rest_framework import throttling
from rest_framework.settings import api_settings


class _RatesFromSettings:
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class AnonRateThrottle(_RatesFromSettings, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(_RatesFromSettings, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(_RatesFromSettings, throttling.ScopedRateThrottle):
    """Applies only to views that declare ``throttle_scope`` (a scope without a rate is not throttled)."""


class LoginRateThrottle(_RatesFromSettings, throttling.SimpleRateThrottle):
    """Password logins per client IP, whoever they claim to be: slows down guessing before django-axes locks."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def clear_throttles() -> int:
    """Forget every throttle count in this cache's key prefix (tests; an operator after an incident)."""
    client = cache._cache.get_client(None, write=True)
    keys = list(client.scan_iter(match=cache.make_key("throttle_*"), count=1000))
    if keys:
        client.delete(*keys)
    return len(keys)
