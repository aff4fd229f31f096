"""Issue 5, acceptance 5: a finance user posts a customer invoice, registers its payment on the bank account,
imports the bank's CSV statement, reconciles the statement line with that payment, and sees the balance sheet
change (receivable, then bank).

Screenshots of each page go to /tmp/troika-finance-*.png."""

import re
from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from erp.models import BankStatementLine, Invoice, Payment
from erp.services import bank as bank_services
from erp.services import finance
from erp.services import invoicing as inv
from erp.services import partners as ps
from suite.models import Membership, Module, Role
from suite.testing import CompanyFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Troika-123"


@pytest.fixture
def books(db):
    company = CompanyFactory(name="华东机械装备有限公司", code="finance-journey", enabled_modules=[Module.ERP_FINANCE])
    finance.chart_of_accounts_install(company=company)
    finance.journals_install_defaults(company=company)
    finance.fiscal_year_create(company=company, start_date=date(date.today().year, 1, 1))
    inv.taxes_install_defaults(company=company)
    customer = ps.partner_create(company=company, name="上海星辰贸易有限公司", is_customer=True)
    account = bank_services.bank_account_create(
        company=company, name="工行基本户", bank_name="中国工商银行", account_number="6222020200000000001"
    )
    user = UserFactory(username="zhao.finance", first_name="敏", last_name="赵")
    Membership.objects.create(user=user, company=company, role=Role.FINANCE)
    return company, customer, account


def log_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.get_by_role("button", name="English").click()
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main navigation")).to_be_visible()


def assets_total(page, base):
    page.goto(f"{base}/erp/reports/balance-sheet/")
    return page.locator('[data-total="assets"]').inner_text()


def test_invoice_payment_statement_reconciliation_balance_sheet(live_server, browser, books, tmp_path):
    company, _customer, account = books
    base = live_server.url
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        log_in(page, base, "zhao.finance")
        before = assets_total(page, base)
        assert before.strip().endswith("0.00") or before.strip() in ("—", "")

        # -- a new customer invoice: 10 × 100.00 at 13 % VAT = 1,130.00
        page.goto(f"{base}/erp/invoices/")
        page.get_by_role("link", name="New invoice").click()
        page.get_by_label("Partner", exact=True).select_option(label="上海星辰贸易有限公司")
        page.get_by_label("Description", exact=True).first.fill("数控车床维修服务")
        page.get_by_label("Quantity", exact=True).first.fill("10")
        page.get_by_label("Unit price", exact=True).first.fill("100.00")
        page.get_by_label("Tax", exact=True).first.select_option(label="增值税 13%")
        page.get_by_role("button", name="Save draft").click()
        expect(page.locator("#invoice-state")).to_have_text("Draft")
        expect(page.locator("#invoice-total")).to_contain_text("1,130.00")

        # -- posts it
        page.get_by_role("button", name="Post").click()
        expect(page.locator("#invoice-state")).to_have_text("Posted")
        expect(page.locator("#invoice-number")).to_have_text(re.compile(r"INV/\d{4}/00001"))
        page.screenshot(path="/tmp/troika-finance-invoice.png", full_page=True)
        invoice = Invoice.objects.get(company=company)
        assert invoice.journal_entry.is_posted
        assert "1,130.00" in assets_total(page, base)
        page.screenshot(path="/tmp/troika-finance-balance-sheet-1.png", full_page=True)

        # -- registers the payment on the bank account's journal
        page.goto(f"{base}/erp/invoices/{invoice.pk}/")
        page.get_by_label("Bank or cash journal").select_option(label=f"{account.journal.code} {account.journal.name}")
        page.get_by_role("button", name="Register payment").last.click()
        expect(page.locator("#payment-state")).to_have_text("Paid")
        payment = Payment.objects.get(company=company)
        assert payment.amount == Decimal("1130.00")

        # -- imports the bank's statement (GBK, as ICBC exports it) with the money coming in
        statement = tmp_path / "icbc.csv"
        statement.write_bytes(
            (
                "交易日期,摘要,收入金额,支出金额,余额,对方户名\n"
                f"{date.today():%Y-%m-%d},货款 {invoice.number},1130.00,,1130.00,上海星辰贸易有限公司\n"
                f"{date.today():%Y-%m-%d},错误行,abc,,1130.00,某公司\n"
            ).encode("gbk")
        )
        page.goto(f"{base}/erp/bank/import/")
        page.get_by_label("Bank account").select_option(label=f"工行基本户 ({account.account_number})")
        page.get_by_label("CSV file").set_input_files(str(statement))
        page.get_by_role("button", name="Import").click()
        expect(page.locator("#import-summary")).to_contain_text("1 lines imported")
        expect(page.locator("#import-errors")).to_contain_text("3")
        page.screenshot(path="/tmp/troika-finance-import.png", full_page=True)

        # -- reconciles the line with the suggested payment
        page.get_by_role("link", name="Reconcile").click()
        page.get_by_role("button", name=re.compile(f"Match payment {re.escape(payment.number)}")).click()
        line = BankStatementLine.objects.get(company=company)
        assert line.state == "reconciled" and line.payment_id == payment.pk
        page.goto(f"{base}/erp/bank/reconcile/?state=reconciled")
        expect(page.locator(f"#line-{line.pk}")).to_contain_text("Reconciled")
        page.screenshot(path="/tmp/troika-finance-reconciled.png", full_page=True)

        # -- the balance sheet now shows the money in the bank, not in receivables
        page.goto(f"{base}/erp/reports/balance-sheet/")
        expect(page.locator('[data-total="assets"]')).to_contain_text("1,130.00")
        bank_row = page.locator('[data-key="1002"]')
        expect(bank_row).to_contain_text("1,130.00")
        page.screenshot(path="/tmp/troika-finance-balance-sheet-2.png", full_page=True)
    finally:
        context.close()
