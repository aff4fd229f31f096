"""Demo data of the ERP (see ``suite/demo.py`` for the contract: ``seed(ctx)``, idempotent by natural keys).

* ``seed_catalogue``: a small product catalogue with price lists, stock and expected purchase receipts for the
  machinery supplier (``ecm``: machine tools, gearboxes, spare parts, installation) and the beverage brand
  (``sbev``: cases sold to distributors) — what the CRM demo's opportunity lines and quotes are made of.
* ``seed_finance``: the CAS chart of accounts, default journals and taxes, fiscal years, a posted customer
  invoice partly paid (ecm: 苏州精工's first-phase lathes; sbev: a distributor's tea cases), a draft expense
  claim and the year's expense budget (ecm).
* ``seed_procurement`` (ecm): a components supplier and a purchase order partly received, with its posted bill.
* ``seed_production`` (ecm): the CK6140 lathe's components, work centres, routing and BOM, one order in
  progress (first operation done, the second running, an inspection passed) and one planned.
* ``seed_hr`` (ecm): departments, an employee for every demo login (linked to the user), a day-shift attendance
  sample of the days before the first run and the payroll run of the month before it, computed (not posted);
  made once, so a run in a later month adds nothing.

Everything goes through ``erp.services``; each record is looked up by a natural key (a code, a SKU, a
``DEMO-…`` reference or origin) before it is created, so a second run writes nothing — not even an update.
Dates are relative to the day of the first run.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone
from django.utils.text import slugify

from erp.models import (
    Account,
    AttendanceRecord,
    Bom,
    Budget,
    Department,
    Employee,
    ExpenseCategory,
    ExpenseClaim,
    FiscalPeriod,
    FiscalYear,
    GoodsReceipt,
    IncomingSupply,
    Inspection,
    InspectionPlan,
    Invoice,
    InvoiceKind,
    Journal,
    Partner,
    Payment,
    PaymentTerm,
    PayrollRun,
    Position,
    PriceList,
    PriceListItem,
    Product,
    ProductionOrder,
    PurchaseOrder,
    PurchaseOrderState,
    Routing,
    Shift,
    StockMove,
    Tax,
    UnitOfMeasure,
    Warehouse,
    WorkCenter,
)
from erp.services import budgets as budget_services
from erp.services import expenses, hr, invoicing, partners, payroll, procurement, production
from erp.services import finance as ledger
from erp.services import inventory as inv
from suite.demo import PEOPLE

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
UNITS = {"台": "set", "套": "kit", "次": "service", "箱": "case", "件": "pcs"}


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
            unit_cost = (Decimal(price) * Decimal("0.62")).quantize(Decimal("0.01"))
            product = _product(ctx, company, warehouse, (sku, name, name_en, unit, price, unit_cost, on_hand))
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


# --------------------------------------------------------------------------- finance

# company: (customer, English name, tax id, invoice reference, issued days ago, [(sku, quantity, unit price)],
# (receipt reference, amount received, days ago)); ecm's is the lathes of 苏州精工's first-phase workshop
CUSTOMER_INVOICES = {
    "ecm": (
        "苏州精工机械有限公司",
        "Suzhou Precision Machinery Co., Ltd.",
        "91320500MA1DEMO01X",
        "DEMO-INV-SZJG-1",
        40,
        [("CNC-CK6140", 2, "121600.00"), ("SRV-INST", 2, "6500.00")],
        ("DEMO-RCPT-SZJG-1", "100000.00", 12),
    ),
    "sbev": (
        "华南连锁超市有限公司",
        "South China Chain Supermarkets Co., Ltd.",
        "91440100MA5DEMO02Y",
        "DEMO-INV-HNLS-1",
        25,
        [("BEV-TEA-500", 800, "38.00"), ("BEV-WTR-550", 600, "24.00")],
        ("DEMO-RCPT-HNLS-1", "20000.00", 5),
    ),
}
# name (after the fiscal year's), [(account code, amount each month)]
BUDGET = ("管理费用预算", [("6602", "85000.00")])
EXPENSE_CLAIM = (
    "sales1",
    "苏州精工二期车间现场勘查差旅",
    [(9, "travel", "上海—苏州高铁往返", "186.00", "0"), (9, "meals", "现场勘查工作餐", "420.00", "0")],
)


def _ensure_books(company) -> None:
    """The CAS chart, the default journals and taxes (each service adds only what the company lacks) and the
    fiscal years the demo's dates fall in."""
    if not Account.objects.filter(company=company).exists():
        ledger.chart_of_accounts_install(company=company, template="cas")
    if not Journal.objects.filter(company=company).exists():
        ledger.journals_install_defaults(company=company)
    if not Tax.objects.filter(company=company).exists():
        invoicing.taxes_install_defaults(company=company)
    today = timezone.localdate()
    for year in sorted({(today - dt.timedelta(days=60)).year, today.year}):  # the demo's dates reach 60 days back
        start = dt.date(year, 1, 1)
        if not FiscalYear.objects.filter(company=company, start_date__lte=start, end_date__gte=start).exists():
            ledger.fiscal_year_create(company=company, start_date=start)


