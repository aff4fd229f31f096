"""Dashboard pages (issue #7): ``/dashboards/`` (the ones the actor may open), ``/dashboards/<key>/`` (filters,
widgets, drill links) and ``/dashboards/<key>/export.xlsx``. A dashboard the actor may not open — other role,
module off for the company, unknown key — is a 404."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.text import slugify
from django.utils.translation import get_language

from suite import dashboards
from suite.dashboards.digest import digest_language_remember
from suite.dashboards.forms import PRESETS, FilterForm
from suite.dashboards.render import widget_data, workbook
from suite.ui.records import actor_required


def _dashboard_or_404(actor, key: str) -> dashboards.Dashboard:
    dashboard = dashboards.visible_or_none(actor, key)
    if dashboard is None:
        raise Http404
    return dashboard


def _chart_context(chart: dashboards.Chart) -> dict:
    """A chart with its data for ``dashboards.js`` and the rows of its accessible table (value, drill URL)."""
    rows = []
    for index, label in enumerate(chart.labels):
        cells = []
        for series in chart.series:
            value = series.data[index] if index < len(series.data) else None
            url = series.drill_urls[index] if series.drill_urls and index < len(series.drill_urls) else None
            cells.append((value, url))
        rows.append((label, cells))
    return {
        "chart": chart,
        "data": widget_data(chart, as_number=True),
        "data_id": f"chart-data-{chart.key}",
        "rows": rows,
    }


def _table_context(table: dashboards.Table) -> dict:
    urls = list(table.row_urls or [])
    rows = [(urls[i] if i < len(urls) else None, row) for i, row in enumerate(table.rows)]
    return {"table": table, "rows": rows}


@actor_required
def dashboard_index(request):
    return render(request, "dashboards/index.html", {"dashboards": dashboards.for_actor(request.actor)})


@actor_required
def dashboard_detail(request, key: str):
    actor = request.actor
    dashboard = _dashboard_or_404(actor, key)
    digest_language_remember(actor.membership, get_language())
    form = FilterForm(request.GET or None, actor=actor, dashboard=dashboard)
    if request.GET and not form.is_valid():
        context = {"dashboard": dashboard, "form": form, "presets": PRESETS, "widgets": None}
        return render(request, "dashboards/detail.html", context, status=400)
    if not request.GET:
        form = FilterForm({}, actor=actor, dashboard=dashboard)
        form.is_valid()
    filters = form.filters()
    widgets = dashboard.build(filters)
    context = {
        "dashboard": dashboard,
        "form": form,
        "filters": filters,
        "presets": PRESETS,
        "kpis": [w for w in widgets if isinstance(w, dashboards.KPI)],
        "charts": [_chart_context(w) for w in widgets if isinstance(w, dashboards.Chart)],
        "tables": [_table_context(w) for w in widgets if isinstance(w, dashboards.Table)],
        "widgets": widgets,
        "querystring": filters.querystring(),
    }
    return render(request, "dashboards/detail.html", context)


@actor_required
def dashboard_export(request, key: str):
    actor = request.actor
    dashboard = _dashboard_or_404(actor, key)
    form = FilterForm(request.GET or {}, actor=actor, dashboard=dashboard)
    if not form.is_valid():
        return HttpResponse(
            "\n".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    filters = form.filters()
    content = workbook(dashboard, filters, dashboard.build(filters))
    response = HttpResponse(content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    name = f"{slugify(dashboard.key)}-{filters.date_from:%Y%m%d}-{filters.date_to:%Y%m%d}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
