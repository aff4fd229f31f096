"""Reads of procurement, inventory operations and valuation: scoped lists with their joins, the supplier
performance report, whether a bill is blocked, and the stock value.

Every function takes an actor (lists a user sees) or the company explicitly and never reads another
company's rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import Prefetch, QuerySet, Sum

from erp.models import (
    GoodsReceipt,
    GoodsReceiptLine,
    MatchState,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseRequisition,
    RequestForQuotation,
    StockCount,
    StockTransfer,
    StockValuationLayer,
    VendorBillMatch,
)
from suite import policy
from suite.models import Company

ZERO = Decimal("0")
RATE = Decimal("0.0001")
CENT = Decimal("0.01")


def _id(value) -> int | None:
    return getattr(value, "pk", value)


# ---------------------------------------------------------------- lists


def purchase_orders_visible_to(actor: policy.Actor | None) -> QuerySet[PurchaseOrder]:
    """Purchase orders the actor may see, with supplier and warehouse joined."""
    return policy.scope(actor, PurchaseOrder.objects.all()).select_related("supplier", "warehouse")


def purchase_order_detail(actor: policy.Actor | None, pk: int) -> PurchaseOrder | None:
    """One order with its lines (product, unit, tax) and receipts: three queries."""
    return (
        purchase_orders_visible_to(actor)
        .prefetch_related(
            Prefetch("lines", queryset=PurchaseOrderLine.objects.select_related("product__uom", "tax").order_by("pk")),
            Prefetch("receipts", queryset=GoodsReceipt.objects.order_by("-pk")),
        )
        .filter(pk=pk)
        .first()
    )


def requisitions_visible_to(actor: policy.Actor | None) -> QuerySet[PurchaseRequisition]:
    return policy.scope(actor, PurchaseRequisition.objects.all()).select_related("warehouse")


def rfqs_visible_to(actor: policy.Actor | None) -> QuerySet[RequestForQuotation]:
    return policy.scope(actor, RequestForQuotation.objects.all()).select_related("supplier", "warehouse")


def receipts_visible_to(actor: policy.Actor | None) -> QuerySet[GoodsReceipt]:
    return policy.scope(actor, GoodsReceipt.objects.all()).select_related("purchase_order", "warehouse")


def stock_counts_visible_to(actor: policy.Actor | None) -> QuerySet[StockCount]:
    return policy.scope(actor, StockCount.objects.all()).select_related("warehouse", "location")


def stock_transfers_visible_to(actor: policy.Actor | None) -> QuerySet[StockTransfer]:
    return policy.scope(actor, StockTransfer.objects.all()).select_related("from_warehouse", "to_warehouse")


# ---------------------------------------------------------------- bills


def bill_is_blocked(*, invoice) -> bool:
    """Whether a vendor bill waits for finance to approve its variance (it cannot be posted until then)."""
    return VendorBillMatch.objects.filter(invoice_id=_id(invoice), state=MatchState.BLOCKED).exists()


# ---------------------------------------------------------------- supplier performance


@dataclass(frozen=True)
class SupplierPerformance:
    supplier_id: int
    supplier_name: str
    receipt_lines: int
    on_time_lines: int
    on_time_rate: Decimal | None  # received on or before the line's expected date, share of receipt lines
    received_quantity: Decimal
    billed_amount_at_order_price: Decimal
    billed_amount: Decimal
    price_variance: Decimal  # billed − at order price (positive: paid more than ordered)
    price_variance_rate: Decimal | None


_PERFORMANCE_SQL = """
WITH receipts AS (
    SELECT o.supplier_id,
           count(*) AS lines,
           count(*) FILTER (WHERE (r.received_at AT TIME ZONE %(tz)s)::date <= ol.expected_date) AS on_time,
           sum(rl.quantity) AS quantity
      FROM erp_goodsreceiptline rl
      JOIN erp_goodsreceipt r ON r.id = rl.receipt_id
      JOIN erp_purchaseorderline ol ON ol.id = rl.order_line_id
      JOIN erp_purchaseorder o ON o.id = ol.order_id
     WHERE rl.company_id = %(company)s
       AND (%(start)s::date IS NULL OR (r.received_at AT TIME ZONE %(tz)s)::date >= %(start)s::date)
       AND (%(end)s::date IS NULL OR (r.received_at AT TIME ZONE %(tz)s)::date <= %(end)s::date)
     GROUP BY o.supplier_id
), bills AS (
    SELECT o.supplier_id,
           sum(round(il.quantity * ol.unit_price, 2)) AS at_order_price,
           sum(round(il.quantity * il.unit_price, 2)) AS billed
      FROM erp_invoiceline il
      JOIN erp_invoice i ON i.id = il.invoice_id
      JOIN erp_purchaseorderline ol ON ol.id = il.purchase_line_id
      JOIN erp_purchaseorder o ON o.id = ol.order_id
     WHERE il.company_id = %(company)s AND i.state <> 'cancelled' AND i.kind = 'in_invoice'
       AND (%(start)s::date IS NULL OR i.invoice_date >= %(start)s::date)
       AND (%(end)s::date IS NULL OR i.invoice_date <= %(end)s::date)
     GROUP BY o.supplier_id
)
SELECT p.id, p.name, coalesce(r.lines, 0), coalesce(r.on_time, 0), coalesce(r.quantity, 0),
       coalesce(b.at_order_price, 0), coalesce(b.billed, 0)
  FROM erp_partner p
  LEFT JOIN receipts r ON r.supplier_id = p.id
  LEFT JOIN bills b ON b.supplier_id = p.id
 WHERE p.company_id = %(company)s AND (r.supplier_id IS NOT NULL OR b.supplier_id IS NOT NULL)
 ORDER BY p.name, p.id
