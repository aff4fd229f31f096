"""Invoice, payment, aged-balance and bank pages: fixed query counts on lists, the invoice form with field
errors, post and register payment from the page, statement import with its error report, reconciliation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from erp.models import Invoice, Payment
from erp.services import bank as bank_services
from erp.services import invoicing as inv
from suite.models import Role
from suite.testing import make_member

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def finance_client(books):
    books.company.enabled_modules = ["erp_finance"]
    books.company.save(update_fields=["enabled_modules"])
    client = Client()
    client.cookies["django_language"] = "en"  # the assertions read English messages
    client.force_login(make_member(books.company, Role.FINANCE).user)
    return client


@pytest.mark.parametrize(
    "url", ["/erp/invoices/", "/erp/payments/", "/erp/invoices/aged/?as_of=2025-12-31", "/erp/bank/reconcile/"]
)
def test_lists_render_with_a_fixed_number_of_queries(books, finance_client, url, django_assert_max_num_queries):
    account = bank_services.bank_account_create(company=books.company, name="工行", account_number="62220001")
    rows = "".join(f"2025-04-0{i},货款{i},{i}00.00,,,客户{i}\n" for i in range(1, 7))
    bank_services.statement_import(bank_account=account, data="交易日期,摘要,收入金额,支出金额,余额,对方户名\n" + rows)
    for _ in range(6):
        invoice = books.invoice()
        inv.payment_create(
            company=books.company,
            payment_type="inbound",
            partner=books.customer,
            amount=D("10.00"),
            journal=books.bank,
            date=date(2025, 4, 1),
            allocations=[{"invoice": invoice}],
        )
    finance_client.get(url)
    limit = 40 if "reconcile" in url else 25  # reconcile: 2 queries of suggestions per line on the page (≤ 20)
    with django_assert_max_num_queries(limit):
        response = finance_client.get(url)
    assert response.status_code == 200


def test_invoice_form_errors_then_create_post_and_pay(books, finance_client):
    tax = books.tax("增值税 13%")
    response = finance_client.post(
        "/erp/invoices/new/",
        {"kind": "out_invoice", "partner": books.customer.pk, "invoice_date": "2025-03-01",
         "description_0": "服务", "quantity_0": "-1", "unit_price_0": "100", "tax_0": tax.pk},
    )  # fmt: skip
    assert response.status_code == 200 and "positive" in response.content.decode()
    assert not Invoice.objects.exists()
    response = finance_client.post(
        "/erp/invoices/new/",
        {"kind": "out_invoice", "partner": books.customer.pk, "invoice_date": "2025-03-01",
         "description_0": "服务", "quantity_0": "2", "unit_price_0": "100", "tax_0": tax.pk},
    )  # fmt: skip
    invoice = Invoice.objects.get()
    assert response.status_code == 302 and invoice.amount_total == D("226.00")
    finance_client.post(f"/erp/invoices/{invoice.pk}/post/")
    invoice.refresh_from_db()
    assert invoice.state == "posted"
    page = finance_client.get(f"/erp/invoices/{invoice.pk}/").content.decode()
    assert "Register payment" in page or "register-payment" in page
    finance_client.post(
        f"/erp/invoices/{invoice.pk}/pay/", {"journal": books.bank.pk, "amount": "300.00", "date": "2025-04-01"}
    )
    assert not Payment.objects.exists()  # more than open: refused, message shown
    finance_client.post(
        f"/erp/invoices/{invoice.pk}/pay/", {"journal": books.bank.pk, "amount": "226.00", "date": "2025-04-01"}
    )
    invoice.refresh_from_db()
    assert invoice.payment_state == "paid"


def test_statement_import_page_reports_bad_rows_and_reconcile_matches(books, finance_client):
    account = bank_services.bank_account_create(company=books.company, name="工行", account_number="62220001")
    invoice = books.invoice()
    payment = inv.payment_create(
        company=books.company,
        payment_type="inbound",
        partner=books.customer,
        amount=D("113.00"),
        journal=account.journal,
        date=date(2025, 4, 1),
    )
    data = (
        "交易日期,摘要,收入金额,支出金额,余额,对方户名\n"
        "2025-04-01,货款,113.00,,,上海星辰贸易有限公司\n"
        "2025-04-02,x,zz,,,y\n"
    )
    response = finance_client.post(
        "/erp/bank/import/",
        {"bank_account": account.pk, "preset": "cn_bank", "file": SimpleUploadedFile("s.csv", data.encode("gbk"))},
    )
    content = response.content.decode()
    assert response.status_code == 200 and 'id="import-errors"' in content
    page = finance_client.get("/erp/bank/reconcile/").content.decode()
    assert payment.number in page
    line = account.statement_lines.get()
    finance_client.post(f"/erp/bank/reconcile/{line.pk}/match-payment/", {"payment": payment.pk})
    line.refresh_from_db()
    assert line.payment_id == payment.pk
    invoice.refresh_from_db()
    assert invoice.payment_state == "paid"


def test_warehouse_cannot_open_the_invoice_pages(books):
    client = Client()
    client.force_login(make_member(books.company, Role.WAREHOUSE).user)
    assert client.get("/erp/invoices/").status_code == 403
    assert client.get("/erp/bank/reconcile/").status_code == 403
