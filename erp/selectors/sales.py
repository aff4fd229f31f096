"""Reads of sales fulfilment: the orders, deliveries and returns an actor may see, and what CRM shows of a
customer's orders (``customer_orders``, for the customer 360 page: ERP never hands out its tables, CRM reads
these rows).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet

from erp.models import DeliveryLine, DeliveryOrder, SalesOrder, SalesOrderLine, SalesReturn, SalesReturnLine
from suite import policy


@dataclass(frozen=True)
class CustomerOrder:
    """One order of a CRM account as CRM shows it."""

    id: int
    number: str
    state: str
    invoice_status: str
    order_date: dt.date
    promised_date: dt.date | None
    currency: str
    amount_total: Decimal
    crm_opportunity_id: int | None


def customer_orders(*, company_id: int, crm_account_id: int, limit: int = 20) -> list[CustomerOrder]:
    """The latest ``limit`` sales orders of the customer mirroring CRM account ``crm_account_id`` in the company,
    newest first (any state). One query on an index."""
    rows = (
        SalesOrder.objects.filter(company_id=company_id, crm_account_id=crm_account_id)
        .order_by("-id")
        .values_list(
            "id",
            "number",
            "state",
            "invoice_status",
            "order_date",
            "promised_date",
            "currency",
            "amount_total",
            "crm_opportunity_id",
        )[: max(0, int(limit))]
    )
    return [CustomerOrder(*row) for row in rows]


def sales_orders_visible_to(
    actor: policy.Actor | None, *, search: str = "", state: str = "", partner=None
) -> QuerySet[SalesOrder]:
    """Orders the actor may see (a salesperson: their own), with customer, warehouse and salesperson joined;
    ``search`` matches the number, the customer's name or the customer reference."""
    qs = policy.scope(actor, SalesOrder.objects.all()).select_related("partner", "warehouse", "salesperson")
    if search:
        qs = qs.filter(
            Q(number__icontains=search) | Q(partner__name__icontains=search) | Q(client_reference__icontains=search)
        )
    if state:
        qs = qs.filter(state=state)
    if partner is not None:
        qs = qs.filter(partner=partner)
    return qs


def sales_order_lines(order: SalesOrder) -> QuerySet[SalesOrderLine]:
    """An order's lines with product, unit, tax, warehouse and reservation (one query)."""
    return order.lines.select_related("product", "product__uom", "tax", "warehouse", "reservation").order_by(
        "sequence", "pk"
    )


def deliveries_visible_to(actor: policy.Actor | None, *, state: str = "", warehouse=None) -> QuerySet[DeliveryOrder]:
    """Delivery orders the actor may see, with order, customer and warehouse joined."""
    qs = policy.scope(actor, DeliveryOrder.objects.all()).select_related(
        "sales_order", "sales_order__partner", "warehouse"
    )
    if state:
        qs = qs.filter(state=state)
    if warehouse is not None:
        qs = qs.filter(warehouse=warehouse)
    return qs


def delivery_lines(delivery: DeliveryOrder) -> QuerySet[DeliveryLine]:
    """A delivery's lines with product and their picks (two queries)."""
    return (
        delivery.lines.select_related("product", "product__uom", "sales_line")
        .prefetch_related(Prefetch("picks", to_attr="pick_list"))
        .order_by("pk")
    )


def returns_visible_to(actor: policy.Actor | None, *, state: str = "") -> QuerySet[SalesReturn]:
    """Customer returns the actor may see, with delivery, order and customer joined."""
    qs = policy.scope(actor, SalesReturn.objects.all()).select_related(
        "delivery", "sales_order", "sales_order__partner", "credit_note"
    )
    if state:
        qs = qs.filter(state=state)
    return qs


def return_lines(sales_return: SalesReturn) -> QuerySet[SalesReturnLine]:
    return sales_return.lines.select_related("product", "lot").order_by("pk")
