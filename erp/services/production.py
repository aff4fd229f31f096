"""Every write of production: planning data (work calendars and centres, routings, BOMs, product planning),
production orders (release with material reservation, issue, operations started / stopped / reported by
operators, finished-goods receipts with a new lot, partial completion and scrap, closing), costing posted to the
ledger, finite-capacity scheduling and late-operation alerts, and quality (inspections, non-conformances).

Costing (perpetual valuation on; see ``erp.services.valuation``), all in the inventory journal:

=================================  ====================================  ===================================
what                               debit                                 credit
=================================  ====================================  ===================================
material issued (stock → prod.)    WIP (the production account, 5001)    stock (1405) — by valuation
labour (work-centre rate × time)   WIP                                   employee benefits payable (2211)
overhead (rate × time)             WIP                                   manufacturing overhead (5101)
finished goods (prod. → stock)     stock                                 WIP — by valuation, at the order's
                                                                         cost per unit; the cents of rounding
                                                                         to the price-difference account
scrap only (no good units)         inventory loss (1901)                 WIP
=================================  ====================================  ===================================

Each receipt takes out of WIP the share of what is still in it that the units reported (good + scrap) are of the
units still open; the last one (or closing the order) takes all that is left, so WIP of a done order is exactly
zero (a CHECK constraint on ``ProductionOrder`` holds it). Stock rules are the inventory services' own:
reservations lock quants in pk order, nothing goes negative, nothing is reserved twice.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, ROUND_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from erp import events as erp_events
from erp.models import (
    Account,
    Bom,
    BomLine,
    IncomingSupply,
    Inspection,
    InspectionPlan,
    InspectionResult,
    Lot,
    LotRule,
    NonConformance,
    NonConformanceState,
    OperationReport,
    OperationState,
    Procurement,
    Product,
    ProductionMaterial,
    ProductionOperation,
    ProductionOrder,
    ProductionReceipt,
    ProductionState,
    ProductPlanning,
    Routing,
    RoutingOperation,
    SalesOrder,
    StockValuationLayer,
    SupplyKind,
    SupplyState,
    ValuationSettings,
    WorkCalendar,
    WorkCenter,
)
from erp.selectors.fulfilment import production_order_correlation
from erp.services import finance
from erp.services import inventory as inv
from erp.services import scheduling_engine as engine
from erp.services.mrp_engine import BomLine as EngineBomLine
from erp.services.mrp_engine import Item as EngineItem
from erp.services.mrp_engine import MrpError, low_level_codes
from suite import events
from suite.models import Company, Membership, Notification, Role
from suite.services.notifications import notification_send

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0")
CENT = Decimal("0.01")
QUANTUM = Decimal("0.0001")
MINUTES_PER_HOUR = Decimal("60")
DEFAULT_SHIFTS = {str(day): [["08:00", "12:00"], ["13:00", "17:00"]] for day in range(5)}
LABOUR_ACCOUNT = {"cas": "2211", "ifrs": "2100"}
OVERHEAD_ACCOUNT = {"cas": "5101", "ifrs": "5000"}


class ProductionConflict(inv.StockConflict):
    """A well-formed request that the order's state refuses (the API answers 409)."""

    code = "production_conflict"


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _number(instance, prefix: str) -> None:
    instance.number = f"{prefix}{instance.pk:06d}"
    type(instance).objects.filter(pk=instance.pk).update(number=instance.number)


def _same_company(company_id: int, **records) -> None:
    errors = {
        name: [_("Unknown record.")] for name, r in records.items() if r is not None and r.company_id != company_id
    }
    if errors:
        raise ValidationError(errors)


def _quantity(value: Any, field: str, *, positive: bool = True) -> Decimal:
    errors: dict = {}
    qty = inv._decimal(value, field=field, errors=errors, positive=positive)
    inv._raise(errors)
    return qty


# ---------------------------------------------------------------- planning data


@transaction.atomic
def product_planning_set(*, product: Product, by: User | None = None, **fields) -> ProductPlanning:
    """Set how MRP plans a product (``procurement`` make/buy, ``lead_time_days``, ``safety_stock``, ``lot_rule``,
    ``lot_size``); creates the row on first use."""
    errors: dict = {}
    if "procurement" in fields and fields["procurement"] not in Procurement.values:
        errors["procurement"] = [_("Choose make or buy.")]
    if "lot_rule" in fields and fields["lot_rule"] not in LotRule.values:
        errors["lot_rule"] = [_("Choose a lot-sizing rule.")]
    for name in ("safety_stock", "lot_size"):
        if name in fields:
            fields[name] = inv._decimal(fields[name], field=name, errors=errors, positive=False)
    if "lead_time_days" in fields:
        try:
            fields["lead_time_days"] = int(fields["lead_time_days"])
            if not 0 <= fields["lead_time_days"] <= 3650:
                raise ValueError
        except (TypeError, ValueError):
            errors["lead_time_days"] = [_("Enter a number of days between 0 and 3650.")]
    inv._raise(errors)
    planning, _created = ProductPlanning.objects.select_for_update().get_or_create(
        product=product, defaults={"company_id": product.company_id}
    )
    for name, value in fields.items():
        setattr(planning, name, value)
    if planning.lot_rule == LotRule.FIXED and planning.lot_size <= 0:
        raise ValidationError({"lot_size": [_("A fixed lot needs a lot size above zero.")]})
    planning.save()
    return planning


def _clean_shifts(shifts: dict | None) -> dict:
    shifts = DEFAULT_SHIFTS if shifts is None else shifts
    if not isinstance(shifts, dict):
        raise ValidationError({"shifts": [_("Give shifts per weekday.")]})
    clean: dict = {}
    for day, spans in shifts.items():
        if str(day) not in {str(d) for d in range(7)} or not isinstance(spans, list | tuple):
            raise ValidationError({"shifts": [_("Weekdays are 0 (Monday) to 6 (Sunday), each with a list of shifts.")]})
        for span in spans:
            try:
                start, end = (dt.time.fromisoformat(str(t)) for t in span)
            except (TypeError, ValueError):
                raise ValidationError({"shifts": [_("A shift is [start, end] in HH:MM.")]}) from None
            if end <= start:
                raise ValidationError({"shifts": [_("A shift must end after it starts (same day).")]})
            clean.setdefault(str(day), []).append([start.strftime("%H:%M"), end.strftime("%H:%M")])
    if not any(clean.values()):
        raise ValidationError({"shifts": [_("The calendar needs at least one shift.")]})
    return clean


