"""Procurement: requisitions → RFQs → purchase orders with approval thresholds → partial receipts with lots and
over-receipt tolerance → vendor bills with three-way match (blocked / approved), supplier performance, and
confirmed orders as incoming supply for available-to-promise."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from erp.models import (
    GoodsReceipt,
    IncomingSupply,
    InvoiceState,
    Lot,
    MatchState,
    PurchaseOrderState,
    RequisitionSource,
    RequisitionState,
    RfqState,
    StockMove,
    SupplyState,
)
from erp.selectors.inventory import available_to_promise, stock_level
from erp.selectors.procurement import supplier_performance
from erp.services import inventory as inv
from erp.services import invoicing
from erp.services import partners as ps
from erp.services import procurement as buy
from suite.models import OutboxEvent, Role

pytestmark = pytest.mark.django_db


def confirmed_order(buying, *, quantity=10, price="5.00", product=None, expected=None, by=None, **product_fields):
    product = product or buying.product(**product_fields)
    order = buy.purchase_order_create(
        company=buying.company,
        supplier=buying.supplier,
        warehouse=buying.warehouse,
        expected_date=expected or timezone.localdate() + dt.timedelta(days=3),
        lines=[{"product": product, "quantity": quantity, "unit_price": D(price)}],
        by=by,
    )
    buy.purchase_order_submit(order=order, by=by)
    return buy.purchase_order_confirm(order=order, by=by), product


# ---------------------------------------------------------------- approval


def test_orders_above_the_threshold_wait_for_a_manager_who_did_not_submit(buying):
    buy.procurement_settings_set(company=buying.company, approval_threshold=D("1000"))
    clerk = buying.member(Role.WAREHOUSE)
    manager, other_manager = buying.member(Role.MANAGER), buying.member(Role.MANAGER)
    product = buying.product()

    def order(quantity):
        return buy.purchase_order_create(
            company=buying.company,
            supplier=buying.supplier,
            warehouse=buying.warehouse,
            lines=[{"product": product, "quantity": quantity, "unit_price": D("100")}],
        )

    small = buy.purchase_order_submit(order=order(10), by=clerk)  # 1000.00: not above
    assert small.state == PurchaseOrderState.APPROVED
    big = buy.purchase_order_submit(order=order(11), by=manager)
    assert big.state == PurchaseOrderState.TO_APPROVE
    with pytest.raises(buy.ProcurementConflict):
        buy.purchase_order_confirm(order=big)
    with pytest.raises(buy.ProcurementConflict):
        buy.purchase_order_approve(order=big, by=clerk)  # not a manager
    with pytest.raises(buy.ProcurementConflict):
        buy.purchase_order_approve(order=big, by=manager)  # submitted it
    big = buy.purchase_order_approve(order=big, by=other_manager)
    assert big.state == PurchaseOrderState.APPROVED and big.approved_by == other_manager
    assert buy.purchase_order_confirm(order=big).state == PurchaseOrderState.CONFIRMED


def test_order_input_errors_are_field_errors_and_write_nothing(buying):
    product = buying.product()
    customer_only = ps.partner_create(company=buying.company, name="只是客户", is_customer=True, is_supplier=False)
    with pytest.raises(ValidationError) as caught:
        buy.purchase_order_create(
            company=buying.company,
            supplier=customer_only,
            warehouse=buying.warehouse,
            lines=[{"product": product, "quantity": "-2", "unit_price": "abc"}],
        )
    assert set(caught.value.message_dict) == {"supplier", "lines.0.quantity", "lines.0.unit_price"}
    assert not buying.company.__class__.objects.none().exists()
    from erp.models import PurchaseOrder

    assert not PurchaseOrder.objects.filter(company=buying.company).exists()


# ---------------------------------------------------------------- receipts


def test_partial_receipt_leaves_a_backorder_counted_as_incoming_supply(buying):
    order, product = confirmed_order(buying, quantity=10)
    line = order.lines.get()
    expected = line.expected_date
    atp = available_to_promise(company=buying.company, product=product)
    assert atp.available_on(expected) == D("10") and atp.available_on(expected - dt.timedelta(days=1)) == D("0")

    receipt = buy.goods_receive(order=order, lines=[{"order_line": line, "quantity": 4}])
    order.refresh_from_db()
    line.refresh_from_db()
    assert order.state == PurchaseOrderState.CONFIRMED and line.received_quantity == D("4")
    assert stock_level(company=buying.company, product=product).on_hand == D("4")
    supply = IncomingSupply.objects.get(pk=line.incoming_supply_id)
    assert supply.open_quantity == D("6") and supply.state == SupplyState.OPEN
    atp = available_to_promise(company=buying.company, product=product)
    assert atp.available_on(timezone.localdate()) == D("4") and atp.available_on(expected) == D("10")

    buy.goods_receive(order=order, lines=[{"order_line": line, "quantity": 6}])
    order.refresh_from_db()
    assert order.state == PurchaseOrderState.DONE
    assert IncomingSupply.objects.get(pk=line.incoming_supply_id).state == SupplyState.DONE
    assert GoodsReceipt.objects.filter(purchase_order=order).count() == 2
    assert StockMove.objects.get(reference=receipt.number).unit_cost == D("5.0000")
    assert buying.balance("1405") == D("50.00") and buying.balance("1402") == D("-50.00")


def test_receipt_beyond_the_order_is_refused_and_nothing_is_written(buying):
    order, product = confirmed_order(buying, quantity=10)
    line = order.lines.get()
    with pytest.raises(ValidationError) as caught:
        buy.goods_receive(order=order, lines=[{"order_line": line, "quantity": "10.5"}])
    assert "lines.0.quantity" in caught.value.message_dict
    assert not GoodsReceipt.objects.filter(purchase_order=order).exists()
    assert not StockMove.objects.filter(product=product).exists()
    line.refresh_from_db()
    assert line.received_quantity == 0

    # two lines for the same order line that together exceed it are refused as well
    with pytest.raises(ValidationError):
        buy.goods_receive(order=order, lines=[{"order_line": line, "quantity": 6}, {"order_line": line, "quantity": 5}])
    assert not StockMove.objects.filter(product=product).exists()


def test_receipt_within_the_over_receipt_tolerance_is_accepted(buying):
    buy.procurement_settings_set(company=buying.company, over_receipt_tolerance=D("10"))
    order, product = confirmed_order(buying, quantity=10)
    line = order.lines.get()
    assert line.receipt_limit == D("11")
    buy.goods_receive(order=order, lines=[{"order_line": line, "quantity": 11}])
    with pytest.raises(buy.ProcurementConflict):  # done: nothing more can be received
        buy.goods_receive(order=order, lines=[{"order_line": line, "quantity": 1}])
    assert stock_level(company=buying.company, product=product).on_hand == D("11")


def test_the_database_refuses_receiving_beyond_the_limit(buying):
    order, _product = confirmed_order(buying, quantity=10)
    line = order.lines.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        type(line).objects.filter(pk=line.pk).update(received_quantity=D("10.0001"))


def test_receipt_with_new_lots(buying):
    order, product = confirmed_order(buying, quantity=5, tracks_lots=True)
    line = order.lines.get()
    with pytest.raises(ValidationError) as caught:
        buy.goods_receive(order=order, lines=[{"order_line": line, "quantity": 2}])
    assert "lines.0.lot" in caught.value.message_dict
    expiry = timezone.localdate() + dt.timedelta(days=365)
    buy.goods_receive(
        order=order,
        lines=[
            {"order_line": line, "quantity": 2, "lot_code": "B2401", "expiry_date": expiry},
            {"order_line": line, "quantity": 3, "lot_code": "B2402"},
        ],
    )
    lots = dict(Lot.objects.filter(product=product).values_list("code", "expiry_date"))
    assert lots == {"B2401": expiry, "B2402": None}
    assert stock_level(company=buying.company, product=product, lot=Lot.objects.get(code="B2401")).on_hand == D("2")


def test_confirm_and_receive_publish_events(buying):
    order, _product = confirmed_order(buying, quantity=3)
    buy.goods_receive(order=order, lines=[{"order_line": order.lines.get(), "quantity": 3}])
    confirmed = OutboxEvent.objects.get(name="erp.purchase_order.confirmed", payload__purchase_order_id=order.pk)
    assert confirmed.payload["lines"][0]["quantity"] == "3.0000"
    received = OutboxEvent.objects.get(name="erp.goods.received", payload__purchase_order_id=order.pk)
    assert received.payload["order_done"] is True


def test_cancel_drops_the_expected_supply_but_not_after_a_receipt(buying):
    order, _product = confirmed_order(buying, quantity=3)
    supply_id = order.lines.get().incoming_supply_id
    buy.purchase_order_cancel(order=order)
    assert IncomingSupply.objects.get(pk=supply_id).state == SupplyState.CANCELLED
    order, _product = confirmed_order(buying, quantity=3)
    buy.goods_receive(order=order, lines=[{"order_line": order.lines.get(), "quantity": 1}])
    with pytest.raises(buy.ProcurementConflict):
        buy.purchase_order_cancel(order=order)


# ---------------------------------------------------------------- requisitions and RFQs


def test_reorder_suggestion_to_requisition_to_rfqs_to_order(buying):
    product = buying.product()
    inv.reorder_rule_create(product=product, warehouse=buying.warehouse, min_quantity=5, max_quantity=20)
    [requisition] = buy.requisitions_from_reorder_suggestions(company=buying.company)
    assert requisition.source == RequisitionSource.REORDER
    assert list(requisition.lines.values_list("product_id", "quantity")) == [(product.pk, D("20"))]
    assert buy.requisitions_from_reorder_suggestions(company=buying.company) == []  # already covered

    buy.requisition_approve(requisition=requisition)
    second = ps.partner_create(company=buying.company, name="无锡五金", is_customer=False, is_supplier=True)
    cheap, dear = buy.rfqs_create(requisition=requisition, suppliers=[buying.supplier, second])
    buy.rfq_quote(rfq=cheap, lines=[{"line": cheap.lines.get(), "unit_price": "4.20", "lead_time_days": 5}])
    buy.rfq_quote(rfq=dear, lines=[{"line": dear.lines.get(), "unit_price": "4.90"}])
    order = buy.rfq_accept(rfq=cheap)

    assert order.state == PurchaseOrderState.DRAFT and order.supplier == buying.supplier
    assert order.lines.get().unit_price == D("4.2000")
    assert order.expected_date == timezone.localdate() + dt.timedelta(days=5)
    dear.refresh_from_db()
    requisition.refresh_from_db()
    assert dear.state == RfqState.REJECTED and requisition.state == RequisitionState.DONE


# ---------------------------------------------------------------- bills and the three-way match


def _received(buying, quantity=10, price="5.00"):
    order, _product = confirmed_order(buying, quantity=quantity, price=price)
    buy.goods_receive(order=order, lines=[{"order_line": order.lines.get(), "quantity": quantity}])
    return order


def test_matching_bill_posts_and_clears_goods_received_not_invoiced(buying):
    order = _received(buying)
    bill = buy.vendor_bill_create(order=order, invoice_date=timezone.localdate())
    assert bill.purchase_match.state == MatchState.MATCHED
    bill = buy.vendor_bill_post(invoice=bill)
    assert bill.state == InvoiceState.POSTED
    assert buying.balance("1402") == D("0.00")
    assert buying.balance("2202") == D("-50.00")
    assert order.lines.get().billed_quantity == D("10")


def test_price_variance_blocks_the_bill_until_finance_approves(buying):
    finance = buying.member(Role.FINANCE)
    clerk = buying.member(Role.WAREHOUSE)
    order = _received(buying)
    line = order.lines.get()
    bill = buy.vendor_bill_create(
        order=order,
        lines=[{"order_line": line, "quantity": 10, "unit_price": "5.50"}],
        invoice_date=timezone.localdate(),
    )
    match = bill.purchase_match
    assert match.state == MatchState.BLOCKED and match.issues[0]["kind"] == "price"

    with pytest.raises(buy.ProcurementConflict) as caught:
        buy.vendor_bill_post(invoice=bill)
    assert caught.value.code == "bill_blocked"
    with pytest.raises(IntegrityError), transaction.atomic():  # even the plain invoice service cannot post it
        invoicing.invoice_post(invoice=bill)
    bill.refresh_from_db()
    assert bill.state == InvoiceState.DRAFT

    with pytest.raises(buy.ProcurementConflict):
        buy.bill_variance_approve(match=match, by=clerk)
    buy.bill_variance_approve(match=match, by=finance, note="涨价已确认")
    assert buy.vendor_bill_post(invoice=bill, by=finance).state == InvoiceState.POSTED


def test_billing_more_than_received_blocks_and_tolerances_let_small_gaps_pass(buying):
    buy.procurement_settings_set(company=buying.company, bill_price_tolerance=D("2"))
    order = _received(buying, quantity=10)
    line = order.lines.get()
    over = buy.vendor_bill_create(order=order, lines=[{"order_line": line, "quantity": 12, "unit_price": "5.00"}])
    assert over.purchase_match.state == MatchState.BLOCKED
    assert over.purchase_match.issues[0]["kind"] == "quantity"
    invoicing.invoice_cancel(invoice=over)
    close = buy.vendor_bill_create(order=order, lines=[{"order_line": line, "quantity": 10, "unit_price": "5.10"}])
    assert close.purchase_match.state == MatchState.MATCHED  # 2 % price tolerance


# ---------------------------------------------------------------- supplier performance


def test_supplier_performance_on_time_rate_and_price_variance(buying):
    late_product = buying.product()
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    on_time = _received(buying, quantity=4, price="10.00")
    late, _p = confirmed_order(buying, quantity=2, price="10.00", product=late_product)
    from erp.models import PurchaseOrderLine

    PurchaseOrderLine.objects.filter(order=late).update(expected_date=yesterday)
    buy.goods_receive(order=late, lines=[{"order_line": late.lines.get(), "quantity": 2}])
    bill = buy.vendor_bill_create(
        order=on_time, lines=[{"order_line": on_time.lines.get(), "quantity": 4, "unit_price": "10.50"}]
    )
    assert bill.purchase_match.state == MatchState.BLOCKED

    [row] = supplier_performance(company=buying.company)
    assert row.supplier_id == buying.supplier.pk
    assert (row.receipt_lines, row.on_time_lines) == (2, 1)
    assert row.on_time_rate == D("0.5000")
    assert row.billed_amount_at_order_price == D("40.00")
    assert row.price_variance == D("2.00")
