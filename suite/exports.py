"""Generic CSV / XLSX export that goes through the policy layer like every other read.

Exporting is its own policy action (``export``). An export shows exactly what the actor could see on screen:
the rows of ``policy.scope(actor, queryset)``, and no column whose field ``policy.hidden_fields`` hides from the
actor's role. UI views and the API's ``export`` action both call ``export_response``; nobody writes a CSV by hand.

Cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``) are prefixed with
``'`` (CSV/formula injection).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.text import slugify

from suite import policy

CSV = "csv"
XLSX = "xlsx"
FORMATS = (CSV, XLSX)
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 2000


@dataclass(frozen=True)
class Column:
    path: str  # ORM path: "name", "manager__username"
    label: str


def _label_of(model: type[Model], path: str) -> str:
    current = model
    field = None
    for part in path.split("__"):
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return path
        current = field.related_model or current
    return str(getattr(field, "verbose_name", path))


def columns_for(
    actor: policy.Actor | None, model: type[Model], fields: Iterable[str | tuple[str, str]]
) -> list[Column]:
    """The export columns the actor may see: ``fields`` are ORM paths or (path, label) pairs."""
    hidden = policy.hidden_fields(actor, model)
    columns = []
    for spec in fields:
        path, label = spec if isinstance(spec, tuple) else (spec, None)
        if path in hidden or any(part in hidden for part in path.split("__")):
            continue
        columns.append(Column(path=path, label=str(label) if label else _label_of(model, path)))
    return columns


def _scoped(actor: policy.Actor | None, queryset: QuerySet, action: str = "view") -> QuerySet:
    if not policy.can(actor, action, queryset.model):
        raise PermissionDenied
    return policy.scope(actor, queryset)


def export_rows(actor: policy.Actor | None, queryset: QuerySet, columns: list[Column]) -> Iterator[tuple]:
    """Raw values of the visible rows, column by column (scope applied here, whatever the caller did)."""
    queryset = _scoped(actor, queryset)
    if not queryset.query.order_by:
        queryset = queryset.order_by("pk")
    yield from queryset.values_list(*[column.path for column in columns]).iterator(chunk_size=CHUNK_SIZE)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, dt.date | Decimal | int | float):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _cell(value):
    if isinstance(value, bool | int | float | Decimal) or value is None:
        return value
    if isinstance(value, dt.datetime):
        return timezone.make_naive(value) if timezone.is_aware(value) else value
    if isinstance(value, dt.date):
        return value
    return _text(value)


class _Echo:
    def write(self, value):
        return value


def csv_lines(actor, queryset: QuerySet, columns: list[Column]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a BOM so Excel opens UTF-8 (Chinese names) correctly
    yield writer.writerow([column.label for column in columns])
    for row in export_rows(actor, queryset, columns):
        yield writer.writerow([_text(value) for value in row])


def xlsx_bytes(actor, queryset: QuerySet, columns: list[Column], *, title: str = "export") -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31] or "export")
    sheet.append([column.label for column in columns])
    for row in export_rows(actor, queryset, columns):
        sheet.append([_cell(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export_response(
    actor: policy.Actor | None,
    queryset: QuerySet,
    fields: Iterable[str | tuple[str, str]],
    *,
    file_format: str = CSV,
    filename: str = "export",
) -> HttpResponse | StreamingHttpResponse:
    """A download of the actor's visible rows and columns as CSV (streamed) or XLSX."""
    if file_format not in FORMATS:
        raise ValueError(f"unknown export format {file_format!r}")
    queryset = _scoped(actor, queryset, "export")  # refuse before the first byte is sent, not half-way through a stream
    columns = columns_for(actor, queryset.model, fields)
    stem = slugify(filename) or "export"
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if file_format == CSV:
        response = StreamingHttpResponse(csv_lines(actor, queryset, columns), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(xlsx_bytes(actor, queryset, columns, title=stem), content_type=XLSX_MEDIA_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{stem}-{stamp}.{file_format}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
