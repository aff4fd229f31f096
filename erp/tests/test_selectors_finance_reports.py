"""Reports from period balances: trial balance, general ledger, balance sheet, income statement."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from erp.models import FiscalPeriod
from erp.selectors import finance as reports
from erp.services import finance as svc
from erp.tests.finance_support import make_ledger

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def books(ledger):
    """January: capital 100,000 into the bank; a sale of 11,300 incl. VAT; goods bought on credit 5,000, half sold
    (cost 2,500); rent 1,000. February: another sale of 2,260."""
    ledger.post(date(2025, 1, 2), ("1002", 100000, 0), ("4001", 0, 100000), memo="实收资本")
    ledger.sale(date(2025, 1, 10), amount="11300.00")  # 10,000 revenue + 1,300 output VAT
    ledger.post(date(2025, 1, 11), ("1405", 5000, 0), ("2202", 0, 5000), memo="采购")
    ledger.post(date(2025, 1, 12), ("6401", 2500, 0), ("1405", 0, 2500), memo="结转成本")
    ledger.post(date(2025, 1, 31), ("6602", 1000, 0), ("1002", 0, 1000), memo="房租")
    ledger.sale(date(2025, 2, 5), amount="2260.00")  # 2,000 revenue + 260 VAT
    return ledger


def test_trial_balance_for_january(books):
    tb = reports.trial_balance(period_from=books.period(1))
    rows = {row.code: row for row in tb.rows}

    assert tb.is_balanced
    assert rows["1002"].period_debit == D("111300.00") and rows["1002"].period_credit == D("1000.00")
    assert rows["1002"].closing_debit == D("110300.00") and rows["1002"].closing_credit == 0
    assert rows["6001"].closing_credit == D("10000.00")
    # sub-accounts roll up: 22210102 → 222101 → 2221
    assert (
        rows["22210102"].closing_credit == rows["222101"].closing_credit == rows["2221"].closing_credit == D("1300.00")
    )
    assert rows["22210102"].depth == 2 and rows["2221"].depth == 0
    assert tb.totals.period_debit == tb.totals.period_credit == D("119800.00")
    assert "1001" not in rows  # no activity, no row


def test_trial_balance_february_opening_is_januarys_closing(books):
    january = reports.trial_balance(period_from=books.period(1))
    february = reports.trial_balance(period_from=books.period(2))
    jan_rows = {row.code: row for row in january.rows}
    for row in february.rows:
        if row.code in jan_rows:
            assert (row.opening_debit, row.opening_credit) == (
                jan_rows[row.code].closing_debit,
                jan_rows[row.code].closing_credit,
            )
    feb = {row.code: row for row in february.rows}
    assert feb["1002"].closing_debit == D("112560.00") and february.is_balanced
    both = reports.trial_balance(period_from=books.period(1), period_to=books.period(2))
    assert {row.code: row for row in both.rows}["6001"].period_credit == D("12000.00")


def test_general_ledger_with_running_balance(books):
    gl = reports.general_ledger(account=books.account("1002"), period_from=books.period(1), period_to=books.period(2))
    assert gl.opening == 0 and gl.line_count == 4
    assert [line.balance for line in gl.lines] == [D("100000.00"), D("111300.00"), D("110300.00"), D("112560.00")]
    assert gl.closing == D("112560.00") and gl.lines[0].display_number == "GEN-2025-000001"

    page = reports.general_ledger(
        account=books.account("1002"), period_from=books.period(1), period_to=books.period(2), offset=2, limit=1
    )
    assert len(page.lines) == 1 and page.lines[0].balance == D("110300.00")

    february = reports.general_ledger(account=books.account("1002"), period_from=books.period(2))
    assert february.opening == D("110300.00") and february.closing == D("112560.00")

    vat = reports.general_ledger(account=books.account("2221"), period_from=books.period(1), period_to=books.period(2))
    assert vat.closing == D("1560.00") and vat.line_count == 2  # sub-accounts included, credit-normal sign


def test_balance_sheet_balances_with_profit_not_yet_closed(books):
    bs = reports.balance_sheet(period=books.period(1), compare_period=books.period(2))
    assets = {row.key: row for row in bs.assets.rows}
    equity = {row.key: row for row in bs.equity.rows}

    assert assets["1002"].amount == D("110300.00") and assets["1405"].amount == D("2500.00")
    assert bs.assets.total == D("112800.00")
    assert bs.liabilities.total == D("6300.00")  # 5,000 payable + 1,300 VAT
    assert equity["4001"].amount == D("100000.00")
    assert equity["profit_for_year"].amount == D("6500.00")  # 10,000 − 2,500 − 1,000
    assert bs.total_liabilities_and_equity == bs.assets.total and bs.is_balanced
    assert assets["1002"].compare_amount == D("112560.00") and bs.assets.compare_total == D("115060.00")
    assert equity["profit_for_year"].compare_amount == D("8500.00")


def test_balance_sheet_carries_prior_year_profit(ledger):
    ledger.post(date(2025, 3, 1), ("1002", 500, 0), ("6001", 0, 500))
    svc.fiscal_year_create(company=ledger.company, start_date=date(2026, 1, 1))
    january_2026 = ledger.company and ledger.year.__class__.objects.get(
        company=ledger.company, name="2026"
    ).periods.get(number=1)
    bs = reports.balance_sheet(period=january_2026)
    equity = {row.key: row for row in bs.equity.rows}
    assert equity["retained_from_prior_years"].amount == D("500.00") and "profit_for_year" not in equity
    assert bs.is_balanced


def test_income_statement_with_comparative(books):
    statement = reports.income_statement(period_from=books.period(2), compare_from=books.period(1))
    income = {row.key: row for row in statement.income.rows}
    expenses = {row.key: row for row in statement.expenses.rows}
    assert income["6001"].amount == D("2000.00") and income["6001"].compare_amount == D("10000.00")
    assert expenses["6401"].amount == 0 and expenses["6401"].compare_amount == D("2500.00")
    assert statement.net_profit == D("2000.00") and statement.compare_net_profit == D("6500.00")


def test_reversal_nets_out_of_every_report(books):
    sale = books.sale(date(2025, 1, 20), amount="565.00")
    before = reports.income_statement(period_from=books.period(1)).net_profit
    svc.journal_entry_reverse(entry=sale)
    after = reports.income_statement(period_from=books.period(1)).net_profit
    assert before - after == D("500.00")
    assert reports.trial_balance(period_from=books.period(1)).is_balanced


def test_reports_read_a_fixed_number_of_queries(books, django_assert_max_num_queries):
    for month in (3, 4, 5):
        for day in (1, 2):
            books.sale(date(2025, month, day))
    first = books.period(1)
    last = FiscalPeriod.objects.select_related("fiscal_year").get(pk=books.period(5).pk)
    with django_assert_max_num_queries(2):
        reports.trial_balance(period_from=first, period_to=last)
    with django_assert_max_num_queries(3):
        reports.balance_sheet(period=last, compare_period=last)
    with django_assert_max_num_queries(3):
        reports.income_statement(period_from=first, period_to=last, compare_from=first)


def test_reports_of_another_company_are_separate(books):
    other = make_ledger()
    other.sale(date(2025, 1, 3), amount="113.00")
    tb = reports.trial_balance(period_from=other.period(1))
    assert tb.totals.period_debit == D("113.00")
