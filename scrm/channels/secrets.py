"""Channel credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a key from settings.

The key is ``settings.TROIKA_FIELD_KEY`` (a Fernet key) when set, otherwise derived from ``SECRET_KEY`` with
HKDF-SHA256 and a fixed purpose label, so a dump of the database alone does not reveal the platforms' tokens
(docs/decisions.md, "SCRM channels").
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(field_key: str, secret_key: str) -> Fernet:
    if field_key:
        return Fernet(field_key.encode())
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"troika.scrm.channel-credentials").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet() -> Fernet:
    return _fernet(getattr(settings, "TROIKA_FIELD_KEY", "") or "", settings.SECRET_KEY)


def encrypt_credentials(credentials: dict) -> str:
    """The Fernet token of ``credentials`` serialised as JSON ("" for no credentials)."""
    if not credentials:
        return ""
    return fernet().encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()


def decrypt_credentials(token: str) -> dict:
    """The credentials dict back; ``ValueError`` when the token was made with another key or tampered with."""
    if not token:
        return {}
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise ValueError("channel credentials cannot be decrypted with the configured key") from exc
