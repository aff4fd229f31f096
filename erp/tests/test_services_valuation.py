"""Inventory valuation: moving average and FIFO worked examples, the ledger postings of receipts, deliveries and
adjustments (balanced, stock account = sum of the layers), and a posting refused → nothing written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone

from erp.models import CostMethod, JournalEntry, ProductValuation, StockMove, StockQuant, StockValuationLayer
from erp.services import inventory as inv
from erp.services import valuation
from erp.tests.finance_support import balances_equal_lines, posted_totals
from erp.tests.procurement_support import make_buying
from suite.models import Role

pytestmark = pytest.mark.django_db


def _layers(product):
    return list(StockValuationLayer.objects.filter(product=product).order_by("id").values_list("quantity", "value"))


def _state(product) -> tuple[D, D]:
    valuation_row = ProductValuation.objects.get(product=product)
    return valuation_row.quantity, valuation_row.value


def test_moving_average_worked_example(buying):
    """10 @ 5.00 and 10 @ 8.00 → average 6.50; 5 out = 32.50; the last 15 out take exactly the 97.50 left."""
    product = buying.product(cost_method=CostMethod.MOVING_AVERAGE)
    wh = buying.warehouse
    inv.stock_receive(product=product, warehouse=wh, quantity=10, unit_cost=D("5"), reference="R1")
    inv.stock_receive(product=product, warehouse=wh, quantity=10, unit_cost=D("8"), reference="R2")
    assert _state(product) == (D("20"), D("130.00"))

    inv.stock_deliver(product=product, warehouse=wh, quantity=5, reference="D1")
    assert _layers(product)[-1] == (D("-5"), D("-32.50"))
    inv.stock_deliver(product=product, warehouse=wh, quantity=15, reference="D2")
    assert _layers(product)[-1] == (D("-15"), D("-97.50"))
    assert _state(product) == (D("0"), D("0.00"))


def test_moving_average_rounding_never_leaves_value_behind(buying):
    """3 @ 10.00 out one by one: 10.00 each; 1 @ 3.3333 three times: the last unit takes what is left."""
    product = buying.product()
    wh = buying.warehouse
    inv.stock_receive(product=product, warehouse=wh, quantity=3, unit_cost=D("3.3333"))
    assert _state(product) == (D("3"), D("10.00"))
    for _ in range(3):
        inv.stock_deliver(product=product, warehouse=wh, quantity=1)
    assert [value for _q, value in _layers(product)[1:]] == [D("-3.33"), D("-3.34"), D("-3.33")]
    assert _state(product) == (D("0"), D("0.00"))


def test_fifo_worked_example(buying):
    """FIFO: 10 @ 5.00 then 10 @ 8.00; 12 out = 10 × 5 + 2 × 8 = 66.00; 8 @ 8.00 = 64.00 remain in the second
    layer; a receipt @ 9.00 then 10 out = 8 × 8 + 2 × 9 = 82.00."""
    product = buying.product(cost_method=CostMethod.FIFO)
    wh = buying.warehouse
    first = inv.stock_receive(product=product, warehouse=wh, quantity=10, unit_cost=D("5"))
    second = inv.stock_receive(product=product, warehouse=wh, quantity=10, unit_cost=D("8"))
    inv.stock_deliver(product=product, warehouse=wh, quantity=12)
    assert _layers(product)[-1] == (D("-12"), D("-66.00"))
    remaining = dict(
        StockValuationLayer.objects.filter(move__in=[first, second]).values_list("move_id", "remaining_quantity")
    )
    assert remaining == {first.pk: D("0"), second.pk: D("8")}
    assert _state(product) == (D("8"), D("64.00"))

    inv.stock_receive(product=product, warehouse=wh, quantity=5, unit_cost=D("9"))
    inv.stock_deliver(product=product, warehouse=wh, quantity=10)
    assert _layers(product)[-1] == (D("-10"), D("-82.00"))
    assert _state(product) == (D("3"), D("27.00"))
    assert StockValuationLayer.objects.filter(product=product).aggregate(v=Sum("value"))["v"] == D("27.00")


def test_postings_are_balanced_and_the_stock_account_equals_the_layers(buying):
    """Receipt: Dr 1405 / Cr 1402; delivery: Dr 6401 / Cr 1405; found and lost stock: 1405 vs 1901. After each
    operation the stock account's balance is the sum of the layers and the ledger balances."""
    company = buying.company
    approver = buying.member(Role.MANAGER)
    fifo = buying.product(cost_method=CostMethod.FIFO)
    average = buying.product()
    wh = buying.warehouse
    location = wh.locations.get(is_default=True)

    def check():
        assert buying.balance("1405") == valuation.stock_value_total(company=company)
        debit, credit = posted_totals(company)
        assert debit == credit
        assert balances_equal_lines(company) == []

    inv.stock_receive(product=fifo, warehouse=wh, quantity=10, unit_cost=D("5"))
    inv.stock_receive(product=average, warehouse=wh, quantity=4, unit_cost=D("2.5"))
    check()
    assert buying.balance("1402") == D("-60.00")  # goods received, not yet invoiced

    inv.stock_deliver(product=fifo, warehouse=wh, quantity=3)
    check()
    assert buying.balance("6401") == D("15.00")

    gain = inv.stock_adjust(product=average, location=location, quantity_delta=2, reason="找到")
    inv.stock_adjustment_approve(adjustment=gain, by=approver)
    loss = inv.stock_adjust(product=fifo, location=location, quantity_delta=-1, reason="损坏")
    inv.stock_adjustment_approve(adjustment=loss, by=approver)
    check()
    assert buying.balance("1901") == D("5.00") - D("5.00")  # +2 @ 2.50 found, −1 @ 5.00 lost
    assert buying.balance("1405") == D("6") * 5 + D("6") * D("2.5")  # fifo 10 − 3 − 1 @ 5; average 4 + 2 @ 2.50


