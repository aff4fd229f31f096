"""Catalogue set-ups for tests of other apps (CRM opportunity lines and quotes): products with price lists, stock
and expected supply, made through the ERP services. Other apps' tests may import this module (it is ERP's
test support, not its services), so they never write ERP tables themselves."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from erp.models import PriceList, Product, Warehouse
from erp.services import inventory as inv
from erp.tests.factories import make_product, make_warehouse
from suite.models import Company

_seq = itertools.count(1)


def catalogue_product(
    company: Company,
    *,
    list_price: Decimal | str = "100",
    sku: str | None = None,
    name: str | None = None,
    on_hand: Decimal | str | int = 0,
    warehouse: Warehouse | None = None,
    **fields,
) -> Product:
    """An active product with a list price and ``on_hand`` received into ``warehouse`` (a new one if needed)."""
    n = next(_seq)
    product = make_product(
        company,
        sku=sku or f"CAT-{n:05d}",
        name=name or f"目录产品{n}",
        list_price=Decimal(str(list_price)),
        **fields,
    )
    if Decimal(str(on_hand)) > 0:
        inv.stock_receive(
            product=product,
            warehouse=warehouse or make_warehouse(company),
            quantity=Decimal(str(on_hand)),
            unit_cost=Decimal("1"),
            reference="INIT",
        )
    return product


def price_list(
    company: Company,
    *,
    tiers: dict[Product, list[tuple[Decimal | str | int, Decimal | str]]],
    customer_group: str = "",
    currency: str = "CNY",
    valid_from: dt.date | None = None,
    valid_to: dt.date | None = None,
    name: str | None = None,
) -> PriceList:
    """A price list with ``{product: [(from quantity, unit price), …]}``."""
    prices = inv.price_list_create(
        company=company,
        name=name or f"价目表-{next(_seq)}",
        currency=currency,
        customer_group=customer_group,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    for product, rows in tiers.items():
        for min_quantity, unit_price in rows:
            inv.price_list_item_set(
                price_list=prices,
                product=product,
                min_quantity=Decimal(str(min_quantity)),
                unit_price=Decimal(str(unit_price)),
            )
    return prices


def expect_supply(product: Product, *, quantity, on: dt.date, warehouse: Warehouse | None = None) -> None:
    """An open purchase receipt of ``quantity`` expected ``on`` a date."""
    inv.incoming_supply_plan(
        product=product,
        warehouse=warehouse or make_warehouse(product.company),
        quantity=Decimal(str(quantity)),
        expected_date=on,
        reference=f"PO-{next(_seq)}",
    )


def reserve(product: Product, *, quantity, warehouse: Warehouse) -> None:
    inv.stock_reserve(product=product, warehouse=warehouse, quantity=Decimal(str(quantity)), reference="SO-T")
