"""Reads of inventory that the rest of Troika may use: products and their prices, stock levels,
available-to-promise by date, reorder suggestions and lot tracing.

CRM reads these for opportunity lines (``products_for_sale``, ``price_for``, ``available_to_promise``); SCRM for
lots behind QR codes (``lot_trace``). Every function takes the company explicitly (or an actor, for lists a user
sees) and never reads another company's rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import DecimalField, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from erp.models import (
    IncomingSupply,
    Lot,
    PriceListItem,
    Product,
    ProductSupplier,
    ReorderRule,
    StockMove,
    StockQuant,
    SupplyState,
    UnitOfMeasure,
    UomConversion,
)
from suite import policy
from suite.models import Company

ZERO = Decimal("0")
QUANTUM = Decimal("0.0001")


def _id(value) -> int | None:
    return getattr(value, "pk", value)


def _today() -> dt.date:
    return timezone.localdate()


# ---------------------------------------------------------------- products and units


def products_visible_to(actor: policy.Actor | None, *, search: str = "") -> QuerySet[Product]:
    """Products the actor may see, with unit and category joined; ``search`` matches SKU, barcode or either
    name (case-insensitive part)."""
    qs = policy.scope(actor, Product.objects.all()).select_related("uom", "category")
    if search:
        qs = qs.filter(
            Q(sku__icontains=search) | Q(barcode=search) | Q(name__icontains=search) | Q(name_en__icontains=search)
        )
    return qs


def products_for_sale(*, company: Company | int, search: str = "", limit: int = 20) -> list[Product]:
    """Active products of the company matching ``search`` (SKU, barcode, names), for picking on a quote or an
    opportunity line. At most ``limit`` rows, SKU order, one query."""
    qs = Product.objects.filter(company_id=_id(company), is_active=True).select_related("uom")
    if search:
        qs = qs.filter(
            Q(sku__icontains=search) | Q(barcode=search) | Q(name__icontains=search) | Q(name_en__icontains=search)
        )
    return list(qs.order_by("sku")[:limit])


def products_for_sale_by_ids(*, company: Company | int, ids: Iterable[int]) -> dict[int, Product]:
    """The company's active products among ``ids`` (with their unit), by id; unknown, inactive or another
    company's ids are missing from the result. One query."""
    ids = [int(pk) for pk in ids]
    if not ids:
        return {}
    return {
        product.pk: product
        for product in Product.objects.filter(company_id=_id(company), is_active=True, pk__in=ids).select_related("uom")
    }


