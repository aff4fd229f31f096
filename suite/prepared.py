"""Hot reads compiled once per process and planned once per database connection.

A read that a hot request runs on every call (the closed loop's win: the opportunity through the actor's scope,
then its lock) costs more to *prepare* than to run: Django compiles the queryset (select_related over six joins:
~3–4 ms of Python) and PostgreSQL plans the joins (~2.5 ms of the backend's CPU) every time, to fetch one row by
primary key in ~0.2 ms (docs/performance.md, "Closed loop", helper loop4).

``PreparedRead`` keeps Django's own SQL of a queryset, built once per *shape* with placeholder integers where
the call's values go (a primary key; the actor's company, user and team ids through ``policy.scope_rendering``,
so the scope rules stay those of ``policy.scope``), and runs it with the call's values as a
server-side prepared statement (psycopg ``prepare=True``): after a few executions PostgreSQL reuses its plan.
Rows become model instances exactly as Django's ``ModelIterable`` makes them (same columns, ``select_related``
objects, annotations, field converters), so callers get what ``queryset.first()`` would have given — the tests
compare both. The statement goes through Django's cursor wrapper: query logging, ``execute_wrapper`` hooks
(query-count tests, audit context) and metrics see it as any other.

Only integer values can be placeholders (they pass through Django's lookups unchanged); the shape must say
everything else that changes the SQL (the scope kind, the length of an ``IN`` list: ``ScopeRendering.shape``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

from django.db import connections
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

_MAX_SHAPES = 64


def _cursor_class(alias: str, engine: str) -> type:
    """A server-binding cursor that prepares what it executes, instrumented like the backend's own cursors."""

    class PreparingCursor(ServerBindingCursor):
        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

        def _send_query_prepared(self, name, pgq, *, binary=None):
            self._query = pgq  # where Django's query log (connection.queries) reads the statement from
            return super()._send_query_prepared(name, pgq, binary=binary)

    if engine.startswith("django_prometheus."):
        from django_prometheus.db.common import ExportingCursorWrapper

        return ExportingCursorWrapper(PreparingCursor, alias, "postgresql")
    return PreparingCursor


class _Statement:
    """One shape: the SQL, its parameters with the placeholders in them, and how rows become instances."""

    def __init__(self, queryset: QuerySet, placeholders: Iterable[int]):
        compiler = queryset.query.get_compiler(queryset.db)
        sql, params = compiler.as_sql()
        marks = set(placeholders)
        for param in params:
            if isinstance(param, (list, tuple, set, frozenset)) and marks.intersection(param):
                raise ValueError("a placeholder inside a list parameter cannot be bound")
        if any(str(mark) in sql for mark in marks):
            raise ValueError("a placeholder was written into the SQL itself")
        self.sql = sql
        self.params = list(params)
        select, klass_info = compiler.select, compiler.klass_info
        self.model = klass_info["model"]
        fields = klass_info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.init_list = [column[0].target.attname for column in select[self.start : self.end]]
        self.populators = get_related_populators(klass_info, select, queryset.db)
        self.annotations = list((compiler.annotation_col_map or {}).items())
        self.converters = list(compiler.get_converters([column[0] for column in select[: compiler.col_count]]).items())

    def bind(self, values: Mapping[int, Any]) -> list:
        return [values.get(param, param) if type(param) is int else param for param in self.params]

    def instances(self, rows: Sequence[tuple], alias: str, connection) -> list[Model]:
        found = []
        for row in rows:
            if self.converters:
                row = list(row)
                for position, (functions, expression) in self.converters:
                    value = row[position]
                    for convert in functions:
                        value = convert(value, expression, connection)
                    row[position] = value
            obj = self.model.from_db(alias, self.init_list, row[self.start : self.end])
            for populator in self.populators:
                populator.populate(row, obj)
            for name, position in self.annotations:
                setattr(obj, name, row[position])
            found.append(obj)
        return found


class PreparedRead:
    """A read compiled once per *shape*: ``fetch(shape, build, values)`` compiles ``build()`` — a queryset with
    placeholder integers where the call's values go (``policy.scope_rendering``'s placeholder actor, a
    placeholder primary key) — the first time ``shape`` is asked for, and runs it with every placeholder ``p``
    of its parameters replaced by ``values[p]``. ``shape`` must tell apart everything that changes the SQL."""

    def __init__(self) -> None:
        self._statements: dict[tuple, _Statement] = {}
        self._lock = threading.Lock()

    def statement(self, shape: Hashable, build: Callable[[], QuerySet], placeholders, alias: str) -> _Statement:
        key = (alias, shape)
        statement = self._statements.get(key)
        if statement is None:
            statement = _Statement(build().using(alias), placeholders)
            with self._lock:
                if len(self._statements) >= _MAX_SHAPES:
                    self._statements.clear()
                self._statements[key] = statement
        return statement

    def fetch(
        self, shape: Hashable, build: Callable[[], QuerySet], values: Mapping[int, Any], *, using: str = "default"
    ) -> list[Model]:
        """The instances of the rows the read returns with ``values`` (placeholder → value) bound."""
        statement = self.statement(shape, build, values, using)
        connection = connections[using]
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        raw = connection.connection
        if raw.prepare_threshold is None:  # Django's default (None) turns psycopg's prepare=True off too
            raw.prepare_threshold = 1_000_000_000  # never by count: only what PreparingCursor executes
        cursor_class = _CURSORS.get(using)
        if cursor_class is None:
            cursor_class = _CURSORS[using] = _cursor_class(using, connection.settings_dict["ENGINE"])
        with connection.wrap_database_errors:
            cursor = connection._prepare_cursor(cursor_class(raw))
        with cursor:
            cursor.execute(statement.sql, statement.bind(values))
            rows = cursor.fetchall()
        return statement.instances(rows, using, connection)


_CURSORS: dict[str, type] = {}
