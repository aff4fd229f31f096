"""Field encryption at rest: Fernet under ``settings.TROIKA_FIELD_KEY`` or a key derived from ``SECRET_KEY``.

The scheme of SCRM's channel credentials (``scrm/channels/secrets.py`` now uses it; docs/decisions.md "Credentials
encrypted at rest with Fernet"), generalised for any app: each use names a *purpose* (``"erp.hr.employee"``)
that goes into the HKDF label, so a key derived for one purpose never opens another's values. With
``TROIKA_FIELD_KEY`` set, that one key is used for every purpose (it can live in a secrets manager and be
rotated apart from ``SECRET_KEY``).

Encrypted values cannot be searched or sorted in SQL; store only what is shown to few and looked up by the
record it belongs to (an ID number, a bank account, a salary).
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


@lru_cache(maxsize=16)
def _fernet(field_key: str, secret_key: str, purpose: str) -> Fernet:
    if field_key:
        return Fernet(field_key.encode())
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"troika.{purpose}".encode()).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet(purpose: str) -> Fernet:
    return _fernet(getattr(settings, "TROIKA_FIELD_KEY", "") or "", settings.SECRET_KEY, purpose)


def encrypt_text(value: str, *, purpose: str) -> str:
    """The Fernet token of ``value`` ("" for an empty value, so "not set" stays visible without the key)."""
    if value in (None, ""):
        return ""
    return fernet(purpose).encrypt(str(value).encode()).decode()


def decrypt_text(token: str, *, purpose: str) -> str:
    """The text back; ``ValueError`` when the token was made with another key or purpose, or was tampered with."""
    if not token:
        return ""
    try:
        return fernet(purpose).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError(f"a value encrypted for {purpose!r} cannot be decrypted with the configured key") from exc
