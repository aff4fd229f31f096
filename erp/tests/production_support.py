"""Helpers of the production tests: a plant — a company with the CAS chart, a fiscal year of today, perpetual
valuation, a supplier, a warehouse — making a gear pump (tracked by lot) from a housing it makes itself and two
bought parts, on two work centres.

BOM of 1 pump P: 1 housing H (make), 2 bolts B (buy, 5.00 each); BOM of 1 housing: 1 casting C (buy, scrap
0.2, 8.00 each). Routing of the pump: assemble on WC-ASM (setup 30, 6 min/unit), test on WC-TST (setup 0,
3 min/unit). Rates: WC-ASM labour 60.00/h and overhead 30.00/h; WC-TST 40.00/h and 20.00/h."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db.models import Sum

from erp.models import JournalLine, Product, Routing, WorkCenter
from erp.services import inventory as inv
from erp.services import production as prod
from erp.tests.factories import make_product
from erp.tests.procurement_support import Buying, make_buying
from suite.models import Role
from suite.testing import make_member

D = Decimal


@dataclass
class Plant:
    buying: Buying
    pump: Product
    housing: Product
    bolt: Product
    casting: Product
    assembly: WorkCenter
    testing: WorkCenter
    routing: Routing

    @property
    def company(self):
        return self.buying.company

    @property
    def warehouse(self):
        return self.buying.warehouse

    def balance(self, code: str) -> Decimal:
        return self.buying.balance(code)

    def stock(self, product, quantity, cost):
        return inv.stock_receive(product=product, warehouse=self.warehouse, quantity=D(quantity), unit_cost=D(cost))

    def member(self, role=Role.PRODUCTION):
        return make_member(self.company, role).user

    def ledger_totals(self) -> tuple[Decimal, Decimal]:
        totals = JournalLine.objects.filter(entry__company=self.company, entry__state="posted").aggregate(
            debit=Sum("debit"), credit=Sum("credit")
        )
        return totals["debit"] or D(0), totals["credit"] or D(0)


def make_plant(company=None) -> Plant:
    buying = make_buying(company)
    company = buying.company
    pump = make_product(company, name="齿轮泵 GP-20", tracks_lots=True)
    housing = make_product(company, name="泵体")
    bolt = make_product(company, name="螺栓 M8")
    casting = make_product(company, name="铸件")
    for product in (bolt, casting):
        inv.product_supplier_create(
            product=product,
            supplier_name=buying.supplier.name,
            partner=buying.supplier,
            lead_time_days=5,
            unit_price=D("5") if product == bolt else D("8"),
            is_preferred=True,
        )
    for product in (pump, housing):
        prod.product_planning_set(product=product, procurement="make", lead_time_days=2)
    prod.product_planning_set(product=bolt, procurement="buy", lead_time_days=5)
    prod.product_planning_set(product=casting, procurement="buy", lead_time_days=7)
    assembly = prod.work_center_create(
        company=company, code="WC-ASM", name="装配线", labour_rate=D("60"), overhead_rate=D("30")
    )
    testing = prod.work_center_create(
        company=company, code="WC-TST", name="试验台", labour_rate=D("40"), overhead_rate=D("20")
    )
    routing = prod.routing_create(
        company=company,
        name="齿轮泵工艺",
        operations=[
            {"sequence": 10, "name": "装配", "work_center": assembly, "setup_minutes": 30, "run_minutes": D("6")},
            {"sequence": 20, "name": "试验", "work_center": testing, "setup_minutes": 0, "run_minutes": D("3")},
        ],
    )
    prod.bom_create(
        company=company,
        product=pump,
        routing=routing,
        lines=[{"component": housing, "quantity": D("1")}, {"component": bolt, "quantity": D("2")}],
    )
    prod.bom_create(
        company=company, product=housing, lines=[{"component": casting, "quantity": D("1"), "scrap_factor": D("0.2")}]
    )
    return Plant(buying, pump, housing, bolt, casting, assembly, testing, routing)


@pytest.fixture
def plant(db) -> Plant:
    return make_plant()
