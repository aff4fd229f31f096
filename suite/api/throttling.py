"""API throttling, counted in Redis (the default cache) so every web worker shares one count.

DRF's throttles read their rates once, at import; these read ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` on
every request, so a rate changed in settings (or by ``override_settings`` in a test) takes effect at once.

Scopes: ``anon`` (per IP), ``user`` (per user), ``login`` (per IP, strict: the token login endpoint) and any
``throttle_scope`` a view declares (per user, else per IP).

Counting is a fixed window: one ``INCR`` (with its ``EXPIRE``, in the same round trip) of a key per caller and
window. DRF's own throttles keep the timestamp of every request of the last period in one cache value, read and
rewritten whole on every request — at the ``user`` rate of 6,000/min that is a list of up to 6,000 floats
unpickled and pickled per request (docs/performance.md, "CRM at scale"). The price of the fixed window: a client
can send up to twice the rate across a window boundary.
"""

from django.core.cache import cache
from rest_framework import throttling
from rest_framework.settings import api_settings


class _RatesFromSettings:
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class _FixedWindow(throttling.SimpleRateThrottle):
    """``allow_request`` with one Redis round trip: ``INCR`` the caller's counter of the current window."""

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        key = cache.make_and_validate_key(f"{self.key}_{window}")
        client = cache._cache.get_client(key, write=True)
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, self.duration + 1)
        count = pipe.execute()[0]
        self.wait_seconds = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self):
        return getattr(self, "wait_seconds", None)


class AnonRateThrottle(_RatesFromSettings, throttling.AnonRateThrottle, _FixedWindow):
    pass


class UserRateThrottle(_RatesFromSettings, throttling.UserRateThrottle, _FixedWindow):
    pass


class ScopedRateThrottle(_RatesFromSettings, throttling.ScopedRateThrottle, _FixedWindow):
    """Applies only to views that declare ``throttle_scope`` (a scope without a rate is not throttled)."""


class LoginRateThrottle(_RatesFromSettings, _FixedWindow):
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
