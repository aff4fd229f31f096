"""Reads of production: lists scoped by the policy layer, the shop floor's operations, the Gantt rows, live
progress, defect rates, and the promised completion of production that ATP and other apps read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, DecimalField, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncMonth, TruncWeek
from django.utils import timezone

from erp.models import (
    Inspection,
    MrpRun,
    NonConformance,
    OperationReport,
    OperationState,
    PlannedOrder,
    ProductionOperation,
    ProductionOrder,
    ProductionState,
)
from suite import policy

ZERO = Decimal("0")
OPEN_STATES = (ProductionState.RELEASED, ProductionState.IN_PROGRESS)


def production_orders_visible_to(actor, *, state: str = "", search: str = "") -> QuerySet[ProductionOrder]:
    """Production orders the actor may see, newest first, with product and warehouse."""
    qs = policy.scope(actor, ProductionOrder.objects.all()).select_related("product", "warehouse", "bom")
    if state:
        qs = qs.filter(state=state)
    if search:
        qs = qs.filter(
            Q(number__icontains=search) | Q(product__sku__icontains=search) | Q(product__name__icontains=search)
        )
    return qs.order_by("-id")


def mrp_runs_visible_to(actor) -> QuerySet[MrpRun]:
    return policy.scope(actor, MrpRun.objects.all()).select_related("warehouse").order_by("-id")


def planned_orders_of(run: MrpRun, *, state: str = "") -> QuerySet[PlannedOrder]:
    qs = run.planned_orders.select_related("product", "production_order", "purchase_order", "requisition")
    if state:
        qs = qs.filter(state=state)
    return qs.order_by("level", "product__sku", "due_date")


def shop_floor_operations(actor, *, work_center: int | None = None) -> QuerySet[ProductionOperation]:
    """Operations of released / in-progress orders not done yet, in scheduled order — the shop-floor list."""
    orders = policy.scope(actor, ProductionOrder.objects.filter(state__in=OPEN_STATES))
    qs = (
        ProductionOperation.objects.filter(order__in=orders)
        .exclude(state=OperationState.DONE)
        .select_related("order__product", "work_center")
    )
    if work_center:
        qs = qs.filter(work_center_id=work_center)
    return qs.order_by("scheduled_start", "order_id", "sequence")


@dataclass(frozen=True)
class OrderProgress:
    order_id: int
    number: str
    state: str
    quantity: Decimal
    produced: Decimal
    scrapped: Decimal
    percent: int
    operations_done: int
    operations_total: int
    late: bool


def production_progress(orders: list[ProductionOrder], *, now: dt.datetime | None = None) -> list[OrderProgress]:
    """Live progress of the orders (two queries): units reported, operations done, whether an operation is
    past its scheduled end."""
    now = now or timezone.now()
    ids = [o.pk for o in orders]
    counts = {
        row["order_id"]: row
        for row in ProductionOperation.objects.filter(order_id__in=ids)
        .values("order_id")
        .annotate(
            total=Count("id"),
            done=Count("id", filter=Q(state=OperationState.DONE)),
            late=Count("id", filter=Q(scheduled_end__lt=now) & ~Q(state=OperationState.DONE)),
        )
    }
    rows = []
    for order in orders:
        row = counts.get(order.pk, {"total": 0, "done": 0, "late": 0})
        reported = order.produced_quantity + order.scrapped_quantity
        percent = int(min(reported / order.quantity * 100, 100)) if order.quantity else 0
        if row["total"] and order.state != ProductionState.DONE:
            percent = max(percent, int(row["done"] * 100 / row["total"] * 0.99))
        if order.state == ProductionState.DONE:
            percent = 100
        rows.append(
            OrderProgress(
                order.pk,
                order.number,
                order.state,
                order.quantity,
                order.produced_quantity,
                order.scrapped_quantity,
                percent,
                row["done"],
                row["total"],
                bool(row["late"]) and order.state in OPEN_STATES,
            )
        )
    return rows


def gantt_rows(actor, *, start: dt.datetime, end: dt.datetime) -> list[ProductionOperation]:
    """The Gantt chart's bars in [start, end), by work centre and start: the operations still to do as scheduled,
    and the done ones by when they finished (``gantt_span`` says where each bar goes)."""
    orders = policy.scope(actor, ProductionOrder.objects.filter(state__in=OPEN_STATES))
    to_do = Q(scheduled_start__lt=end, scheduled_end__gt=start, scheduled_start__isnull=False) & ~Q(
        state=OperationState.DONE
    )
    done = Q(state=OperationState.DONE, finished_at__gt=start) & (Q(finished_at__lt=end) | Q(first_started_at__lt=end))
    return list(
        ProductionOperation.objects.filter(to_do | done, order__in=orders)
        .select_related("order", "work_center")
        .order_by("work_center__code", "scheduled_start")
    )


def gantt_span(operation: ProductionOperation) -> tuple[dt.datetime, dt.datetime]:
    """Where an operation's bar goes: a done one from when it started (or its planned length before it finished,
    when it was reported done without a start) to when it finished; the others as scheduled."""
    if operation.state != OperationState.DONE or operation.finished_at is None:
        return operation.scheduled_start, operation.scheduled_end
    planned = dt.timedelta(minutes=operation.setup_minutes + operation.run_minutes)
    if operation.scheduled_start and operation.scheduled_end:
        planned = operation.scheduled_end - operation.scheduled_start
    began = operation.first_started_at or operation.finished_at - planned
    return min(began, operation.finished_at), operation.finished_at


def production_promised_date(*, company, product, quantity: Decimal | None = None, warehouse=None) -> dt.date | None:
    """When production promises ``quantity`` (default: any) of ``product``: the day the open production
    orders' remaining output, taken in promised order, first reaches it; None when they never do (or there are
    none). For ATP and other apps (read only; ``company``, ``product``, ``warehouse`` are objects or ids)."""
    company_id = getattr(company, "pk", company)
    product_id = getattr(product, "pk", product)
    qs = ProductionOrder.objects.filter(company_id=company_id, product_id=product_id, state__in=OPEN_STATES)
    if warehouse is not None:
        qs = qs.filter(warehouse_id=getattr(warehouse, "pk", warehouse))
    needed = quantity if quantity is not None else Decimal("0.0001")
    total = ZERO
    for order in qs.order_by("promised_at", "due_date", "pk").only(
        "promised_at", "due_date", "quantity", "produced_quantity", "scrapped_quantity"
    ):
        total += order.remaining_quantity
        if total >= needed:
            when = order.promised_at
            return timezone.localtime(when).date() if when else order.due_date
    return None


def defect_rates(company, *, by: str = "product", period: str = "month", start: dt.date | None = None, end=None):
    """Inspected and defective units and the defect rate, grouped by ``by`` (product | work_center) and period
    (month | week): a list of dicts ``{"key", "label", "period", "inspected", "defective", "rate"}``."""
    company_id = getattr(company, "pk", company)
    qs = Inspection.objects.filter(company_id=company_id)
    if start:
        qs = qs.filter(inspected_at__date__gte=start)
    if end:
        qs = qs.filter(inspected_at__date__lte=end)
    trunc = TruncWeek if period == "week" else TruncMonth
    if by == "work_center":
        key, label = "work_center_id", "work_center__code"
        qs = qs.filter(work_center__isnull=False)
    else:
        key, label = "product_id", "product__sku"
    decimal = DecimalField(max_digits=18, decimal_places=4)
    rows = (
        qs.annotate(period=trunc("inspected_at"))
        .values(key, label, "period")
        .annotate(
            inspected=Coalesce(Sum("inspected_quantity"), ZERO, output_field=decimal),
            defective=Coalesce(Sum("defect_quantity"), ZERO, output_field=decimal),
        )
        .order_by("period", label)
    )
    return [
        {
            "key": row[key],
            "label": row[label],
            "period": row["period"].date().isoformat() if hasattr(row["period"], "date") else str(row["period"]),
            "inspected": row["inspected"],
            "defective": row["defective"],
            "rate": (row["defective"] / row["inspected"]).quantize(Decimal("0.0001")) if row["inspected"] else ZERO,
        }
        for row in rows
    ]


def non_conformances_of_ticket(*, company, crm_ticket_id: int) -> QuerySet[NonConformance]:
    """Non-conformances that answer a CRM ticket, with their lot and production order (the complaint trail)."""
    return NonConformance.objects.filter(
        company_id=getattr(company, "pk", company), crm_ticket_id=crm_ticket_id
    ).select_related("lot", "production_order", "product")


# ---------------------------------------------------------------- operator and work-centre output (HR KPIs)


def _report_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()
    return (
        dt.datetime.combine(start, dt.time.min, tzinfo=tz),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
    )


def _reported_totals(company_id: int, start: dt.date, end: dt.date, **filters) -> tuple[Decimal, Decimal]:
    since, until = _report_bounds(start, end)
    decimal = DecimalField(max_digits=18, decimal_places=4)
    row = OperationReport.objects.filter(
        company_id=company_id, reported_at__gte=since, reported_at__lt=until, **filters
    ).aggregate(
        good=Coalesce(Sum("good_quantity"), ZERO, output_field=decimal),
        scrap=Coalesce(Sum("scrap_quantity"), ZERO, output_field=decimal),
    )
    return row["good"], row["scrap"]


def _rate(good: Decimal, scrap: Decimal) -> Decimal | None:
    total = good + scrap
    if not total:
        return None
    return (scrap * 100 / total).quantize(Decimal("0.01"))


def employee_output(*, company_id: int, user_id: int | None, start: dt.date, end: dt.date) -> Decimal | None:
    """Good units the operator ``user_id`` reported on the shop floor between ``start`` and ``end`` (local days,
    both included); ``None`` when the employee has no suite user. Company-wide read: HR's goal computation is
    the caller and decides who sees the figure."""
    if user_id is None:
        return None
    return _reported_totals(company_id, start, end, operator_id=user_id)[0]


def employee_defect_rate(*, company_id: int, user_id: int | None, start: dt.date, end: dt.date) -> Decimal | None:
    """Scrapped units as a percentage (two decimals) of all units the operator reported in the period; ``None``
    when they reported nothing (no figure rather than 0 %) or have no suite user."""
    if user_id is None:
        return None
    return _rate(*_reported_totals(company_id, start, end, operator_id=user_id))


def work_center_output(*, company_id: int, work_center_id: int, start: dt.date, end: dt.date) -> Decimal:
    """Good units reported on a work centre in the period, whoever reported them."""
    return _reported_totals(company_id, start, end, work_center_id=work_center_id)[0]


def work_center_defect_rate(*, company_id: int, work_center_id: int, start: dt.date, end: dt.date) -> Decimal | None:
    """Scrapped units as a percentage of the units reported on a work centre in the period (None: nothing)."""
    return _rate(*_reported_totals(company_id, start, end, work_center_id=work_center_id))


def operator_output(company, *, start: dt.date, end: dt.date, work_center: int | None = None) -> list[dict]:
    """Output per operator and work centre in the period (one query): ``{"operator_id", "work_center_id",
    "work_center", "good", "scrap", "defect_rate"}`` rows, by work centre code then operator."""
    since, until = _report_bounds(start, end)
    decimal = DecimalField(max_digits=18, decimal_places=4)
    qs = OperationReport.objects.filter(
        company_id=getattr(company, "pk", company), reported_at__gte=since, reported_at__lt=until
    )
    if work_center:
        qs = qs.filter(work_center_id=work_center)
    rows = (
        qs.values("operator_id", "work_center_id", "work_center__code")
        .annotate(
            good=Coalesce(Sum("good_quantity"), ZERO, output_field=decimal),
            scrap=Coalesce(Sum("scrap_quantity"), ZERO, output_field=decimal),
        )
        .order_by("work_center__code", "operator_id")
    )
    return [
        {
            "operator_id": row["operator_id"],
            "work_center_id": row["work_center_id"],
            "work_center": row["work_center__code"],
            "good": row["good"],
            "scrap": row["scrap"],
            "defect_rate": _rate(row["good"], row["scrap"]),
        }
        for row in rows
    ]
