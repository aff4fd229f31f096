"""Widgets as plain data: JSON for the API and the charts, and an XLSX workbook (one sheet per chart and table,
the KPIs together on the first sheet)."""

from __future__ import annotations

import io
import re
from decimal import Decimal

from django.utils.translation import gettext as _

from suite.dashboards import KPI, Chart, Table


def _value(value, as_number: bool):
    if isinstance(value, Decimal):
        return float(value) if as_number else str(value)
    if value is None or isinstance(value, int | float | bool):
        return value
    return str(value)


def widget_data(widget, *, as_number: bool = False) -> dict:
    """A widget as JSON-ready data: money and other decimals as strings (exact), or as numbers for drawing."""
    if isinstance(widget, KPI):
        return {
            "type": "kpi",
            "key": widget.key,
            "label": str(widget.label),
            "value": _value(widget.value, as_number),
            "unit": str(widget.unit),
            "money": widget.money,
            "drill_url": widget.drill_url,
            "hint": str(widget.hint),
        }
    if isinstance(widget, Chart):
        return {
            "type": "chart",
            "key": widget.key,
            "title": str(widget.title),
            "kind": widget.kind,
            "labels": [str(label) for label in widget.labels],
            "money": widget.money,
            "stacked": widget.stacked,
            "series": [
                {
                    "name": str(series.name),
                    "data": [_value(point, as_number) for point in series.data],
                    "drill_urls": list(series.drill_urls) if series.drill_urls else None,
                }
                for series in widget.series
            ],
        }
    if isinstance(widget, Table):
        return {
            "type": "table",
            "key": widget.key,
            "title": str(widget.title),
            "columns": [str(column) for column in widget.columns],
            "rows": [[_value(cell, as_number) for cell in row] for row in widget.rows],
            "row_urls": list(widget.row_urls) if widget.row_urls else None,
        }
    raise TypeError(f"not a dashboard widget: {widget!r}")


def _sheet_title(text: str, used: set[str]) -> str:
    title = re.sub(r"[\[\]\*\?/\\:]", " ", text).strip()[:28] or "Sheet"
    candidate, n = title, 2
    while candidate.lower() in used:
        candidate = f"{title[:25]} {n}"
        n += 1
    used.add(candidate.lower())
    return candidate


def _cell(value):
    if isinstance(value, Decimal | int | float) or value is None:
        return value
    return str(value)


def workbook(dashboard, filters, widgets) -> bytes:
    """The dashboard as an XLSX file: a "KPIs" sheet (with the filters), then one sheet per chart and table."""
    from openpyxl import Workbook

    book = Workbook()
    used: set[str] = set()
    sheet = book.active
    sheet.title = _sheet_title(_("KPIs"), used)
    sheet.append([str(dashboard.title)])
    sheet.append([_("From"), filters.date_from, _("To"), filters.date_to])
    for name, value in (("team", filters.team_id), ("owner", filters.owner_id), ("product", filters.product_id)):
        if value:
            sheet.append([name, value])
    sheet.append([])
    sheet.append([_("Indicator"), _("Value"), _("Unit")])
    for widget in widgets:
        if isinstance(widget, KPI):
            sheet.append([str(widget.label), _cell(widget.value), str(widget.unit)])
    for widget in widgets:
        if isinstance(widget, Chart):
            sheet = book.create_sheet(_sheet_title(str(widget.title), used))
            sheet.append(["", *[str(series.name) for series in widget.series]])
            for index, label in enumerate(widget.labels):
                sheet.append(
                    [
                        str(label),
                        *[_cell(s.data[index]) if index < len(s.data) else None for s in widget.series],
                    ]
                )
        elif isinstance(widget, Table):
            sheet = book.create_sheet(_sheet_title(str(widget.title), used))
            sheet.append([str(column) for column in widget.columns])
            for row in widget.rows:
                sheet.append([_cell(cell) for cell in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
