"""Reads of the closed loop's fulfilment chain (issue #7, flows 3 and 5): which sales orders a production order
feeds (MRP pegging), and which customer orders a delivered lot reached. CRM reads these through ``erp.selectors``.
"""

from __future__ import annotations

import re

from django.db.models import Q

from erp.models import PlannedOrder, SalesOrder

# Pegging by id: a production order's ``sales_order`` and the ``sales_order_id`` MRP stores with each covered
# requirement of its planned order. Labels ("SO00012 line 3") are read only for covers stored before the ids were
# (migration 0018); they are for people, not for links.
_LEGACY_SALES_SOURCE = re.compile(r"^(SO\d+) line \d+$")


def _fed_orders(production_order) -> tuple[list[int], list[str]]:
    """The ids (and, for legacy covers only, the numbers) of the sales orders a production order feeds."""
    ids: list[int] = [production_order.sales_order_id] if production_order.sales_order_id else []
    numbers: list[str] = []
    covers = PlannedOrder.objects.filter(
        company_id=production_order.company_id, production_order_id=production_order.pk
    ).values_list("covers", flat=True)
    for cover_list in covers:
        for cover in cover_list or ():
            if cover.get("sales_order_id"):
                if cover["sales_order_id"] not in ids:
                    ids.append(cover["sales_order_id"])
                continue
            match = _LEGACY_SALES_SOURCE.match(str(cover.get("source", "")))
            if match and match.group(1) not in numbers:
                numbers.append(match.group(1))
    return ids, numbers


def sales_orders_fed_by(production_order) -> list[dict]:
    """The sales orders a production order was made for: its ``sales_order`` first, then the others its planned
    order's requirements (``covers``) name, in the order MRP listed them. Dicts of ``sales_order_id``, ``number``,
    ``crm_account_id``, ``crm_opportunity_id``, ``correlation_id``. Two queries."""
    ids, numbers = _fed_orders(production_order)
    if not ids and not numbers:
        return []
    rows = list(
        SalesOrder.objects.filter(company_id=production_order.company_id)
        .filter(Q(pk__in=ids) | Q(number__in=numbers))
        .values("pk", "number", "crm_account_id", "crm_opportunity_id", "correlation_id")
    )
    rank = {pk: i for i, pk in enumerate(ids)} | {n: len(ids) + i for i, n in enumerate(numbers)}
    rows.sort(key=lambda row: rank.get(row["pk"], rank.get(row["number"], len(rank))))
    return [
        {
            "sales_order_id": row["pk"],
            "number": row["number"],
            "crm_account_id": row["crm_account_id"],
            "crm_opportunity_id": row["crm_opportunity_id"],
            "correlation_id": row["correlation_id"],
        }
        for row in rows
    ]


def production_order_correlation(production_order):
    """The correlation id of the first sales order a production order feeds (its events join that order's chain),
    else None."""
    return next((o["correlation_id"] for o in sales_orders_fed_by(production_order) if o["correlation_id"]), None)


# ---------------------------------------------------------------- complaints (flow 5)


def lots_delivered_to(*, company_id: int, crm_account_id: int, lot_id: int | None = None) -> list[dict]:
    """The lots shipped to the customer mirroring ``crm_account_id`` (shipped or delivered deliveries of its
    sales orders), newest shipment first, one row per lot and delivery: ``lot_id``, ``lot_code``, ``product_id``,
    ``sku``, ``product_name``, ``delivery_number``, ``shipped_at``, ``quantity``. ``lot_id``: only that lot (the
    check before a complaint is linked to it). One query."""
    from django.db.models import Sum

    from erp.models import DeliveryPick

    qs = DeliveryPick.objects.filter(
        company_id=company_id,
        lot__isnull=False,
        line__delivery__sales_order__crm_account_id=crm_account_id,
        line__delivery__state__in=("shipped", "delivered"),
    )
    if lot_id is not None:
        qs = qs.filter(lot_id=lot_id)
    rows = (
        qs.values(
            "lot_id",
            "lot__code",
            "line__product_id",
            "line__product__sku",
            "line__product__name",
            "line__delivery__number",
            "line__delivery__shipped_at",
        )
        .annotate(quantity=Sum("quantity"))
        .order_by("-line__delivery__shipped_at", "lot_id")[:200]
    )
    return [
        {
            "lot_id": row["lot_id"],
            "lot_code": row["lot__code"],
            "product_id": row["line__product_id"],
            "sku": row["line__product__sku"],
            "product_name": row["line__product__name"],
            "delivery_number": row["line__delivery__number"],
            "shipped_at": row["line__delivery__shipped_at"],
            "quantity": row["quantity"],
        }
        for row in rows
    ]


