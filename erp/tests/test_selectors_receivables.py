"""Aged balances, credit check and the CRM-facing summaries."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from erp.selectors import receivables as sel
from erp.services import invoicing as inv

D = Decimal


def test_aged_receivables_buckets_as_of_a_date(books):
    as_of = date(2025, 6, 30)
    # due dates: invoice date + 30 days (the customer's term); overdue days as of 30 June
    books.invoice(("a", "1", "100.00"), day=date(2025, 6, 15))  # due 15 Jul: current
    books.invoice(("b", "1", "200.00"), day=date(2025, 5, 20))  # due 19 Jun: 11 days
    books.invoice(("c", "1", "300.00"), day=date(2025, 4, 10))  # due 10 May: 51 days
    books.invoice(("d", "1", "400.00"), day=date(2025, 3, 10))  # due 9 Apr: 82 days
    old = books.invoice(("e", "1", "500.00"), day=date(2025, 1, 10))  # due 9 Feb: 141 days
    books.invoice(("f", "1", "999.00"), day=date(2025, 7, 2))  # after the date: not counted
    inv.payment_create(
        company=books.company,
        payment_type="inbound",
        partner=books.customer,
        amount=D("65.00"),
        journal=books.bank,
        date=date(2025, 6, 1),
        allocations=[{"invoice": old, "amount": "65.00"}],
    )
    inv.payment_create(  # paid after the date: still open as of 30 June
        company=books.company,
        payment_type="inbound",
        partner=books.customer,
        amount=D("100.00"),
        journal=books.bank,
        date=date(2025, 7, 5),
        allocations=[{"invoice": old, "amount": "100.00"}],
    )
    aged = sel.aged_balances(company=books.company, as_of=as_of)
    assert aged.totals == {
        "current": D("113.00"),
        "1_30": D("226.00"),
        "31_60": D("339.00"),
        "61_90": D("452.00"),
        "over_90": D("500.00"),
    }
    assert len(aged.rows) == 1 and aged.rows[0].total == aged.total == D("1630.00")


def test_aged_payables_and_credit_notes_count_negative(books):
    bill = books.invoice(("parts", "1", "1000.00"), kind="in_invoice", day=date(2025, 3, 1))
    inv.credit_note_create(
        invoice=bill,
        lines=[{"description": "折让", "quantity": 1, "unit_price": "100.00", "tax": books.tax("进项 13%")}],
        invoice_date=date(2025, 3, 5),
        post=True,
    )
    aged = sel.aged_balances(company=books.company, as_of=date(2025, 3, 10), side="payable")
    assert aged.total == D("1017.00") and aged.totals["1_30"] == D("1017.00")  # bills are due on their date


def test_credit_check_counts_open_and_draft_invoices(books):
    books.invoice(("a", "1", "5000.00"))  # 5650 open
    books.invoice(("b", "1", "1000.00"), post=False)  # 1130 draft
    ok, exposure, limit, _reason = sel.credit_check(company=books.company, crm_account_id=4242, amount=D("3000"))
    assert (ok, exposure, limit) == (True, D("6780.00"), D("10000.00"))
    result = sel.credit_check(company=books.company, partner=books.customer, amount=D("3220.01"))
    assert not result.ok and "exceeds" in result.reason
    unknown = sel.credit_check(company=books.company, crm_account_id=999, amount=D("1"))
    assert unknown.ok and unknown.exposure == 0


def test_customer_finance_summary_and_documents(books, django_assert_max_num_queries):
    first = books.invoice(("a", "1", "100.00"), day=date(2025, 1, 10))
    books.invoice(("b", "1", "200.00"), day=date(2025, 3, 1))
    inv.payment_create(
        company=books.company,
        payment_type="inbound",
        partner=books.customer,
        amount=D("113.00"),
        journal=books.bank,
        date=date(2025, 2, 1),
        allocations=[{"invoice": first}],
    )
    summary = sel.customer_finance_summary(company_id=books.company.pk, crm_account_id=4242, today=date(2025, 4, 15))
    assert summary["outstanding"] == D("226.00") and summary["overdue"] == D("226.00")
    assert summary["lifetime_revenue"] == D("300.00")
    assert (summary["last_payment_date"], summary["last_payment_amount"]) == (date(2025, 2, 1), D("113.00"))
    with django_assert_max_num_queries(3):
        documents = sel.customer_finance_documents(company_id=books.company.pk, crm_account_id=4242, limit=10)
    assert [d["type"] for d in documents] == ["invoice", "payment", "invoice"]
    assert sel.customer_finance_summary(company_id=books.company.pk, crm_account_id=1)["partner_id"] is None
