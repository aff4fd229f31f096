"""API tokens: issue (the secret is returned once), authenticate, revoke."""

import hashlib
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from suite.models import ApiToken, Membership


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # "<prefix>.<key>": shown to the user once, never stored


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_issue(*, membership: Membership, name: str) -> IssuedToken:
    """Create a token for ``membership``; the returned secret is the only copy of the key."""
    prefix = secrets.token_hex(4)
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(membership=membership, name=name, prefix=prefix, key_hash=_hash(key))
    return IssuedToken(token=token, secret=f"{prefix}.{key}")


def api_token_authenticate(secret: str) -> ApiToken | None:
    """The active token matching ``secret`` (compared in constant time), or ``None``."""
    prefix, _, key = secret.partition(".")
    if not prefix or not key:
        return None
    token = (
        ApiToken.objects.select_related("membership__user", "membership__company")
        .filter(prefix=prefix, revoked_at__isnull=True, membership__is_active=True)
        .first()
    )
    if token is None or not secrets.compare_digest(token.key_hash, _hash(key)):
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke the token; later requests with it are refused. Revoking twice changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