@transaction.atomic
def work_calendar_create(
    *, company: Company, name: str, shifts: dict | None = None, closed_dates: Iterable = (), by: User | None = None
) -> WorkCalendar:
    """A working-time calendar; ``shifts`` default to Monday–Friday 08:00–12:00 and 13:00–17:00."""
    errors: dict = {}
    name = inv._text(name, field="name", errors=errors, required=True, max_length=100)
    inv._raise(errors)
    closed = []
    for value in closed_dates or ():
        try:
            closed.append(dt.date.fromisoformat(str(value)).isoformat())
        except ValueError:
            raise ValidationError({"closed_dates": [_("Closed days are dates (YYYY-MM-DD).")]}) from None
    calendar = WorkCalendar(company=company, name=name, shifts=_clean_shifts(shifts), closed_dates=sorted(closed))
    inv._save(calendar, unique_field="name", message=_("A calendar with this name exists."))
    return calendar


@transaction.atomic
def work_center_create(
    *,
    company: Company,
    code: str,
    name: str,
    calendar: WorkCalendar | None = None,
    units: int = 1,
    labour_rate: Any = ZERO,
    overhead_rate: Any = ZERO,
    by: User | None = None,
) -> WorkCenter:
    """A work centre with ``units`` parallel stations on ``calendar`` (the company's first calendar, or a new
    standard one); labour and overhead rates per hour."""
    errors: dict = {}
    code = inv._text(code, field="code", errors=errors, required=True, max_length=20)
    name = inv._text(name, field="name", errors=errors, required=True, max_length=100)
    labour_rate = inv._decimal(labour_rate, field="labour_rate", errors=errors, positive=False)
    overhead_rate = inv._decimal(overhead_rate, field="overhead_rate", errors=errors, positive=False)
    if not isinstance(units, int) or not 1 <= units <= 1000:
        errors["units"] = [_("Between 1 and 1000 stations.")]
    inv._raise(errors)
    _same_company(company.pk, calendar=calendar)
    if calendar is None:
        calendar = WorkCalendar.objects.filter(company=company).order_by("pk").first() or work_calendar_create(
            company=company, name=_("Standard (Mon–Fri, two shifts)")
        )
    center = WorkCenter(
        company=company,
        code=code,
        name=name,
        calendar=calendar,
        units=units,
        labour_rate=labour_rate,
        overhead_rate=overhead_rate,
    )
    inv._save(center, unique_field="code", message=_("A work centre with this code exists."))
    return center


@transaction.atomic
def work_center_update(*, work_center: WorkCenter, by: User | None = None, **data) -> WorkCenter:
    """Change a work centre's name, stations, rates, calendar or active flag."""
    errors: dict = {}
    for name in ("labour_rate", "overhead_rate"):
        if name in data:
            data[name] = inv._decimal(data[name], field=name, errors=errors, positive=False)
    if "units" in data and (not isinstance(data["units"], int) or not 1 <= data["units"] <= 1000):
        errors["units"] = [_("Between 1 and 1000 stations.")]
    inv._raise(errors)
    _same_company(work_center.company_id, calendar=data.get("calendar"))
    changed = inv._update(work_center, data, {"name", "units", "labour_rate", "overhead_rate", "calendar", "is_active"})
    if changed:
        work_center.save(update_fields=[*changed, "updated_at"])
    return work_center


@transaction.atomic
def routing_create(*, company: Company, name: str, operations: list[dict], by: User | None = None) -> Routing:
    """A routing with its ``operations``: ``{"sequence", "name", "work_center", "setup_minutes",
    "run_minutes" (per unit), "queue_minutes"?}``."""
    errors: dict = {}
    name = inv._text(name, field="name", errors=errors, required=True, max_length=100)
    if not operations:
        errors["operations"] = [_("Add at least one operation.")]
    rows = []
    seen: set[int] = set()
    for index, item in enumerate(operations or []):
        prefix = f"operations.{index}"
        center = item.get("work_center")
        if not isinstance(center, WorkCenter) or center.company_id != company.pk:
            errors[f"{prefix}.work_center"] = [_("Unknown record.")]
            continue
        sequence = int(item.get("sequence") or (index + 1) * 10)
        if sequence in seen:
            errors[f"{prefix}.sequence"] = [_("Each operation needs its own sequence number.")]
        seen.add(sequence)
        line_errors: dict = {}
        run = inv._decimal(item.get("run_minutes", ZERO), field="run_minutes", errors=line_errors, positive=False)
        for key, messages in line_errors.items():
            errors[f"{prefix}.{key}"] = messages
        op_name = (item.get("name") or "").strip()
        if not op_name or len(op_name) > 100:
            errors[f"{prefix}.name"] = [_("Name the operation (at most 100 characters).")]
        rows.append(
            RoutingOperation(
                company=company,
                sequence=sequence,
                name=op_name,
                work_center=center,
                setup_minutes=max(int(item.get("setup_minutes") or 0), 0),
                run_minutes=run or ZERO,
                queue_minutes=max(int(item.get("queue_minutes") or 0), 0),
            )
        )
    inv._raise(errors)
    routing = Routing(company=company, name=name)
    inv._save(routing, unique_field="name", message=_("A routing with this name exists."))
    for row in rows:
        row.routing = routing
    RoutingOperation.objects.bulk_create(rows)
    return routing


def _bom_graph_check(company_id: int, product_id: int, component_ids: set[int], exclude_bom: int | None) -> None:
    """Refuse a BOM that would make a product its own component (directly or through other BOMs)."""
    lines = BomLine.objects.filter(bom__company_id=company_id, bom__is_active=True)
    if exclude_bom is not None:
        lines = lines.exclude(bom_id=exclude_bom)
    edges = {(p, c) for p, c in lines.values_list("bom__product_id", "component_id")}
    edges |= {(product_id, c) for c in component_ids}
    ids = {p for p, _c in edges} | {c for _p, c in edges}
    items = {i: EngineItem(id=i, make=True) for i in ids}
    try:
        low_level_codes(items, [EngineBomLine(parent=p, component=c, quantity=Decimal(1)) for p, c in edges])
    except MrpError:
        raise ValidationError(
            {"lines": [_("A product cannot be its own component, directly or through other BOMs.")]}
        ) from None


