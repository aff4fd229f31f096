"""Query conditions that keep PostgreSQL on the right index, shared by every app.

``present_in`` is for the partial indexes on optional keys — ``UNIQUE (company_id, external_id) WHERE NOT
external_id = ''`` and the like (external ids, unionids, source keys, phones, e-mails). PostgreSQL uses a partial
index only when it can *prove* the query implies the index's predicate. From ``col IN (v1, v2, …)`` it proves
``NOT col = ''`` by checking each constant — but only for lists of at most 100 values (``MAX_SAOP_ARRAY_SIZE``
in the planner's ``predtest.c``). A batch that looks up 101 keys or more therefore loses the index and scans the
table: seen in the SCRM ingestion, where the UGC "captured already?" read of a 150-item batch became a parallel
seq scan of 550k posts (169 ms instead of 0.4 ms) and the receipt → alert latency grew run after run
(docs/performance.md, "SCRM ingestion"). Saying the predicate in the query makes the proof trivial, whatever
the list's length.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q


def present_in(field: str, values: Iterable) -> Q:
    """``field IN values AND NOT field = ''``: the same rows as ``field__in`` when ``values`` holds no blank (a
    blank is never a key), in a form that matches a partial index ``WHERE NOT field = ''`` for any number of
    values."""
    return Q(**{f"{field}__in": [value for value in values if value != ""]}) & ~Q(**{field: ""})