def quantity_in_stock_unit(*, product: Product, quantity: Decimal, uom: UnitOfMeasure | None = None) -> Decimal:
    """``quantity`` of ``uom`` expressed in the product's stock unit (rounded to 4 places).

    A product's own conversion (packaging, 1 箱 = 12 个) wins; otherwise units of the same dimension convert by
    their factors (g → kg). Anything else is a ``ValidationError`` on ``uom``. One query at most."""
    if uom is None or uom.pk == product.uom_id:
        return quantity
    if uom.company_id != product.company_id:
        raise ValidationError({"uom": [_("Unknown unit.")]})
    factor = UomConversion.objects.filter(product=product, uom=uom).values_list("factor", flat=True).first()
    if factor is not None:
        return (quantity * factor).quantize(QUANTUM, rounding=ROUND_HALF_UP)
    stock_uom = product.uom
    if uom.dimension != stock_uom.dimension:
        raise ValidationError(
            {
                "uom": [
                    _("%(unit)s cannot be converted to %(stock)s for this product.") % {"unit": uom, "stock": stock_uom}
                ]
            }
        )
    return (quantity * uom.factor / stock_uom.factor).quantize(QUANTUM, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------- prices


@dataclass(frozen=True)
class Price:
    """A unit price for a quantity: from a price list tier (``source="price_list"``) or the product's list
    price (``source="list_price"``)."""

    unit_price: Decimal
    currency: str
    source: str
    price_list_id: int | None = None
    price_list_item_id: int | None = None
    min_quantity: Decimal = ZERO


def price_for(
    *,
    company: Company | int,
    product: Product | int,
    quantity: Decimal = Decimal("1"),
    customer_group: str | None = None,
    currency: str = "CNY",
    on: dt.date | None = None,
) -> Price | None:
    """The unit price of ``quantity`` of ``product`` for a customer group, in ``currency``, on a date.

    Among the company's active price lists in that currency valid on ``on`` (today by default) and made for the
    group or for everyone, a list for the group wins over a general one, then the list that became valid
    latest; within it, the highest quantity tier not above ``quantity``. With no such tier, the product's list
    price when ``currency`` is the company's currency, else ``None``. Two queries at most.
    """
    on = on or _today()
    company_id = _id(company)
    groups = [""] + ([customer_group] if customer_group else [])
    item = (
        PriceListItem.objects.filter(
            company_id=company_id,
            product_id=_id(product),
            min_quantity__lte=quantity,
            price_list__is_active=True,
            price_list__currency=currency,
            price_list__customer_group__in=groups,
        )
        .filter(Q(price_list__valid_from__isnull=True) | Q(price_list__valid_from__lte=on))
        .filter(Q(price_list__valid_to__isnull=True) | Q(price_list__valid_to__gte=on))
        .select_related("price_list")
        .order_by(
            "-price_list__customer_group",  # the group's own list ("vip") sorts before the general one ("")
            F("price_list__valid_from").desc(nulls_last=True),  # a dated list is more specific
            "-price_list_id",
            "-min_quantity",
        )
        .first()
    )
    if item is not None:
        return Price(
            unit_price=item.unit_price,
            currency=currency,
            source="price_list",
            price_list_id=item.price_list_id,
            price_list_item_id=item.pk,
            min_quantity=item.min_quantity,
        )
    row = (
        Product.objects.filter(pk=_id(product), company_id=company_id)
        .values_list("list_price", "company__currency")
        .first()
    )
    if row is None or row[1] != currency:
        return None
    return Price(unit_price=row[0], currency=currency, source="list_price")


def prices_for_many(
    *,
    company: Company | int,
    items: Iterable[tuple[int, Decimal]],
    customer_group: str | None = None,
    currency: str = "CNY",
    on: dt.date | None = None,
) -> dict[tuple[int, Decimal], Price | None]:
    """``price_for`` of many ``(product id, quantity)`` pairs at once (the lines of an opportunity or quote):
    the same rules, keyed by the pair. Two queries whatever the number of pairs."""
    on = on or _today()
    company_id = _id(company)
    wanted = [(int(product_id), Decimal(quantity)) for product_id, quantity in items]
    if not wanted:
        return {}
    product_ids = sorted({product_id for product_id, _quantity in wanted})
    groups = [""] + ([customer_group] if customer_group else [])
    rows = (
        PriceListItem.objects.filter(
            company_id=company_id,
            product_id__in=product_ids,
            min_quantity__lte=max(quantity for _product, quantity in wanted),
            price_list__is_active=True,
            price_list__currency=currency,
            price_list__customer_group__in=groups,
        )
        .filter(Q(price_list__valid_from__isnull=True) | Q(price_list__valid_from__lte=on))
        .filter(Q(price_list__valid_to__isnull=True) | Q(price_list__valid_to__gte=on))
        .order_by(
            "product_id",
            "-price_list__customer_group",
            F("price_list__valid_from").desc(nulls_last=True),
            "-price_list_id",
            "-min_quantity",
        )
        .values_list("pk", "product_id", "price_list_id", "min_quantity", "unit_price")
    )
    by_product: dict[int, list[tuple]] = {}
    for row in rows:
        by_product.setdefault(row[1], []).append(row)
    fallbacks = dict(
        Product.objects.filter(pk__in=product_ids, company_id=company_id, company__currency=currency).values_list(
            "pk", "list_price"
        )
    )
    result: dict[tuple[int, Decimal], Price | None] = {}
    for product_id, quantity in wanted:
        # rows come in price_for's order of preference; the first tier that fits the quantity wins
        row = next((r for r in by_product.get(product_id, ()) if r[3] <= quantity), None)
        if row is not None:
            result[(product_id, quantity)] = Price(
                unit_price=row[4],
                currency=currency,
                source="price_list",
                price_list_id=row[2],
                price_list_item_id=row[0],
                min_quantity=row[3],
            )
        elif product_id in fallbacks:
            result[(product_id, quantity)] = Price(
                unit_price=fallbacks[product_id], currency=currency, source="list_price"
            )
        else:
            result[(product_id, quantity)] = None
    return result


# ---------------------------------------------------------------- stock levels


@dataclass(frozen=True)
class StockLevel:
    on_hand: Decimal
    reserved: Decimal

    @property
    def free(self) -> Decimal:
        return self.on_hand - self.reserved


def stock_level(
    *, company: Company | int, product: Product | int, warehouse=None, location=None, lot=None
) -> StockLevel:
    """On hand and reserved of a product in the company (or one warehouse / location / lot). One query."""
    qs = StockQuant.objects.filter(company_id=_id(company), product_id=_id(product))
    if warehouse is not None:
        qs = qs.filter(warehouse_id=_id(warehouse))
    if location is not None:
        qs = qs.filter(location_id=_id(location))
    if lot is not None:
        qs = qs.filter(lot_id=_id(lot))
    totals = qs.aggregate(on_hand=Sum("quantity"), reserved=Sum("reserved"))
    return StockLevel(on_hand=totals["on_hand"] or ZERO, reserved=totals["reserved"] or ZERO)


def stock_by_warehouse(*, product: Product | int, warehouse_ids: Iterable[int] | None = None) -> dict[int, StockLevel]:
    """On hand and reserved of a product per warehouse (only warehouses that have had stock). One query."""
    qs = StockQuant.objects.filter(product_id=_id(product))
    if warehouse_ids is not None:
        qs = qs.filter(warehouse_id__in=list(warehouse_ids))
    rows = qs.values("warehouse_id").annotate(on_hand=Sum("quantity"), reserved=Sum("reserved"))
    return {row["warehouse_id"]: StockLevel(on_hand=row["on_hand"], reserved=row["reserved"]) for row in rows}


# ---------------------------------------------------------------- available to promise


@dataclass(frozen=True)
class AtpDay:
    date: dt.date
    incoming: Decimal  # expected to arrive that day (overdue supply counts on the first day)
    expiring: Decimal  # free stock no longer usable from that day (its lot expired)
    available: Decimal  # free usable stock + everything expected up to that day


@dataclass(frozen=True)
class AvailableToPromise:
    """Available-to-promise of a product (in one warehouse or all) for each day of a horizon."""

    product_id: int
    warehouse_id: int | None
    start: dt.date
    on_hand: Decimal
    reserved: Decimal
    days: tuple[AtpDay, ...]

    @property
    def free(self) -> Decimal:
        return self.on_hand - self.reserved

    def available_on(self, day: dt.date) -> Decimal:
        """What can be promised for ``day`` (before the horizon: today's figure; after it: the last day's)."""
        if not self.days:
            return ZERO
        index = min(max((day - self.start).days, 0), len(self.days) - 1)
        return self.days[index].available

    def earliest_date_for(self, quantity: Decimal) -> dt.date | None:
        """The first day on which ``quantity`` can be promised, or ``None`` if not within the horizon."""
        for day in self.days:
            if day.available >= quantity:
                return day.date
        return None


_ATP_SQL = """
SELECT 0, lot.expiry_date, SUM(q.quantity), SUM(q.reserved)
  FROM erp_stockquant q LEFT JOIN erp_lot lot ON lot.id = q.lot_id
 WHERE q.product_id = %(product)s AND q.company_id = %(company)s {quant_warehouse}
 GROUP BY lot.expiry_date
UNION ALL
SELECT 1, GREATEST(s.expected_date, %(start)s), SUM(GREATEST(s.quantity - s.received_quantity, 0)), 0
  FROM erp_incomingsupply s
 WHERE s.product_id = %(product)s AND s.company_id = %(company)s AND s.state = 'open'
   AND s.expected_date <= %(end)s {supply_warehouse}
 GROUP BY 2
"""


def available_to_promise(
    *,
    company: Company | int,
    product: Product | int,
    warehouse=None,
    horizon_days: int = 90,
    start: dt.date | None = None,
) -> AvailableToPromise:
    """Available-to-promise per day from ``start`` (today) for ``horizon_days`` days, in one warehouse or all.

    For each day: free stock (on hand − reserved) of lots not expired by that day, plus every open incoming
    supply (purchase receipts, planned production — ``IncomingSupply``) expected up to that day, cumulative;
    supply already overdue counts from the first day. Reservations are subtracted whatever their date (held
    stock is not promised twice). One query (quants by lot expiry, open supply by date), both on indexes.
    """
    start = start or _today()
    horizon_days = max(1, int(horizon_days))
    end = start + dt.timedelta(days=horizon_days - 1)
    warehouse_id = _id(warehouse)
    params = {"product": _id(product), "company": _id(company), "start": start, "end": end}
    if warehouse_id is not None:
        params["warehouse"] = warehouse_id
    sql = _ATP_SQL.format(
        quant_warehouse="AND q.warehouse_id = %(warehouse)s" if warehouse_id is not None else "",
        supply_warehouse="AND s.warehouse_id = %(warehouse)s" if warehouse_id is not None else "",
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()

    on_hand = reserved = available = ZERO
    expiring_on: dict[dt.date, Decimal] = {}  # free stock no longer usable from that day on (lot expired)
    incoming_on: dict[dt.date, Decimal] = {}
    for part, day, quantity, held in rows:
        if part == 0:
            on_hand += quantity
            reserved += held
            available += quantity - held
            if day is not None and day < end:
                unusable_from = max(day + dt.timedelta(days=1), start)
                expiring_on[unusable_from] = expiring_on.get(unusable_from, ZERO) + quantity - held
        else:
            incoming_on[day] = incoming_on.get(day, ZERO) + quantity

    days = []
    for offset in range(horizon_days):
        day = start + dt.timedelta(days=offset)
        expiring = expiring_on.get(day, ZERO)
        incoming = incoming_on.get(day, ZERO)
        available = available - expiring + incoming
        days.append(AtpDay(date=day, incoming=incoming, expiring=expiring, available=available))
    return AvailableToPromise(
        product_id=_id(product),
        warehouse_id=warehouse_id,
        start=start,
        on_hand=on_hand,
        reserved=reserved,
        days=tuple(days),
    )


_ATP_MANY_SQL = """
SELECT q.product_id, 0, lot.expiry_date, SUM(q.quantity), SUM(q.reserved)
  FROM erp_stockquant q LEFT JOIN erp_lot lot ON lot.id = q.lot_id
 WHERE q.product_id = ANY(%(products)s) AND q.company_id = %(company)s
 GROUP BY q.product_id, lot.expiry_date
UNION ALL
SELECT s.product_id, 1, GREATEST(s.expected_date, %(start)s), SUM(GREATEST(s.quantity - s.received_quantity, 0)), 0
  FROM erp_incomingsupply s
 WHERE s.product_id = ANY(%(products)s) AND s.company_id = %(company)s AND s.state = 'open'
   AND s.expected_date <= %(end)s
 GROUP BY s.product_id, 3
"""


@dataclass(frozen=True)
class Promise:
    """What can be promised of a product for a quantity: free stock today (``available_now``, may be
    negative when more is reserved than is usable) and the first day ``quantity`` is available (``None``:
    not within the horizon)."""

    product_id: int
    quantity: Decimal
    available_now: Decimal
    earliest_date: dt.date | None
    horizon_end: dt.date
    is_stockable: bool = True  # services are not counted in stock: always deliverable from today


def promises_for(
    *,
    company: Company | int,
    items: Iterable[tuple[int, Decimal]],
    horizon_days: int = 90,
    start: dt.date | None = None,
) -> dict[tuple[int, Decimal], Promise]:
    """Available-to-promise over all the company's warehouses for many ``(product id, quantity)`` pairs (the
    lines of an opportunity or quote), keyed by the pair: the same figures as ``available_to_promise`` with
    ``earliest_date_for(quantity)``; a product not counted in stock (a service) can be promised today. Two
    queries whatever the number of pairs."""
    start = start or _today()
    horizon_days = max(1, int(horizon_days))
    end = start + dt.timedelta(days=horizon_days - 1)
    wanted = [(int(product_id), Decimal(quantity)) for product_id, quantity in items]
    if not wanted:
        return {}
    product_ids = sorted({product_id for product_id, _quantity in wanted})
    with connection.cursor() as cursor:
        cursor.execute(_ATP_MANY_SQL, {"products": product_ids, "company": _id(company), "start": start, "end": end})
        rows = cursor.fetchall()
    services = set(
        Product.objects.filter(pk__in=product_ids, company_id=_id(company), is_stockable=False).values_list(
            "pk", flat=True
        )
    )
    free: dict[int, Decimal] = dict.fromkeys(product_ids, ZERO)
    changes: dict[int, dict[dt.date, Decimal]] = {product_id: {} for product_id in product_ids}
    for product_id, part, day, quantity, held in rows:
        if part == 0:
            free[product_id] += quantity - held
            if day is not None and day < end:
                unusable_from = max(day + dt.timedelta(days=1), start)
                changes[product_id][unusable_from] = changes[product_id].get(unusable_from, ZERO) - (quantity - held)
        else:
            changes[product_id][day] = changes[product_id].get(day, ZERO) + quantity
    result: dict[tuple[int, Decimal], Promise] = {}
    for product_id, quantity in wanted:
        if product_id in services:
            result[(product_id, quantity)] = Promise(
                product_id=product_id,
                quantity=quantity,
                available_now=quantity,
                earliest_date=start,
                horizon_end=end,
                is_stockable=False,
            )
            continue
        available = free[product_id]
        earliest = None
        now_available = None
        for offset in range(horizon_days):
            day = start + dt.timedelta(days=offset)
            available += changes[product_id].get(day, ZERO)
            if now_available is None:
                now_available = available
            if available >= quantity:
                earliest = day
                break
        result[(product_id, quantity)] = Promise(
            product_id=product_id,
            quantity=quantity,
            available_now=now_available,
            earliest_date=earliest,
            horizon_end=end,
        )
    return result


# ---------------------------------------------------------------- reorder suggestions


@dataclass(frozen=True)
class ReorderSuggestion:
    rule_id: int
    product_id: int
    sku: str
    warehouse_id: int
    free: Decimal
    incoming: Decimal
    projected: Decimal  # free + incoming
    min_quantity: Decimal
    max_quantity: Decimal
    suggested_quantity: Decimal
    supplier_name: str
    lead_time_days: int
    expected_date: dt.date


def _usable_quant_filter(today: dt.date) -> Q:
    return Q(lot__isnull=True) | Q(lot__expiry_date__isnull=True) | Q(lot__expiry_date__gte=today)


def reorder_suggestions(
    *, company: Company | int, warehouse=None, on: dt.date | None = None
) -> list[ReorderSuggestion]:
    """What to order: for each active reorder rule whose projected stock (free usable stock + open incoming
    supply) is below its reorder point, the quantity that brings it up to ``max_quantity`` (rounded up to the
    rule's multiple and the preferred supplier's minimum order), with that supplier and when the goods would
    arrive. Two queries (rules with their sums, then suppliers)."""
    on = on or _today()
    decimal = DecimalField(max_digits=18, decimal_places=4)
    quants = StockQuant.objects.filter(product=OuterRef("product"), warehouse=OuterRef("warehouse")).filter(
        _usable_quant_filter(on)
    )
    free = quants.values("product").annotate(total=Sum("quantity") - Sum("reserved")).values("total")
    supply = (
        IncomingSupply.objects.filter(
            product=OuterRef("product"), warehouse=OuterRef("warehouse"), state=SupplyState.OPEN
        )
        .values("product")
        .annotate(total=Sum("quantity") - Sum("received_quantity"))
        .values("total")
    )
    rules = ReorderRule.objects.filter(company_id=_id(company), is_active=True, product__is_active=True)
    if warehouse is not None:
        rules = rules.filter(warehouse_id=_id(warehouse))
    rules = (
        rules.select_related("product")
        .annotate(
            free=Coalesce(Subquery(free, output_field=decimal), Value(ZERO), output_field=decimal),
            incoming=Coalesce(Subquery(supply, output_field=decimal), Value(ZERO), output_field=decimal),
        )
        .order_by("warehouse_id", "product__sku")
    )
    short = [rule for rule in rules if rule.free + rule.incoming < rule.min_quantity]
    suppliers: dict[int, ProductSupplier] = {}
    for supplier in ProductSupplier.objects.filter(product_id__in=[r.product_id for r in short]).order_by(
        "product_id", "-is_preferred", "lead_time_days", "id"
    ):
        suppliers.setdefault(supplier.product_id, supplier)
    result = []
    for rule in short:
        projected = rule.free + rule.incoming
        needed = rule.max_quantity - projected
        supplier = suppliers.get(rule.product_id)
        if supplier is not None and needed < supplier.min_order_quantity:
            needed = supplier.min_order_quantity
        multiples = (needed / rule.multiple).to_integral_value(rounding=ROUND_CEILING)
        lead_time = supplier.lead_time_days if supplier else 0
        result.append(
            ReorderSuggestion(
                rule_id=rule.pk,
                product_id=rule.product_id,
                sku=rule.product.sku,
                warehouse_id=rule.warehouse_id,
                free=rule.free,
                incoming=rule.incoming,
                projected=projected,
                min_quantity=rule.min_quantity,
                max_quantity=rule.max_quantity,
                suggested_quantity=(multiples * rule.multiple).quantize(QUANTUM),
                supplier_name=supplier.supplier_name if supplier else "",
                lead_time_days=lead_time,
                expected_date=on + dt.timedelta(days=lead_time),
            )
        )
    return result


# ---------------------------------------------------------------- lots


def lot_find(*, company: Company | int, sku: str, code: str) -> Lot | None:
    """The lot ``code`` of the product ``sku`` (what a QR code on a package names), or ``None``."""
    return Lot.objects.filter(company_id=_id(company), product__sku=sku, code=code).select_related("product").first()


def lot_trace(*, lot: Lot) -> QuerySet[StockMove]:
    """Every move of a lot, oldest first, with its locations: where it came from and where it went."""
    return (
        StockMove.objects.filter(company_id=lot.company_id, lot=lot)
        .select_related("from_location", "to_location", "from_location__warehouse", "to_location__warehouse")
        .order_by("moved_at", "id")
    )
