"""Reads of the closed loop's fulfilment chain (issue #7, flows 3 and 5): which sales orders a production order
feeds (MRP pegging), and which customer orders a delivered lot reached. CRM reads these through ``erp.selectors``.
"""

from __future__ import annotations

import re

from erp.models import PlannedOrder, SalesOrder

# MRP keeps each planned order's covered requirements with their source: "SO00012 line 3" for a sales order line.
_SALES_SOURCE = re.compile(r"^(SO\d+) line \d+$")
_SALES_NUMBER = re.compile(r"^SO\d+$")


def _fed_numbers(production_order) -> list[str]:
    numbers: list[str] = []
    if _SALES_NUMBER.match(production_order.origin or ""):
        numbers.append(production_order.origin)
    covers = PlannedOrder.objects.filter(
        company_id=production_order.company_id, production_order_id=production_order.pk
    ).values_list("covers", flat=True)
    for cover_list in covers:
        for cover in cover_list or ():
            match = _SALES_SOURCE.match(str(cover.get("source", "")))
            if match and match.group(1) not in numbers:
                numbers.append(match.group(1))
    return numbers


def sales_orders_fed_by(production_order) -> list[dict]:
    """The sales orders a production order was made for, in the order MRP listed them: from the planned order it
    was confirmed from (its ``covers``: ``"SO00012 line 3"``) or its ``origin`` when that is an order number.
    Dicts of ``sales_order_id``, ``number``, ``crm_account_id``, ``crm_opportunity_id``, ``correlation_id``. Two
    queries."""
    numbers = _fed_numbers(production_order)
    if not numbers:
        return []
    rows = {
        row["number"]: row
        for row in SalesOrder.objects.filter(company_id=production_order.company_id, number__in=numbers).values(
            "pk", "number", "crm_account_id", "crm_opportunity_id", "correlation_id"
        )
    }
    return [
        {
            "sales_order_id": rows[n]["pk"],
            "number": n,
            "crm_account_id": rows[n]["crm_account_id"],
            "crm_opportunity_id": rows[n]["crm_opportunity_id"],
            "correlation_id": rows[n]["correlation_id"],
        }
        for n in numbers
        if n in rows
    ]


def production_order_correlation(production_order):
    """The correlation id of the first sales order a production order feeds (its events join that order's chain),
    else None."""
    return next((o["correlation_id"] for o in sales_orders_fed_by(production_order) if o["correlation_id"]), None)
