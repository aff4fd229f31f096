"""Reads of the supply & production dashboard (issue #7): stock value by warehouse and category, stock-outs, ATP
risk on open sales orders, on-time completion of production orders and defect rates by product (field
complaints included).

Every function aggregates in PostgreSQL over policy-scoped querysets (``suite.policy.scope``: nothing crosses
companies, a salesperson's sales orders are their own) with a fixed number of queries; money is Decimal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, Count, DecimalField, ExpressionWrapper, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, TruncMonth, TruncWeek
from django.utils import timezone

from erp.models import (
    Inspection,
    NonConformance,
    Product,
    ProductionOrder,
    ProductionState,
    SalesOrderLine,
    StockQuant,
)
from erp.models.sales import OPEN_ORDER_STATES
from suite import policy
from suite.models import Membership
from suite.policy import Actor

ZERO = Decimal("0")
CENT = Decimal("0.01")
MONEY_FIELD = DecimalField(max_digits=24, decimal_places=6)
QTY_FIELD = DecimalField(max_digits=24, decimal_places=6)


def _money(value) -> Decimal:
    return (value or ZERO).quantize(CENT)


def _bounds(date_from: dt.date, date_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz)
    return start, dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)


# ---------------------------------------------------------------- stock value and stock-outs


@dataclass(frozen=True)
class ValueRow:
    key: int | None
    label: str
    quantity: Decimal
    value: Decimal


def stock_value(actor: Actor | None, *, group_by: str, product_id: int | None = None) -> list[ValueRow]:
    """Stock on hand valued at the products' average cost, per ``group_by`` ("warehouse" or "category"; key
    None: no category), largest value first. One query. Quants only exist in internal locations."""
    if group_by not in ("warehouse", "category"):
        raise ValueError("group_by is 'warehouse' or 'category'")
    qs = policy.scope(actor, StockQuant.objects.all())
    if product_id:
        qs = qs.filter(product_id=product_id)
    key, label = (
        ("warehouse_id", "warehouse__name")
        if group_by == "warehouse"
        else (
            "product__category_id",
            "product__category__name",
        )
    )
    value = ExpressionWrapper(F("quantity") * F("product__average_cost"), output_field=MONEY_FIELD)
    rows = qs.order_by().values(key, label).annotate(on_hand=Sum("quantity"), stock_value=Sum(value))
    result = [ValueRow(row[key], row[label] or "", row["on_hand"] or ZERO, _money(row["stock_value"])) for row in rows]
    result.sort(key=lambda r: (-r.value, r.label))
    return result


@dataclass(frozen=True)
class StockOut:
    product_id: int
    sku: str
    name: str
    on_hand: Decimal
    safety_stock: Decimal

    @property
    def is_out(self) -> bool:
        return self.on_hand <= 0


@dataclass(frozen=True)
class StockOuts:
    out_of_stock: int  # at or below zero
    below_safety: int  # at or below zero, or at or below a safety stock set above zero
    items: list[StockOut]  # the first ``limit`` of them, emptiest first


def stock_outs(actor: Actor | None, *, product_id: int | None = None, limit: int = 20) -> StockOuts:
    """Active stockable products whose stock on hand (all warehouses) is at or below zero or at or below their
    safety stock (``ProductPlanning.safety_stock``, when set above zero): the counts and the first ``limit``,
    emptiest first. Two queries."""
    qs = policy.scope(actor, Product.objects.filter(is_active=True, is_stockable=True))
    if product_id:
        qs = qs.filter(pk=product_id)
    qs = qs.annotate(
        on_hand=Coalesce(Sum("quants__quantity"), Value(ZERO), output_field=QTY_FIELD),
        safety=Coalesce(F("planning__safety_stock"), Value(ZERO), output_field=QTY_FIELD),
    ).filter(Q(on_hand__lte=0) | Q(safety__gt=0, on_hand__lte=F("safety")))
    counts = qs.aggregate(below=Count("pk"), out=Count("pk", filter=Q(on_hand__lte=0)))
    rows = qs.order_by("on_hand", "sku").values_list("pk", "sku", "name", "on_hand", "safety")[:limit]
    return StockOuts(
        out_of_stock=counts["out"],
        below_safety=counts["below"],
        items=[StockOut(pk, sku, name, on_hand, safety) for pk, sku, name, on_hand, safety in rows],
    )


# ---------------------------------------------------------------- ATP risk on open sales orders


@dataclass(frozen=True)
class RiskLine:
    line_id: int
    order_id: int
    order_number: str
    customer: str
    sku: str
    open_quantity: Decimal
    open_value: Decimal
    requested_date: dt.date | None
    promised_date: dt.date | None

    @property
    def days_late(self) -> int | None:
        if self.promised_date is None or self.requested_date is None:
            return None
        return (self.promised_date - self.requested_date).days


@dataclass(frozen=True)
class AtpRisk:
    open_lines: int
    risk_lines: int
    uncovered_lines: int  # no promised date: ATP could not cover them
    risk_value: Decimal
    lines: list[RiskLine]  # the first ``limit`` at-risk lines, earliest requested first


def open_order_lines(actor: Actor | None, *, team_id=None, owner_id=None, product_id=None) -> QuerySet:
    """Lines of open (confirmed, not fully delivered) sales orders the actor may see, annotated with their open
    quantity and the effective requested / promised dates (the line's, else the order's)."""
    qs = policy.scope(actor, SalesOrderLine.objects.all()).filter(order__state__in=OPEN_ORDER_STATES)
    if product_id:
        qs = qs.filter(product_id=product_id)
    if owner_id:
        qs = qs.filter(order__salesperson_id=owner_id)
    if team_id and actor is not None:
        members = Membership.objects.filter(company_id=actor.company_id, teams=team_id).values("user_id")
        qs = qs.filter(order__salesperson_id__in=members)
    open_quantity = ExpressionWrapper(
        F("quantity") - F("delivered_quantity") - F("cancelled_quantity"), output_field=QTY_FIELD
    )
    return qs.annotate(
        open_quantity=open_quantity,
        requested=Coalesce("requested_date", "order__requested_date"),
        promised=Coalesce("promised_date", "order__promised_date"),
    ).filter(open_quantity__gt=0)


def at_risk_condition() -> Q:
    """Promised after the requested date, or not promised at all (ATP could not cover the line)."""
    return Q(promised__isnull=True) | Q(requested__isnull=False, promised__gt=F("requested"))


def atp_risk(actor: Actor | None, *, team_id=None, owner_id=None, product_id=None, limit: int = 20) -> AtpRisk:
    """Open sales order lines at risk: promised later than requested, or without a promise. Two queries (the
    counts and value, the first ``limit`` lines)."""
    qs = open_order_lines(actor, team_id=team_id, owner_id=owner_id, product_id=product_id)
    risk = at_risk_condition()
    open_value = ExpressionWrapper(
        Case(When(quantity=0, then=Value(ZERO)), default=F("subtotal") * F("open_quantity") / F("quantity")),
        output_field=MONEY_FIELD,
    )
    totals = qs.order_by().aggregate(
        open_lines=Count("id"),
        risk_lines=Count("id", filter=risk),
        uncovered=Count("id", filter=Q(promised__isnull=True)),
        risk_value=Sum(open_value, filter=risk),
    )
    rows = (
        qs.filter(risk)
        .annotate(open_value=open_value)
        .order_by(F("requested").asc(nulls_last=True), "id")
        .values_list(
            "id",
            "order_id",
            "order__number",
            "order__partner__name",
            "product__sku",
            "open_quantity",
            "open_value",
            "requested",
            "promised",
        )[:limit]
    )
    lines = [
        RiskLine(pk, order_id, number, customer or "", sku, quantity, _money(value), requested, promised)
        for pk, order_id, number, customer, sku, quantity, value, requested, promised in rows
    ]
    return AtpRisk(
        open_lines=totals["open_lines"],
        risk_lines=totals["risk_lines"],
        uncovered_lines=totals["uncovered"],
        risk_value=_money(totals["risk_value"]),
        lines=lines,
    )


# ---------------------------------------------------------------- production: on-time completion


@dataclass(frozen=True)
class CompletionBucket:
    period: dt.date
    done: int
    on_time: int

    @property
    def rate(self) -> Decimal | None:
        return (Decimal(self.on_time) * 100 / self.done).quantize(Decimal("0.1")) if self.done else None


def on_time_completion(
    actor: Actor | None,
    *,
    date_from: dt.date,
    date_to: dt.date,
    granularity: str = "month",
    product_id: int | None = None,
) -> list[CompletionBucket]:
    """Production orders finished in the period per month (or week) of ``done_at``, and how many of them by their
    due date; oldest first, only periods with finished orders. One query."""
    start, end = _bounds(date_from, date_to)
    trunc = TruncWeek if granularity == "week" else TruncMonth
    qs = policy.scope(actor, ProductionOrder.objects.filter(state=ProductionState.DONE))
    qs = qs.filter(done_at__gte=start, done_at__lt=end)
    if product_id:
        qs = qs.filter(product_id=product_id)
    rows = (
        qs.annotate(period=trunc("done_at"))
        .order_by()
        .values("period")
        .annotate(done=Count("id"), on_time=Count("id", filter=Q(done_at__date__lte=F("due_date"))))
        .order_by("period")
    )
    return [CompletionBucket(timezone.localtime(r["period"]).date(), r["done"], r["on_time"]) for r in rows]


def overdue_production_orders(actor: Actor | None, *, product_id: int | None = None, today=None) -> int:
    """Released or running production orders past their due date. One query."""
    today = today or timezone.localdate()
    qs = policy.scope(actor, ProductionOrder.objects.filter(state__in=(ProductionState.RELEASED, "in_progress")))
    if product_id:
        qs = qs.filter(product_id=product_id)
    return qs.filter(due_date__lt=today).count()


# ---------------------------------------------------------------- quality: defect rate with field complaints


@dataclass(frozen=True)
class DefectRow:
    product_id: int
    sku: str
    inspected: Decimal
    defective: Decimal
    field_complaints: int

    @property
    def rate(self) -> Decimal | None:
        """Defective share of the inspected units, in percent."""
        return (self.defective * 100 / self.inspected).quantize(Decimal("0.01")) if self.inspected else None


def defect_rates_by_product(
    actor: Actor | None, *, date_from: dt.date, date_to: dt.date, product_id: int | None = None
) -> list[DefectRow]:
    """Per product: units inspected and found defective in the period, and the non-conformances opened from
    customer complaints (CRM tickets, closed loop flow 5) in the period; highest rate first. Two queries."""
    start, end = _bounds(date_from, date_to)
    inspections = policy.scope(actor, Inspection.objects.filter(inspected_at__gte=start, inspected_at__lt=end))
    complaints = policy.scope(
        actor, NonConformance.objects.filter(crm_ticket_id__isnull=False, created_at__gte=start, created_at__lt=end)
    )
    if product_id:
        inspections = inspections.filter(product_id=product_id)
        complaints = complaints.filter(product_id=product_id)
    measured = {
        row["product_id"]: row
        for row in inspections.order_by()
        .values("product_id", "product__sku")
        .annotate(inspected=Sum("inspected_quantity"), defective=Sum("defect_quantity"))
    }
    field = {
        row["product_id"]: row
        for row in complaints.order_by().values("product_id", "product__sku").annotate(complaints=Count("id"))
    }
    rows = []
    for pk in set(measured) | set(field):
        inspected = measured.get(pk, {})
        sku = (inspected or field.get(pk))["product__sku"]
        rows.append(
            DefectRow(
                product_id=pk,
                sku=sku,
                inspected=inspected.get("inspected") or ZERO,
                defective=inspected.get("defective") or ZERO,
                field_complaints=field.get(pk, {}).get("complaints", 0),
            )
        )
    rows.sort(key=lambda r: (-(r.rate or ZERO), -r.field_complaints, r.sku))
    return rows


# ---------------------------------------------------------------- drill-down targets


def _int(value) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() and len(text) <= 12 else None


def _date(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value or ""))
    except ValueError:
        return None


@dataclass(frozen=True)
class StockLevelsFilter:
    """What the stock levels page shows (from its query string; values that do not parse are ignored)."""

    warehouse_id: int | None = None
    category: int | str | None = None  # an id, "none", or None
    product_id: int | None = None
    below: str = ""  # "", "zero" or "safety"

    @classmethod
    def from_params(cls, params) -> StockLevelsFilter:
        category = params.get("category", "")
        below = params.get("below", "")
        return cls(
            warehouse_id=_int(params.get("warehouse")),
            category="none" if category == "none" else _int(category),
            product_id=_int(params.get("product")),
            below=below if below in ("zero", "safety") else "",
        )

    def params(self) -> dict[str, str]:
        values = {"warehouse": self.warehouse_id, "category": self.category, "product": self.product_id}
        values["below"] = self.below
        return {key: str(value) for key, value in values.items() if value not in (None, "")}


def stock_levels(actor: Actor | None, wanted: StockLevelsFilter) -> QuerySet[Product]:
    """Active stockable products the actor may see with ``on_hand`` (in the warehouse when given), ``safety``
    and ``value`` (on hand at average cost) annotated, emptiest first: the drill-down of the stock figures.
    One query per page."""
    qs = policy.scope(actor, Product.objects.filter(is_active=True, is_stockable=True)).select_related("category")
    quant_filter = Q(quants__warehouse_id=wanted.warehouse_id) if wanted.warehouse_id else Q()
    if wanted.warehouse_id:
        qs = qs.filter(quants__warehouse_id=wanted.warehouse_id).distinct()
    if wanted.category == "none":
        qs = qs.filter(category__isnull=True)
    elif wanted.category:
        qs = qs.filter(category_id=wanted.category)
    if wanted.product_id:
        qs = qs.filter(pk=wanted.product_id)
    qs = qs.annotate(
        on_hand=Coalesce(Sum("quants__quantity", filter=quant_filter), Value(ZERO), output_field=QTY_FIELD),
        safety=Coalesce(F("planning__safety_stock"), Value(ZERO), output_field=QTY_FIELD),
    ).annotate(value=ExpressionWrapper(F("on_hand") * F("average_cost"), output_field=MONEY_FIELD))
    if wanted.below == "zero":
        qs = qs.filter(on_hand__lte=0)
    elif wanted.below == "safety":
        qs = qs.filter(Q(on_hand__lte=0) | Q(safety__gt=0, on_hand__lte=F("safety")))
    return qs.order_by("on_hand", "sku")


def sales_orders_at_risk(orders: QuerySet, actor: Actor | None, params) -> QuerySet:
    """Narrow a sales order list to the orders with a line at ATP risk (``at_risk=1``), of a team's or a
    salesperson's orders (``team`` / ``owner``) and a product (``product``), as the dashboard links them."""
    if params.get("at_risk") != "1":
        return orders
    lines = open_order_lines(
        actor,
        team_id=_int(params.get("team")),
        owner_id=_int(params.get("owner")),
        product_id=_int(params.get("product")),
    ).filter(at_risk_condition())
    return orders.filter(pk__in=lines.values("order_id"))


