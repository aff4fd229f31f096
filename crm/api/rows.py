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
from datetime import datetime

from django.conf import settings
from django.db import connection, connections
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.functional import cached_property
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

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
        self.plain_fast = [
            (name, column, field, field is not None and _is_plain_iso_datetime(field), _shown_as_is(field))
            for name, column, field in self.plain
        ]


_PLANS: dict[tuple, RowPlan] = {}


class _AnyType:
    """Matches no value's type: ``type(value) is _AnyType`` is never true (a field with no shortcut)."""


def _shown_as_is(field) -> type:
    """The type of value that ``field.to_representation`` returns unchanged — ``str`` for DRF's ``CharField``
    family (``str(value)``), ``int`` for ``IntegerField`` (``int(value)``; a ``bool`` is not an ``int`` here),
    ``bool`` for ``BooleanField``, ``object`` when every value is shown as is (``ReadOnlyField``, a text
    ``JSONField``) — so a page does not call it for those; ``_AnyType`` otherwise."""
    if field is None:
        return object
    representation = type(field).to_representation
    if representation is serializers.CharField.to_representation:
        return str
    if representation is serializers.IntegerField.to_representation:
        return int
    if representation is serializers.BooleanField.to_representation:
        return bool
    if representation is serializers.ReadOnlyField.to_representation:
        return object
    if representation is serializers.JSONField.to_representation and not field.binary:
        return object
    return _AnyType


def _is_plain_iso_datetime(field) -> bool:
    """A ``DateTimeField`` shown as DRF's default would (ISO 8601 in the current time zone), which
    ``_iso_datetimes`` renders without the per-value field machinery."""
    return (
        type(field) is serializers.DateTimeField
        and not hasattr(field, "timezone")
        and str(getattr(field, "format", api_settings.DATETIME_FORMAT)).lower() == ISO_8601
        and settings.USE_TZ
    )


def _iso_datetimes(field):
    """``field.to_representation`` for a page: the current time zone looked up once, aware values converted
    and formatted as DRF does (``+00:00`` as ``Z``); anything else goes through the field itself."""
    zone = timezone.get_current_timezone()

    def represent(value):
        if type(value) is not datetime or value.tzinfo is None:
            return field.to_representation(value)
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return represent


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

    @cached_property
    def _ids_sql(self) -> tuple[str, tuple]:
        """The ids of the whole list in order, compiled once: the page's first step, and the key of its cached
        count (``count_key_sql``), so the count query is not compiled just to be hashed."""
        ids = self.queryset.select_related(None).values("pk")
        return ids.query.get_compiler(self.queryset.db).as_sql()

    def count_key_sql(self) -> tuple[str, tuple] | None:
        """What identifies the list's matches for ``suite.api.counting`` (its filters, scope and search are all
        in it), or ``None`` when the page is read in one step."""
        return self._ids_sql if self.order is not None else None

    def __getitem__(self, item):
        if self.order is None or not isinstance(item, slice) or item.step not in (None, 1):
            return list(self.queryset.values(*self.columns)[item])
        start, stop = int(item.start or 0), item.stop
        if start < 0 or (stop is not None and stop < start):
            return list(self.queryset.values(*self.columns)[item])
        sql, params = self._ids_sql
        limit = "" if stop is None else f" LIMIT {int(stop) - start}"
        outer, names, converters = _page_statement(self.queryset.model, self.queryset.db, self.columns, self.order)
        connection = connections[self.queryset.db]
        with connection.cursor() as cursor:
            cursor.execute(outer.replace(_IDS_MARKER, f"{sql}{limit} OFFSET {start}"), params)
            rows = cursor.fetchall()
        if converters:
            rows = [list(row) for row in rows]
            for row in rows:
                for position, (functions, expression) in converters:
                    value = row[position]
                    for convert in functions:
                        value = convert(value, expression, connection)
                    row[position] = value
        return [dict(zip(names, row, strict=True)) for row in rows]


_IDS_MARKER = "__troika_page_ids__"
_PAGE_STATEMENTS: dict[tuple, tuple[str, list[str], list]] = {}


def _page_statement(model, using: str, columns: list[str], order: tuple) -> tuple[str, list[str], list]:
    """The page's second step — ``model._base_manager.filter(pk__in=<ids>).order_by(*order).values(*columns)`` —
    compiled once per (model, columns, order) with a marker where the ids query goes, with the names and the
    converters (``from_db_value``: JSON …) that ``.values()`` applies: building and compiling that query of ~30
    columns and 2 joins was ~10 % of the list's CPU per request."""
    key = (model, using, tuple(columns), order)
    statement = _PAGE_STATEMENTS.get(key)
    if statement is None:
        marker = RawSQL(_IDS_MARKER, ())  # noqa: S611 - a constant, replaced by Django's own SQL
        queryset = model._base_manager.using(using).filter(pk__in=marker).order_by(*order).values(*columns)
        compiler = queryset.query.get_compiler(using)
        sql, params = compiler.as_sql()
        if params or sql.count(_IDS_MARKER) != 1:  # pragma: no cover - a plain .values() query has none
            raise RuntimeError(f"unexpected page statement: {sql!r} {params!r}")
        query = queryset.query
        names = [*query.extra_select, *query.values_select, *query.annotation_select]
        converters = list(compiler.get_converters([s[0] for s in compiler.select[: compiler.col_count]]).items())
        statement = _PAGE_STATEMENTS[key] = (sql, names, converters)
    return statement


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
    # one step per output field, in the serializer's order: (name, kind, column, representation, type shown as is)
    by_name = {}
    for name, column, field, fast, as_is in plan.plain_fast:
        if as_is is object:
            by_name[name] = (name, _PLAIN, column, None, object)
        else:
            represent = _iso_datetimes(field) if fast else field.to_representation
            by_name[name] = (name, _PLAIN, column, represent, as_is)
    for name in plan.nested:
        columns = _NESTED[name]
        keys = tuple((column, f"{name}__{column}") for column in columns)
        by_name[name] = (name, _USER if name == "owner" else _SUMMARY, f"{name}__id", None, keys)
    steps = [by_name.get(name, (name, _TAGS, None, None, None)) for name in plan.order]
    rows = []
    for row in page:
        out = {}
        for name, kind, column, represent, extra in steps:
            if kind is _PLAIN:
                value = row[column]
                if value is None or represent is None or type(value) is extra:
                    out[name] = value
                else:
                    out[name] = represent(value)
            elif kind is _TAGS:
                out[name] = tags.get(row["pk"], []) if tags is not None else []
            elif row[column] is None:
                out[name] = None
            elif kind is _USER:
                out[name] = _user(row, name)
            else:
                out[name] = {column: row[key] for column, key in extra}
        rows.append(out)
    return rows


_PLAIN, _USER, _SUMMARY, _TAGS = "plain", "user", "summary", "tags"
