"""API throttling, counted in Redis (the default cache) so every web worker shares one count.

DRF's throttles read their rates once, at import; these read ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` on
every request, so a rate changed in settings (or by ``override_settings`` in a test) takes effect at once.

Scopes: ``anon`` (per IP), ``user`` (per user), ``login`` (per IP, strict: the token login endpoint) and any
``throttle_scope`` a view declares (per user, else per IP).

Counting is a sliding-window counter in one round trip: ``INCR`` (and ``EXPIRE``) of the caller's counter of the
current window and ``GET`` of the previous window's, pipelined; the previous count is weighted by how much of that
window still lies within the last period. DRF's own throttles keep the timestamp of every request of the last
period in one cache value, read and rewritten whole on every request — at the ``user`` rate of 6,000/min a list of
up to 6,000 floats unpickled and pickled per request (docs/performance.md, "CRM at scale"). Refused requests count
too: a client that keeps calling while throttled stays throttled.
"""

from django.core.cache import cache
from rest_framework import throttling
from rest_framework.settings import api_settings


class _RatesFromSettings:
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class _FixedWindow(throttling.SimpleRateThrottle):
    """``allow_request`` with one Redis round trip (see the module's docstring)."""

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window, elapsed = divmod(now, self.duration)
        key = cache.make_and_validate_key(f"{self.key}_{int(window)}")
        previous = cache.make_and_validate_key(f"{self.key}_{int(window) - 1}")
        client = cache._cache.get_client(key, write=True)
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 2 * self.duration + 1)
        pipe.get(previous)
        count, _expired, before = pipe.execute()
        # the previous window's count, weighted by how much of it still lies within the last period
        weighted = int(before or 0) * (1 - elapsed / self.duration) + count
        self.wait_seconds = self.duration - elapsed
        return weighted <= self.num_requests

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
