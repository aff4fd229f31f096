"""What marketing may promise about a product (closed loop, issue #7, flow 8): its free stock over the company's
warehouses and whether a price list is in force. SCRM reads it to start warm-up pushes on a restock and to pause
a product's push campaign (``paused_stock``) when stock runs low or its price list expires."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from erp.models import PriceList, Product, StockQuant

ZERO = Decimal("0")


@dataclass(frozen=True)
class SaleReadiness:
    product_id: int
    exists: bool  # an active product of the company
    sku: str
    free: Decimal  # on hand − reserved over every warehouse, in the stock unit
    price_list_in_force: bool | None  # None when no price list was asked about


def product_sale_readiness(
    *, company_id: int, product_id: int, price_list_id: int | None = None, on: dt.date | None = None
) -> SaleReadiness:
    """Free stock of ``product_id`` (all warehouses) and, with ``price_list_id``, whether that list of the company
    is active and valid on ``on`` (today). Three queries at most."""
    on = on or timezone.localdate()
    product = Product.objects.filter(pk=product_id, company_id=company_id).values_list("sku", "is_active").first()
    if product is None:
        return SaleReadiness(product_id, False, "", ZERO, False if price_list_id else None)
    totals = StockQuant.objects.filter(company_id=company_id, product_id=product_id).aggregate(
        on_hand=Sum("quantity"), reserved=Sum("reserved")
    )
    free = (totals["on_hand"] or ZERO) - (totals["reserved"] or ZERO)
    in_force = None
    if price_list_id is not None:
        in_force = (
            PriceList.objects.filter(pk=price_list_id, company_id=company_id, is_active=True)
            .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=on))
            .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=on))
            .exists()
        )
    return SaleReadiness(product_id, bool(product[1]), product[0], free, in_force)


def price_list_exists(*, company_id: int, price_list_id: int) -> bool:
    """Whether ``price_list_id`` is a price list of the company (any state)."""
    return PriceList.objects.filter(pk=price_list_id, company_id=company_id).exists()
