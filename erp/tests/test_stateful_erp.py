"""Property-based test of ERP as a whole (issue 5, acceptance 2): random sequences of customer invoices, vendor
bills, payments in and out, credit notes, stock receipts, deliveries and approved adjustments (valued perpetually
into the ledger), expense claims and reversals of manual entries keep

* the trial balance at zero (posted debits = credits, per period and in total, and the report balances);
* the period balances equal to the sum of the posted lines, per account and period;
* every quant equal to the sum of its moves and never negative;
* the stock account (1405) equal to the value of the stock (valuation layers);

and the services refuse what must be refused (a payment above what is open, a delivery above what is free) with
nothing written. Built on the services of invoicing (erpar), valuation/inventory (erpbuy/inventory) and
expenses (this module's owner), called with plain keyword arguments.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule, run_state_machine_as_test

from erp.models import Invoice, JournalEntry, JournalLine, Location, StockQuant, Warehouse
from erp.selectors.finance import trial_balance
from erp.services import expenses as expenses_svc
from erp.services import finance as fin
from erp.services import inventory as inv
from erp.services import invoicing as invoicing_svc
from erp.services import valuation as valuation_svc
from erp.tests.expense_support import make_office, png
from erp.tests.factories import make_product, make_warehouse
from erp.tests.finance_support import balances_equal_lines
from erp.tests.invoicing_support import make_books
from erp.tests.test_stock_stateful import _QUANT_VS_MOVES

D = Decimal
DAY = date(2025, 3, 15)
amounts = st.integers(min_value=1, max_value=500).map(lambda n: D(n) * D("3.17"))
quantities = st.integers(min_value=1, max_value=12).map(D)


class ErpMachine(RuleBasedStateMachine):
    """The model is the database itself: the invariants are what must hold whatever happened."""

    invoices = Bundle("invoices")
    manual_entries = Bundle("manual_entries")

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.books = make_books()
        self.office = make_office(self.books.ledger)
        self.company = self.books.company
        # stock moves are valued on the day they happen (today): that year needs periods too
        fin.fiscal_year_create(company=self.company, start_date=date(date.today().year, 1, 1))
        valuation_svc.valuation_settings_configure(company=self.company, perpetual=True)
        self.product = make_product(self.company, sku="ERP-1")
        self.warehouse: Warehouse = make_warehouse(self.company)
        self.location = Location.objects.get(warehouse=self.warehouse, is_default=True)
        self.on_hand = D(0)
        self.pending_adjustments = []

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # ---------------------------------------------------------------- receivables and payables

    @rule(target=invoices, customer=st.booleans(), quantity=quantities, price=amounts, taxed=st.booleans())
    def post_invoice(self, customer, quantity, price, taxed):
        kind = "out_invoice" if customer else "in_invoice"
        tax_name = ("增值税 13%" if customer else "进项 13%") if taxed else None
        invoice = self.books.invoice(("货物", str(quantity), str(price), tax_name), kind=kind, day=DAY)
        assert invoice.state == "posted"
        return invoice.pk

    @rule(invoice_pk=invoices, fraction=st.sampled_from([D("0.3"), D("1"), D("1.5")]))
    def pay(self, invoice_pk, fraction):
        invoice = Invoice.objects.get(pk=invoice_pk)
        if invoice.kind not in ("out_invoice", "in_invoice") or invoice.amount_residual <= 0:
            return
        customer = invoice.kind == "out_invoice"
        partner = invoice.partner
        open_total = Invoice.objects.filter(
            company=self.company, partner=partner, kind=invoice.kind, state="posted"
        ).aggregate(s=Sum("amount_residual"))["s"]
        amount = (invoice.amount_residual * fraction).quantize(D("0.01"))
        lines_before = JournalLine.objects.filter(company=self.company).count()
        try:
            invoicing_svc.payment_create(
                company=self.company,
                payment_type="inbound" if customer else "outbound",
                partner=partner,
                amount=amount,
                journal=self.books.bank,
                date=DAY,
                allocations=[{"invoice": invoice, "amount": min(amount, invoice.amount_residual)}],
            )
        except ValidationError:
            assert amount > invoice.amount_residual or amount > open_total  # refused: more than what is open
            assert JournalLine.objects.filter(company=self.company).count() == lines_before  # nothing written
            return
        assert amount <= open_total

    @rule(invoice_pk=consumes(invoices))
    def credit_note(self, invoice_pk):
        invoice = Invoice.objects.get(pk=invoice_pk)
        if invoice.kind not in ("out_invoice", "in_invoice") or invoice.payment_state != "not_paid":
            return
        note = invoicing_svc.credit_note_create(invoice=invoice, invoice_date=DAY, reason="退货", post=True)
        assert note.state == "posted"

    # ---------------------------------------------------------------- stock, valued into the ledger

    @rule(quantity=quantities, cost=st.integers(min_value=1, max_value=80).map(D))
    def receive(self, quantity, cost):
        inv.stock_receive(product=self.product, warehouse=self.warehouse, quantity=quantity, unit_cost=cost)
        self.on_hand += quantity

    @rule(quantity=quantities)
    def deliver(self, quantity):
        try:
            inv.stock_deliver(product=self.product, warehouse=self.warehouse, quantity=quantity)
        except inv.InsufficientStock:
            assert quantity > self.on_hand
            return
        self.on_hand -= quantity

    @rule(delta=st.integers(min_value=-6, max_value=6).filter(bool).map(D))
    def adjust(self, delta):
        try:
            adjustment = inv.stock_adjust(
                product=self.product,
                location=self.location,
                quantity_delta=delta,
                reason="盘点",
                by=self.office.employee,
            )
            inv.stock_adjustment_approve(adjustment=adjustment, by=self.office.manager)
        except (ValidationError, inv.InsufficientStock):
            assert self.on_hand + delta < 0
            return
        self.on_hand += delta

    # ---------------------------------------------------------------- expenses and manual entries

    @rule(amount=amounts)
    def expense_claim(self, amount):
        claim = expenses_svc.expense_claim_create(
            company=self.company,
            employee=self.office.employee,
            title="报销",
            lines=[{"date": DAY, "category": self.office.category(), "amount": amount}],
        )
        expenses_svc.expense_receipt_add(claim=claim, upload=png(), by=self.office.employee)
        claim = self.office.approve_all(claim)
        claim = expenses_svc.expense_claim_post(claim=claim, by=self.office.finance, date=DAY)
        expenses_svc.expense_claim_pay(claim=claim, by=self.office.finance, date=DAY)

    @rule(target=manual_entries, amount=amounts)
    def manual_entry(self, amount):
        ledger = self.books.ledger
        return ledger.post(DAY, ("6602", amount, 0), ("1001", 0, amount)).pk

    @rule(entry_pk=consumes(manual_entries))
    def reverse(self, entry_pk):
        fin.journal_entry_reverse(entry=JournalEntry.objects.get(pk=entry_pk))

    # ---------------------------------------------------------------- invariants

    @invariant()
    def trial_balance_is_zero(self):
        totals = JournalLine.objects.filter(company=self.company, entry__state="posted").aggregate(
            d=Sum("debit"), c=Sum("credit")
        )
        assert (totals["d"] or 0) == (totals["c"] or 0)
        report = trial_balance(period_from=self.books.ledger.period(1), period_to=self.books.ledger.period(12))
        assert report.is_balanced

    @invariant()
    def period_balances_equal_the_lines(self):
        assert balances_equal_lines(self.company) == []

    @invariant()
    def stock_equals_its_moves_and_is_never_negative(self):
        with connection.cursor() as cursor:
            cursor.execute(_QUANT_VS_MOVES, {"c": self.company.pk})
            assert cursor.fetchone()[0] == 0
            cursor.execute(
                "SELECT count(*) FROM erp_stockquant WHERE company_id = %s AND (quantity < 0 OR reserved < 0)",
                [self.company.pk],
            )
            assert cursor.fetchone()[0] == 0
        on_hand = StockQuant.objects.filter(product=self.product).aggregate(s=Sum("quantity"))["s"] or D(0)
        assert on_hand == self.on_hand

    @invariant()
    def stock_account_equals_stock_value(self):
        stock = self.books.ledger.account("1405")
        sums = JournalLine.objects.filter(account=stock, entry__state="posted").aggregate(
            d=Sum("debit"), c=Sum("credit")
        )
        in_ledger = (sums["d"] or D(0)) - (sums["c"] or D(0))
        assert in_ledger == valuation_svc.stock_value_total(company=self.company)


ErpMachine.TestCase.settings = settings(
    max_examples=8,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@pytest.mark.django_db
@pytest.mark.slow
def test_erp_ledger_and_stock_properties(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    run_state_machine_as_test(ErpMachine, settings=ErpMachine.TestCase.settings)
