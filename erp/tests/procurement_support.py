"""Helpers of the valuation, inventory-operations and procurement tests: a company with the CAS chart, the
default journals and taxes, a fiscal year covering today, perpetual valuation on, a supplier and a warehouse."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from erp.models import Account, JournalLine, Partner, Product, Tax, Warehouse
from erp.services import invoicing, valuation
from erp.services import partners as ps
from erp.tests.factories import make_product, make_warehouse
from erp.tests.finance_support import Ledger, make_ledger
from suite.models import Company, Role
from suite.testing import make_member


@dataclass
class Buying:
    ledger: Ledger
    supplier: Partner
    warehouse: Warehouse

    @property
    def company(self) -> Company:
        return self.ledger.company

    def tax(self, name: str = "进项 13%") -> Tax:
        return Tax.objects.get(company=self.company, name=name)

    def product(self, **fields) -> Product:
        return make_product(self.company, **fields)

    def balance(self, code: str) -> Decimal:
        """Debit − credit of the posted lines of an account."""
        totals = JournalLine.objects.filter(
            entry__company=self.company, entry__state="posted", account__code=code
        ).aggregate(debit=Sum("debit"), credit=Sum("credit"))
        return (totals["debit"] or Decimal(0)) - (totals["credit"] or Decimal(0))

    def member(self, role: str):
        return make_member(self.company, role).user


def make_buying(company: Company | None = None, *, perpetual: bool = True) -> Buying:
    ledger = make_ledger(company, year=timezone.localdate().year)
    company = ledger.company
    invoicing.taxes_install_defaults(company=company)
    if perpetual:
        valuation.valuation_settings_configure(company=company)
    supplier = ps.partner_create(company=company, name="苏州精密零件有限公司", is_customer=False, is_supplier=True)
    ledger.accounts = {a.code: a for a in Account.objects.filter(company=company)}
    return Buying(ledger=ledger, supplier=supplier, warehouse=make_warehouse(company))


@pytest.fixture
def buying(db) -> Buying:
    return make_buying()


@pytest.fixture
def manager(buying):
    return buying.member(Role.MANAGER)


@pytest.fixture
def warehouse_user(buying):
    return buying.member(Role.WAREHOUSE)


@pytest.fixture
def finance_member(buying):
    return buying.member(Role.FINANCE)
