"""MRP runs (物料需求计划): load demand and supply from the database, net them with ``erp.services.mrp_engine``,
store the planned orders with their explanation, and turn a confirmed planned order into a production order or
a purchase order (or a requisition when the product has no supplier in the partner register).

Demand: open quantities of confirmed sales-order lines (not yet delivered or cancelled) of the run's
warehouse, the components open production orders still need (required − issued), demand forecasts within the
horizon, and every product's safety stock. Supply: stock on hand in the warehouse, open expected supply (confirmed
purchase-order lines and released production orders — ``IncomingSupply``). The run is a Celery job
(``erp.mrp_run``); it reports its progress on the ``MrpRun`` row in short transactions of its own, and writes
the planned orders in one transaction at the end (the previous runs' proposals for the warehouse are dismissed
then).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pgtrigger
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from erp.models import (
    Bom,
    BomLine,
    DemandForecast,
    IncomingSupply,
    MrpRun,
    MrpRunStatus,
    PlannedKind,
    PlannedOrder,
    PlannedState,
    Procurement,
    Product,
    ProductionMaterial,
    ProductionState,
    ProductPlanning,
    ProductSupplier,
    SalesOrderLine,
    SalesOrderState,
    StockQuant,
    SupplyState,
    Warehouse,
)
from erp.models.sales import OPEN_ORDER_STATES
from erp.services import inventory as inv
from erp.services import mrp_engine as engine
from erp.services import procurement
from erp.services import production as prod
from suite.models import Company

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0")
COVERS_KEPT = 10  # the requirements stored per planned order for the explanation (the count is kept too)
BATCH = 2000
QUANTUM = Decimal("0.0001")
UNAUDITED_BULK = ("erp.PlannedOrder:insert_insert", "erp.PlannedOrder:update_update")


# ---------------------------------------------------------------- forecasts


@transaction.atomic
def forecast_lines_replace(*, company: Company, source: str, lines: list[dict]) -> int:
    """Replace every forecast line of ``source`` with ``lines`` (``{"product", "date", "quantity", "note"?,
    "reference"?}``;
    ``product`` a Product or its id). The documented entry point for other apps' forecasts — CRM's weighted
    pipeline will call it from its event handler with ``source="crm_pipeline"``. Idempotent: the same lines
    twice leave the same forecast. Returns the number of lines stored. Locks nothing (one DELETE, one INSERT)."""
    source = (source or "").strip()
    if not source or len(source) > 40:
        raise ValidationError({"source": [_("Name the source (at most 40 characters).")]})
    product_ids = {getattr(item.get("product"), "pk", item.get("product")) for item in lines}
    known = set(Product.objects.filter(company=company, pk__in=product_ids).values_list("pk", flat=True))
    rows = []
    errors: dict = {}
    for index, item in enumerate(lines):
        pid = getattr(item.get("product"), "pk", item.get("product"))
        if pid not in known:
            errors[f"lines.{index}.product"] = [_("Unknown record.")]
            continue
        line_errors: dict = {}
        qty = inv._decimal(item.get("quantity"), field="quantity", errors=line_errors)
        day = item.get("date")
        if isinstance(day, str):
            try:
                day = dt.date.fromisoformat(day)
            except ValueError:
                day = None
        if not isinstance(day, dt.date):
            line_errors["date"] = [_("Enter a date.")]
        for key, messages in line_errors.items():
            errors[f"lines.{index}.{key}"] = messages
        if not line_errors:
            rows.append(
                DemandForecast(
                    company=company,
                    product_id=pid,
                    date=day,
                    quantity=qty,
                    source=source,
                    note=str(item.get("note") or "")[:200],
                    reference=item.get("reference") or {},
                )
            )
    inv._raise(errors)
    DemandForecast.objects.filter(company=company, source=source).delete()
    DemandForecast.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)


# ---------------------------------------------------------------- runs


@transaction.atomic
def mrp_run_start(
    *,
    company: Company,
    warehouse: Warehouse,
    horizon_days: int = 90,
    bucket_days: int = 1,
    include_forecasts: bool = True,
    by: User | None = None,
    queue: bool = True,
) -> MrpRun:
    """Queue an MRP run for a warehouse (the Celery task ``erp.mrp_run`` executes it after commit)."""
    if warehouse.company_id != company.pk:
        raise ValidationError({"warehouse": [_("Unknown record.")]})
    errors: dict = {}
    if not isinstance(horizon_days, int) or not 1 <= horizon_days <= 730:
        errors["horizon_days"] = [_("Between 1 and 730 days.")]
    if not isinstance(bucket_days, int) or not 1 <= bucket_days <= 31:
        errors["bucket_days"] = [_("Between 1 and 31 days.")]
    inv._raise(errors)
    run = MrpRun.objects.create(
        company=company,
        warehouse=warehouse,
        horizon_days=horizon_days,
        bucket_days=bucket_days,
        include_forecasts=bool(include_forecasts),
        created_by=by,
    )
    run.number = f"MRP{run.pk:06d}"
    run.save(update_fields=["number"])
    if queue:
        from erp.tasks import mrp_run as task

        transaction.on_commit(lambda: task.delay(run.pk))
    return run


def _progress(run_id: int, progress: int, **fields) -> None:
    """Progress in its own short transaction, so the page polling the run sees it while the run works."""
    with transaction.atomic():
        MrpRun.objects.filter(pk=run_id).update(progress=progress, updated_at=timezone.now(), **fields)


def _load(run: MrpRun, today: dt.date) -> tuple[dict, list, list, list, dict]:
    company_id, warehouse_id = run.company_id, run.warehouse_id
    horizon = today + dt.timedelta(days=run.horizon_days)
    # BOMs in force today, one per product (the latest-starting active version)
    boms: dict[int, Bom] = {}
    for bom in (
        Bom.objects.filter(company_id=company_id, is_active=True)
        .filter(Q(effective_from__isnull=True) | Q(effective_from__lte=today))
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=today))
        .order_by("product_id", "-effective_from", "-id")
        .only("pk", "product_id", "quantity")
    ):
        boms.setdefault(bom.product_id, bom)
    bom_quantity = {bom.pk: bom.quantity for bom in boms.values()}
    bom_lines = [
        engine.BomLine(parent=parent, component=component, quantity=quantity / bom_quantity[bom_id], scrap=scrap)
        for bom_id, parent, component, quantity, scrap in BomLine.objects.filter(
            bom_id__in=list(bom_quantity)
        ).values_list("bom_id", "bom__product_id", "component_id", "quantity", "scrap_factor")
    ]
    demand: list[engine.Demand] = []
    for line_id, product_id, due, open_qty, number, order_id in (
        SalesOrderLine.objects.filter(
            company_id=company_id, order__state__in=OPEN_ORDER_STATES, product__is_stockable=True
        )
        .filter(Q(warehouse_id=warehouse_id) | Q(warehouse__isnull=True, order__warehouse_id=warehouse_id))
        .annotate(open_qty=F("quantity") - F("delivered_quantity") - F("cancelled_quantity"))
        .filter(open_qty__gt=0)
        .values_list("pk", "product_id", "requested_date", "open_qty", "order__number", "order_id")
        .iterator(chunk_size=BATCH)
    ):
        demand.append(
            engine.Demand(product_id, due or today, open_qty, f"{number} line {line_id}", sales_order_id=order_id)
        )
    for product_id, need, number, start in (
        ProductionMaterial.objects.filter(
            order__company_id=company_id,
            order__warehouse_id=warehouse_id,
            order__state__in=(ProductionState.RELEASED, ProductionState.IN_PROGRESS),
        )
        .annotate(open_qty=F("required_quantity") - F("issued_quantity"))
        .filter(open_qty__gt=0)
        .values_list("product_id", "open_qty", "order__number", "order__planned_start")
        .iterator(chunk_size=BATCH)
    ):
        demand.append(engine.Demand(product_id, start, need, f"{number} components"))
    if run.include_forecasts:
        demand.extend(_forecast_demand(company_id, warehouse_id, today, horizon))
    receipts = [
        engine.Receipt(product_id, max(day, today), qty - received, reference)
        for product_id, day, qty, received, reference in IncomingSupply.objects.filter(
            company_id=company_id, warehouse_id=warehouse_id, state=SupplyState.OPEN
        ).values_list("product_id", "expected_date", "quantity", "received_quantity", "reference")
        if qty > received
    ]
    on_hand = dict(
        StockQuant.objects.filter(company_id=company_id, warehouse_id=warehouse_id)
        .values("product_id")
        .annotate(total=Sum("quantity"))
        .values_list("product_id", "total")
    )
    planning = {p.product_id: p for p in ProductPlanning.objects.filter(company_id=company_id)}
    supplier_lead = dict(
        ProductSupplier.objects.filter(company_id=company_id, is_preferred=True).values_list(
            "product_id", "lead_time_days"
        )
    )
    ids = {d.item for d in demand} | {r.item for r in receipts} | set(boms)
    ids |= {line.component for line in bom_lines} | {pid for pid, p in planning.items() if p.safety_stock > 0}
    items = {}
    for pid in ids:
        plan = planning.get(pid)
        make = pid in boms and (plan is None or plan.procurement == Procurement.MAKE)
        lead = plan.lead_time_days if plan is not None else supplier_lead.get(pid, 0)
        items[pid] = engine.Item(
            id=pid,
            make=make,
            lead_time_days=lead,
            safety_stock=plan.safety_stock if plan else ZERO,
            lot_rule=plan.lot_rule if plan else "lot_for_lot",
            lot_size=plan.lot_size if plan else ZERO,
            on_hand=on_hand.get(pid) or ZERO,
        )
    # a product made per its planning but without a BOM in force is bought (and its BOM lines are ignored)
    bom_lines = [line for line in bom_lines if items[line.parent].make]
    levels = engine.low_level_codes(items, bom_lines)
    return items, bom_lines, demand, receipts, levels


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _forecast_demand(company_id: int, warehouse_id: int, today: dt.date, horizon: dt.date) -> list:
    """Forecast demand net of the orders that consume it — the usual MPS rule (Odoo, ERPNext): per product and
    calendar month, demand = max(forecast, ordered), so the forecast adds only what the month's sales-order lines
    of the warehouse (open or delivered, any state but draft / held / cancelled) do not already cover. Lines of
    every source of a month are summed and planned on the month's first forecast date (today at the earliest:
    the current month's forecast still counts from its first day on)."""
    forecast: dict[tuple[int, dt.date], list] = {}
    for product_id, day, qty, source in (
        DemandForecast.objects.filter(company_id=company_id, date__gte=_month(today), date__lte=horizon)
        .order_by("date", "pk")
        .values_list("product_id", "date", "quantity", "source")
        .iterator(chunk_size=BATCH)
    ):
        bucket = forecast.setdefault((product_id, _month(day)), [ZERO, max(day, today), set()])
        bucket[0] += qty
        bucket[2].add(source)
    if not forecast:
        return []
    ordered: dict[tuple[int, dt.date], Decimal] = {}
    for product_id, due, quantity in (
        SalesOrderLine.objects.filter(
            company_id=company_id,
            order__state__in=(*OPEN_ORDER_STATES, SalesOrderState.DONE),
            product_id__in={product_id for product_id, _m in forecast},
        )
        .filter(Q(warehouse_id=warehouse_id) | Q(warehouse__isnull=True, order__warehouse_id=warehouse_id))
        .filter(Q(requested_date__isnull=True) | Q(requested_date__gte=_month(today), requested_date__lte=horizon))
        .annotate(net=F("quantity") - F("cancelled_quantity"))
        .values_list("product_id", "requested_date", "net")
        .iterator(chunk_size=BATCH)
    ):
        key = (product_id, _month(due or today))  # an undated line is demand today, as in _load
        ordered[key] = ordered.get(key, ZERO) + quantity
    demand = []
    for (product_id, month), (quantity, day, sources) in sorted(forecast.items(), key=lambda kv: (kv[0][0], kv[1][1])):
        consumed = ordered.get((product_id, month), ZERO)
        rest = quantity - consumed
        if rest > 0:
            label = f"forecast {'+'.join(sorted(sources))} {month:%Y-%m}"
            if consumed > 0:
                label += f" ({quantity.normalize():f} − {consumed.normalize():f} ordered)"
            demand.append(engine.Demand(product_id, day, rest, label))
    return demand