@transaction.atomic
def bom_create(
    *,
    company: Company,
    product: Product,
    lines: list[dict],
    version: str = "1",
    quantity: Any = Decimal("1"),
    effective_from: dt.date | None = None,
    effective_to: dt.date | None = None,
    routing: Routing | None = None,
    note: str = "",
    by: User | None = None,
) -> Bom:
    """A BOM version for ``quantity`` units of ``product``: ``lines`` are ``{"component", "quantity",
    "scrap_factor"?}``. Refused: a component equal to the product or making a cycle through other BOMs, and
    effective dates overlapping another active version of the product."""
    _same_company(company.pk, product=product, routing=routing)
    errors: dict = {}
    qty = inv._decimal(quantity, field="quantity", errors=errors)
    version = inv._text(version, field="version", errors=errors, required=True, max_length=20)
    if effective_from and effective_to and effective_to < effective_from:
        errors["effective_to"] = [_("The end must not be before the start.")]
    if not lines:
        errors["lines"] = [_("Add at least one component.")]
    rows = []
    for index, item in enumerate(lines or []):
        prefix = f"lines.{index}"
        component = item.get("component")
        if not isinstance(component, Product) or component.company_id != company.pk:
            errors[f"{prefix}.component"] = [_("Unknown record.")]
            continue
        if component.pk == product.pk:
            errors[f"{prefix}.component"] = [_("A product cannot be its own component.")]
            continue
        line_errors: dict = {}
        line_qty = inv._decimal(item.get("quantity"), field="quantity", errors=line_errors)
        scrap = inv._decimal(item.get("scrap_factor", ZERO), field="scrap_factor", errors=line_errors, positive=False)
        if scrap is not None and not ZERO <= scrap < 1:
            line_errors["scrap_factor"] = [_("A scrap factor is a fraction from 0 up to (not including) 1.")]
        for key, messages in line_errors.items():
            errors[f"{prefix}.{key}"] = messages
        rows.append(
            BomLine(
                company=company,
                component=component,
                quantity=line_qty or ZERO,
                scrap_factor=scrap or ZERO,
                sequence=(index + 1) * 10,
            )
        )
    inv._raise(errors)
    overlapping = Bom.objects.filter(company=company, product=product, is_active=True)
    if effective_to is not None:
        overlapping = overlapping.filter(Q(effective_from__isnull=True) | Q(effective_from__lte=effective_to))
    if effective_from is not None:
        overlapping = overlapping.filter(Q(effective_to__isnull=True) | Q(effective_to__gte=effective_from))
    if overlapping.exists():
        raise ValidationError({"effective_from": [_("Another active version of this BOM is in force on these dates.")]})
    _bom_graph_check(company.pk, product.pk, {r.component_id for r in rows}, None)
    bom = Bom(
        company=company,
        product=product,
        version=version,
        quantity=qty,
        effective_from=effective_from,
        effective_to=effective_to,
        routing=routing,
        note=(note or "").strip()[:200],
    )
    inv._save(bom, unique_field="version", message=_("This product already has a BOM of this version."))
    for row in rows:
        row.bom = bom
    BomLine.objects.bulk_create(rows)
    return bom


@transaction.atomic
def bom_archive(*, bom: Bom, by: User | None = None) -> Bom:
    """Retire a BOM version (orders that used it keep it)."""
    Bom.objects.filter(pk=bom.pk).update(is_active=False, updated_at=timezone.now())
    bom.is_active = False
    return bom


def bom_in_force(*, product: Product | int, on: dt.date) -> Bom | None:
    """The active BOM version of ``product`` whose effective dates include ``on`` (the latest-starting one)."""
    product_id = getattr(product, "pk", product)
    return (
        Bom.objects.filter(product_id=product_id, is_active=True)
        .filter(Q(effective_from__isnull=True) | Q(effective_from__lte=on))
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=on))
        .order_by("-effective_from", "-id")
        .first()
    )


# ---------------------------------------------------------------- production orders


def lock_production_order(pk: int) -> ProductionOrder:
    return ProductionOrder.objects.select_for_update(of=("self",)).select_related("product", "bom").get(pk=pk)


def _required(order_quantity: Decimal, bom: Bom, line: BomLine) -> Decimal:
    gross = order_quantity * line.quantity / bom.quantity / (1 - line.scrap_factor)
    return gross.quantize(QUANTUM, rounding=ROUND_UP)


@transaction.atomic
def production_order_create(
    *,
    company: Company,
    product: Product,
    quantity: Any,
    warehouse,
    due_date: dt.date,
    planned_start: dt.date | None = None,
    bom: Bom | None = None,
    priority: int = 100,
    origin: str = "",
    sales_order_id: int | None = None,
    by: User | None = None,
) -> ProductionOrder:
    """Draft a production order: materials from the BOM in force on the start (or ``bom``), quantities with
    their scrap; operations from the BOM's routing, run time × quantity. ``sales_order_id``: the sales order it
    is made for (MRP pegging passes it from the planned order's requirements; another company's is refused)."""
    _same_company(company.pk, product=product, warehouse=warehouse, bom=bom)
    qty = inv.stock_quantity(product=product, quantity=quantity)
    planned_start = planned_start or timezone.localdate()
    if not isinstance(due_date, dt.date):
        raise ValidationError({"due_date": [_("Enter a date.")]})
    if due_date < planned_start:
        raise ValidationError({"due_date": [_("The order cannot be due before it starts.")]})
    bom = bom or bom_in_force(product=product, on=planned_start)
    if bom is None:
        raise ValidationError({"bom": [_("This product has no bill of materials in force.")]})
    if bom.product_id != product.pk:
        raise ValidationError({"bom": [_("This BOM makes another product.")]})
    if sales_order_id is not None and not SalesOrder.objects.filter(pk=sales_order_id, company=company).exists():
        raise ValidationError({"sales_order": [_("Unknown record.")]})
    order = ProductionOrder.objects.create(
        company=company,
        product=product,
        bom=bom,
        warehouse=warehouse,
        quantity=qty,
        planned_start=planned_start,
        due_date=due_date,
        priority=max(int(priority), 0),
        origin=(origin or "")[:100],
        sales_order_id=sales_order_id,
        created_by=by,
    )
    _number(order, "MO")
    needs: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line in bom.lines.all():
        needs[line.component_id] += _required(qty, bom, line)
    ProductionMaterial.objects.bulk_create(
        [
            ProductionMaterial(company=company, order=order, product_id=pid, required_quantity=need)
            for pid, need in needs.items()
        ]
    )
    if bom.routing_id:
        ProductionOperation.objects.bulk_create(
            [
                ProductionOperation(
                    company=company,
                    order=order,
                    sequence=op.sequence,
                    name=op.name,
                    work_center_id=op.work_center_id,
                    setup_minutes=op.setup_minutes,
                    run_minutes=math.ceil(op.run_minutes * qty),
                    queue_minutes=op.queue_minutes,
                )
                for op in bom.routing.operations.all()
            ]
        )
    return order


