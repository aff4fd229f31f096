"""Helpers and fixtures of the finance tests: a company with the CAS chart, the default journals and fiscal year
2025, and shorthands to write entries by account code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from erp.models import Account, FiscalPeriod, FiscalYear, Journal, JournalEntry, JournalLine
from erp.services import finance as svc
from suite.models import Company, Role
from suite.testing import CompanyFactory, make_member


def _amount(value):
    """Numbers as Decimals; strings as they are (so tests can pass "abc" or "NaN" to the services)."""
    return value if isinstance(value, str) else Decimal(str(value))


@dataclass
class Ledger:
    company: Company
    year: FiscalYear
    journal: Journal
    accounts: dict[str, Account]

    def account(self, code: str) -> Account:
        return self.accounts[code]

    def period(self, month: int) -> FiscalPeriod:
        """The period ``month`` of the year (read once; services re-read and lock what they change)."""
        if not hasattr(self, "_periods"):
            self._periods = {p.number: p for p in self.year.periods.select_related("fiscal_year")}
        return self._periods[month]

    def lines(self, *pairs) -> list[svc.LineSpec]:
        """``("1002", "100.00", 0), ("6001", 0, "100.00")`` → line specs."""
        return [svc.LineSpec(account=self.accounts[code], debit=_amount(d), credit=_amount(c)) for code, d, c in pairs]

    def draft(self, day: date, *pairs, journal: Journal | None = None, **kwargs) -> JournalEntry:
        return svc.journal_entry_create(
            company=self.company, journal=journal or self.journal, date=day, lines=self.lines(*pairs), **kwargs
        )

    def post(self, day: date, *pairs, journal: Journal | None = None, **kwargs) -> JournalEntry:
        return svc.journal_entry_create(
            company=self.company,
            journal=journal or self.journal,
            date=day,
            lines=self.lines(*pairs),
            post=True,
            **kwargs,
        )

    def sale(self, day: date, amount: str = "1130.00", **kwargs) -> JournalEntry:
        """A cash sale with 13% VAT: Dr 1002 bank / Cr 6001 revenue, Cr 22210102 output VAT."""
        gross = Decimal(amount)
        net = (gross / Decimal("1.13")).quantize(Decimal("0.01"))
        return self.post(day, ("1002", gross, 0), ("6001", 0, net), ("22210102", 0, gross - net), **kwargs)


def make_ledger(company: Company | None = None, *, template: str = "cas", year: int = 2025) -> Ledger:
    company = company or CompanyFactory()
    svc.chart_of_accounts_install(company=company, template=template)
    svc.journals_install_defaults(company=company)
    fiscal_year = svc.fiscal_year_create(company=company, start_date=date(year, 1, 1))
    return Ledger(
        company=company,
        year=fiscal_year,
        journal=Journal.objects.get(company=company, code="GEN"),
        accounts={a.code: a for a in Account.objects.filter(company=company)},
    )


def balances_equal_lines(company: Company) -> list[tuple]:
    """Differences between the period balances and the sums of posted lines, per (account, period): [] when
    they agree."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH lines AS (
                SELECT l.account_id, e.period_id, sum(l.debit) AS debit, sum(l.credit) AS credit
                  FROM erp_journalline l JOIN erp_journalentry e ON e.id = l.entry_id
                 WHERE e.company_id = %s AND e.state = 'posted'
                 GROUP BY l.account_id, e.period_id
            ), balances AS (
                SELECT account_id, period_id, debit, credit FROM erp_accountperiodbalance WHERE company_id = %s
            )
            SELECT coalesce(l.account_id, b.account_id), coalesce(l.period_id, b.period_id),
                   l.debit, l.credit, b.debit, b.credit
              FROM lines l FULL JOIN balances b ON b.account_id = l.account_id AND b.period_id = l.period_id
             WHERE l.debit IS DISTINCT FROM b.debit OR l.credit IS DISTINCT FROM b.credit
            """,
            [company.pk, company.pk],
        )
        return cursor.fetchall()


def posted_totals(company: Company) -> tuple[Decimal, Decimal]:
    from django.db.models import Sum

    totals = JournalLine.objects.filter(entry__company=company, entry__state="posted").aggregate(
        debit=Sum("debit"), credit=Sum("credit")
    )
    return totals["debit"] or Decimal(0), totals["credit"] or Decimal(0)


@pytest.fixture
def ledger(db) -> Ledger:
    return make_ledger()


@pytest.fixture
def finance_user(ledger):
    return make_member(ledger.company, Role.FINANCE).user


@pytest.fixture
def finance_admin(ledger):
    return make_member(ledger.company, Role.ADMIN).user
