"""Invoices and bills: VAT to the cent, posting, numbering, idempotency, credit notes, cancelling, bad input."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from erp.models import Invoice, InvoiceLine, JournalEntry
from erp.services import invoicing as inv
from erp.services.finance import LedgerConflict
from erp.tests.finance_support import balances_equal_lines, posted_totals
from suite.models.outbox import OutboxEvent

D = Decimal


def entry_lines(invoice: Invoice) -> dict[str, tuple[Decimal, Decimal]]:
    """{account code: (debit, credit)} of the invoice's journal entry."""
    return {
        line.account.code: (line.debit, line.credit) for line in invoice.journal_entry.lines.select_related("account")
    }


@pytest.mark.parametrize(
    ("tax", "quantity", "price", "expected"),
    [
        ("增值税 13%", "3", "33.33", ("99.99", "13.00", "112.99")),
        ("增值税 9%", "7", "14.29", ("100.03", "9.00", "109.03")),
        ("增值税 6%", "1", "0.07", ("0.07", "0.00", "0.07")),
        ("增值税 3%", "2.5", "41.15", ("102.88", "3.09", "105.97")),
        ("增值税 13% 含税", "3", "33.33", ("88.49", "11.50", "99.99")),
        ("增值税 13% 含税", "1", "113.00", ("100.00", "13.00", "113.00")),
        ("零税率", "2", "50.005", ("100.01", "0.00", "100.01")),
        ("免税", "1", "80", ("80.00", "0.00", "80.00")),
    ],
)
def test_line_amounts_are_exact_to_the_cent(books, tax, quantity, price, expected):
    subtotal, tax_amount, total = inv.line_amounts(quantity=D(quantity), unit_price=D(price), tax=books.tax(tax))
    assert (subtotal, tax_amount, total) == tuple(D(x) for x in expected)


def test_invoice_totals_are_sums_of_lines_rounded_per_line(books):
    # 3 lines of 0.05 at 13%: tax per line round(0.0065)=0.01 → 0.03, not round(0.0195)=0.02
    invoice = books.invoice(("A", "1", "0.05"), ("B", "1", "0.05"), ("C", "1", "0.05"), post=False)
    assert (invoice.amount_untaxed, invoice.amount_tax, invoice.amount_total) == (D("0.15"), D("0.03"), D("0.18"))
    mixed = books.invoice(
        ("含税 13%", "3", "33.33", "增值税 13% 含税"),
        ("服务 6%", "1", "1000.00", "增值税 6%"),
        ("免税品", "2", "10.00", "免税"),
        ("运输 9%", "1", "55.55", "增值税 9%"),
        post=False,
    )
    assert mixed.amount_untaxed == D("88.49") + D("1000.00") + D("20.00") + D("55.55")
    assert mixed.amount_tax == D("11.50") + D("60.00") + D("0") + D("5.00")
    assert mixed.amount_total == D("1240.54")


def test_posting_a_customer_invoice_writes_a_balanced_entry_and_publishes(books):
    invoice = books.invoice(("Widget", "10", "100.00"), ("Service", "1", "500.00", "增值税 6%"))
    assert invoice.state == "posted" and invoice.number == "INV/2025/00001"
    assert invoice.due_date == date(2025, 3, 31)  # 30-day term of the customer
    assert invoice.amount_residual == invoice.amount_total == D("1660.00")
    assert entry_lines(invoice) == {
        "1122": (D("1660.00"), D("0")),
        "6001": (D("0"), D("1500.00")),
        "22210102": (D("0"), D("160.00")),
    }
    assert invoice.journal_entry.journal.code == "SAL" and invoice.journal_entry.is_posted
    debit, credit = posted_totals(books.company)
    assert debit == credit == D("1660.00")
    assert balances_equal_lines(books.company) == []
    event = OutboxEvent.objects.get(name="erp.invoice.posted")
    assert event.payload["invoice_id"] == invoice.pk and event.payload["crm_account_id"] == 4242
    assert event.payload["amount_total"] == "1660.00"


def test_posting_is_idempotent_and_numbers_have_no_gap(books):
    first = books.invoice()
    again = inv.invoice_post(invoice=first)
    assert again.journal_entry_id == first.journal_entry_id
    assert JournalEntry.objects.filter(company=books.company, source_key=f"invoice:{first.pk}").count() == 1
    second = books.invoice()
    bill = books.invoice(kind="in_invoice")
    assert [first.number, second.number, bill.number] == ["INV/2025/00001", "INV/2025/00002", "BILL/2025/00001"]


def test_vendor_bill_posts_expense_input_vat_and_payable(books):
    bill = books.invoice(
        ("Office chairs", "4", "250.00"), kind="in_invoice", fapiao_type="special", fapiao_number="0123"
    )
    assert entry_lines(bill) == {
        "6602": (D("1000.00"), D("0")),
        "22210101": (D("130.00"), D("0")),
        "2202": (D("0"), D("1130.00")),
    }
    assert bill.journal_entry.journal.code == "PUR" and bill.journal_entry.reference == "0123"