def production_orders_drilled(orders: QuerySet, params, *, today: dt.date | None = None) -> QuerySet:
    """Narrow a production order list as the dashboard links it: ``done_from`` / ``done_to`` (finished between,
    inclusive), ``late`` (1: finished after the due date, 0: by it), ``overdue=1`` (open and past due),
    ``product``."""
    done_from, done_to = _date(params.get("done_from")), _date(params.get("done_to"))
    if done_from:
        orders = orders.filter(done_at__gte=_bounds(done_from, done_from)[0])
    if done_to:
        orders = orders.filter(done_at__lt=_bounds(done_to, done_to)[1])
    if params.get("late") == "1":
        orders = orders.filter(done_at__date__gt=F("due_date"))
    elif params.get("late") == "0":
        orders = orders.filter(done_at__date__lte=F("due_date"))
    if params.get("overdue") == "1":
        today = today or timezone.localdate()
        orders = orders.filter(state__in=(ProductionState.RELEASED, "in_progress"), due_date__lt=today)
    if _int(params.get("product")):
        orders = orders.filter(product_id=_int(params.get("product")))
    return orders


def non_conformances_drilled(non_conformances: QuerySet, params) -> QuerySet:
    """Narrow the quality page's non-conformances to a ``product`` and to field complaints (``field=1``)."""
    if _int(params.get("product")):
        non_conformances = non_conformances.filter(product_id=_int(params.get("product")))
    if params.get("field") == "1":
        non_conformances = non_conformances.filter(crm_ticket_id__isnull=False)
    return non_conformances