def mrp_run_execute(*, run_id: int, today: dt.date | None = None) -> MrpRun:
    """The run's body (the Celery task's and the benchmark's): load, net, store. A failure marks the run failed
    with the reason; nothing of it is stored then."""
    with transaction.atomic():
        run = MrpRun.objects.select_for_update().get(pk=run_id)
        if run.status in (MrpRunStatus.RUNNING, MrpRunStatus.DONE):
            return run
        run.status = MrpRunStatus.RUNNING
        run.started_at = timezone.now()
        run.today = today or timezone.localdate()
        run.save(update_fields=["status", "started_at", "today", "updated_at"])
    try:
        items, bom_lines, demand, receipts, levels = _load(run, run.today)
        _progress(run_id, 30, demand_count=len(demand))
        planned = engine.plan(
            items=items,
            bom=bom_lines,
            demand=demand,
            receipts=receipts,
            today=run.today,
            bucket_days=run.bucket_days,
        )
        _progress(run_id, 70)
        # The run is audited (MrpRun); its tens of thousands of machine-written proposals are not, row by row —
        # the audit trail of planned orders starts with a planner's decision (confirm / dismiss), which is.
        with transaction.atomic(), pgtrigger.ignore(*UNAUDITED_BULK):
            PlannedOrder.objects.filter(
                company_id=run.company_id, run__warehouse_id=run.warehouse_id, state=PlannedState.PROPOSED
            ).exclude(run_id=run_id).update(state=PlannedState.CANCELLED, updated_at=timezone.now())
            _copy_planned(run, planned, levels)
            MrpRun.objects.filter(pk=run_id).update(
                status=MrpRunStatus.DONE,
                progress=100,
                planned_count=len(planned),
                finished_at=timezone.now(),
                message="",
                updated_at=timezone.now(),
            )
    except (engine.MrpError, ValidationError, ArithmeticError) as exc:
        MrpRun.objects.filter(pk=run_id).update(
            status=MrpRunStatus.FAILED, message=str(exc)[:500], finished_at=timezone.now()
        )
    run.refresh_from_db()
    return run


