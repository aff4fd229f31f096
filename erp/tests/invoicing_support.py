"""Helpers and fixtures of the receivables/payables and bank tests: a company with the CAS chart, the default
journals, fiscal year 2025, the default VAT rates, a customer and a supplier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from erp.models import Invoice, Journal, Partner, Tax
from erp.services import invoicing as inv
from erp.services import partners as ps
from erp.tests.finance_support import Ledger, make_ledger
from suite.models import Company


@dataclass
class Books:
    ledger: Ledger
    customer: Partner
    supplier: Partner
    bank: Journal
    cash: Journal

    @property
    def company(self) -> Company:
        return self.ledger.company

    def tax(self, name: str) -> Tax:
        return Tax.objects.get(company=self.company, name=name)

    def invoice(self, *lines, partner=None, kind="out_invoice", post=True, day=date(2025, 3, 1), **header) -> Invoice:
        """``("Widget", qty, price, tax name or None)`` lines → an invoice (posted by default)."""
        tax_default = "增值税 13%" if kind.startswith("out") else "进项 13%"
        specs = []
        for line in lines or (("Widget", "1", "100.00", tax_default),):
            description, quantity, price, *rest = line
            tax = rest[0] if rest else tax_default
            specs.append(
                {
                    "description": description,
                    "quantity": Decimal(quantity),
                    "unit_price": Decimal(price),
                    "tax": self.tax(tax) if tax else None,
                }
            )
        partner = partner or (self.customer if kind.startswith("out") else self.supplier)
        invoice = inv.invoice_create(
            company=self.company, kind=kind, partner=partner, lines=specs, invoice_date=day, **header
        )
        return inv.invoice_post(invoice=invoice) if post else invoice


def make_books(company: Company | None = None) -> Books:
    ledger = make_ledger(company)
    company = ledger.company
    inv.taxes_install_defaults(company=company)
    term = ps.payment_term_create(company=company, name="30 天", days=30)
    customer = ps.partner_create(
        company=company,
        name="上海星辰贸易有限公司",
        is_customer=True,
        crm_account_id=4242,
        tax_id="91310000MA1FL0000X",
        payment_term=term,
        credit_limit=Decimal("10000.00"),
    )
    supplier = ps.partner_create(company=company, name="苏州精工零件厂", is_customer=False, is_supplier=True)
    return Books(
        ledger=ledger,
        customer=customer,
        supplier=supplier,
        bank=Journal.objects.get(company=company, code="BNK"),
        cash=Journal.objects.get(company=company, code="CSH"),
    )


@pytest.fixture
def books(db) -> Books:
    return make_books()