def _partner(ctx, company, name: str, **fields) -> Partner:
    partner = Partner.objects.filter(company=company, name=name).first()
    created = partner is None
    if created:
        partner = partners.partner_create(company=company, name=name, **fields)
    ctx.count(partner, created)
    return partner


def _customer_invoice(ctx, code: str) -> None:
    """A posted customer invoice with 13 % VAT and a bank receipt allocated to part of it."""
    company = ctx.company(code)
    name, name_en, tax_id, reference, days_ago, lines, (receipt, paid, paid_days_ago) = CUSTOMER_INVOICES[code]
    today = timezone.localdate()
    clerk = ctx.user("finance" if code == "ecm" else "sbev.finance")
    term = PaymentTerm.objects.filter(company=company, name="月结 60 天").first()
    if term is None:
        term = partners.payment_term_create(company=company, name="月结 60 天", name_en="60 days", days=60)
    partner = _partner(ctx, company, name, name_en=name_en, tax_id=tax_id, is_customer=True, payment_term=term)
    invoice = Invoice.objects.filter(company=company, kind=InvoiceKind.OUT_INVOICE, reference=reference).first()
    created = invoice is None
    if created:
        vat = Tax.objects.get(company=company, use="sale", name="增值税 13%")
        products = {p.sku: p for p in Product.objects.filter(company=company, sku__in=[row[0] for row in lines])}
        invoice = invoicing.invoice_create(
            company=company,
            kind=InvoiceKind.OUT_INVOICE,
            partner=partner,
            invoice_date=today - dt.timedelta(days=days_ago),
            reference=reference,
            fapiao_type="special",
            lines=[
                {"product": products[sku], "quantity": Decimal(qty), "unit_price": Decimal(price), "tax": vat}
                for sku, qty, price in lines
            ],
            by=clerk,
        )
        invoice = invoicing.invoice_post(invoice=invoice, by=clerk)
    ctx.count(invoice, created)
    payment = Payment.objects.filter(company=company, reference=receipt).first()
    created = payment is None
    if created:
        payment = invoicing.payment_create(
            company=company,
            payment_type="inbound",
            partner=partner,
            amount=Decimal(paid),
            journal=Journal.objects.get(company=company, code="BNK"),
            date=today - dt.timedelta(days=paid_days_ago),
            reference=receipt,
            memo=name,
            allocations=[{"invoice": invoice, "amount": Decimal(paid)}],
            by=clerk,
        )
    ctx.count(payment, created)


def _budget(ctx, company) -> None:
    """This year's administrative expense budget, the same amount every month, owned by the finance manager."""
    today = timezone.localdate()
    year = FiscalYear.objects.get(company=company, start_date__lte=today, end_date__gte=today)
    name, lines = f"{year.name} {BUDGET[0]}", BUDGET[1]
    budget = Budget.objects.filter(company=company, fiscal_year=year, name=name).first()
    created = budget is None
    if created:
        budget = budget_services.budget_create(company=company, name=name, fiscal_year=year, owner=ctx.user("finance"))
        accounts = {a.code: a for a in Account.objects.filter(company=company, code__in=[c for c, _ in lines])}
        for period in FiscalPeriod.objects.filter(fiscal_year=year).order_by("number"):
            for account_code, amount in lines:
                budget_services.budget_line_set(
                    budget=budget, account=accounts[account_code], period=period, amount=Decimal(amount)
                )
    ctx.count(budget, created)


