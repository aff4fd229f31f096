"""API tokens: issue (the secret is returned once), authenticate, revoke.

Authentication is cached: the token with its membership, user and company (what ``ApiTokenAuthentication``
and the policy layer read) is kept in Redis under the token's prefix for ``CACHE_TTL`` seconds, so a token
request costs one Redis GET instead of a four-table join compiled by the ORM. The secret is still compared
with the stored hash on every request. Any change to a token, a membership, a user or a company (save or
delete, revocation included) replaces the cached entries of the tokens concerned by a *tombstone*
(``invalidate_tokens``), at once and again when the transaction commits; while a tombstone is there the
token is read from the database and not cached again (``cache.add`` never overwrites it), so a request that
read the old state just before the change cannot put it back. Writes that bypass signals (``QuerySet.update``
of those tables) are bounded by ``CACHE_TTL``; none in the application code does that to these tables.
"""

import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from suite.models import ApiToken, Company, Membership

CACHE_TTL = 30  # seconds a cached token is trusted without any change signal
TOMBSTONE_TTL = 15  # seconds a changed token is read from the database only
TOMBSTONE = "changed"
LAST_USED_EVERY = 60  # seconds between two writes of a token's last_used_at

_last_touched: dict[str, float] = {}  # token prefix → when this process last wrote its last_used_at (epoch s)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # "<prefix>.<key>": shown to the user once, never stored


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _cache_key(prefix: str) -> str:
    return f"apitoken:v1:{prefix}"


@transaction.atomic
def api_token_issue(*, membership: Membership, name: str) -> IssuedToken:
    """Create a token for ``membership``; the returned secret is the only copy of the key."""
    prefix = secrets.token_hex(4)
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(membership=membership, name=name, prefix=prefix, key_hash=_hash(key))
    return IssuedToken(token=token, secret=f"{prefix}.{key}")


def _token_from_database(prefix: str) -> ApiToken | None:
    return (
        ApiToken.objects.select_related("membership__user", "membership__company")
        .filter(prefix=prefix, revoked_at__isnull=True, membership__is_active=True)
        .first()
    )


def api_token_authenticate(secret: str) -> ApiToken | None:
    """The active token matching ``secret`` (compared in constant time), or ``None``."""
    prefix, _, key = secret.partition(".")
    if not prefix or not key:
        return None
    cache_key = _cache_key(prefix)
    cached = cache.get(cache_key)
    if isinstance(cached, ApiToken):
        token = cached
    else:
        token = _token_from_database(prefix)
        if token is not None and cached is None:
            cache.add(cache_key, token, CACHE_TTL)  # never over a tombstone
    if token is None or not secrets.compare_digest(token.key_hash, _hash(key)):
        return None
    now = timezone.now()
    stamp = now.timestamp()
    if stamp - _last_touched.get(token.prefix, 0.0) > LAST_USED_EVERY and (
        token.last_used_at is None or (now - token.last_used_at).total_seconds() > LAST_USED_EVERY
    ):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        if len(_last_touched) > 10_000:
            _last_touched.clear()
        _last_touched[token.prefix] = stamp
    return token


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke the token; later requests with it are refused. Revoking twice changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    invalidate_tokens([token.prefix])
    return token


def invalidate_tokens(prefixes) -> None:
    """Replace the cached entries of these tokens by tombstones, now and when the current transaction commits."""
    keys = {_cache_key(prefix): TOMBSTONE for prefix in prefixes}
    if not keys:
        return
    cache.set_many(keys, TOMBSTONE_TTL)
    transaction.on_commit(lambda: cache.set_many(keys, TOMBSTONE_TTL))


def _prefixes(**lookup) -> list[str]:
    return list(ApiToken.objects.filter(**lookup).values_list("prefix", flat=True))


def _token_changed(sender, instance, **kwargs) -> None:
    if kwargs.get("created"):
        return  # nothing cached under a new prefix
    invalidate_tokens([instance.prefix])


def _membership_changed(sender, instance, **kwargs) -> None:
    if kwargs.get("created"):
        return
    invalidate_tokens(_prefixes(membership_id=instance.pk))


def _user_changed(sender, instance, **kwargs) -> None:
    if kwargs.get("created"):
        return
    invalidate_tokens(_prefixes(membership__user_id=instance.pk))


def _company_changed(sender, instance, **kwargs) -> None:
    if kwargs.get("created"):
        return
    invalidate_tokens(_prefixes(membership__company_id=instance.pk))


for _signal in (post_save, post_delete):
    _signal.connect(_token_changed, sender=ApiToken, dispatch_uid=f"suite.tokens.token.{_signal is post_save}")
    _signal.connect(
        _membership_changed, sender=Membership, dispatch_uid=f"suite.tokens.membership.{_signal is post_save}"
    )
    _signal.connect(_user_changed, sender=get_user_model(), dispatch_uid=f"suite.tokens.user.{_signal is post_save}")
    _signal.connect(_company_changed, sender=Company, dispatch_uid=f"suite.tokens.company.{_signal is post_save}")
