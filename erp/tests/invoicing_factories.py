"""Tenant factories of partners, invoicing and bank models (registered for tests/test_tenant_isolation.py via
``erp.tests.factories``): each record is made in the given company through the services."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from erp.models import (
    BankAccount,
    BankStatement,
    BankStatementLine,
    FiscalYear,
    Invoice,
    Partner,
    Payment,
    PaymentTerm,
    Tax,
)
from erp.services import bank as bank_services
from erp.services import finance
from erp.services import invoicing as inv
from erp.services import partners as ps
from suite.models import Company
from suite.testing import tenant_factory

_seq = itertools.count(1)
DAY = date(2025, 3, 1)


def books_basics(company: Company) -> None:
    """The CAS chart, default journals and taxes, and a fiscal year covering 2025 (each made once)."""
    finance.chart_of_accounts_install(company=company)
    finance.journals_install_defaults(company=company)
    if not FiscalYear.objects.filter(company=company, start_date__lte=DAY, end_date__gte=DAY).exists():
        finance.fiscal_year_create(company=company, start_date=date(2025, 1, 1))
    inv.taxes_install_defaults(company=company)


@tenant_factory(Partner)
def _partner_in(company: Company) -> Partner:
    return ps.partner_create(company=company, name=f"往来单位{next(_seq)}", is_customer=True, is_supplier=True)


@tenant_factory(PaymentTerm)
def _term_in(company: Company) -> PaymentTerm:
    return ps.payment_term_create(company=company, name=f"{next(_seq)} 天", days=30)


@tenant_factory(Tax)
def _tax_in(company: Company) -> Tax:
    books_basics(company)
    return Tax.objects.filter(company=company, use="sale", kind="vat").order_by("-rate").first()


@tenant_factory(Invoice)
def _invoice_in(company: Company) -> Invoice:
    books_basics(company)
    invoice = inv.invoice_create(
        company=company,
        kind="out_invoice",
        partner=_partner_in(company),
        lines=[{"description": "测试", "quantity": Decimal(1), "unit_price": Decimal("100"), "tax": _tax_in(company)}],
        invoice_date=DAY,
    )
    return inv.invoice_post(invoice=invoice)


@tenant_factory(Payment)
def _payment_in(company: Company) -> Payment:
    invoice = _invoice_in(company)
    return inv.payment_create(
        company=company,
        payment_type="inbound",
        partner=invoice.partner,
        amount=Decimal("50.00"),
        journal=_bank_account_in(company).journal,
        date=DAY,
    )


@tenant_factory(BankAccount)
def _bank_account_in(company: Company) -> BankAccount:
    books_basics(company)
    return BankAccount.objects.filter(company=company).first() or bank_services.bank_account_create(
        company=company, name="基本户", account_number=f"6222{next(_seq):012d}"
    )


@tenant_factory(BankStatement)
def _statement_in(company: Company) -> BankStatement:
    number = next(_seq)
    csv_text = f"交易日期,摘要,收入金额,支出金额,余额,对方户名\n2025-03-01,货款 {number},100.00,,100.00,客户\n"
    return bank_services.statement_import(bank_account=_bank_account_in(company), data=csv_text)


@tenant_factory(BankStatementLine)
def _statement_line_in(company: Company) -> BankStatementLine:
    return _statement_in(company).lines.first()