def test_bill_with_a_negative_quantity_is_refused_and_nothing_is_written(books):
    before = (Invoice.objects.count(), InvoiceLine.objects.count(), JournalEntry.objects.count())
    with pytest.raises(ValidationError) as error:
        books.invoice(("Good", "2", "10.00"), ("Returned", "-1", "10.00"), kind="in_invoice")
    assert "lines.1.quantity" in error.value.message_dict
    assert (Invoice.objects.count(), InvoiceLine.objects.count(), JournalEntry.objects.count()) == before


def test_the_database_refuses_a_negative_quantity_too(books):
    invoice = books.invoice(post=False)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE erp_invoiceline SET quantity = -1 WHERE invoice_id = %s", [invoice.pk])


def test_bad_input_is_field_errors(books):
    with pytest.raises(ValidationError) as error:
        inv.invoice_create(
            company=books.company,
            kind="out_invoice",
            partner=books.customer,
            lines=[
                {"description": "x", "quantity": "abc", "unit_price": "1"},
                {"description": "y", "quantity": "1", "unit_price": "1", "tax": books.tax("进项 13%")},
                {"description": "z", "quantity": "1", "unit_price": "1", "discount": "120"},
            ],
            invoice_date=date(2025, 3, 1),
            due_date=date(2025, 2, 1),
            currency="USD",
            exchange_rate="0",
        )
    assert set(error.value.message_dict) == {
        "lines.0.quantity",
        "lines.1.tax",
        "lines.2.discount",
        "due_date",
        "exchange_rate",
    }
    with pytest.raises(ValidationError) as error:
        books.invoice(partner=books.supplier)
    assert "partner" in error.value.message_dict


def test_foreign_currency_invoice_posts_at_its_rate_and_books_the_rounding_cent(books):
    invoice = books.invoice(
        ("A", "1", "0.10"), ("B", "1", "0.10"), ("C", "1", "0.10"), currency="USD", exchange_rate="7.105000"
    )
    lines = entry_lines(invoice)
    # 0.30 + 0.03 tax = 0.33 USD; parts 0.71 + 0.21 = 0.92 CNY… total round(0.33 × 7.105) = 2.34
    assert lines["1122"] == (D("2.34"), D("0"))
    debit, credit = posted_totals(books.company)
    assert debit == credit
    assert invoice.journal_entry.lines.filter(currency="USD").count() == 3


def test_cancel_only_drafts(books):
    draft = books.invoice(post=False)
    assert inv.invoice_cancel(invoice=draft).state == "cancelled"
    with pytest.raises(LedgerConflict):
        inv.invoice_post(invoice=draft)
    posted = books.invoice()
    with pytest.raises(LedgerConflict):
        inv.invoice_cancel(invoice=posted)


def test_full_credit_note_reverses_the_invoice(books):
    invoice = books.invoice(("Widget", "2", "100.00"))
    credit_note = inv.credit_note_create(invoice=invoice, invoice_date=date(2025, 3, 5), reason="退货", post=True)
    invoice.refresh_from_db()
    assert credit_note.number == "RINV/2025/00001" and credit_note.amount_total == D("226.00")
    assert entry_lines(credit_note) == {
        "1122": (D("0"), D("226.00")),
        "6001": (D("200.00"), D("0")),
        "22210102": (D("26.00"), D("0")),
    }
    assert (invoice.amount_residual, invoice.payment_state) == (D("0"), "reversed")
    assert credit_note.amount_residual == D("0")
    with pytest.raises(ValidationError):
        inv.credit_note_create(invoice=invoice, invoice_date=date(2025, 3, 6))


def test_partial_credit_note_reduces_what_is_open(books):
    invoice = books.invoice(("Widget", "10", "100.00"))
    inv.credit_note_create(
        invoice=invoice,
        lines=[{"description": "折让", "quantity": "1", "unit_price": "100.00", "tax": books.tax("增值税 13%")}],
        invoice_date=date(2025, 3, 2),
        post=True,
    )
    invoice.refresh_from_db()
    assert (invoice.amount_residual, invoice.payment_state) == (D("1017.00"), "partial")


def test_payment_term_lines_and_end_of_month(books):
    from erp.services import partners as ps

    term = ps.payment_term_create(
        company=books.company, name="30/70", lines=[{"percent": 30, "days": 10}, {"percent": 70, "days": 60}]
    )
    eom = ps.payment_term_create(company=books.company, name="月结30天", days=30, end_of_month=True)
    assert ps.payment_term_due_date(term, date(2025, 1, 15)) == date(2025, 3, 16)
    assert ps.payment_term_due_date(eom, date(2025, 1, 15)) == date(2025, 3, 2)
    with pytest.raises(ValidationError):
        ps.payment_term_create(company=books.company, name="bad", lines=[{"percent": 50, "days": 10}])