PLANNED_COLUMNS = (
    "company_id, created_at, updated_at, run_id, product_id, kind, quantity, due_date, release_date, level, late, "
    "reason, covers, state"
)


def _copy_planned(run: MrpRun, planned: list, levels: dict) -> None:
    """Write the planned orders with COPY (tens of thousands per run: ~10× faster than INSERT on this machine).
    Runs inside the caller's transaction, after a statement through Django set ``pgtrigger.ignore`` for it."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # carries pgtrigger's transaction-local ignore setting to the COPY below
        with cursor.cursor.copy(f"COPY erp_plannedorder ({PLANNED_COLUMNS}) FROM STDIN") as copy:
            for order in planned:
                covers = [
                    {"source": d.source, "due": d.due.isoformat(), "quantity": str(d.quantity.normalize())}
                    | ({"sales_order_id": d.sales_order_id} if d.sales_order_id else {})
                    for d in order.covers[:COVERS_KEPT]
                ]
                if len(order.covers) > COVERS_KEPT:
                    covers.append({"more": len(order.covers) - COVERS_KEPT})
                copy.write_row(
                    (
                        run.company_id,
                        now,
                        now,
                        run.pk,
                        order.item,
                        PlannedKind.PRODUCE if order.kind == "produce" else PlannedKind.PURCHASE,
                        order.quantity.quantize(QUANTUM),
                        order.due,
                        order.release,
                        levels.get(order.item, 0),
                        order.late,
                        order.reason[:300],
                        json.dumps(covers, ensure_ascii=False),
                        PlannedState.PROPOSED,
                    )
                )


# ---------------------------------------------------------------- confirming planned orders


def lock_planned_order(pk: int) -> PlannedOrder:
    return (
        PlannedOrder.objects.select_for_update(of=("self",))
        .select_related("product", "run__warehouse", "run__company")
        .get(pk=pk)
    )


@transaction.atomic
def planned_order_confirm(
    *, planned: PlannedOrder, quantity: Any = None, due_date: dt.date | None = None, by: User | None = None
) -> PlannedOrder:
    """Turn a proposed planned order into a draft production order (make) or a draft purchase order with the
    product's preferred supplier (buy; a purchase requisition when the product has no supplier in the partner
    register). The planner may change quantity and due date. Locks the planned order; confirming twice is
    refused (409)."""
    planned = lock_planned_order(planned.pk)
    if planned.state != PlannedState.PROPOSED:
        raise prod.ProductionConflict(_("This planned order was already confirmed or dismissed."))
    company = planned.run.company
    warehouse = planned.run.warehouse
    qty = inv.stock_quantity(product=planned.product, quantity=quantity if quantity is not None else planned.quantity)
    due = due_date or planned.due_date
    today = timezone.localdate()
    release = min(max(planned.release_date, today), due) if due >= today else today
    if planned.kind == PlannedKind.PRODUCE:
        order = prod.production_order_create(
            company=company,
            product=planned.product,
            quantity=qty,
            warehouse=warehouse,
            due_date=max(due, release),
            planned_start=release,
            origin=f"{planned.run.number} #{planned.pk}",
            sales_order_id=next((c["sales_order_id"] for c in planned.covers if c.get("sales_order_id")), None),
            by=by,
        )
        planned.production_order = order
    else:
        supplier = (
            ProductSupplier.objects.filter(product=planned.product, partner__isnull=False)
            .order_by("-is_preferred", "pk")
            .select_related("partner")
            .first()
        )
        if supplier is not None:
            order = procurement.purchase_order_create(
                company=company,
                supplier=supplier.partner,
                warehouse=warehouse,
                lines=[
                    {
                        "product": planned.product,
                        "quantity": qty,
                        "unit_price": supplier.unit_price or planned.product.average_cost,
                        "expected_date": max(due, today),
                    }
                ],
                expected_date=max(due, today),
                note=f"{planned.run.number} #{planned.pk}",
                by=by,
            )
            planned.purchase_order = order
        else:
            planned.requisition = procurement.requisition_create(
                company=company,
                warehouse=warehouse,
                lines=[{"product": planned.product, "quantity": qty}],
                needed_by=due,
                note=f"{planned.run.number} #{planned.pk}",
                by=by,
            )
    planned.state = PlannedState.CONFIRMED
    planned.save(update_fields=["state", "production_order", "purchase_order", "requisition", "updated_at"])
    return planned


@transaction.atomic
def planned_order_dismiss(*, planned: PlannedOrder, by: User | None = None) -> PlannedOrder:
    """Dismiss a proposed planned order."""
    planned = lock_planned_order(planned.pk)
    if planned.state != PlannedState.PROPOSED:
        raise prod.ProductionConflict(_("This planned order was already confirmed or dismissed."))
    planned.state = PlannedState.CANCELLED
    planned.save(update_fields=["state", "updated_at"])
    return planned
