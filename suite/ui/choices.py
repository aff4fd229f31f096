"""Records a submitted form names by id (a ``<select>`` or a hidden field), looked up without trusting the value:
an empty, non-numeric or out-of-range id is "nothing chosen", never a crash (``Field 'id' expected a number``)."""

from __future__ import annotations

from django.db.models import QuerySet

MAX_ID = 2**63 - 1


def _id(value) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID else None


def chosen(queryset: QuerySet, value):
    """The record of ``queryset`` whose id is ``value``, or ``None``."""
    pk = _id(value)
    return queryset.filter(pk=pk).first() if pk is not None else None


def chosen_many(queryset: QuerySet, values) -> list:
    """The records of ``queryset`` among the ids ``values`` (ids that are not numbers are left out)."""
    ids = [pk for pk in map(_id, values) if pk is not None]
    return list(queryset.filter(pk__in=ids)) if ids else []
