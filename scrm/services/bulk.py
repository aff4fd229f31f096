"""Set-based writes for the ingestion path (scrmingest): one statement, one parameter, whatever the rows."""

from __future__ import annotations

import json

from django.db import connection


def insert_new(model, objs: list, *, returning: str = "id") -> list:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING <returning>`` of model instances in one statement with one
    parameter (the rows as JSON, typed by ``jsonb_populate_recordset`` on the table's row type): the values of
    the rows this call inserted, not those a concurrent transaction inserted first (the unique constraint
    skips them after waiting for it). Audit triggers fire as for any insert. JSON fields go in as JSON values."""
    if not objs:
        return []
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    rows = []
    for obj in objs:
        row = {}
        for f in fields:
            value = f.pre_save(obj, True)
            row[f.column] = value.isoformat() if hasattr(value, "isoformat") else value
        rows.append(row)
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) "
        f"ON CONFLICT DO NOTHING RETURNING {quote(model._meta.get_field(returning).column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows)])
        return [row[0] for row in cursor.fetchall()]
