"""The receivables/payables and bank API: create → post → pay through explicit actions, field errors with
nothing written, roles, CSV import, reconciliation, aged balances, credit check, and query counts of lists."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from erp.models import Invoice, InvoiceLine, JournalEntry, Payment
from erp.services import bank as bank_services
from suite.api.throttling import clear_throttles
from suite.models import Role
from suite.testing import make_member

pytestmark = pytest.mark.django_db

BASE = "/api/v1/erp"
D = Decimal


@pytest.fixture(autouse=True)
def _no_throttle():
    clear_throttles()


@pytest.fixture
def finance(books, api_client):
    return api_client(make_member(books.company, Role.FINANCE))


def invoice_body(books, **changes):
    body = {
        "kind": "out_invoice",
        "partner": books.customer.pk,
        "invoice_date": "2025-03-01",
        "fapiao_type": "special",
        "fapiao_number": "04412345",
        "lines": [
            {"description": "维修服务", "quantity": "10", "unit_price": "100.00", "tax": books.tax("增值税 13%").pk},
            {"description": "咨询", "quantity": "1", "unit_price": "106.00", "tax": books.tax("增值税 6%").pk},
        ],
    }
    body.update(changes)
    return body


def test_create_post_and_register_payment(books, finance):
    response = finance.post(f"{BASE}/invoices/", invoice_body(books), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["state"], data["amount_untaxed"], data["amount_tax"], data["amount_total"]) == (
        "draft",
        "1106.00",
        "136.36",
        "1242.36",
    )
    assert data["due_date"] == "2025-03-31" and len(data["lines"]) == 2
    posted = finance.post(f"{BASE}/invoices/{data['id']}/post/")
    assert posted.status_code == 200 and posted.json()["number"] == "INV/2025/00001"
    again = finance.post(f"{BASE}/invoices/{data['id']}/post/")
    assert again.json()["journal_entry"] == posted.json()["journal_entry"]
    paid = finance.post(
        f"{BASE}/invoices/{data['id']}/register-payment/",
        {"journal": books.bank.pk, "amount": "1000.00", "date": "2025-04-01"},
        format="json",
    )
    assert paid.status_code == 201, paid.json()
    detail = finance.get(f"{BASE}/invoices/{data['id']}/").json()
    assert (detail["payment_state"], detail["amount_residual"]) == ("partial", "242.36")
    patched = finance.patch(f"{BASE}/invoices/{data['id']}/", {"origin": "SO1"}, format="json")
    assert patched.status_code == 409


def test_bill_with_negative_quantity_is_a_field_error_and_nothing_is_written(books, finance):
    body = invoice_body(books, kind="in_invoice", partner=books.supplier.pk, fapiao_type="")
    body["lines"] = [
        {"description": "零件", "quantity": "-2", "unit_price": "10.00", "tax": books.tax("进项 13%").pk},
    ]
    before = (Invoice.objects.count(), InvoiceLine.objects.count(), JournalEntry.objects.count())
    response = finance.post(f"{BASE}/invoices/", body, format="json")
    assert response.status_code == 400
    assert "lines.0.quantity" in str(response.json())
    assert (Invoice.objects.count(), InvoiceLine.objects.count(), JournalEntry.objects.count()) == before


def test_overpayment_is_a_field_error_on_amount(books, finance):
    books.invoice(("a", "1", "100.00"))
    response = finance.post(
        f"{BASE}/payments/",
        {
            "payment_type": "inbound",
            "partner": books.customer.pk,
            "amount": "500.00",
            "journal": books.bank.pk,
            "date": "2025-04-01",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "amount" in str(response.json()) and not Payment.objects.exists()


def test_payment_allocation_and_unallocation(books, finance):
    first = books.invoice(("a", "1", "100.00"), day=date(2025, 2, 1))
    second = books.invoice(("b", "1", "100.00"), day=date(2025, 3, 1))
    response = finance.post(
        f"{BASE}/payments/",
        {
            "payment_type": "inbound",
            "partner": books.customer.pk,
            "amount": "200.00",
            "journal": books.bank.pk,
            "date": "2025-04-01",
            "allocations": [{"invoice": second.pk, "amount": "113.00"}, {"invoice": first.pk, "amount": "87.00"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    payment_id = response.json()["id"]
    undone = finance.post(f"{BASE}/payments/{payment_id}/unallocate/", {"invoice": second.pk}, format="json")
    assert undone.json()["amount_unallocated"] == "113.00"
    redone = finance.post(f"{BASE}/payments/{payment_id}/allocate/", {}, format="json")
    assert redone.json()["amount_unallocated"] == "0.00"


def test_sales_and_warehouse_cannot_see_invoices(books, api_client):
    books.invoice()
    sales = api_client(make_member(books.company, Role.SALES))
    assert sales.get(f"{BASE}/invoices/").status_code == 403
    assert sales.get(f"{BASE}/partners/").status_code == 200
    assert "credit_limit" not in sales.get(f"{BASE}/partners/").json()["results"][0]
    warehouse = api_client(make_member(books.company, Role.WAREHOUSE))
    assert warehouse.get(f"{BASE}/partners/").status_code == 403
    manager = api_client(make_member(books.company, Role.MANAGER))
    assert manager.post(f"{BASE}/invoices/", invoice_body(books), format="json").status_code == 201


def test_statement_import_suggestions_and_reconcile(books, finance):
    account = bank_services.bank_account_create(company=books.company, name="工行", account_number="6222000011112222")
    invoice = books.invoice(("a", "1", "100.00"))
    csv_bytes = (
        "交易日期,摘要,收入金额,支出金额,余额,对方户名\n"
        "2025-04-01,货款 INV/2025/00001,113.00,,113.00,上海星辰贸易有限公司\n"
        "2025-04-02,坏行,,x,113.00,某\n"
    ).encode("gbk")
    response = finance.post(
        f"{BASE}/bank-statements/import/",
        {"bank_account": account.pk, "file": SimpleUploadedFile("s.csv", csv_bytes), "preset": "cn_bank"},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["line_count"] == 1 and response.json()["import_errors"][0]["row"] == 3
    line_id = finance.get(f"{BASE}/reconciliation/?state=open").json()["results"][0]["id"]
    suggestions = finance.get(f"{BASE}/reconciliation/{line_id}/suggestions/").json()
    assert suggestions[0]["kind"] == "invoice" and suggestions[0]["object_id"] == invoice.pk
    done = finance.post(f"{BASE}/reconciliation/{line_id}/create-payment/", {"invoices": [invoice.pk]}, format="json")
    assert done.status_code == 200 and done.json()["state"] == "reconciled"
    again = finance.post(f"{BASE}/reconciliation/{line_id}/create-payment/", {}, format="json")
    assert again.status_code == 409
    undone = finance.post(f"{BASE}/reconciliation/{line_id}/unreconcile/")
    assert undone.json()["state"] == "open"


def test_aged_balances_and_credit_check(books, finance):
    books.invoice(("a", "1", "100.00"), day=date(2025, 1, 1))
    aged = finance.get(f"{BASE}/reports/aged-balances/?as_of=2025-04-30").json()
    assert aged["totals"]["61_90"] == "113.00" and aged["rows"][0]["partner_name"] == books.customer.name
    check = finance.post(f"{BASE}/credit-check/", {"crm_account_id": 4242, "amount": "9900.00"}, format="json")
    assert check.json()["ok"] is False and check.json()["exposure"] == "113.00"
    assert finance.post(f"{BASE}/credit-check/", {"amount": "1"}, format="json").status_code == 400


@pytest.mark.parametrize("path", ["invoices", "payments", "partners", "taxes", "reconciliation"])
def test_list_query_counts_do_not_grow(books, finance, django_assert_max_num_queries, path):
    for _ in range(6):
        books.invoice()
    from erp.services import invoicing as inv

    inv.payment_create(
        company=books.company,
        payment_type="inbound",
        partner=books.customer,
        amount=D("10.00"),
        journal=books.bank,
        date=date(2025, 4, 1),
    )
    with django_assert_max_num_queries(12):
        response = finance.get(f"{BASE}/{path}/")
    assert response.status_code == 200