def _expense_claim(ctx, company) -> None:
    """A draft travel claim of a sales engineer (submitting needs a receipt file: left to the demo user)."""
    username, title, lines = EXPENSE_CLAIM
    employee = ctx.user(username)
    claim = ExpenseClaim.objects.filter(company=company, employee=employee, title=title).first()
    created = claim is None
    if created:
        if not ExpenseCategory.objects.filter(company=company).exists():
            expenses.expense_categories_install_defaults(company=company)
        categories = {c.code: c for c in ExpenseCategory.objects.filter(company=company)}
        today = timezone.localdate()
        claim = expenses.expense_claim_create(
            company=company,
            employee=employee,
            title=title,
            lines=[
                {
                    "date": today - dt.timedelta(days=days_ago),
                    "category": categories[category],
                    "description": description,
                    "amount": Decimal(amount),
                    "tax_amount": Decimal(tax),
                }
                for days_ago, category, description, amount, tax in lines
            ],
            by=employee,
        )
    ctx.count(claim, created)


def seed_finance(ctx) -> None:
    """Books for ecm and sbev, a posted and partly paid customer invoice each; ecm's budget and a claim."""
    for code in CUSTOMER_INVOICES:
        _ensure_books(ctx.company(code))
        _customer_invoice(ctx, code)
    ecm = ctx.company("ecm")
    _budget(ctx, ecm)
    _expense_claim(ctx, ecm)


# --------------------------------------------------------------------------- production and purchasing

# sku, name, English name, unit, list price, unit cost, opening stock
COMPONENTS = [
    ("CST-BED-6140", "CK6140 床身铸件", "CK6140 bed casting", "件", "9800.00", "6200.00", 3),
    ("CHK-K11250", "三爪卡盘 K11-250", "3-jaw chuck K11-250", "件", "2600.00", "1850.00", 0),
    ("MTR-Y132-7K5", "主电机 Y132 7.5kW", "Main motor Y132 7.5 kW", "台", "5600.00", "4200.00", 4),
]
# code, name, stations, labour rate / h, overhead rate / h
WORK_CENTERS = [
    ("WC-MACH", "机加工车间", 2, "65.00", "120.00"),
    ("WC-ASSY", "总装线", 1, "55.00", "60.00"),
    ("WC-TEST", "调试检验台", 1, "60.00", "40.00"),
]
ROUTING = (
    "CK6140 标准工艺",
    [
        (10, "床身导轨精加工", "WC-MACH", 60, "480"),
        (20, "主轴箱与床身总装", "WC-ASSY", 30, "720"),
        (30, "空运转调试与精度检验", "WC-TEST", 15, "240"),
    ],
)
BOM_LINES = [("CST-BED-6140", "1"), ("SPN-6140", "1"), ("CHK-K11250", "1"), ("MTR-Y132-7K5", "1")]
# origin (the natural key), quantity, planned start and due (days from today), how far it has gone
PRODUCTION_ORDERS = [
    ("DEMO-MO-CK6140-A", 2, -3, 7, "in_progress"),
    ("DEMO-MO-CK6140-B", 4, 10, 30, "draft"),
]
INSPECTION_PLAN = (
    "CK6140 导轨精度检验",
    "床身导轨精加工",
    [
        {"name": "导轨直线度", "max": "0.02", "unit": "mm"},
        {"name": "导轨平行度", "max": "0.015", "unit": "mm"},
    ],
    {"导轨直线度": "0.012", "导轨平行度": "0.009"},
)
SUPPLIER = ("江苏恒立机电配套有限公司", "Jiangsu Hengli Electromechanical Parts Co., Ltd.", "91320400MA1DEMO03Z")
# supplier reference (the natural key), [(sku, ordered, unit price, received)]
PURCHASE_ORDER = ("DEMO-PO-HL-1", [("CHK-K11250", 8, "1850.00", 8), ("MTR-Y132-7K5", 6, "4200.00", 2)])


def _product(ctx, company, warehouse, row) -> Product:
    """The product of ``row`` (sku, name, English name, unit, list price, unit cost, opening stock), created with
    its opening stock if missing (a service — ``SRV-`` — holds no stock)."""
    sku, name, name_en, unit, price, cost, on_hand = row
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
            unit_cost=Decimal(cost),
            reference="DEMO-OPENING",
        )
    return product