def production_order_of_lot(*, company_id: int, lot_id: int):
    """The production order whose receipt made the lot (None for a bought lot)."""
    from erp.models import ProductionReceipt

    receipt = (
        ProductionReceipt.objects.filter(order__company_id=company_id, lot_id=lot_id).select_related("order").first()
    )
    return receipt.order if receipt else None


def field_complaints_by_product(company, *, period: str = "month", start=None, end=None) -> list[dict]:
    """Non-conformances opened from customer complaints (``crm_ticket_id`` set) per product and period (month |
    week, of their creation): ``{"key", "label", "period", "complaints", "quantity"}``. One query."""
    from django.db.models import Count, Sum
    from django.db.models.functions import TruncMonth, TruncWeek

    from erp.models import NonConformance

    company_id = getattr(company, "pk", company)
    qs = NonConformance.objects.filter(company_id=company_id, crm_ticket_id__isnull=False)
    if start:
        qs = qs.filter(created_at__date__gte=start)
    if end:
        qs = qs.filter(created_at__date__lte=end)
    trunc = TruncWeek if period == "week" else TruncMonth
    rows = (
        qs.annotate(period=trunc("created_at"))
        .values("product_id", "product__sku", "period")
        .annotate(complaints=Count("pk"), quantity=Sum("quantity"))
        .order_by("period", "product__sku")
    )
    return [
        {
            "key": row["product_id"],
            "label": row["product__sku"],
            "period": row["period"].date().isoformat() if hasattr(row["period"], "date") else str(row["period"]),
            "complaints": row["complaints"],
            "quantity": row["quantity"],
        }
        for row in rows
    ]


# ---------------------------------------------------------------- money earned per won deal (flow 6)


def opportunity_financials(*, company_id: int, opportunity_ids) -> dict[int, dict]:
    """What ERP booked for CRM opportunities (closed loop, flow 6 — campaign ROI in money): per opportunity id,
    ``{"revenue", "cogs", "margin"}`` in company currency — ``revenue``: posted customer invoices of its sales
    orders net of credit notes, untaxed; ``cogs``: the cost of the goods shipped for them (delivery stock moves
    at the cost they carried); ``margin`` = revenue − cogs. Opportunities ERP has no order for are absent.
    Four queries whatever the number of opportunities."""
    from collections import defaultdict
    from decimal import ROUND_HALF_UP, Decimal

    from django.db.models import DecimalField, ExpressionWrapper, F, Sum
    from django.db.models.expressions import RawSQL

    from erp.models import DeliveryOrder, Invoice, InvoiceKind, InvoiceState, StockMove

    ids = [int(pk) for pk in opportunity_ids]
    # one array parameter, not one per id (thousands of won deals on the marketing dashboard)
    wanted = RawSQL("SELECT unnest(%s::bigint[])", (ids,))
    orders = dict(
        SalesOrder.objects.filter(company_id=company_id, crm_opportunity_id__in=wanted).values_list(
            "number", "crm_opportunity_id"
        )
    )
    if not orders:
        return {}
    zero, cent = Decimal("0.00"), Decimal("0.01")
    result: dict[int, dict] = defaultdict(lambda: {"revenue": zero, "cogs": zero, "margin": zero})
    invoices = Invoice.objects.filter(
        company_id=company_id,
        origin__in=list(orders),
        state=InvoiceState.POSTED,
        kind__in=(InvoiceKind.OUT_INVOICE, InvoiceKind.OUT_REFUND),
    ).values_list("origin", "kind", "amount_untaxed", "exchange_rate")
    for origin, kind, untaxed, rate in invoices:
        amount = (untaxed * rate).quantize(cent, ROUND_HALF_UP)
        result[orders[origin]]["revenue"] += -amount if kind == InvoiceKind.OUT_REFUND else amount
    deliveries = dict(
        DeliveryOrder.objects.filter(company_id=company_id, sales_order__number__in=list(orders)).values_list(
            "number", "sales_order__number"
        )
    )
    if deliveries:
        value = ExpressionWrapper(
            F("quantity") * F("unit_cost"), output_field=DecimalField(max_digits=28, decimal_places=8)
        )
        costs = (
            StockMove.objects.filter(company_id=company_id, kind="delivery", reference__in=list(deliveries))
            .values("reference")
            .annotate(total=Sum(value))
            .values_list("reference", "total")
        )
        for reference, total in costs:
            result[orders[deliveries[reference]]]["cogs"] += (total or zero).quantize(cent, ROUND_HALF_UP)
    for figures in result.values():
        figures["margin"] = figures["revenue"] - figures["cogs"]
    return dict(result)
