"""Pagination of the big SCRM lists (inbox, UGC wall): the page's ids first, then its rows with their joins.

Slicing a queryset with ``select_related`` makes PostgreSQL join every row it skips: page 30,000 of the bench
company's 931k UGC posts (``OFFSET 749,975``) joined 750k posts to their channel, identity and coupon (3.8 s);
the ids alone come from an index-only walk of ``scrm_ugc_recent`` (~0.2 s), and the 25 rows of the page are then
read with their joins by primary key. Same rows, same order as slicing the queryset itself.
"""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from suite.api.counting import CachedCountPaginator


class IdsFirst:
    """``queryset`` for Django's paginator to slice in two steps: ``SELECT id … ORDER BY … LIMIT n OFFSET m``
    without joins or prefetches, then the rows of those ids (with the queryset's joins and prefetches) in that
    order. A row deleted between the two steps is left out of the page."""

    ordered = True  # the order is the queryset's

    def __init__(self, queryset: QuerySet):
        self.queryset = queryset

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:  # pragma: no cover - the paginator calls count()
        return self.count()

    def __getitem__(self, item):
        if not isinstance(item, slice):
            return self.queryset[item]
        ids = list(self.queryset.select_related(None).prefetch_related(None).values_list("pk", flat=True)[item])
        if not ids:
            return []
        rows = {row.pk: row for row in self.queryset.order_by().filter(pk__in=ids)}
        return [rows[pk] for pk in ids if pk in rows]


def paginate_ids_first(request, queryset: QuerySet, size: int, *, count_models=()) -> Page:
    """The requested page (``?page=``) of ``queryset`` read ids first. With ``count_models`` (every model whose
    rows the filters read, each ``@audited`` on every field they filter) the count is remembered until one of
    their tables changes (``suite.api.counting``)."""
    count_queryset = queryset.select_related(None).prefetch_related(None)
    paginator = (
        CachedCountPaginator(IdsFirst(queryset), size, count_queryset=count_queryset, count_models=count_models)
        if count_models
        else Paginator(IdsFirst(queryset), size)
    )
    return paginator.get_page(request.GET.get("page"))
