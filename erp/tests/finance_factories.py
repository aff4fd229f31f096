"""Tenant factories of the finance models the API serves (registered for tests/test_tenant_isolation.py via
``erp.tests.factories``): each record is made in the given company through the services."""

from __future__ import annotations

import itertools
from datetime import date

from erp.models import Account, Dimension, FiscalPeriod, FiscalYear, Journal, JournalEntry
from erp.services import finance as svc
from suite.models import Company
from suite.testing import tenant_factory

_codes = itertools.count(1)


def _ledger_basics(company: Company) -> tuple[Journal, Account, Account]:
    """A journal, a bank and a revenue account and fiscal year 2025 in ``company`` (made once)."""
    journal = Journal.objects.filter(company=company, code="GEN").first() or svc.journal_create(
        company=company, code="GEN", name="记账凭证"
    )
    if not FiscalYear.objects.filter(company=company).exists():
        svc.fiscal_year_create(company=company, start_date=date(2025, 1, 1))
    bank = Account.objects.filter(company=company, code="1002").first() or svc.account_create(
        company=company, code="1002", name="银行存款", account_type="asset", is_cash=True
    )
    revenue = Account.objects.filter(company=company, code="6001").first() or svc.account_create(
        company=company, code="6001", name="主营业务收入", account_type="income"
    )
    return journal, bank, revenue


@tenant_factory(Account)
def _account_in(company: Company) -> Account:
    return svc.account_create(company=company, code=f"9{next(_codes):03d}", name="测试科目", account_type="asset")


@tenant_factory(Dimension)
def _dimension_in(company: Company) -> Dimension:
    return svc.dimension_create(company=company, kind="cost_centre", code=f"CC{next(_codes)}", name="成本中心")


@tenant_factory(Journal)
def _journal_in(company: Company) -> Journal:
    return svc.journal_create(company=company, code=f"J{next(_codes)}", name="测试凭证字")


@tenant_factory(FiscalYear)
def _fiscal_year_in(company: Company) -> FiscalYear:
    return svc.fiscal_year_create(company=company, start_date=date(2000 + next(_codes) % 90, 1, 1))


@tenant_factory(FiscalPeriod)
def _period_in(company: Company) -> FiscalPeriod:
    return _fiscal_year_in(company).periods.get(number=1)


@tenant_factory(JournalEntry)
def _entry_in(company: Company) -> JournalEntry:
    journal, bank, revenue = _ledger_basics(company)
    return svc.journal_entry_create(
        company=company,
        journal=journal,
        date=date(2025, 1, 15),
        lines=[svc.LineSpec(account=bank, debit="100.00"), svc.LineSpec(account=revenue, credit="100.00")],
        memo="测试凭证",
        post=True,
    )