def _components(ctx, company, warehouse) -> None:
    for row in COMPONENTS:
        _product(ctx, company, warehouse, row)


def seed_procurement(ctx) -> None:
    """A components supplier and a confirmed order for chucks and motors: the chucks are in, two of the six
    motors too; the bill of what arrived is posted."""
    company = ctx.company("ecm")
    warehouse = Warehouse.objects.get(company=company, code="WH-MAIN")
    _components(ctx, company, warehouse)
    name, name_en, tax_id = SUPPLIER
    supplier = _partner(ctx, company, name, name_en=name_en, tax_id=tax_id, is_customer=False, is_supplier=True)
    reference, lines = PURCHASE_ORDER
    order = PurchaseOrder.objects.filter(company=company, supplier_reference=reference).first()
    created = order is None
    if created:
        today = timezone.localdate()
        buyer = ctx.user("warehouse")
        vat = Tax.objects.get(company=company, use="purchase", name="进项 13%")
        products = {p.sku: p for p in Product.objects.filter(company=company, sku__in=[row[0] for row in lines])}
        order = procurement.purchase_order_create(
            company=company,
            supplier=supplier,
            warehouse=warehouse,
            order_date=today - dt.timedelta(days=12),
            expected_date=today + dt.timedelta(days=5),
            supplier_reference=reference,
            lines=[
                {"product": products[sku], "quantity": Decimal(qty), "unit_price": Decimal(price), "tax": vat}
                for sku, qty, price, _received in lines
            ],
            by=buyer,
        )
        order = procurement.purchase_order_submit(order=order, by=buyer)
        if order.state == PurchaseOrderState.TO_APPROVE:
            order = procurement.purchase_order_approve(order=order, by=ctx.user("manager"))
        order = procurement.purchase_order_confirm(order=order, by=buyer)
    ctx.count(order, created)
    if not GoodsReceipt.objects.filter(purchase_order=order).exists():
        received = {sku: qty for sku, _ordered, _price, qty in lines if qty}
        procurement.goods_receive(
            order=order,
            lines=[
                {"order_line": line, "quantity": Decimal(received[line.product.sku])}
                for line in order.lines.select_related("product").order_by("pk")
                if line.product.sku in received
            ],
            delivery_note=f"{reference}-DN1",
            by=ctx.user("warehouse2"),
        )
    bill = Invoice.objects.filter(company=company, kind=InvoiceKind.IN_INVOICE, origin=order.number).first()
    created = bill is None
    if created:
        bill = procurement.vendor_bill_create(
            order=order,
            invoice_date=timezone.localdate() - dt.timedelta(days=1),
            reference=f"{reference}-BILL1",
            by=ctx.user("finance2"),
        )
        bill = procurement.vendor_bill_post(invoice=bill, by=ctx.user("finance2"))
    ctx.count(bill, created)


def _routing(ctx, company) -> Routing:
    centres = {wc.code: wc for wc in WorkCenter.objects.filter(company=company)}
    for code, name, units, labour, overhead in WORK_CENTERS:
        created = code not in centres
        if created:
            centres[code] = production.work_center_create(
                company=company,
                code=code,
                name=name,
                units=units,
                labour_rate=Decimal(labour),
                overhead_rate=Decimal(overhead),
            )
        ctx.count(centres[code], created)
    name, operations = ROUTING
    routing = Routing.objects.filter(company=company, name=name).first()
    created = routing is None
    if created:
        routing = production.routing_create(
            company=company,
            name=name,
            operations=[
                {
                    "sequence": sequence,
                    "name": op_name,
                    "work_center": centres[centre],
                    "setup_minutes": setup,
                    "run_minutes": Decimal(run),
                }
                for sequence, op_name, centre, setup, run in operations
            ],
        )
    ctx.count(routing, created)
    return routing


def _advance(ctx, order: ProductionOrder) -> None:
    """Release the order, report its first operation done (both units good, inspected) and start the second."""
    order = production.production_order_release(order=order, by=ctx.user("production2"))
    first, second = list(order.operations.order_by("sequence")[:2])
    production.operation_report(operation=first, good_quantity=order.quantity, finish=True, by=ctx.user("production"))
    plan_name, operation_name, characteristics, measurements = INSPECTION_PLAN
    plan = InspectionPlan.objects.filter(company=order.company, product=order.product, name=plan_name).first()
    if plan is None:
        plan = production.inspection_plan_create(
            company=order.company,
            product=order.product,
            name=plan_name,
            characteristics=characteristics,
            operation_name=operation_name,
        )
    if not Inspection.objects.filter(plan=plan, production_order=order).exists():
        production.inspection_record(
            plan=plan,
            measurements=measurements,
            inspected_quantity=order.quantity,
            production_order=order,
            operation=first,
            by=ctx.user("production"),
        )
    production.operation_start(operation=second, by=ctx.user("production"))