@transaction.atomic
def production_order_release(
    *, order: ProductionOrder, by: User | None = None, schedule: bool = True
) -> ProductionOrder:
    """Release a draft order to the shop floor: reserve every stocked component in the order's warehouse (all
    or nothing: ``InsufficientStock`` when one is short), expect the finished goods (ATP) on the due date, and
    schedule the company's released operations (finite capacity). Locks the order, then the quants.
    Publishes ``erp.production_order.released``."""
    order = lock_production_order(order.pk)
    if order.state != ProductionState.DRAFT:
        raise ProductionConflict(_("Only a draft order can be released."))
    for material in order.materials.select_related("product__uom").order_by("product_id"):
        if not material.product.is_stockable:
            continue
        reservation = inv.stock_reserve(
            product=material.product,
            warehouse=order.warehouse,
            quantity=material.required_quantity,
            reference=order.number,
            required_date=order.planned_start,
            by=by,
        )
        material.reservation = reservation
        material.save(update_fields=["reservation", "updated_at"])
    if order.product.is_stockable:
        inv.incoming_supply_plan(
            product=order.product,
            warehouse=order.warehouse,
            quantity=order.quantity,
            expected_date=order.due_date,
            reference=order.number,
            kind=SupplyKind.PRODUCTION,
            by=by,
        )
    order.state = ProductionState.RELEASED
    order.released_at = timezone.now()
    order.save(update_fields=["state", "released_at", "updated_at"])
    events.publish(
        erp_events.PRODUCTION_ORDER_RELEASED,
        erp_events.production_order_payload(order),
        company_id=order.company_id,
        by=by,
        correlation_id=production_order_correlation(order),
    )
    if schedule:
        production_schedule(company=order.company)
        order.refresh_from_db()
    return order


def _supply_of(order: ProductionOrder) -> IncomingSupply | None:
    return (
        IncomingSupply.objects.select_for_update(of=("self",))
        .filter(company_id=order.company_id, reference=order.number, kind=SupplyKind.PRODUCTION, state=SupplyState.OPEN)
        .first()
    )


@transaction.atomic
def production_order_cancel(*, order: ProductionOrder, by: User | None = None) -> ProductionOrder:
    """Cancel an order nothing was issued to or produced by: reservations released, expected supply dropped."""
    order = lock_production_order(order.pk)
    if order.state in (ProductionState.DONE, ProductionState.CANCELLED):
        raise ProductionConflict(_("This order is finished."))
    if order.material_cost or order.produced_quantity or order.labour_cost or order.overhead_cost:
        raise ProductionConflict(_("Work was done on this order: close it instead."))
    _release_reservations(order, by=by)
    supply = _supply_of(order)
    if supply is not None:
        inv.incoming_supply_cancel(supply=supply, by=by)
    order.state = ProductionState.CANCELLED
    order.save(update_fields=["state", "updated_at"])
    return order


def _release_reservations(order: ProductionOrder, *, by) -> None:
    for material in order.materials.select_related("reservation").order_by("product_id"):
        if material.reservation and material.reservation.state == "active":
            inv.stock_release(reservation=material.reservation, by=by)


def _wip_accounts(company_id: int) -> tuple[ValuationSettings, int, int] | None:
    settings = ValuationSettings.objects.filter(company_id=company_id, perpetual=True).first()
    if settings is None or settings.production_account_id is None:
        return None
    template = "cas" if Account.objects.filter(company_id=company_id, code="1405").exists() else "ifrs"
    labour = Account.objects.filter(company_id=company_id, code=LABOUR_ACCOUNT[template]).first()
    overhead = Account.objects.filter(company_id=company_id, code=OVERHEAD_ACCOUNT[template]).first()
    if labour is None or overhead is None:
        raise ValidationError({"labour_account": [_("Install a chart of accounts first.")]})
    return settings, labour.pk, overhead.pk


def _post(order: ProductionOrder, lines: list[finance.LineSpec], *, key: str, memo: str, by) -> None:
    lines = [line for line in lines if line.debit or line.credit]
    if not lines:
        return
    accounts = _wip_accounts(order.company_id)
    if accounts is None:
        return
    settings = accounts[0]
    finance.journal_entry_create(
        company=order.company,
        journal=settings.journal_id,
        date=timezone.localdate(),
        lines=lines,
        memo=memo[:255],
        reference=order.number,
        source_key=key[:100],
        post=True,
        by=by,
    )


def _charge_time(order: ProductionOrder, operation: ProductionOperation, minutes: Decimal, *, by) -> None:
    """Labour and overhead of ``minutes`` of ``operation``: onto the order's costs and, with perpetual
    valuation, posted WIP ← payroll payable / overhead applied."""
    if minutes <= 0:
        return
    center = operation.work_center
    labour = _money(center.labour_rate * minutes / MINUTES_PER_HOUR)
    overhead = _money(center.overhead_rate * minutes / MINUTES_PER_HOUR)
    operation.costed_minutes += minutes
    order.labour_cost += labour
    order.overhead_cost += overhead
    accounts = _wip_accounts(order.company_id)
    if accounts is not None and (labour or overhead):
        settings, labour_account, overhead_account = accounts
        wip = settings.production_account_id
        _post(
            order,
            [
                finance.LineSpec(account=wip, debit=labour + overhead),
                finance.LineSpec(account=labour_account, credit=labour),
                finance.LineSpec(account=overhead_account, credit=overhead),
            ],
            key=f"production-time:{operation.pk}:{operation.costed_minutes}",
            memo=_("Labour and overhead: %(order)s %(op)s") % {"order": order.number, "op": operation.name},
            by=by,
        )


def lock_operation(pk: int) -> ProductionOperation:
    return ProductionOperation.objects.select_for_update(of=("self",)).select_related("work_center").get(pk=pk)


def _worked_minutes(since: dt.datetime, now: dt.datetime) -> Decimal:
    return (Decimal((now - since).total_seconds()) / MINUTES_PER_HOUR).quantize(QUANTUM, rounding=ROUND_HALF_UP)


@transaction.atomic
def operation_start(*, operation: ProductionOperation, by: User | None = None) -> ProductionOperation:
    """An operator starts (or resumes) an operation; the order goes in progress. Locks the order, then the
    operation."""
    order = lock_production_order(operation.order_id)
    operation = lock_operation(operation.pk)
    if order.state not in (ProductionState.RELEASED, ProductionState.IN_PROGRESS):
        raise ProductionConflict(_("Release the order first."))
    if operation.state == OperationState.RUNNING:
        return operation
    if operation.state == OperationState.DONE:
        raise ProductionConflict(_("This operation is done."))
    now = timezone.now()
    operation.state = OperationState.RUNNING
    operation.started_at = now
    operation.first_started_at = operation.first_started_at or now
    operation.save(update_fields=["state", "started_at", "first_started_at", "updated_at"])
    if order.state == ProductionState.RELEASED:
        order.state = ProductionState.IN_PROGRESS
        order.save(update_fields=["state", "updated_at"])
    return operation


