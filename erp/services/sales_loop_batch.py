"""Closed loop (issue #7, flow 1) per relay batch: the sales orders of many won CRM opportunities at once.

``sales_orders_from_won_opportunities`` is what ``erp.sales_order_from_won_opportunity`` (a batch handler, see
docs/events.md "Batch handlers") runs for the ``crm.opportunity.won`` events of one relay chunk. It makes exactly
what ``erp.services.sales_loop.sales_order_from_opportunity`` makes for each event — the partner, the order and
its lines, the credit check (held: ``erp.sales_order.held``), stock reservations first-expiry-first, promised
dates from available-to-promise, one delivery order per order, ``erp.sales_order.confirmed``, an MRP run queued
for a shortage — but with set-based statements per batch instead of ~70 statements per win:

* one advisory lock per opportunity (all taken in one statement, in key order) and one query for the orders
  that already exist (a redelivered win changes nothing);
* one number range per batch for the orders and one for the deliveries (the same per-company advisory locks
  as ``sales_order_create`` / ``_new_delivery``: numbers stay unique and in creation order);
* one query each for the partners, the salesperson memberships, the products, the default warehouse, the
  taxes per rate; one per credit-limited customer for its receivables;
* the quants of all the batch's products locked in one ``SELECT … FOR UPDATE`` ordered by product id, then
  quant id (the lock order of ``_reserve_line``: no deadlock with the per-order path), allocated in memory
  first-expiry-first in event order, written with one ``UPDATE … FROM unnest`` — the quants' CHECK
  constraints (reserved ≤ on hand, ≥ 0) still make over-reservation impossible;
* ``bulk_create`` of orders, reservations, allocations, lines, deliveries and delivery lines;
* one ``erp.stock.changed`` per product and warehouse per batch, and the confirmed / held events, in one
  ``publish_many`` each, every event with the correlation id of the win it answers.

An event the fast path does not cover exactly (no warehouse yet, an unknown or inactive product, a bad
quantity, price or discount, an inactive customer …) goes through ``sales_order_from_opportunity`` unchanged,
in the same transaction; if that raises, the relay runs each event of the chunk alone (``batch=True`` rules),
so only the bad win is retried and dead-lettered.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from erp import events as erp_events
from erp.models import (
    DeliveryLine,
    DeliveryOrder,
    MrpRun,
    MrpRunStatus,
    Partner,
    Product,
    SalesOrder,
    SalesOrderLine,
    SalesOrderState,
    StockQuant,
    StockReservation,
    StockReservationAllocation,
    Warehouse,
)
from erp.models.quote_reservations import QuoteReservation, QuoteReservationState
from erp.selectors import inventory as inventory_selectors
from erp.services import sales as sales_services
from erp.services.inventory import _fefo_key
from erp.services.partners import partner_ensure_for_crm_account
from erp.services.sales_loop import _decimal, _sale_tax, sales_order_from_opportunity
from suite import events
from suite.models import Company, Membership

ZERO = Decimal("0")
HUNDRED = Decimal("100")


@dataclass
class Win:
    """One ``crm.opportunity.won`` event as the batch needs it."""

    payload: dict
    by_id: int | None = None
    correlation_id: uuid.UUID | None = None
    event: object | None = None  # the suite.events.Event: the per-order path publishes under its correlation id


@dataclass
class _Order:
    win: Win
    opportunity_id: int
    account_id: int
    order: SalesOrder | None = None
    lines: list[SalesOrderLine] = field(default_factory=list)


def sales_orders_from_won_opportunities(*, company_id: int, wins: list[Win]) -> list[SalesOrder]:
    """The confirmed (or credit-held) sales orders of a batch of won opportunities of one company (see the
    module's docstring). Idempotent per opportunity like ``sales_order_from_opportunity``. Returns the orders
    made now (not those that existed)."""
    with transaction.atomic(savepoint=False):  # inside the relay's chunk savepoint
        return _batch(company_id, wins)


def _lock_opportunities(company_id: int, opportunity_ids: list[int]) -> None:
    """The advisory lock ``sales_order_create`` takes per opportunity, for all of them in one statement, in one
    global order (two batches sharing an opportunity queue up instead of deadlocking)."""
    keys = [f"erp.salesorder.opportunity:{company_id}:{pk}" for pk in opportunity_ids]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(hashtext(k))) FROM "
            '(SELECT k FROM unnest(%s::text[]) AS k ORDER BY k COLLATE "C") AS ordered',
            [keys],
        )


def _number_range(model, company_id: int, count: int) -> int:
    """The first of ``count`` consecutive numbers of ``model`` in the company (under ``_next_sequence``'s
    advisory lock, held to the end of the transaction)."""
    return sales_services._next_sequence(model, company_id) if count else 0


def _batch(company_id: int, wins: list[Win]) -> list[SalesOrder]:
    company = Company.objects.get(pk=company_id)
    today = sales_services._today()
    now = timezone.now()

    # 1. one entry per opportunity (a win delivered twice in one batch counts once); none without account/lines
    todo: dict[int, _Order] = {}
    for win in wins:
        payload = win.payload
        if not payload.get("account_id") or not payload.get("lines"):
            continue
        try:
            opportunity_id, account_id = int(payload["opportunity_id"]), int(payload["account_id"])
        except (KeyError, TypeError, ValueError):
            _one_by_one(company_id, win)  # raises as the per-order path does
            continue
        todo.setdefault(opportunity_id, _Order(win, opportunity_id, account_id))
    if not todo:
        return []
    _lock_opportunities(company_id, sorted(todo))
    for existing in SalesOrder.objects.filter(company_id=company_id, crm_opportunity_id__in=list(todo)).values_list(
        "crm_opportunity_id", flat=True
    ):
        todo.pop(existing, None)  # made by an earlier delivery: nothing changes
    if not todo:
        return []

    # 2. what the orders need, one query each
    warehouse = Warehouse.objects.filter(company=company, is_active=True).order_by("code").first()
    product_ids = {
        line.get("product_id") for item in todo.values() for line in item.win.payload["lines"] if line.get("product_id")
    }
    products = {
        p.pk: p
        for p in Product.objects.filter(
            company_id=company_id, pk__in=[int(pk) for pk in product_ids if _int(pk)]
        ).select_related("uom")
    }
    owner_ids = {item.win.payload.get("owner_id") for item in todo.values()} - {None, ""}
    members = set(
        Membership.objects.filter(company_id=company_id, user_id__in=owner_ids, is_active=True).values_list(
            "user_id", flat=True
        )
    )
    partners = _partners(company, todo.values())
    taxes: dict = {}

    # 3. orders and lines in memory; anything the fast path does not cover exactly goes the per-order way
    fast: list[_Order] = []
    for item in todo.values():
        partner = partners.get(item.account_id)
        built = None
        if warehouse is not None and partner is not None and partner.is_active and partner.is_customer:
            built = _build(company, item, partner, warehouse, products, members, taxes, today)
        if built is None:
            _one_by_one(company_id, item.win)
            continue
        fast.append(item)
    if not fast:
        return []

    # 4. credit: over the limit → held (no reservation, no promise, no delivery)
    for item in fast:
        order = item.order
        ok, reason = True, ""
        if order.partner.credit_limit is not None:
            from erp.selectors.receivables import credit_check

            result = credit_check(company=company, partner=order.partner, amount=order.amount_total)
            ok, reason = bool(result.ok), str(result.reason or "")
        if ok:
            order.state, order.confirmed_at, order.confirmed_by_id = SalesOrderState.CONFIRMED, now, item.win.by_id
        else:
            order.state, order.held_at = SalesOrderState.HELD, now
            order.hold_reason = (reason or "The customer's credit limit would be exceeded.")[:300]

    # 5. numbers, then the orders
    first = _number_range(SalesOrder, company_id, len(fast))
    for offset, item in enumerate(fast):
        item.order.sequence = first + offset
        item.order.number = f"SO{first + offset:05d}"
    confirmed = [item for item in fast if item.order.state == SalesOrderState.CONFIRMED]
    reservations = _reserve(company_id, confirmed, now)  # quants locked and updated before any order row
    _promise(company_id, confirmed, today)
    SalesOrder.objects.bulk_create([item.order for item in fast])
    if reservations:
        StockReservation.objects.bulk_create([reservation for reservation, _plan in reservations])
        StockReservationAllocation.objects.bulk_create(
            [
                StockReservationAllocation(reservation=reservation, quant_id=quant_id, quantity=take)
                for reservation, plan in reservations
                for quant_id, take in plan
            ]
        )
    rows = []
    for item in fast:
        for line in item.lines:
            line.order = item.order  # the reservation got its pk above: bulk_create takes it from the object
            rows.append(line)
    SalesOrderLine.objects.bulk_create(rows)

    # 6. the deals' quotes stop holding stock softly (the order reserves for real), one statement
    QuoteReservation.objects.filter(
        company_id=company_id, crm_opportunity_id__in=[item.opportunity_id for item in fast],
        state=QuoteReservationState.ACTIVE,
    ).update(state=QuoteReservationState.CONSUMED, updated_at=now)  # fmt: skip

    # 7. deliveries: one per confirmed order (all lines come from the default warehouse)
    if confirmed:
        first_out = _number_range(DeliveryOrder, company_id, len(confirmed))
        deliveries = []
        for offset, item in enumerate(confirmed):
            dates = [line.promised_date for line in item.lines if line.promised_date]
            deliveries.append(
                DeliveryOrder(
                    company_id=company_id,
                    number=f"OUT{first_out + offset:05d}",
                    sequence=first_out + offset,
                    sales_order=item.order,
                    warehouse_id=warehouse.pk,
                    scheduled_date=max(dates) if dates else item.order.promised_date,
                )
            )
        DeliveryOrder.objects.bulk_create(deliveries)
        DeliveryLine.objects.bulk_create(
            [
                DeliveryLine(
                    company_id=company_id,
                    delivery=delivery,
                    sales_line=line,
                    product_id=line.product_id,
                    quantity=line.open_quantity,
                )
                for delivery, item in zip(deliveries, confirmed, strict=True)
                for line in item.lines
                if line.open_quantity > 0
            ]
        )

    # 8. events: stock levels per product (one per product and warehouse), then the orders' outcomes
    _publish_stock_changed(company_id, reservations, fast)
    outcomes = []
    for item in fast:
        order = item.order
        if order.state == SalesOrderState.CONFIRMED:
            outcomes.append((erp_events.SALES_ORDER_CONFIRMED, erp_events.sales_order_payload(order, lines=item.lines)))
        else:
            outcomes.append((erp_events.SALES_ORDER_HELD, erp_events.sales_order_payload(order)))
    events.publish_many(
        outcomes,
        company_id=company_id,
        correlation_ids=[item.order.correlation_id for item in fast],
        created_by_ids=[item.win.by_id for item in fast],
    )

    # 9. a shortage queues an MRP run for the warehouse (one queued run per warehouse at a time)
    short = [item for item in confirmed if any(_short(line) > 0 for line in item.lines)]
    if (
        short
        and not MrpRun.objects.filter(
            company_id=company_id, warehouse_id=warehouse.pk, status=MrpRunStatus.QUEUED
        ).exists()
    ):
        from django.contrib.auth import get_user_model

        from erp.services import mrp

        by_id = short[0].win.by_id
        by = get_user_model().objects.filter(pk=by_id).first() if by_id else None
        mrp.mrp_run_start(company=company, warehouse=warehouse, by=by)
    return [item.order for item in fast]


def _one_by_one(company_id: int, win: Win) -> None:
    """The per-order path for one win, under its event (its order and events keep the win's correlation id)."""
    from suite.events.registry import current_event

    token = current_event.set(win.event)
    try:
        sales_order_from_opportunity(company_id=company_id, payload=win.payload, by_id=win.by_id)
    finally:
        current_event.reset(token)


def _int(value) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True


def _partners(company: Company, items) -> dict[int, Partner]:
    """The partner of each CRM account of the batch (one query); a missing one, or one whose name, CRM credit
    limit or customer flag must change, through ``partner_ensure_for_crm_account`` (as the per-order path)."""
    wanted: dict[int, dict] = {}
    for item in items:
        payload = item.win.payload
        fields = {}
        limit = _decimal(payload.get("credit_limit"))
        if limit is not None:
            fields["credit_limit"] = limit
        wanted.setdefault(item.account_id, {"name": payload.get("account_name"), "fields": fields})
    found = {p.crm_account_id: p for p in Partner.objects.filter(company=company, crm_account_id__in=list(wanted))}
    for account_id, want in wanted.items():
        partner = found.get(account_id)
        name = want["name"] or (partner.name if partner else "") or f"CRM {account_id}"
        fields = want["fields"]
        if (
            partner is None
            or partner.name != name
            or not partner.is_customer
            or any(getattr(partner, key) != value for key, value in fields.items())
        ):
            found[account_id] = partner_ensure_for_crm_account(
                company=company, crm_account_id=account_id, name=name, **fields
            )
    return found


def _build(company, item: _Order, partner, warehouse, products, members, taxes, today) -> bool | None:
    """The unsaved order and lines of one win, checked as ``sales_order_create`` checks them; ``None`` when
    anything is off (the per-order path then gives the same result or the same error)."""
    payload = item.win.payload
    errors: dict = {}
    lines = []
    for index, raw in enumerate(payload["lines"]):
        product = products.get(int(raw["product_id"])) if _int(raw.get("product_id")) else None
        if product is None or not product.is_active:
            return None
        quantity = sales_services._number(raw.get("quantity"), field="q", errors=errors, strict=True)
        price = raw.get("unit_price")
        unit_price = sales_services._number(price, field="p", errors=errors) if price not in (None, "") else None
        discount = ZERO
        if _decimal(raw.get("discount")):
            discount = sales_services._number(raw["discount"], field="d", errors=errors, places=2, maximum=HUNDRED)
        if errors or quantity is None or unit_price is None:
            return None
        places = product.uom.decimal_places
        if quantity != quantity.quantize(Decimal(1).scaleb(-places)):
            return None
        if len(product.name.strip()) > 255:
            return None
        tax = _sale_tax(company, raw.get("tax_rate"), taxes)
        untaxed, tax_amount, total = sales_services.line_amounts(
            quantity=quantity, unit_price=unit_price, discount=discount, tax=tax
        )
        line = SalesOrderLine(
            company_id=company.pk,
            sequence=index + 1,
            product=product,
            description=product.name.strip(),
            warehouse=warehouse,
            quantity=quantity,
            unit_price=unit_price,
            price_source="manual",
            discount=discount,
            tax=tax,
            subtotal=untaxed,
            tax_amount=tax_amount,
            total=total,
        )
        line.reservation = None
        lines.append(line)
    currency = str(payload.get("currency") or partner.currency or company.currency).strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        return None
    owner_id = payload.get("owner_id")
    order = SalesOrder(
        company=company,
        partner=partner,
        crm_opportunity_id=item.opportunity_id,
        crm_account_id=item.account_id,
        origin=f"CRM opportunity {item.opportunity_id}"[:100],
        client_reference=str(payload.get("name") or "")[:100].strip(),
        created_by_id=item.win.by_id,
        correlation_id=item.win.correlation_id or uuid.uuid4(),
        warehouse=warehouse,
        currency=currency,
        order_date=today,
        salesperson_id=owner_id if owner_id in members else None,
    )
    sales_services._set_amounts(order, lines)
    item.order, item.lines = order, lines
    return True


def _short(line: SalesOrderLine) -> Decimal:
    if not line.product.is_stockable:
        return ZERO
    return line.open_quantity - (line.reservation.quantity if line.reservation is not None else ZERO)


def _reserve(company_id: int, items: list[_Order], now) -> list[tuple[StockReservation, list[tuple[int, Decimal]]]]:
    """Reserve what is free for every stockable line of the confirmed orders, in event order (lines in product
    order, as ``_confirm``), first expiry first, expired lots skipped. Locks all the products' quants in the
    warehouses in one statement ordered by product id then quant id, updates them in one statement. Returns the
    unsaved reservations with their plans ``[(quant id, quantity)]``; sets ``line.reservation``."""
    wanted = [
        (item, line)
        for item in items
        for line in sorted(item.lines, key=lambda row: (row.product_id, row.sequence))
        if line.product.is_stockable
    ]
    if not wanted:
        return []
    quants = list(
        StockQuant.objects.select_for_update(of=("self",))
        .filter(
            product_id__in={line.product_id for _item, line in wanted},
            warehouse_id__in={line.warehouse_id for _item, line in wanted},
        )
        .select_related("lot", "location")
        .order_by("product_id", "pk")
    )
    today = sales_services._today()
    by_key: dict[tuple[int, int], list[StockQuant]] = defaultdict(list)
    for quant in quants:
        if quant.lot_id and quant.lot.expiry_date and quant.lot.expiry_date < today:
            continue  # as _usable_free: an expired lot is not promised
        by_key[(quant.product_id, quant.warehouse_id)].append(quant)
    for group in by_key.values():
        group.sort(key=_fefo_key)
    delta: dict[int, Decimal] = defaultdict(Decimal)
    made = []
    for item, line in wanted:
        remaining = line.open_quantity
        plan = []
        for quant in by_key.get((line.product_id, line.warehouse_id), ()):
            free = quant.quantity - quant.reserved
            if free <= 0:
                continue
            take = min(free, remaining)
            plan.append((quant.pk, take))
            quant.reserved += take
            delta[quant.pk] += take
            remaining -= take
            if remaining <= 0:
                break
        if not plan:
            continue
        reservation = StockReservation(
            company_id=company_id,
            product_id=line.product_id,
            warehouse_id=line.warehouse_id,
            quantity=sum((take for _pk, take in plan), ZERO),
            reference=f"{item.order.number}/{line.sequence}",
            required_date=line.requested_date or item.order.requested_date,
            created_by_id=item.win.by_id,
        )
        line.reservation = reservation
        made.append((reservation, plan))
    if delta:
        ids = sorted(delta)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE erp_stockquant AS q SET reserved = q.reserved + d.held, updated_at = %s "
                "FROM unnest(%s::bigint[], %s::numeric[]) AS d(id, held) WHERE q.id = d.id",
                [now, ids, [delta[pk] for pk in ids]],
            )
    return made


def _promise(company_id: int, items: list[_Order], today: dt.date) -> None:
    """As ``sales_services._promise``: today for a line fully held, else the first day available-to-promise
    covers its shortage (one ATP read per product and warehouse short, after the batch's reservations); the
    order's date is its latest line's when every line has one."""
    atp: dict[tuple[int, int], object] = {}
    for item in items:
        for line in item.lines:
            shortage = _short(line)
            if shortage <= 0:
                line.promised_date = today
                continue
            key = (line.product_id, line.warehouse_id)
            if key not in atp:
                atp[key] = inventory_selectors.available_to_promise(
                    company=company_id, product=line.product, warehouse=line.warehouse, start=today
                )
            line.promised_date = atp[key].earliest_date_for(shortage)
        dates = [line.promised_date for line in item.lines]
        if dates and all(dates):
            item.order.promised_date = max(dates)


def _publish_stock_changed(company_id: int, reservations, items: list[_Order]) -> None:
    """One ``erp.stock.changed`` (reason ``reservation``) per product and warehouse the batch reserved, with the
    levels after the batch (one aggregate query), carrying the correlation id of the first win that took it."""
    if not reservations:
        return
    first: dict[tuple[int, int], tuple[str, _Order]] = {}
    by_reference = {}
    for item in items:
        for line in item.lines:
            if line.reservation is not None:
                by_reference[id(line.reservation)] = item
    for reservation, _plan in reservations:
        key = (reservation.product_id, reservation.warehouse_id)
        if key not in first:
            first[key] = (reservation.reference, by_reference[id(reservation)])
    product_ids = sorted({product_id for product_id, _wh in first})
    levels = {
        (row["product_id"], row["warehouse_id"]): (row["on_hand"], row["reserved"])
        for row in StockQuant.objects.filter(product_id__in=product_ids)
        .values("product_id", "warehouse_id")
        .annotate(on_hand=Sum("quantity"), reserved=Sum("reserved"))
    }
    total_free: dict[int, Decimal] = defaultdict(Decimal)
    for (product_id, _wh), (on_hand, reserved) in levels.items():
        total_free[product_id] += on_hand - reserved
    skus = {line.product_id: line.product.sku for item in items for line in item.lines if line.reservation is not None}
    items_out, correlations, creators = [], [], []
    for (product_id, warehouse_id), (reference, item) in sorted(first.items()):
        on_hand, reserved = levels.get((product_id, warehouse_id), (ZERO, ZERO))
        items_out.append(
            (
                erp_events.STOCK_CHANGED,
                erp_events.stock_changed_payload(
                    product_id=product_id,
                    sku=skus[product_id],
                    warehouse_id=warehouse_id,
                    on_hand=on_hand,
                    reserved=reserved,
                    total_free=total_free[product_id],
                    reason="reservation",
                    reference=reference,
                ),
            )
        )
        correlations.append(item.order.correlation_id)
        creators.append(item.win.by_id)
    events.publish_many(items_out, company_id=company_id, correlation_ids=correlations, created_by_ids=creators)
