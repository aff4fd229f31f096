"""Payments: posting, allocation oldest first or explicit, partial payments, overpayment refused, unallocation,
payment states and events, exchange differences."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from erp.models import Allocation, Invoice, JournalEntry, Payment
from erp.services import invoicing as inv
from erp.tests.finance_support import balances_equal_lines, posted_totals
from suite.models.outbox import OutboxEvent

D = Decimal


def pay(books, amount, *, partner=None, payment_type="inbound", **kwargs):
    return inv.payment_create(
        company=books.company,
        payment_type=payment_type,
        partner=partner or books.customer,
        amount=D(amount),
        journal=books.bank,
        date=kwargs.pop("date", date(2025, 4, 1)),
        **kwargs,
    )


def test_payment_posts_bank_against_receivable_and_settles_the_invoice(books):
    invoice = books.invoice(("Widget", "1", "100.00"))
    payment = pay(books, "113.00")
    invoice.refresh_from_db()
    assert (invoice.amount_residual, invoice.payment_state) == (D("0"), "paid")
    assert payment.amount_unallocated == D("0") and payment.number.startswith("BNK-2025-")
    lines = {line.account.code: (line.debit, line.credit) for line in payment.journal_entry.lines.all()}
    assert lines == {"1002": (D("113.00"), D("0")), "1122": (D("0"), D("113.00"))}
    assert balances_equal_lines(books.company) == []
    assert OutboxEvent.objects.filter(name="erp.invoice.paid", payload__invoice_id=invoice.pk).count() == 1
    received = OutboxEvent.objects.get(name="erp.payment.received")
    assert received.payload["allocations"] == [{"invoice_id": invoice.pk, "amount": "113.00"}]
    assert received.payload["crm_account_id"] == 4242


def test_partial_payments_move_the_payment_state(books):
    invoice = books.invoice(("Widget", "1", "100.00"))
    pay(books, "13.00")
    invoice.refresh_from_db()
    assert (invoice.amount_residual, invoice.payment_state) == (D("100.00"), "partial")
    pay(books, "100.00")
    invoice.refresh_from_db()
    assert (invoice.amount_residual, invoice.payment_state) == (D("0"), "paid")


def test_allocation_goes_to_the_oldest_due_first(books):
    late = books.invoice(("A", "1", "100.00"), day=date(2025, 3, 10))
    early = books.invoice(("B", "1", "100.00"), day=date(2025, 2, 10))
    pay(books, "150.00")
    late.refresh_from_db()
    early.refresh_from_db()
    assert (early.amount_residual, early.payment_state) == (D("0"), "paid")
    assert (late.amount_residual, late.payment_state) == (D("76.00"), "partial")


def test_explicit_allocation_across_several_invoices(books):
    first = books.invoice(("A", "1", "100.00"), day=date(2025, 2, 10))
    second = books.invoice(("B", "1", "200.00"), day=date(2025, 3, 10))
    payment = pay(
        books,
        "250.00",
        allocations=[{"invoice": second, "amount": "226.00"}, {"invoice": first.pk, "amount": "24.00"}],
    )
    assert {a.invoice_id: a.amount for a in payment.allocations.all()} == {second.pk: D("226.00"), first.pk: D("24")}
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.amount_residual, second.payment_state) == (D("89.00"), "paid")


def test_a_payment_larger_than_what_is_open_is_refused_and_nothing_is_written(books, english):
    books.invoice(("A", "1", "100.00"))
    before = (Payment.objects.count(), JournalEntry.objects.count(), Allocation.objects.count())
    with pytest.raises(ValidationError) as error:
        pay(books, "113.01")
    assert "larger than" in error.value.message_dict["amount"][0]
    assert (Payment.objects.count(), JournalEntry.objects.count(), Allocation.objects.count()) == before


def test_explicit_allocation_above_the_invoice_residual_is_a_field_error(books):
    invoice = books.invoice(("A", "1", "100.00"))
    books.invoice(("B", "1", "100.00"))
    with pytest.raises(ValidationError) as error:
        pay(books, "200.00", allocations=[{"invoice": invoice, "amount": "150.00"}])
    assert "allocations.0.amount" in error.value.message_dict
    assert not Payment.objects.exists()


def test_unallocation_reopens_the_invoice_and_reallocation_settles_it_again(books):
    invoice = books.invoice(("A", "1", "100.00"))
    payment = pay(books, "113.00")
    payment = inv.payment_unallocate(payment=payment)
    invoice.refresh_from_db()
    assert payment.amount_unallocated == D("113.00")
    assert (invoice.amount_residual, invoice.payment_state) == (D("113.00"), "not_paid")
    inv.payment_allocate(payment=payment)
    invoice.refresh_from_db()
    assert invoice.payment_state == "paid"
    assert OutboxEvent.objects.filter(name="erp.invoice.paid", payload__invoice_id=invoice.pk).count() == 2


def test_supplier_payment_settles_bills(books):
    bill = books.invoice(("Parts", "10", "10.00"), kind="in_invoice")
    payment = pay(books, "113.00", partner=books.supplier, payment_type="outbound")
    bill.refresh_from_db()
    assert bill.payment_state == "paid"
    lines = {line.account.code: (line.debit, line.credit) for line in payment.journal_entry.lines.all()}
    assert lines == {"1002": (D("0"), D("113.00")), "2202": (D("113.00"), D("0"))}
    assert not OutboxEvent.objects.filter(name="erp.payment.received").exists()


def test_cash_payment_uses_1001(books):
    books.invoice(("A", "1", "100.00"))
    payment = inv.payment_create(
        company=books.company,
        payment_type="inbound",
        partner=books.customer,
        amount=D("50.00"),
        journal=books.cash,
        date=date(2025, 4, 1),
    )
    assert payment.journal_entry.lines.get(debit__gt=0).account.code == "1001"


def test_foreign_currency_payment_at_another_rate_books_the_exchange_difference(books):
    invoice = books.invoice(("A", "1", "100.00"), currency="USD", exchange_rate="7.000000")  # 113 USD = 791.00
    pay(books, "113.00", currency="USD", exchange_rate="7.100000")  # 802.30 received
    allocation = Allocation.objects.get(invoice=invoice)
    fx = {line.account.code: (line.debit, line.credit) for line in allocation.exchange_entry.lines.all()}
    assert fx == {"1122": (D("11.30"), D("0")), "6603": (D("0"), D("11.30"))}  # a gain
    receivable = sum(
        (line.debit - line.credit for line in JournalEntry.objects.get(pk=invoice.journal_entry_id).lines.all()),
        D(0),
    )
    assert receivable == D(0)  # the invoice's entry balances
    debit, credit = posted_totals(books.company)
    assert debit == credit
    from erp.models import JournalLine

    ar = JournalLine.objects.filter(entry__company=books.company, account__code="1122")
    assert sum((line.debit - line.credit for line in ar), D(0)) == D(0)  # AR cleared in CNY too
    inv.payment_unallocate(payment=allocation.payment)
    assert JournalEntry.objects.filter(reversal_of=allocation.exchange_entry).exists()


def test_payment_in_another_currency_than_the_invoices_is_refused(books):
    books.invoice(("A", "1", "100.00"))
    with pytest.raises(ValidationError) as error:
        pay(books, "10.00", currency="USD", exchange_rate="7.1")
    assert "amount" in error.value.message_dict
    assert Invoice.objects.get().amount_residual == D("113.00")