def _stop(order: ProductionOrder, operation: ProductionOperation, *, now, by) -> None:
    if operation.state != OperationState.RUNNING:
        return
    minutes = _worked_minutes(operation.started_at, now)
    operation.worked_minutes += minutes
    operation.started_at = None
    operation.state = OperationState.PAUSED
    _charge_time(order, operation, minutes, by=by)


@transaction.atomic
def operation_stop(*, operation: ProductionOperation, by: User | None = None) -> ProductionOperation:
    """Pause a running operation: the time worked is costed (labour and overhead)."""
    order = lock_production_order(operation.order_id)
    operation = lock_operation(operation.pk)
    if operation.state != OperationState.RUNNING:
        raise ProductionConflict(_("This operation is not running."))
    _stop(order, operation, now=timezone.now(), by=by)
    operation.save()
    order.save(update_fields=["labour_cost", "overhead_cost", "updated_at"])
    return operation


@transaction.atomic
def operation_report(
    *,
    operation: ProductionOperation,
    good_quantity: Any = ZERO,
    scrap_quantity: Any = ZERO,
    finish: bool = False,
    lot_code: str = "",
    by: User | None = None,
) -> ProductionOperation:
    """An operator reports good and scrapped units of an operation; ``finish`` ends it (its time costed; the
    planned time when nobody timed it). The good units reported on the order's last operation are received
    into stock (``production_receive``): partial completion; the order is done when every unit is reported."""
    order = lock_production_order(operation.order_id)
    operation = lock_operation(operation.pk)
    if order.state not in (ProductionState.RELEASED, ProductionState.IN_PROGRESS):
        raise ProductionConflict(_("Release the order first."))
    if operation.state == OperationState.DONE:
        raise ProductionConflict(_("This operation is done."))
    good = _quantity(good_quantity, "good_quantity", positive=False)
    scrap = _quantity(scrap_quantity, "scrap_quantity", positive=False)
    open_units = order.quantity - operation.good_quantity - operation.scrap_quantity
    if good + scrap > open_units:
        raise ValidationError({"good_quantity": [_("At most %(open)s units are still open.") % {"open": open_units}]})
    if good + scrap == 0 and not finish:
        raise ValidationError({"good_quantity": [_("Report good or scrapped units.")]})
    operation.good_quantity += good
    operation.scrap_quantity += scrap
    now = timezone.now()
    if good or scrap:
        # who reported what: the per-operator output and defect rate HR's KPIs read (erp.selectors.production)
        OperationReport.objects.create(
            company_id=order.company_id,
            operation=operation,
            order=order,
            work_center_id=operation.work_center_id,
            operator=by,
            good_quantity=good,
            scrap_quantity=scrap,
            reported_at=now,
        )
    if finish or operation.good_quantity + operation.scrap_quantity >= order.quantity:
        _stop(order, operation, now=now, by=by)
        if operation.worked_minutes == 0 and operation.costed_minutes == 0:
            standard = Decimal(operation.setup_minutes + operation.run_minutes)
            _charge_time(order, operation, standard, by=by)
        operation.state = OperationState.DONE
        operation.finished_at = now
    elif operation.state == OperationState.PENDING:
        operation.state = OperationState.PAUSED
    operation.save()
    if order.state == ProductionState.RELEASED:
        order.state = ProductionState.IN_PROGRESS
    order.save(update_fields=["state", "labour_cost", "overhead_cost", "updated_at"])
    last = order.operations.order_by("-sequence", "-id").values_list("pk", flat=True).first()
    if last == operation.pk and (good or scrap):
        production_receive(order=order, quantity=good, scrap_quantity=scrap, lot_code=lot_code, by=by)
    return operation


def _issue(order: ProductionOrder, share: Decimal | None, *, by) -> None:
    """Consume into production what the order's output so far needs (``share`` of each requirement; None: all
    still reserved), from the reservations; the issued value (valuation layers) is the material cost."""
    for material in order.materials.select_related("reservation", "product").order_by("product_id"):
        if material.reservation is None:
            continue
        target = material.required_quantity if share is None else (material.required_quantity * share)
        target = min(target.quantize(QUANTUM, rounding=ROUND_UP), material.required_quantity)
        take = target - material.issued_quantity
        reservation = inv.lock_reservation(material.reservation_id)
        take = min(take, reservation.open_quantity)
        if take <= 0:
            continue
        moves = inv.stock_consume_reservation(
            reservation=reservation, quantity=take, to="production", reference=order.number, by=by
        )
        value = -sum(
            (layer for layer in StockValuationLayer.objects.filter(move__in=moves).values_list("value", flat=True)),
            ZERO,
        )
        if not value:  # no valuation layer (valuation off): the average cost the moves carried
            value = _money(sum((m.quantity * (m.unit_cost or ZERO) for m in moves), ZERO))
        material.issued_quantity += take
        material.issued_cost += value
        material.save(update_fields=["issued_quantity", "issued_cost", "updated_at"])
        order.material_cost += value


@transaction.atomic
def production_issue(*, order: ProductionOrder, by: User | None = None) -> ProductionOrder:
    """Issue every component still reserved for the order to production (stock → WIP)."""
    order = lock_production_order(order.pk)
    if order.state not in (ProductionState.RELEASED, ProductionState.IN_PROGRESS):
        raise ProductionConflict(_("Release the order first."))
    _issue(order, None, by=by)
    order.save(update_fields=["material_cost", "updated_at"])
    return order


