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

from django.db import connection
from django.db.models import QuerySet
from rest_framework import serializers

from crm.models import Tag, TagGroup
from suite import policy

# nested objects of the customer serializers: output name -> (column prefix, columns of the summary)
_USER_COLUMNS = ("id", "username", "first_name", "last_name")
_TEAM_COLUMNS = ("id", "name")
_ACCOUNT_COLUMNS = ("id", "name", "name_en")
_NESTED = {"owner": _USER_COLUMNS, "team": _TEAM_COLUMNS, "account": _ACCOUNT_COLUMNS}


class RowPlan:
    """What one output serializer shows, resolved once per (serializer class, fields hidden from the role)."""

    def __init__(self, serializer: serializers.Serializer):
        fields = serializer.fields
        self.order = [name for name, field in fields.items() if not field.write_only]
        self.plain: list[tuple[str, str, object]] = []  # (output name, column, DRF field or None: shown as is)
        self.nested: list[str] = []
        self.columns: list[str] = ["pk"]
        self.tag_fields = None
        for name in self.order:
            field = fields[name]
            if name == "tags":
                child = field.child
                self.tag_fields = {key: child.fields[key] for key in child.fields if not child.fields[key].write_only}
                continue
            if name in _NESTED:
                self.nested.append(name)
                self.columns += [f"{name}__{column}" for column in _NESTED[name]]
                continue
            if isinstance(field, serializers.RelatedField):
                column, field = f"{field.source}_id", None  # a primary key: DRF shows the id itself
            else:
                column = field.source
            self.plain.append((name, column, field))
            if column not in self.columns:
                self.columns.append(column)


_PLANS: dict[tuple, RowPlan] = {}


def row_plan(serializer_class, context: dict) -> RowPlan:
    """The plan of ``serializer_class`` for the request's actor (building a serializer's fields costs more
    than rendering a page, so it is done once per class and set of hidden fields)."""
    actor = context.get("actor")
    model = serializer_class.Meta.model
    key = (serializer_class, policy.hidden_fields(actor, model), policy.hidden_fields(actor, Tag))
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = RowPlan(serializer_class(context=context))
    return plan


class TwoStepPage:
    """A customer list for the paginator to slice, read in two steps within one query: the page's ids first —
    ``SELECT id … ORDER BY … LIMIT 50 OFFSET n`` with every filter of the list, which PostgreSQL answers by an
    index-only walk of ``(company, -updated_at, id) INCLUDE (lifecycle_stage, merged_into, owner, team,
    search_text)`` (no heap page per rejected row) or by the trigram index for rare terms, as the planner
    chooses — then the columns of just those rows by primary key, in the same order.

    Same rows, same order as slicing the ``.values()`` queryset itself (which stays the fallback when the list is
    ``DISTINCT`` or ordered by something else than model fields): ``crm/tests/test_api_customer_rows.py``."""

    ordered = True  # for Django's paginator: the order is the queryset's

    def __init__(self, queryset: QuerySet, columns: list[str]):
        self.queryset = queryset.prefetch_related(None)
        self.columns = columns
        order = tuple(queryset.query.order_by) or tuple(queryset.model._meta.ordering or ())
        plain = all(isinstance(term, str) and "__" not in term and "?" not in term for term in order)
        simple = plain and not queryset.query.distinct and not queryset.query.annotations
        self.order = order if order and simple else None

    def __len__(self) -> int:  # pragma: no cover - the paginator counts with count_queryset
        return self.queryset.count()

    def __getitem__(self, item):
        values = self.queryset.values(*self.columns)
        if self.order is None or not isinstance(item, slice):
            return list(values[item])
        ids = self.queryset.select_related(None).values("pk")[item]
        model = self.queryset.model
        page = model._base_manager.using(self.queryset.db).filter(pk__in=ids).order_by(*self.order)
        return list(page.values(*self.columns))


def customer_values(queryset: QuerySet, plan: RowPlan) -> TwoStepPage:
    """The customer queryset as ``.values()`` of what the serializer shows (for the paginator to slice)."""
    return TwoStepPage(queryset, plan.columns)


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


_TAGS_SQL = """
    SELECT link.{owner}_id, tag.id, tag.name, tag.name_en, tag.color, tag.group_id, tag_group.name,
           tag.created_at, tag.updated_at
      FROM {link} link
      JOIN {tag} tag ON tag.id = link.tag_id
      LEFT JOIN {group} tag_group ON tag_group.id = tag.group_id
     WHERE link.{owner}_id = ANY(%s)
     ORDER BY tag_group.sort_order, tag.name, tag.id
"""


def _tags_by_customer(through, owner_field: str, ids: list[int], fields: dict) -> dict[int, list[dict]]:
    """``{customer id: [tag, …]}`` in the tags' own order (``Tag.Meta.ordering``: the group's sort order, then
    the name), one query."""
    sql = _TAGS_SQL.format(
        owner=owner_field,
        link=connection.ops.quote_name(through._meta.db_table),
        tag=connection.ops.quote_name(Tag._meta.db_table),
        group=connection.ops.quote_name(TagGroup._meta.db_table),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])
        links = cursor.fetchall()
    stamps = [name for name in ("created_at", "updated_at") if name in fields]
    tags: dict[int, list[dict]] = defaultdict(list)
    for customer_id, pk, name, name_en, color, group_id, group_name, created_at, updated_at in links:
        values = {
            "id": pk,
            "name": name,
            "name_en": name_en,
            "color": color,
            "group": group_id,
            "group_name": group_name,
            "created_at": created_at,
            "updated_at": updated_at,
        }
        for key in stamps:
            values[key] = fields[key].to_representation(values[key])
        tags[customer_id].append({key: values[key] for key in fields})
    return tags


def customer_rows(plan: RowPlan, page: list[dict], *, through, owner_field: str) -> list[dict]:
    """The page's rows as the output serializer would render them (same keys, same order, same values)."""
    tags = None
    if plan.tag_fields is not None and page:
        tags = _tags_by_customer(through, owner_field, [row["pk"] for row in page], plan.tag_fields)
    plain, nested, order = plan.plain, plan.nested, plan.order
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
