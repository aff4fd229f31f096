"""Page-number pagination whose exact ``count`` is remembered until the counted tables change.

``PageNumberPagination`` runs ``SELECT COUNT(*)`` on every page. On a searched list of 100k accounts that count is
the most expensive query of the request (it reads every matching row's heap page: 5–10 ms for ~2,500
candidates; 30–40 ms for the unfiltered list), and it is the same for page 1, 2, 3 … and for every reload
until somebody writes to the table.

So the count is cached (Django's cache, Redis) under the count's own SQL (company, scope, filters, search are
all in it) **and the audit version of the counted tables**: the highest ``pgh_id`` of each table's pghistory
event table (``@audited``: every insert, update and delete, including bulk writes and raw SQL, adds a row by
trigger) — one index-only lookup per table, ~0.1 ms. Any write to a counted table changes its version, so a
cached count is never served after a write that this connection can see; the entry also expires after
``COUNT_TTL`` seconds, which bounds the one case the version cannot see (a transaction that took its event id
earlier and commits later). The count stays exact: the API contract (``count`` = number of matching records)
is unchanged.

Each web worker also keeps the counts it has read in memory (``_LOCAL_COUNTS``, under the same keys, until the
same deadline: ``COUNT_TTL`` seconds after the count was taken, which Redis stores with it): the key already
names the audit versions, so a count found in memory is exactly the one Redis would answer, without its round
trip (~0.5 ms of CPU per list request on the bench machine).

A view opts in with ``pagination_class = CachedCountPagination`` and ``count_models`` (the models whose rows
its filters read: the model itself, the tag links of a ``?tag=`` filter …); without ``count_models`` it counts
like ``Pagination``.
"""

from __future__ import annotations

import hashlib
import time

from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

from suite.api.pagination import Pagination

COUNT_TTL = 60  # seconds
LOCAL_COUNTS_MAX = 4096  # entries per process; the oldest go first when full
_LOCAL_COUNTS: dict[str, tuple[int, float]] = {}  # key -> (count, deadline in time.time())


def audit_versions(models, *, using: str = "default") -> tuple[int, ...]:
    """The highest audit event id of each model's pghistory event table (0 when it has none yet), one query."""
    tables = [model.pgh_event_model._meta.db_table for model in models]
    parts = ", ".join(f'(SELECT max(pgh_id) FROM "{table}")' for table in tables)
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {parts}")
        return tuple(value or 0 for value in cursor.fetchone())


def cached_count(queryset, models, *, key_sql: tuple[str, tuple] | None = None) -> int:
    """``queryset.count()``, remembered for the current audit versions of ``models``. ``key_sql`` is SQL that
    selects exactly the rows ``queryset`` counts (the page's own compiled ids query, say); without it the
    count query is compiled to serve as the key."""
    using = queryset.db
    queryset = queryset.select_related(None).prefetch_related(None).order_by()  # what COUNT(*) needs
    sql, params = key_sql if key_sql is not None else queryset.query.get_compiler(using).as_sql()
    versions = audit_versions(models, using=using)
    return remembered_count(queryset.model, sql, params, versions, queryset.count, using=using)


def remembered_count(model, sql: str, params, versions: tuple[int, ...], count, *, using: str = "default") -> int:
    """The count of the rows ``sql`` selects, remembered (process memory, then Redis) under ``sql``, ``params`` and
    the audit ``versions`` of the counted tables, read *before* counting; ``count()`` counts on a miss. The part of
    ``cached_count`` for a caller that read the versions itself (in the same round trip as its page)."""
    database = connections[using].settings_dict["NAME"]
    digest = hashlib.sha256(repr((database, sql, params, versions)).encode()).hexdigest()[:32]
    key = f"api:count2:{model._meta.label_lower}:{digest}"
    now = time.time()
    known = _LOCAL_COUNTS.get(key)
    if known is not None and known[1] > now:
        return known[0]
    known = cache.get(key)  # (count, when it was taken)
    if known is None or known[1] + COUNT_TTL <= now:
        known = (count(), now)
        cache.set(key, known, COUNT_TTL)
    if len(_LOCAL_COUNTS) >= LOCAL_COUNTS_MAX:
        for stale in list(_LOCAL_COUNTS)[: LOCAL_COUNTS_MAX // 4]:  # insertion order: the oldest first
            _LOCAL_COUNTS.pop(stale, None)
    _LOCAL_COUNTS[key] = (known[0], known[1] + COUNT_TTL)
    return known[0]


class CachedCountPaginator(Paginator):
    """A paginator that counts ``count_queryset`` (the list without the page's joins) through ``cached_count``."""

    def __init__(self, object_list, per_page, *, count_queryset=None, count_models=(), **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.count_queryset = count_queryset if count_queryset is not None else object_list
        self.count_models = tuple(count_models)

    @cached_property
    def count(self) -> int:
        if not self.count_models:
            return self.count_queryset.count()
        key_of = getattr(self.object_list, "count_key_sql", None)
        return cached_count(self.count_queryset, self.count_models, key_sql=key_of() if key_of else None)


class CachedCountPagination(Pagination):
    """``Pagination`` with the count of ``CachedCountPaginator``: the view sets ``count_models``, and may pass
    ``count_queryset`` to ``paginate_queryset`` when the page's queryset carries joins the count does not need."""

    def paginate_queryset(self, queryset, request, view=None, *, count_queryset=None):
        models = getattr(view, "count_models", ())

        def paginator_class(object_list, per_page):
            return CachedCountPaginator(object_list, per_page, count_queryset=count_queryset, count_models=models)

        self.django_paginator_class = paginator_class
        return super().paginate_queryset(queryset, request, view)
