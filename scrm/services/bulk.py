"""Set-based writes for the ingestion path (scrmingest): one statement, one parameter, whatever the rows."""

from __future__ import annotations

import json
from decimal import Decimal

from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL


def insert_new(model, objs: list, *, returning: str | tuple[str, ...] = "id") -> list:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING <returning>`` of model instances in one statement with one
    parameter (the rows as JSON, typed by ``jsonb_populate_recordset`` on the table's row type): the values of
    the rows this call inserted, not those a concurrent transaction inserted first (the unique constraint
    skips them after waiting for it); tuples when ``returning`` names several fields. Audit triggers fire as
    for any insert. JSON fields go in as JSON values, decimals as their exact text."""
    if not objs:
        return []
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    rows = []
    for obj in objs:
        row = {}
        for f in fields:
            value = f.pre_save(obj, True)
            if hasattr(value, "isoformat"):
                value = value.isoformat()
            elif isinstance(value, Decimal):
                value = str(value)
            row[f.column] = value
        rows.append(row)
    return insert_rows_new(model, rows, returning=returning)


def insert_rows_new(model, rows: list[dict], *, returning: str | tuple[str, ...] = "id") -> list:
    """``insert_new`` of rows given as ``{column: JSON-ready value}`` dicts, all with the same columns (the
    others take their database default): no model instance built — the webhook intake's path, where building
    50 instances per request was a third of the request's CPU."""
    if not rows:
        return []
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(column) for column in rows[0])
    names = (returning,) if isinstance(returning, str) else returning
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) "
        f"ON CONFLICT DO NOTHING RETURNING " + ", ".join(quote(model._meta.get_field(name).column) for name in names)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows)])
        if isinstance(returning, str):
            return [row[0] for row in cursor.fetchall()]
        return cursor.fetchall()


def adopt_inserted(objs: list, returned: list[tuple], key: str) -> list:
    """The instances ``insert_new`` inserted, given their primary keys from its ``RETURNING (id, <key>)`` rows —
    instead of reading back rows whose every value is already in the instances (their ``auto_now`` times were
    set by the insert's ``pre_save``)."""
    ids = {value: pk for pk, value in returned}
    adopted = []
    for obj in objs:
        pk = ids.get(getattr(obj, key))
        if pk is not None:
            obj.pk = pk
            obj._state.adding, obj._state.db = False, "default"
            adopted.append(obj)
    return adopted


def any_of(model, field: str, values: list) -> RawSQL:
    """A filter ``<field> = ANY(<values>)`` with the values as one JSON parameter: Django's ``__in`` writes a
    placeholder per value, which psycopg then splits and quotes one by one — for the hundreds of senders or
    conversations of an inbox batch, a visible share of its Python. ``.filter(any_of(Model, "field", [...]))``."""
    column = model._meta.get_field(field).column
    quote = connection.ops.quote_name
    target = f"{quote(model._meta.db_table)}.{quote(column)}"
    if model._meta.get_field(field).get_internal_type() in ("CharField", "TextField"):
        sql = f"{target} = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)))"
    else:
        sql = f"{target} = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)::bigint))"
    # Identifiers from the model's meta, the values a parameter: nothing of the caller's goes into the SQL text.
    return RawSQL(sql, (json.dumps(values),), output_field=BooleanField())  # noqa: S611
