"""Customer list pages built from ``.values()`` rows instead of model instances and DRF's per-field machinery.

A page of 50 accounts through ``AccountSerializer`` builds ~400 model instances (the accounts, their owners,
teams, tags and tag groups) and walks ~25 fields per row through DRF's ``get_attribute``/``to_representation``
chain: about 20 ms of CPU per request on the bench machine, more than the queries. Here the page is one query
of plain tuples (the owner and team joined in), the tags one more, and each value goes through the *same* DRF
field's ``to_representation`` as before (dates in the current time zone, decimals as strings, …), so the JSON
is identical — ``crm/tests/test_api_customer_rows.py`` compares both for accounts and contacts.

What the output serializer shows is still decided by the serializer instance of the request: a field hidden
from the actor's role (``policy.hidden_fields``) is absent from ``serializer.fields`` and so from the rows. The
queryset comes from the same selector (``policy.scope``) and filters as before.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import QuerySet
from rest_framework import serializers

# nested objects of the customer serializers: output name -> (column prefix, columns of the summary)
_USER_COLUMNS = ("id", "username", "first_name", "last_name")
_TEAM_COLUMNS = ("id", "name")
_ACCOUNT_COLUMNS = ("id", "name", "name_en")
_NESTED = {"owner": _USER_COLUMNS, "team": _TEAM_COLUMNS, "account": _ACCOUNT_COLUMNS}
_TAG_COLUMNS = ("id", "name", "name_en", "color", "group_id", "group__name", "created_at", "updated_at")


def _plan(serializer: serializers.Serializer) -> tuple[list[tuple[str, str, object]], list[str], list[str]]:
    """(plain fields as (output name, column, field or ``None`` for a primary key shown as is), nested names,
    the columns to select)."""
    plain: list[tuple[str, str, object]] = []
    nested: list[str] = []
    columns: list[str] = ["pk"]
    for name, field in serializer.fields.items():
        if field.write_only:
            continue
        if name == "tags":
            continue
        if name in _NESTED:
            nested.append(name)
            columns += [f"{name}__{column}" for column in _NESTED[name]]
            continue
        if isinstance(field, serializers.RelatedField):
            column, field = f"{field.source}_id", None  # a primary key: DRF shows the id itself
        else:
            column = field.source
        plain.append((name, column, field))
        if column not in columns:
            columns.append(column)
    return plain, nested, columns


def customer_values(queryset: QuerySet, serializer: serializers.Serializer) -> QuerySet:
    """The customer queryset as ``.values()`` of what the serializer shows (for the paginator to slice)."""
    _plain, _nested, columns = _plan(serializer)
    return queryset.prefetch_related(None).values(*columns)


def _user(row: dict, prefix: str) -> dict | None:
    pk = row[f"{prefix}__id"]
    if pk is None:
        return None
    username = row[f"{prefix}__username"]
    full_name = f"{row[f'{prefix}__first_name']} {row[f'{prefix}__last_name']}".strip()
    return {"id": pk, "username": username, "name": full_name or username}


def _summary(row: dict, prefix: str, columns: tuple[str, ...]) -> dict | None:
    if row[f"{prefix}__id"] is None:
        return None
    return {column: row[f"{prefix}__{column}"] for column in columns}


def _tags_by_customer(through, owner_field: str, ids: list[int], tag_serializer) -> dict[int, list[dict]]:
    """``{customer id: [tag, …]}`` in the tags' own order (group's sort order, then name), one query."""
    fields = tag_serializer.fields
    links = (
        through.objects.filter(**{f"{owner_field}_id__in": ids})
        .order_by("tag__group__sort_order", "tag__name", "tag_id")
        .values_list(f"{owner_field}_id", *(f"tag__{column}" for column in _TAG_COLUMNS))
    )
    datetime_fields = [name for name in ("created_at", "updated_at") if name in fields]
    wanted = [name for name in ("id", "name", "name_en", "color", "group", "group_name") if name in fields]
    tags: dict[int, list[dict]] = defaultdict(list)
    for customer_id, pk, name, name_en, color, group_id, group_name, created_at, updated_at in links:
        values = {
            "id": pk,
            "name": name,
            "name_en": name_en,
            "color": color,
            "group": group_id,
            "group_name": group_name,
        }
        tag = {key: values[key] for key in wanted}
        if datetime_fields:
            stamps = {"created_at": created_at, "updated_at": updated_at}
            for key in datetime_fields:
                tag[key] = fields[key].to_representation(stamps[key])
        tags[customer_id].append({key: tag[key] for key in fields if key in tag})
    return tags


def customer_rows(serializer: serializers.Serializer, page: list[dict], *, through, owner_field: str) -> list[dict]:
    """The page's rows as the output serializer would render them (same keys, same order, same values)."""
    plain, nested, _columns = _plan(serializer)
    order = [name for name, field in serializer.fields.items() if not field.write_only]
    tags = None
    if "tags" in serializer.fields and page:
        tags = _tags_by_customer(through, owner_field, [row["pk"] for row in page], serializer.fields["tags"].child)
    rows = []
    for row in page:
        out = {}
        for name, column, field in plain:
            value = row[column]
            out[name] = value if value is None or field is None else field.to_representation(value)
        for name in nested:
            out[name] = _user(row, name) if name == "owner" else _summary(row, name, _NESTED[name])
        if tags is not None:
            out["tags"] = tags.get(row["pk"], [])
        rows.append({name: out[name] for name in order})
    return rows
