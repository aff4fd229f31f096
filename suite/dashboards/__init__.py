"""Dashboards for managers (issue #7): a small registry of dashboards built from widgets.

An app describes a dashboard once, at import time (from a module imported in its ``apps.py`` ``ready()``)::

    from suite import dashboards

    def build(filters: dashboards.Filters) -> list[dashboards.Widget]:
        return [dashboards.KPI("won", _("Won"), Decimal("1200.00"), money=True, drill_url="/crm/...")]

    dashboards.register(dashboards.Dashboard("sales", _("Sales"), build, module="crm", roles=MANAGERS))

``build(filters)`` returns widgets — ``KPI``, ``Chart`` (with ``Series``) and ``Table`` — computed over
policy-scoped querysets (``suite.policy.scope(filters.actor, ...)``) of the app's selectors, aggregated in
PostgreSQL with a fixed number of queries. The platform renders them (``/dashboards/<key>/``), exports them to
XLSX, serves them as JSON (``/api/v1/dashboards/<key>/``) and mails their KPIs in the weekly digest.

This module imports no business app.
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from urllib.parse import urlencode

from django.utils.functional import Promise

from suite import modules
from suite.models import Role

GRANULARITIES = ("month", "week")
CHART_KINDS = frozenset({"bar", "hbar", "line", "pie", "doughnut", "funnel"})
FILTER_KEYS = frozenset({"period", "team", "owner", "product"})
MANAGER_ROLES = frozenset({Role.ADMIN, Role.MANAGER})

Number = Decimal | int


# ---------------------------------------------------------------------------------------------------- filters
@dataclass(frozen=True)
class Filters:
    """What a dashboard is computed for: the actor (whose policy scope applies), an inclusive date range and
    optional team / owner / product narrowing."""

    company: object
    actor: object
    date_from: datetime.date
    date_to: datetime.date  # inclusive
    team_id: int | None = None
    owner_id: int | None = None
    product_id: int | None = None
    granularity: str = "month"

    def periods(self) -> list[tuple[str, datetime.date, datetime.date]]:
        """Buckets covering ``date_from``..``date_to``: (label, start, end inclusive), months "2026-03" or ISO
        weeks "2026-W09" (the first and last bucket clipped to the range)."""
        buckets: list[tuple[str, datetime.date, datetime.date]] = []
        if self.granularity == "week":
            start = self.date_from - datetime.timedelta(days=self.date_from.weekday())
            while start <= self.date_to:
                end = start + datetime.timedelta(days=6)
                year, week, _day = start.isocalendar()
                buckets.append((f"{year}-W{week:02d}", max(start, self.date_from), min(end, self.date_to)))
                start = end + datetime.timedelta(days=1)
            return buckets
        start = self.date_from.replace(day=1)
        while start <= self.date_to:
            end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
            buckets.append((f"{start:%Y-%m}", max(start, self.date_from), min(end, self.date_to)))
            start = end + datetime.timedelta(days=1)
        return buckets

    def period_start(self, day: datetime.date) -> datetime.date:
        """The start of the (unclipped) bucket ``day`` falls in — what ``date_trunc`` returns in SQL."""
        if self.granularity == "week":
            return day - datetime.timedelta(days=day.weekday())
        return day.replace(day=1)

    def bucket_label(self, day: datetime.date | datetime.datetime) -> str:
        """The ``periods()`` label of the bucket ``day`` falls in."""
        if isinstance(day, datetime.datetime):
            day = day.date()
        if self.granularity == "week":
            year, week, _day = day.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{day:%Y-%m}"

    def params(self) -> dict[str, str]:
        params = {"date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat()}
        if self.team_id:
            params["team"] = str(self.team_id)
        if self.owner_id:
            params["owner"] = str(self.owner_id)
        if self.product_id:
            params["product"] = str(self.product_id)
        if self.granularity != "month":
            params["granularity"] = self.granularity
        return params

    def querystring(self, **extra) -> str:
        """The filters (plus ``extra`` parameters, ``None`` values dropped) as a query string for drill links."""
        params = self.params()
        params.update({key: str(value) for key, value in extra.items() if value is not None})
        return urlencode(params)

    def with_(self, **changes) -> Filters:
        return replace(self, **changes)


def default_range(today: datetime.date | None = None) -> tuple[datetime.date, datetime.date]:
    """The default period: the last 12 months up to today (from the 1st of the month eleven months back)."""
    today = today or datetime.date.today()
    month = today.month - 11
    year = today.year
    while month <= 0:
        month += 12
        year -= 1
    return datetime.date(year, month, 1), today


def range_with_next_quarter(today: datetime.date | None = None) -> tuple[datetime.date, datetime.date]:
    """The last 12 months and what is ahead up to the end of the next quarter: where a sales forecast (open
    deals by expected close) meets the targets still to reach."""
    today = today or datetime.date.today()
    start, _today = default_range(today)
    last_month = (today.month - 1) // 3 * 3 + 6  # the last month of the next quarter, maybe past December
    year, month = today.year + (last_month - 1) // 12, (last_month - 1) % 12 + 1
    following = datetime.date(year + month // 12, month % 12 + 1, 1)
    return start, following - datetime.timedelta(days=1)


# ---------------------------------------------------------------------------------------------------- widgets
@dataclass(frozen=True)
class KPI:
    key: str
    label: str | Promise
    value: Number | None
    unit: str = ""
    money: bool = False
    drill_url: str | None = None
    hint: str | Promise = ""

    kind = "kpi"


@dataclass(frozen=True)
class Series:
    name: str | Promise
    data: list[Number | None]
    drill_urls: list[str | None] | None = None  # one per point, optional


@dataclass(frozen=True)
class Chart:
    key: str
    title: str | Promise
    kind: str  # one of CHART_KINDS
    labels: list[str]
    series: list[Series]
    money: bool = False
    stacked: bool = False

    def __post_init__(self):
        if self.kind not in CHART_KINDS:
            raise ValueError(f"unknown chart kind {self.kind!r}; use one of {sorted(CHART_KINDS)}")


@dataclass(frozen=True)
class Table:
    key: str
    title: str | Promise
    columns: list[str | Promise]
    rows: list[list]
    row_urls: list[str | None] | None = None


Widget = KPI | Chart | Table


# ---------------------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Dashboard:
    key: str
    title: str | Promise
    build: Callable[[Filters], list[Widget]]
    module: str | None = None  # shown only when the company has enabled this module (``suite.modules``)
    roles: frozenset[str] | None = None  # None: managers and admins
    filters: frozenset[str] = frozenset({"period", "team", "product"})
    order: int = 100
    description: str | Promise = ""
    # the period shown when none is chosen: today → (first day, last day); None: the last 12 months to today
    default_period: Callable[[datetime.date], tuple[datetime.date, datetime.date]] | None = None

    @property
    def allowed_roles(self) -> frozenset[str]:
        return frozenset(self.roles) if self.roles is not None else MANAGER_ROLES

    def visible_to(self, actor) -> bool:
        if actor is None:
            return False
        if actor.role not in self.allowed_roles:
            return False
        return modules.company_has(actor.company, self.module)


_registry: dict[str, Dashboard] = {}


def register(dashboard: Dashboard) -> Dashboard:
    """Add (or replace, by key) a dashboard."""
    unknown = set(dashboard.filters) - FILTER_KEYS
    if unknown:
        raise ValueError(f"unknown dashboard filters {sorted(unknown)}; use {sorted(FILTER_KEYS)}")
    _registry[dashboard.key] = dashboard
    from suite.ui import menu  # the "Dashboards" menu section lists each dashboard

    menu.register(
        menu.MenuItem(
            "dashboards",
            dashboard.title,
            "dashboard-detail",
            url_kwargs={"key": dashboard.key},
            roles=dashboard.allowed_roles,
            module=dashboard.module,
            order=dashboard.order,
        )
    )
    return dashboard


def get(key: str) -> Dashboard | None:
    return _registry.get(key)


def all_dashboards() -> list[Dashboard]:
    return sorted(_registry.values(), key=lambda d: (d.order, d.key))


def for_actor(actor) -> list[Dashboard]:
    """The dashboards ``actor`` may open, in menu order (roles and the company's modules respected)."""
    return [dashboard for dashboard in all_dashboards() if dashboard.visible_to(actor)]


def visible_or_none(actor, key: str) -> Dashboard | None:
    dashboard = get(key)
    return dashboard if dashboard is not None and dashboard.visible_to(actor) else None


_choice_providers: dict[str, list[Callable]] = {}


def register_choices(filter_key: str, provider: Callable) -> None:
    """Offer choices for a filter the platform cannot list itself (``"product"``): ``provider(actor)`` returns
    ``[(id, label), ...]`` of what the actor may see. Called by the app that knows them (CRM for products)."""
    if provider not in _choice_providers.setdefault(filter_key, []):
        _choice_providers[filter_key].append(provider)


def choices_for(filter_key: str, actor) -> list[tuple[int, str]]:
    seen: dict[int, str] = {}
    for provider in _choice_providers.get(filter_key, []):
        for value, label in provider(actor):
            seen.setdefault(value, label)
    return sorted(seen.items(), key=lambda item: str(item[1]))


def kpis(widgets: Iterable[Widget]) -> list[KPI]:
    return [widget for widget in widgets if isinstance(widget, KPI)]


__all__ = [
    "CHART_KINDS",
    "FILTER_KEYS",
    "GRANULARITIES",
    "KPI",
    "MANAGER_ROLES",
    "Chart",
    "Dashboard",
    "Filters",
    "Series",
    "Table",
    "Widget",
    "all_dashboards",
    "choices_for",
    "default_range",
    "for_actor",
    "get",
    "kpis",
    "range_with_next_quarter",
    "register",
    "register_choices",
    "visible_or_none",
]
