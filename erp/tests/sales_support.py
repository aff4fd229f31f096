"""Helpers of the sales fulfilment tests: a company with the CAS chart (fiscal year of today), the default VAT
rates, a customer, a warehouse and stocked products; shorthands to order, confirm, ship and invoice."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from erp.models import Journal, Partner, Product, SalesOrder, Tax, Warehouse
from erp.services import inventory as inv
from erp.services import invoicing
from erp.services import partners as ps
from erp.services import sales as svc
from erp.tests.factories import make_product, make_warehouse
from erp.tests.finance_support import make_ledger
from suite.models import Company, Role
from suite.testing import CompanyFactory, make_member

D = Decimal
ZERO = Decimal("0")
HUNDRED = Decimal("100")
_seq = itertools.count(1)


@dataclass
class Shop:
    company: Company
    customer: Partner
    warehouse: Warehouse
    vat: Tax

    def product(self, stock=ZERO, *, price=HUNDRED, lots=None, **fields) -> Product:
        """A product with list price ``price`` and ``stock`` received (or ``lots``: [(code, expiry, qty)])."""
        product = make_product(self.company, list_price=price, tracks_lots=bool(lots), **fields)
        if stock:
            inv.stock_receive(product=product, warehouse=self.warehouse, quantity=stock, unit_cost=D("40"))
        for code, expiry, quantity in lots or ():
            lot = inv.lot_create(product=product, code=code, expiry_date=expiry)
            inv.stock_receive(product=product, warehouse=self.warehouse, lot=lot, quantity=quantity, unit_cost=D("40"))
        return product

    def order(self, *items, partner=None, by=None, **header) -> SalesOrder:
        """``(product, quantity)`` or ``(product, quantity, unit_price)`` items → a draft order."""
        lines = []
        for item in items:
            line = {"product": item[0], "quantity": D(str(item[1])), "tax": self.vat}
            if len(item) > 2:
                line["unit_price"] = D(str(item[2]))
            lines.append(line)
        return svc.sales_order_create(
            company=self.company,
            partner=partner or self.customer,
            lines=lines,
            by=by,
            warehouse=self.warehouse,
            **header,
        )

    def confirmed(self, *items, **header) -> SalesOrder:
        return svc.sales_order_confirm(order=self.order(*items, **header))

    def member(self, role=Role.MANAGER):
        return make_member(self.company, role)

    def paid(self, invoice, amount):
        """Money in from the invoice's customer today, allocated to ``invoice`` (journal BNK)."""
        return invoicing.payment_create(
            company=self.company,
            payment_type="inbound",
            partner=invoice.partner,
            amount=amount,
            journal=Journal.objects.get(company=self.company, code="BNK"),
            date=timezone.localdate(),
            allocations=[{"invoice": invoice, "amount": amount}],
        )


def make_shop(company: Company | None = None, *, credit_limit=None) -> Shop:
    company = company or CompanyFactory()
    make_ledger(company, year=timezone.localdate().year)
    invoicing.taxes_install_defaults(company=company)
    customer = ps.partner_create(
        company=company,
        name=f"上海星辰贸易有限公司{next(_seq)}",
        is_customer=True,
        crm_account_id=7000 + next(_seq),
        credit_limit=credit_limit,
    )
    return Shop(
        company=company,
        customer=customer,
        warehouse=make_warehouse(company),
        vat=Tax.objects.get(company=company, name="增值税 13%"),
    )


def post(invoice):
    return invoicing.invoice_post(invoice=invoice)