def seed_production(ctx) -> None:
    """The CK6140 lathe built in-house: work centres, routing, BOM and two production orders."""
    company = ctx.company("ecm")
    warehouse = Warehouse.objects.get(company=company, code="WH-MAIN")
    routing = _routing(ctx, company)  # the components came with seed_procurement
    lathe = Product.objects.get(company=company, sku="CNC-CK6140")
    bom = Bom.objects.filter(company=company, product=lathe, version="1").first()
    created = bom is None
    if created:
        components = {p.sku: p for p in Product.objects.filter(company=company, sku__in=[sku for sku, _q in BOM_LINES])}
        bom = production.bom_create(
            company=company,
            product=lathe,
            version="1",
            routing=routing,
            lines=[{"component": components[sku], "quantity": Decimal(qty)} for sku, qty in BOM_LINES],
            note="CK6140 标准配置",
        )
    ctx.count(bom, created)
    today = timezone.localdate()
    for origin, quantity, start, due, progress in PRODUCTION_ORDERS:
        order = ProductionOrder.objects.filter(company=company, origin=origin).first()
        created = order is None
        if created:
            order = production.production_order_create(
                company=company,
                product=lathe,
                quantity=Decimal(quantity),
                warehouse=warehouse,
                planned_start=today + dt.timedelta(days=start),
                due_date=today + dt.timedelta(days=due),
                bom=bom,
                origin=origin,
                by=ctx.user("production2"),
            )
            if progress == "in_progress":
                _advance(ctx, order)
        ctx.count(order, created)


# --------------------------------------------------------------------------- HR

# code, name, English name, the demo login heading it, the teams (suite.demo.TEAMS) whose people work there
DEPARTMENTS = [
    ("ADM", "总经办", "General Management", "admin", ()),
    ("IT", "信息部", "IT", "itadmin", ()),
    ("SALES", "销售部", "Sales", "manager", ("销售部", "华东销售一组", "华南销售组")),
    ("SVC", "客户服务部", "Customer Service", "service", ("客服组",)),
    ("MKT", "市场部", "Marketing", "marketing", ("市场部",)),
    ("FIN", "财务部", "Finance", "finance", ("财务部",)),
    ("WH", "仓储物流部", "Warehouse and Logistics", "warehouse", ("仓储物流部",)),
    ("PROD", "生产部", "Production", "production", ("生产部",)),
    ("HR", "人力资源部", "Human Resources", "hr", ("人力资源部",)),
]
# monthly base salary by role (a demo figure), and whose days the attendance sample shows
SALARY = {
    "admin": 26000,
    "manager": 32000,
    "sales": 15000,
    "service": 11000,
    "marketing": 14000,
    "finance": 16000,
    "warehouse": 9500,
    "production": 13000,
    "hr": 14000,
    "payroll": 13500,
}
ATTENDANCE = ("production", "production2", "warehouse", "warehouse2")


def _department_of(person) -> str:
    if person.username == "itadmin":
        return "IT"
    for code, _name, _name_en, _head, teams in DEPARTMENTS:
        if set(person.teams) & set(teams):
            return code
    return "ADM"