@transaction.atomic
def production_receive(
    *,
    order: ProductionOrder,
    quantity: Any,
    scrap_quantity: Any = ZERO,
    lot_code: str = "",
    close: bool = False,
    by: User | None = None,
) -> ProductionReceipt:
    """Receive ``quantity`` good units of the order into its warehouse as a new lot (products tracked by lot),
    with ``scrap_quantity`` units lost. Components are issued (backflushed) for the share of the order now
    reported; the units take out of WIP their share of what is in it, valued at that cost per unit. When every
    unit is reported (or with ``close``), the remaining components are released, all that is left in WIP goes
    out with this receipt and the order is done. Locks the order. Publishes ``erp.production_order.completed``
    when done."""
    order = lock_production_order(order.pk)
    if order.state not in (ProductionState.RELEASED, ProductionState.IN_PROGRESS):
        raise ProductionConflict(_("Release the order first."))
    good = _quantity(quantity, "quantity", positive=False)
    scrap = _quantity(scrap_quantity, "scrap_quantity", positive=False)
    remaining = order.remaining_quantity
    if good + scrap > remaining:
        raise ValidationError({"quantity": [_("At most %(open)s units are still open.") % {"open": remaining}]})
    if good + scrap == 0 and not close:
        raise ValidationError({"quantity": [_("Report good or scrapped units.")]})
    lot_code = (lot_code or "").strip()
    reported = order.produced_quantity + order.scrapped_quantity + good + scrap
    done = close or reported >= order.quantity
    # components for what was reported (closing short issues no more than that; the rest is released)
    _issue(order, None if reported >= order.quantity else reported / order.quantity, by=by)
    if done:
        _release_reservations(order, by=by)
        for operation in order.operations.select_related("work_center").exclude(state=OperationState.DONE):
            operation = lock_operation(operation.pk)
            _stop(order, operation, now=timezone.now(), by=by)
            if operation.costed_minutes == 0:
                _charge_time(order, operation, Decimal(operation.setup_minutes + operation.run_minutes), by=by)
            operation.state = OperationState.DONE
            operation.finished_at = timezone.now()
            operation.save()
    wip = order.material_cost + order.labour_cost + order.overhead_cost - order.finished_cost
    relief = wip if done else _money(wip * (good + scrap) / remaining)
    sequence = order.receipts.count() + 1
    lot = None
    move = None
    accounts = _wip_accounts(order.company_id)
    if good > 0:
        if order.product.tracks_lots:
            code = lot_code or f"{order.number}-{sequence}"
            try:
                with transaction.atomic():
                    lot = Lot.objects.create(
                        company_id=order.company_id,
                        product=order.product,
                        code=code,
                        production_date=timezone.localdate(),
                        note=order.number,
                    )
            except IntegrityError:
                raise ValidationError({"lot_code": [_("This product already has a lot with this code.")]}) from None
        unit_cost = (relief / good).quantize(QUANTUM, rounding=ROUND_HALF_UP)
        move = inv.stock_produce(
            product=order.product,
            quantity=good,
            unit_cost=unit_cost,
            warehouse=order.warehouse,
            lot=lot,
            reference=order.number,
            by=by,
        )
        layer_value = StockValuationLayer.objects.filter(move=move).values_list("value", flat=True).first() or _money(
            good * unit_cost
        )
        difference = relief - layer_value
        if accounts is not None and difference:
            settings = accounts[0]
            diff_account = settings.price_difference_account_id or settings.loss_account_id
            wip_account = settings.production_account_id
            lines = (
                [
                    finance.LineSpec(account=diff_account, debit=difference),
                    finance.LineSpec(account=wip_account, credit=difference),
                ]
                if difference > 0
                else [
                    finance.LineSpec(account=wip_account, debit=-difference),
                    finance.LineSpec(account=diff_account, credit=-difference),
                ]
            )
            _post(
                order,
                lines,
                key=f"production-rounding:{move.pk}",
                memo=_("Cost rounding: %(o)s") % {"o": order.number},
                by=by,
            )
    elif relief and accounts is not None:
        settings = accounts[0]
        _post(
            order,
            [
                finance.LineSpec(account=settings.loss_account_id, debit=relief),
                finance.LineSpec(account=settings.production_account_id, credit=relief),
            ],
            key=f"production-scrap:{order.pk}:{sequence}",
            memo=_("Scrap written off: %(o)s") % {"o": order.number},
            by=by,
        )
    receipt = ProductionReceipt.objects.create(
        company_id=order.company_id,
        order=order,
        lot=lot,
        quantity=good,
        scrapped_quantity=scrap,
        cost=relief,
        move=move,
        created_by=by,
    )
    order.produced_quantity += good
    order.scrapped_quantity += scrap
    order.finished_cost += relief
    supply = _supply_of(order)
    if supply is not None:
        if done:
            inv.incoming_supply_cancel(supply=supply, by=by)
        elif good > 0:
            IncomingSupply.objects.filter(pk=supply.pk).update(received_quantity=supply.received_quantity + good)
    fields = [
        "produced_quantity",
        "scrapped_quantity",
        "finished_cost",
        "material_cost",
        "labour_cost",
        "overhead_cost",
    ]
    if done:
        order.state = ProductionState.DONE
        order.done_at = timezone.now()
        fields += ["state", "done_at"]
    elif order.state == ProductionState.RELEASED:
        order.state = ProductionState.IN_PROGRESS
        fields.append("state")
    order.save(update_fields=[*fields, "updated_at"])
    if done:
        events.publish(
            erp_events.PRODUCTION_ORDER_COMPLETED,
            erp_events.production_order_payload(order),
            company_id=order.company_id,
            by=by,
            correlation_id=production_order_correlation(order),
        )
    return receipt


# ---------------------------------------------------------------- scheduling and late alerts


def _calendar_of(calendar: WorkCalendar) -> engine.Calendar:
    shifts = {
        int(day): tuple((dt.time.fromisoformat(a), dt.time.fromisoformat(b)) for a, b in spans)
        for day, spans in (calendar.shifts or {}).items()
    }
    closed = frozenset(dt.date.fromisoformat(d) for d in calendar.closed_dates or ())
    return engine.Calendar(shifts=shifts, closed=closed)