"""


def supplier_performance(
    *, company: Company | int, start: dt.date | None = None, end: dt.date | None = None
) -> list[SupplierPerformance]:
    """Per supplier with receipts or bills in the period: receipt lines and how many arrived on time (received
    on or before the order line's expected date, in the site's time zone), and the billed amount against the
    same quantities at the order's prices (price variance). One query."""
    from django.utils import timezone

    params = {
        "company": _id(company),
        "start": start,
        "end": end,
        "tz": timezone.get_current_timezone_name(),
    }
    with connection.cursor() as cursor:
        cursor.execute(_PERFORMANCE_SQL, params)
        rows = cursor.fetchall()
    result = []
    for supplier_id, name, lines, on_time, quantity, at_order, billed in rows:
        variance = billed - at_order
        result.append(
            SupplierPerformance(
                supplier_id=supplier_id,
                supplier_name=name,
                receipt_lines=lines,
                on_time_lines=on_time,
                on_time_rate=(Decimal(on_time) / Decimal(lines)).quantize(RATE, ROUND_HALF_UP) if lines else None,
                received_quantity=quantity,
                billed_amount_at_order_price=at_order.quantize(CENT),
                billed_amount=billed.quantize(CENT),
                price_variance=variance.quantize(CENT),
                price_variance_rate=(variance / at_order).quantize(RATE, ROUND_HALF_UP) if at_order else None,
            )
        )
    return result


# ---------------------------------------------------------------- valuation


def stock_value(*, company: Company | int, product=None) -> Decimal:
    """The value of the company's stock (or one product's): the sum of its valuation layers."""
    qs = StockValuationLayer.objects.filter(company_id=_id(company))
    if product is not None:
        qs = qs.filter(product_id=_id(product))
    return qs.aggregate(total=Sum("value"))["total"] or ZERO


def receipt_lines_of(receipt) -> QuerySet[GoodsReceiptLine]:
    return GoodsReceiptLine.objects.filter(receipt_id=_id(receipt)).select_related("product", "lot", "location")