def test_transfers_change_no_value(buying):
    product = buying.product()
    from erp.tests.factories import make_warehouse

    other = make_warehouse(buying.company)
    inv.stock_receive(product=product, warehouse=buying.warehouse, quantity=10, unit_cost=D("3"))
    entries = JournalEntry.objects.filter(company=buying.company).count()
    inv.stock_transfer(product=product, quantity=4, from_warehouse=buying.warehouse, to_warehouse=other)
    assert JournalEntry.objects.filter(company=buying.company).count() == entries
    assert StockValuationLayer.objects.filter(product=product).count() == 1
    assert _state(product) == (D("10"), D("30.00"))


def test_a_posting_the_ledger_refuses_writes_nothing(buying):
    """A receipt dated in a year without a fiscal year cannot be posted: no move, no quant, no layer."""
    product = buying.product()
    long_ago = timezone.make_aware(dt.datetime(2001, 5, 1, 10, 0))
    with pytest.raises(ValidationError) as caught:
        inv.stock_receive(product=product, warehouse=buying.warehouse, quantity=5, unit_cost=D("1"), moved_at=long_ago)
    assert "moved_at" in caught.value.message_dict
    assert not StockMove.objects.filter(product=product).exists()
    assert not StockQuant.objects.filter(product=product, quantity__gt=0).exists()
    assert not StockValuationLayer.objects.filter(product=product).exists()


def test_periodic_valuation_keeps_layers_without_postings(db):
    books = make_buying(perpetual=False)
    product = books.product()
    inv.stock_receive(product=product, warehouse=books.warehouse, quantity=2, unit_cost=D("7"))
    assert _layers(product) == [(D("2"), D("14.00"))]
    assert not JournalEntry.objects.filter(company=books.company).exists()


def test_cost_method_cannot_change_while_in_stock(buying):
    product = buying.product()
    inv.stock_receive(product=product, warehouse=buying.warehouse, quantity=1, unit_cost=D("1"))
    with pytest.raises(ValidationError) as caught:
        inv.product_update(product=product, cost_method=CostMethod.FIFO)
    assert "cost_method" in caught.value.message_dict
