"""pytest plugin: a cheaper ``flush`` after each transactional test (``transactional_db``, ``live_server``, the
real-worker tests).

Django empties the test database after such a test with one ``TRUNCATE`` of every table (~380 here). On
PostgreSQL a ``TRUNCATE`` gives each table, index and TOAST table a new file whatever it holds, so the flush
cost ~1 s of a quiet machine (up to 6 s on a loaded one) even though a test writes to a few dozen tables.
Here only the tables that hold a row (one prepared query tells which) are emptied, with ``DELETE``, in a
transaction with ``session_replication_role = replica`` so foreign keys, audit triggers and rules do not
fire (the order of the tables does not matter, and nothing is written to the history tables). Triggers enabled
``ALWAYS`` (the segment-bitmap triggers of crm/migrations/0014) still fire and may write into tables emptied
before, so the pass repeats until no table holds a row.

The end state is what Django's flush leaves: every table of a model empty, sequences untouched (pytest-django
asks for ``reset_sequences=False``), then ``post_migrate`` recreates content types and permissions as before.
Whenever this cannot apply (sequences to reset, not PostgreSQL, not a superuser) Django's own SQL runs.
``TROIKA_FAST_TEST_FLUSH=0`` turns it off.
"""

from __future__ import annotations

import hashlib
import os

from django.core.management.commands import flush as flush_command
from django.db import transaction
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations

_MAX_PASSES = 5
# What ``sql_flush`` hands to ``execute_sql_flush`` for the latter to run ``fast_flush`` (a no-op as plain SQL).
FAST_FLUSH = "SELECT 1 /* troika: the test flush of suite/testing_flush.py */"
_original_sql_flush = flush_command.sql_flush
_original_execute_sql_flush = PostgresOperations.execute_sql_flush
_superuser: dict[str, bool] = {}


def _is_superuser(connection) -> bool:
    alias = connection.alias
    if alias not in _superuser:
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            row = cursor.fetchone()
        _superuser[alias] = bool(row and row[0])
    return _superuser[alias]


def delete_flush_sql(style, connection, reset_sequences=True, allow_cascade=False):
    """``sql_flush``'s contract: the statements ``execute_sql_flush`` runs in one transaction."""
    if reset_sequences or connection.vendor != "postgresql" or not _is_superuser(connection):
        return _original_sql_flush(style, connection, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    return [FAST_FLUSH]


def execute_sql_flush(self, sql_list):
    if sql_list == [FAST_FLUSH]:
        return fast_flush(self.connection)
    return _original_execute_sql_flush(self, sql_list)


def _filled_tables(cursor, tables: list[str]) -> list[str]:
    """The tables holding a row, by one prepared statement (planned once per connection: ~380 subqueries)."""
    name = "troika_flush_probe_" + hashlib.sha256("\n".join(tables).encode()).hexdigest()[:12]
    cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [name])
    if cursor.fetchone() is None:
        checks = ", ".join(f"CASE WHEN EXISTS (SELECT 1 FROM {t}) THEN {_literal(t)} END" for t in tables)
        cursor.execute(f"PREPARE {name} AS SELECT array_remove(ARRAY[{checks}]::text[], NULL)")
    cursor.execute(f"EXECUTE {name}")
    return cursor.fetchone()[0]


def fast_flush(connection) -> None:
    """Each probe runs as a statement of its own (its share locks on every table end with it); each pass of
    deletes is one transaction that locks only the tables it empties."""
    tables = sorted(
        connection.ops.quote_name(table)
        for table in connection.introspection.django_table_names(only_existing=True, include_views=False)
    )
    for _ in range(_MAX_PASSES):
        with connection.cursor() as cursor:
            filled = _filled_tables(cursor, tables)
        if not filled:
            return
        with transaction.atomic(using=connection.alias, savepoint=False), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            for table in filled:
                cursor.execute(f"DELETE FROM {table}")
    raise RuntimeError(f"flush: rows keep appearing in {filled} after {_MAX_PASSES} passes")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def pytest_configure(config):
    if os.environ.get("TROIKA_FAST_TEST_FLUSH", "1") != "0":
        flush_command.sql_flush = delete_flush_sql
        PostgresOperations.execute_sql_flush = execute_sql_flush


def pytest_unconfigure(config):
    flush_command.sql_flush = _original_sql_flush
    PostgresOperations.execute_sql_flush = _original_execute_sql_flush