def _employees(ctx, company) -> dict[str, Employee]:
    rnd = ctx.random("erp.demo.hr")
    today = timezone.localdate()
    departments = {d.code: d for d in Department.objects.filter(company=company)}
    for code, name, name_en, _head, _teams in DEPARTMENTS:
        created = code not in departments
        if created:
            departments[code] = hr.department_create(company=company, code=code, name=name, name_en=name_en)
        ctx.count(departments[code], created)
    city = payroll.payroll_city_install_defaults(company=company)
    heads = {head for *_rest, head, _teams in DEPARTMENTS}
    people = sorted(PEOPLE["ecm"], key=lambda p: p.username not in heads)  # heads first: others report to them
    employees = {e.user.username: e for e in Employee.objects.filter(company=company, user__isnull=False)}
    positions = {p.code: p for p in Position.objects.filter(company=company)}
    for person in people:
        # numbers follow PEOPLE's order; the random draws follow the creation order, the same on every run
        number = f"E{PEOPLE['ecm'].index(person) + 1:04d}"
        years, days = rnd.randint(1, 12), rnd.randint(0, 364)
        salary = Decimal(SALARY[person.role] + rnd.randint(-10, 20) * 100)
        if person.username in employees:
            ctx.count(employees[person.username], False)
            continue
        department = departments[_department_of(person)]
        title, _space, title_en = person.title.partition(" ")
        position_code = slugify(title_en)[:30]
        position = positions.get(position_code)
        if position is None:
            position = hr.position_create(
                company=company, code=position_code, name=title, name_en=title_en, department=department
            )
            positions[position_code] = position
            ctx.count(position, True)
        head = next(head for code, *_rest, head, _teams in DEPARTMENTS if code == department.code)
        employees[person.username] = hr.employee_create(
            company=company,
            number=number,
            name=f"{person.last_name}{person.first_name}",
            hire_date=today - dt.timedelta(days=365 * years + days),
            user=ctx.user(person.username),
            email=ctx.user(person.username).email,
            department=department,
            position=position,
            manager=employees.get(head) if head != person.username else None,
            payroll_city=city,
            salary=salary,
            social_base=salary,
        )
        ctx.count(employees[person.username], True)
    for code, *_rest, head, _teams in DEPARTMENTS:
        if departments[code].head_id is None:
            hr.department_update(department=departments[code], head=employees[head])
    return employees


def _attendance_days(today: dt.date) -> list[dt.date]:
    """The last five working days (Monday–Friday) before today in this month; early in a month, the last five
    working days before today."""
    workdays = [d for d in (today - dt.timedelta(days=n) for n in range(1, 10)) if d.weekday() < 5][:5]
    this_month = [d for d in workdays if d.month == today.month]
    return sorted(this_month or workdays)


def _attendance(ctx, company, employees: dict[str, Employee]) -> None:
    """Day-shift clock-ins and clock-outs of a few shop-floor and warehouse people, a little overtime."""
    shift = Shift.objects.filter(company=company, code="DAY").first()
    if shift is None:
        shift = hr.shift_create(
            company=company, code="DAY", name="白班 Day shift", start_time=dt.time(8, 30), end_time=dt.time(17, 30)
        )
    days = _attendance_days(timezone.localdate())
    tz = timezone.get_current_timezone()
    for username in ATTENDANCE:
        employee = employees[username]
        rnd = ctx.random(f"erp.demo.attendance.{username}")
        if AttendanceRecord.objects.filter(employee=employee).exists():
            continue  # the sample is made once: a run in a later month adds nothing
        for day in days:
            start = dt.datetime.combine(day, dt.time(8, 10), tzinfo=tz) + dt.timedelta(minutes=rnd.randint(0, 30))
            end = dt.datetime.combine(day, dt.time(17, 30), tzinfo=tz) + dt.timedelta(
                minutes=rnd.choice([0, 5, 20, 90])
            )
            hr.attendance_record(employee=employee, clock_in=start, clock_out=end, shift=shift)


def _payroll(ctx, company) -> None:
    """Last month's run, computed (a draft to review: not posted)."""
    first = timezone.localdate().replace(day=1)
    last_month = first - dt.timedelta(days=1)
    # made once: a run in a later month adds nothing (the payroll team runs the next months themselves)
    run = PayrollRun.objects.filter(company=company).order_by("pk").first()
    created = run is None
    if created:
        run = payroll.payroll_run_create(company=company, year=last_month.year, month=last_month.month)
        run = payroll.payroll_run_compute(run_id=run.pk)
    ctx.count(run, created)


def seed_hr(ctx) -> None:
    """The machinery company's people as employees, a sample of attendance and last month's payroll."""
    company = ctx.company("ecm")
    employees = _employees(ctx, company)
    _attendance(ctx, company, employees)
    _payroll(ctx, company)


def seed(ctx) -> None:
    seed_catalogue(ctx)
    seed_finance(ctx)
    seed_procurement(ctx)
    seed_production(ctx)
    seed_hr(ctx)
