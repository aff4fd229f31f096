"""Channel credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a key from settings.

The key is ``settings.TROIKA_FIELD_KEY`` (a Fernet key) when set, otherwise derived from ``SECRET_KEY`` with
HKDF-SHA256 and a fixed purpose label, so a dump of the database alone does not reveal the platforms' tokens
(docs/decisions.md, "SCRM channels").
"""

from __future__ import annotations

import json

from suite.crypto import decrypt_text, encrypt_text

# suite/crypto.py derives the key with the HKDF label "troika.<purpose>": this purpose gives the label the
# credentials were always encrypted under, so values stored before the move still decrypt.
PURPOSE = "scrm.channel-credentials"


def encrypt_credentials(credentials: dict) -> str:
    """The Fernet token of ``credentials`` serialised as JSON ("" for no credentials)."""
    if not credentials:
        return ""
    return encrypt_text(json.dumps(credentials, sort_keys=True), purpose=PURPOSE)


def decrypt_credentials(token: str) -> dict:
    """The credentials dict back; ``ValueError`` when the token was made with another key or tampered with."""
    if not token:
        return {}
    try:
        return json.loads(decrypt_text(token, purpose=PURPOSE))
    except ValueError as exc:
        raise ValueError("channel credentials cannot be decrypted with the configured key") from exc