@transaction.atomic
def production_schedule(*, company: Company, now: dt.datetime | None = None) -> int:
    """Schedule the operations still to do of every released or in-progress order (finite capacity, forward,
    by priority then due date; ``erp.services.scheduling_engine``); store each operation's start and end, each
    order's promised completion, and move the order's expected supply (ATP) to that day. Returns the number
    of operations scheduled. Locks nothing: a concurrent run writes the same plan."""
    now = timezone.localtime(now or timezone.now()).replace(tzinfo=None, second=0, microsecond=0)
    tz = timezone.get_current_timezone()
    orders = list(
        ProductionOrder.objects.filter(
            company=company, state__in=(ProductionState.RELEASED, ProductionState.IN_PROGRESS)
        ).only(
            "pk",
            "priority",
            "due_date",
            "planned_start",
            "number",
            "quantity",
            "company_id",
            "promised_at",
            "scheduled_start",
            "product_id",
            "warehouse_id",
        )
    )
    operations = defaultdict(list)
    for op in ProductionOperation.objects.filter(order__in=orders).exclude(state=OperationState.DONE):
        operations[op.order_id].append(op)
    centers = {
        wc.pk: engine.WorkCenter(id=wc.pk, calendar=_calendar_of(wc.calendar), units=wc.units)
        for wc in WorkCenter.objects.filter(company=company).select_related("calendar")
    }
    plan = []
    for order in orders:
        start = max(now, dt.datetime.combine(order.planned_start, dt.time.min))
        ops = tuple(
            engine.Operation(
                id=op.pk,
                work_center=op.work_center_id,
                sequence=op.sequence,
                setup_minutes=0 if op.state != OperationState.PENDING else op.setup_minutes,
                # what is left of the run: the units already reported are done
                run_minutes=max(
                    op.run_minutes - int(op.run_minutes * (op.good_quantity + op.scrap_quantity) / order.quantity), 0
                ),
                queue_minutes=op.queue_minutes,
            )
            for op in operations.get(order.pk, ())
        )
        plan.append(
            engine.Order(
                id=order.pk,
                release=start,
                due=dt.datetime.combine(order.due_date, dt.time(23, 59)),
                operations=ops,
                priority=order.priority,
            )
        )
    result = engine.schedule(work_centers=centers, orders=plan)
    by_id = {op.pk: op for ops in operations.values() for op in ops}
    op_rows = []
    for order_plan in result:
        for item in order_plan.operations:
            op = by_id[item.operation]
            start, end = timezone.make_aware(item.start, tz), timezone.make_aware(item.end, tz)
            if (op.scheduled_start, op.scheduled_end, op.station) != (start, end, item.unit + 1):
                op_rows.append((op.pk, start, end, item.unit + 1))
    _update_from_values(
        "erp_productionoperation",
        ("scheduled_start", "scheduled_end", "station"),
        ("timestamptz", "timestamptz", "smallint"),
        op_rows,
    )
    promised = {o.order: timezone.make_aware(o.completion, tz) for o in result}
    starts = {o.order: timezone.make_aware(o.start, tz) for o in result}
    order_rows = [
        (order.pk, promised.get(order.pk), starts.get(order.pk))
        for order in orders
        if (order.promised_at, order.scheduled_start) != (promised.get(order.pk), starts.get(order.pk))
    ]
    _update_from_values(
        "erp_productionorder", ("promised_at", "scheduled_start"), ("timestamptz", "timestamptz"), order_rows
    )
    _publish_slips(orders, promised)
    by_number = {o.number: promised[o.pk] for o in orders if o.pk in promised}
    supplies = IncomingSupply.objects.filter(
        company=company, kind=SupplyKind.PRODUCTION, state=SupplyState.OPEN, reference__in=list(by_number)
    )
    moved = []
    for supply in supplies:
        day = timezone.localtime(by_number[supply.reference]).date()
        if supply.expected_date != day:
            supply.expected_date = day
            moved.append(supply)
    IncomingSupply.objects.bulk_update(moved, ["expected_date"], batch_size=1000)
    return sum(len(order_plan.operations) for order_plan in result)


def _publish_slips(orders: list[ProductionOrder], promised: dict[int, dt.datetime]) -> None:
    """``erp.production_order.rescheduled`` for each order whose promised completion moved to a later day
    (the closed loop re-promises the sales lines waiting for it; issue #7, flow 9). A first schedule or an
    earlier day publishes nothing."""
    from erp import events_loop

    for order in orders:
        before, after = order.promised_at, promised.get(order.pk)
        if before is None or after is None or timezone.localtime(after).date() <= timezone.localtime(before).date():
            continue
        events.publish(
            events_loop.PRODUCTION_ORDER_RESCHEDULED,
            events_loop.production_order_rescheduled_payload(order, previous_promised_at=before, promised_at=after),
            company_id=order.company_id,
        )


def _update_from_values(table: str, columns: tuple[str, ...], types: tuple[str, ...], rows: list[tuple]) -> None:
    """``UPDATE table SET col = v.col … FROM (VALUES …)`` by primary key, 1,000 rows a statement: the schedule
    writes thousands of rows, and ``bulk_update``'s CASE expressions took 90 % of a run building SQL in Python.
    Through Django's cursor, so the audit triggers and their context see every change."""
    if not rows:
        return
    assignments = ", ".join(f"{column} = v.{column}" for column in columns)
    placeholder = "(%s::bigint, " + ", ".join(f"%s::{kind}" for kind in types) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 1000):
            chunk = rows[start : start + 1000]
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments}, updated_at = now() "
                f"FROM (VALUES {', '.join([placeholder] * len(chunk))}) AS v(id, {', '.join(columns)}) "
                "WHERE t.id = v.id",
                [value for row in chunk for value in row],
            )


def production_alert_late(*, now: dt.datetime | None = None) -> int:
    """Notify production staff once per operation that should have ended by now but is not done (the bell of
    the suite; each reads it in their language). Returns the number of operations alerted. Run every few
    minutes (Celery beat) and by the shop floor page."""
    now = now or timezone.now()
    late = list(
        ProductionOperation.objects.filter(scheduled_end__lt=now, late_notified_at__isnull=True)
        .exclude(state=OperationState.DONE)
        .exclude(order__state__in=(ProductionState.DONE, ProductionState.CANCELLED, ProductionState.DRAFT))
        .select_related("order", "work_center")[:500]
    )
    by_company = defaultdict(list)
    for op in late:
        by_company[op.company_id].append(op)
    for company_id, ops in by_company.items():
        with transaction.atomic():
            company = Company.objects.get(pk=company_id)
            recipients = set(
                Membership.objects.filter(
                    company_id=company_id, is_active=True, role__in=(Role.PRODUCTION, Role.MANAGER)
                ).values_list("user_id", flat=True)
            )
            for op in ops:
                owners = recipients | ({op.order.created_by_id} if op.order.created_by_id else set())
                owners &= set(
                    Membership.objects.filter(company_id=company_id, is_active=True, user_id__in=owners).values_list(
                        "user_id", flat=True
                    )
                )
                notification_send(
                    recipients=owners,
                    company=company,
                    title=lambda op=op: _("Late: %(order)s %(op)s") % {"order": op.order.number, "op": op.name},
                    body=lambda op=op: (
                        _("Operation %(op)s on %(wc)s should have ended at %(end)s.")
                        % {
                            "op": op.name,
                            "wc": op.work_center.code,
                            "end": date_format(timezone.localtime(op.scheduled_end), "SHORT_DATETIME_FORMAT"),
                        }
                    ),
                    link=f"/erp/production/orders/{op.order_id}/",
                    level=Notification.Level.WARNING,
                )
            ProductionOperation.objects.filter(pk__in=[op.pk for op in ops]).update(late_notified_at=now)
    return len(late)


