"""Transaction-scoped PostgreSQL advisory locks: serialise writers of one logical key (a numbering sequence, one
person's lead) without a row to lock yet. Released at the end of the transaction."""

from __future__ import annotations

from django.db import connection


def advisory_lock(key: str) -> None:
    """Wait for, then hold until commit or rollback, the lock of ``key`` (any text; hashed to 64 bits)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])
