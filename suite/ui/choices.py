"""Records a submitted form names by id (a ``<select>`` or a hidden field), looked up without trusting the value:
an empty, non-numeric or out-of-range id is "nothing chosen", never a crash (``Field 'id' expected a number``)."""

from __future__ import annotations

from django.db.models import QuerySet

MAX_ID = 2**63 - 1


def chosen_id(value) -> int | None:
    """``value`` as a record id (a positive integer in ASCII digits within bigint), else ``None``."""
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID else None


def chosen(queryset: QuerySet, value):
    """The record of ``queryset`` whose id is ``value``, or ``None``."""
    pk = chosen_id(value)
    return queryset.filter(pk=pk).first() if pk is not None else None


def chosen_many(queryset: QuerySet, values) -> list:
    """The records of ``queryset`` among the ids ``values`` (ids that are not numbers are left out)."""
    ids = [pk for pk in map(chosen_id, values) if pk is not None]
    return list(queryset.filter(pk__in=ids)) if ids else []