# ---------------------------------------------------------------- quality


@transaction.atomic
def inspection_plan_create(
    *,
    company: Company,
    product: Product,
    name: str,
    characteristics: list[dict],
    operation_name: str = "",
    by: User | None = None,
) -> InspectionPlan:
    """What to measure on a product: ``characteristics`` ``[{"name", "min"?, "max"?, "unit"?}]``."""
    _same_company(company.pk, product=product)
    errors: dict = {}
    name = inv._text(name, field="name", errors=errors, required=True, max_length=100)
    clean = []
    for index, item in enumerate(characteristics or []):
        label = str(item.get("name") or "").strip()
        if not label:
            errors[f"characteristics.{index}.name"] = [_("Name the characteristic.")]
            continue
        row = {"name": label[:100], "unit": str(item.get("unit") or "")[:20]}
        for bound in ("min", "max"):
            if item.get(bound) not in (None, ""):
                limit_errors: dict = {}
                value = inv._decimal(item[bound], field=bound, errors=limit_errors, positive=False)
                if limit_errors:
                    errors[f"characteristics.{index}.{bound}"] = limit_errors[bound]
                else:
                    row[bound] = str(value)
        if "min" in row and "max" in row and Decimal(row["max"]) < Decimal(row["min"]):
            errors[f"characteristics.{index}.max"] = [_("The upper limit is below the lower one.")]
        clean.append(row)
    inv._raise(errors)
    plan = InspectionPlan(
        company=company,
        product=product,
        name=name,
        characteristics=clean,
        operation_name=(operation_name or "").strip()[:100],
    )
    inv._save(plan, unique_field="name", message=_("This product already has an inspection plan of this name."))
    return plan


@transaction.atomic
def inspection_record(
    *,
    plan: InspectionPlan,
    measurements: dict | None = None,
    inspected_quantity: Any = Decimal("1"),
    defect_quantity: Any = None,
    production_order: ProductionOrder | None = None,
    operation: ProductionOperation | None = None,
    lot: Lot | None = None,
    result: str | None = None,
    by: User | None = None,
) -> Inspection:
    """Record an inspection: ``measurements`` ``{characteristic: value}`` checked against the plan's limits;
    the result is fail when one is out of limits or defects were found (unless ``result`` is given). A failed
    inspection opens a non-conformance linked to the lot and order."""
    _same_company(plan.company_id, production_order=production_order, operation=operation, lot=lot)
    inspected = _quantity(inspected_quantity, "inspected_quantity")
    measured = []
    out_of_limits = False
    errors: dict = {}
    for characteristic in plan.characteristics:
        raw = (measurements or {}).get(characteristic["name"])
        if raw in (None, ""):
            continue
        item_errors: dict = {}
        value = inv._decimal(raw, field="value", errors=item_errors, positive=False)
        if item_errors:
            errors[f"measurements.{characteristic['name']}"] = item_errors["value"]
            continue
        ok = ("min" not in characteristic or value >= Decimal(characteristic["min"])) and (
            "max" not in characteristic or value <= Decimal(characteristic["max"])
        )
        out_of_limits |= not ok
        measured.append({"name": characteristic["name"], "value": str(value), "ok": ok})
    inv._raise(errors)
    if defect_quantity is None:
        defects = inspected if out_of_limits else ZERO
    else:
        defects = _quantity(defect_quantity, "defect_quantity", positive=False)
    if defects > inspected:
        raise ValidationError({"defect_quantity": [_("More defects than units inspected.")]})
    if result is None:
        result = InspectionResult.FAIL if out_of_limits or defects > 0 else InspectionResult.PASS
    if result not in InspectionResult.values:
        raise ValidationError({"result": [_("Choose pass or fail.")]})
    if operation is not None and production_order is None:
        production_order = operation.order
    inspection = Inspection.objects.create(
        company_id=plan.company_id,
        plan=plan,
        product_id=plan.product_id,
        production_order=production_order,
        operation=operation,
        work_center_id=operation.work_center_id if operation else None,
        lot=lot,
        result=result,
        measurements=measured,
        inspected_quantity=inspected,
        defect_quantity=defects,
        inspected_at=timezone.now(),
        inspected_by=by,
    )
    if result == InspectionResult.FAIL:
        non_conformance_create(
            company=plan.company,
            product=plan.product,
            description=_("Inspection %(plan)s failed: %(values)s")
            % {"plan": plan.name, "values": ", ".join(f"{m['name']}={m['value']}" for m in measured if not m["ok"])},
            production_order=production_order,
            lot=lot,
            inspection=inspection,
            quantity=defects,
            by=by,
        )
    return inspection


@transaction.atomic
def non_conformance_create(
    *,
    company: Company,
    product: Product,
    description: str,
    production_order: ProductionOrder | None = None,
    lot: Lot | None = None,
    inspection: Inspection | None = None,
    crm_ticket_id: int | None = None,
    quantity: Any = ZERO,
    by: User | None = None,
) -> NonConformance:
    """Open a non-conformance on a product, linked to its lot and production order (from a failed inspection
    or a customer complaint: ``crm_ticket_id``)."""
    _same_company(company.pk, product=product, production_order=production_order, lot=lot, inspection=inspection)
    errors: dict = {}
    description = inv._text(description, field="description", errors=errors, required=True, max_length=4000)
    inv._raise(errors)
    if lot is not None and lot.product_id != product.pk:
        raise ValidationError({"lot": [_("This lot belongs to another product.")]})
    if production_order is not None and lot is None:
        lot = Lot.objects.filter(product=product, note=production_order.number).order_by("pk").first()
    nc = NonConformance.objects.create(
        company=company,
        product=product,
        production_order=production_order,
        lot=lot,
        inspection=inspection,
        crm_ticket_id=crm_ticket_id,
        quantity=_quantity(quantity, "quantity", positive=False),
        description=description,
    )
    _number(nc, "NC")
    return nc


@transaction.atomic
def non_conformance_close(*, nc: NonConformance, disposition: str = "", by: User | None = None) -> NonConformance:
    """Close a non-conformance with its disposition (rework, scrap, use as is …)."""
    nc = NonConformance.objects.select_for_update(of=("self",)).get(pk=nc.pk)
    if nc.state == NonConformanceState.CLOSED:
        raise ProductionConflict(_("This non-conformance is closed."))
    nc.state = NonConformanceState.CLOSED
    nc.disposition = (disposition or "").strip()[:200]
    nc.closed_at = timezone.now()
    nc.save(update_fields=["state", "disposition", "closed_at", "updated_at"])
    return nc
