"""Demo data of the ERP (see ``suite/demo.py`` for the contract: ``seed(ctx)``, idempotent by natural keys).

So far: a small product catalogue with price lists, stock and expected purchase receipts for the machinery
supplier (``ecm``: machine tools, gearboxes, spare parts, installation) and the beverage brand (``sbev``: cases
sold to distributors) — what the CRM demo's opportunity lines and quotes are made of. Everything goes through
``erp.services.inventory``. Other ERP domains add their own ``seed_*`` step to ``seed``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from erp.models import IncomingSupply, PriceList, PriceListItem, Product, StockMove, UnitOfMeasure, Warehouse
from erp.services import inventory as inv

# sku, name, English name, stock unit, list price, on hand at the demo start, (days ahead, quantity) expected
CATALOGUE = {
    "ecm": [
        ("CNC-CK6140", "数控车床 CK6140", "CNC lathe CK6140", "台", "128000.00", 3, (21, 4)),
        ("VMC-850", "立式加工中心 VMC850", "Vertical machining centre VMC850", "台", "365000.00", 1, (45, 2)),
        ("GBX-R97", "斜齿轮减速机 R97", "Helical gearbox R97", "台", "8600.00", 24, (10, 30)),
        ("SPN-6140", "车床主轴总成", "Lathe spindle assembly", "套", "12800.00", 6, None),
        ("SRV-INST", "设备安装调试服务", "Installation and commissioning", "次", "6500.00", 0, None),
    ],
    "sbev": [
        ("BEV-TEA-500", "冰爽柠檬茶 500ml×15 箱", "Iced lemon tea 500 ml, case of 15", "箱", "45.00", 1200, (7, 3000)),
        ("BEV-WTR-550", "天然饮用水 550ml×24 箱", "Natural water 550 ml, case of 24", "箱", "28.80", 5000, None),
        ("BEV-JCE-1L", "鲜榨橙汁 1L×12 箱", "Fresh orange juice 1 L, case of 12", "箱", "96.00", 80, (14, 600)),
    ],
}
# code, name, customer group, {sku: [(from quantity, unit price)]}
PRICE_LISTS = {
    "ecm": [
        (
            "2026 标准价",
            "",
            {"CNC-CK6140": [(0, "126000"), (3, "119000")], "GBX-R97": [(0, "8400"), (10, "7900")]},
        ),
        (
            "战略客户价",
            "key_account",
            {"CNC-CK6140": [(0, "118000")], "VMC-850": [(0, "349000")], "GBX-R97": [(0, "7600")]},
        ),
    ],
    "sbev": [
        (
            "经销商价",
            "distributor",
            {"BEV-TEA-500": [(0, "38.00"), (500, "35.50")], "BEV-WTR-550": [(0, "24.00"), (1000, "22.00")]},
        ),
    ],
}
UNITS = {"台": "set", "套": "kit", "次": "service", "箱": "case"}


def _unit(company, label: str):
    """The company's unit for ``label`` (台, 套, 次, 箱: codes set, kit, service, case), created if missing."""
    code = UNITS[label]
    existing = UnitOfMeasure.objects.filter(company=company, code=code).first()
    return existing or inv.uom_create(company=company, code=code, name=label, name_en=code)


def seed_catalogue(ctx) -> None:
    """Products, a main warehouse with opening stock, open purchase receipts and price lists per company."""
    today = timezone.localdate()
    for code, rows in CATALOGUE.items():
        company = ctx.company(code)
        warehouse = Warehouse.objects.filter(company=company, code="WH-MAIN").first()
        created = warehouse is None
        if created:
            warehouse = inv.warehouse_create(company=company, code="WH-MAIN", name="总仓", name_en="Main warehouse")
        ctx.count(warehouse, created)
        for sku, name, name_en, unit, price, on_hand, incoming in rows:
            product = Product.objects.filter(company=company, sku=sku).first()
            created = product is None
            if created:
                product = inv.product_create(
                    company=company,
                    sku=sku,
                    name=name,
                    name_en=name_en,
                    uom=_unit(company, unit),
                    list_price=Decimal(price),
                    is_stockable=not sku.startswith("SRV-"),
                )
            ctx.count(product, created)
            if on_hand and not StockMove.objects.filter(product=product, reference="DEMO-OPENING").exists():
                inv.stock_receive(
                    product=product,
                    warehouse=warehouse,
                    quantity=Decimal(on_hand),
                    unit_cost=(Decimal(price) * Decimal("0.62")).quantize(Decimal("0.01")),
                    reference="DEMO-OPENING",
                )
            if incoming and not IncomingSupply.objects.filter(product=product, reference=f"DEMO-PO-{sku}").exists():
                days, quantity = incoming
                inv.incoming_supply_plan(
                    product=product,
                    warehouse=warehouse,
                    quantity=Decimal(quantity),
                    expected_date=today + dt.timedelta(days=days),
                    reference=f"DEMO-PO-{sku}",
                )
    for code, lists in PRICE_LISTS.items():
        company = ctx.company(code)
        for name, group, items in lists:
            price_list = PriceList.objects.filter(company=company, name=name).first()
            created = price_list is None
            if created:
                price_list = inv.price_list_create(company=company, name=name, customer_group=group)
            ctx.count(price_list, created)
            for sku, tiers in items.items():
                product = Product.objects.get(company=company, sku=sku)
                for min_quantity, unit_price in tiers:
                    exists = PriceListItem.objects.filter(
                        price_list=price_list, product=product, min_quantity=Decimal(min_quantity)
                    ).exists()
                    if not exists:
                        inv.price_list_item_set(
                            price_list=price_list,
                            product=product,
                            min_quantity=Decimal(min_quantity),
                            unit_price=Decimal(unit_price),
                        )


def seed(ctx) -> None:
    seed_catalogue(ctx)
