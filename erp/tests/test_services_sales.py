"""Sales fulfilment services: orders priced from price lists, confirmation with reservation and credit check,
pick / pack / ship with backorders and lots, invoices from delivered quantities, returns with credit notes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from erp.models import (
    DeliveryOrder,
    DeliveryState,
    Invoice,
    InvoiceLine,
    MoveKind,
    SalesOrder,
    SalesOrderLine,
    SalesOrderState,
    SalesReturn,
    StockMove,
    StockQuant,
    StockReservation,
)
from erp.selectors import inventory as inventory_selectors
from erp.selectors import sales as sales_selectors
from erp.services import inventory as inv
from erp.services import sales as svc
from erp.tests.sales_support import make_shop, post
from suite.models import OutboxEvent

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def shop(company):
    return make_shop(company)


def events_named(name: str, **payload) -> list[OutboxEvent]:
    rows = list(OutboxEvent.objects.filter(name=name).order_by("id"))
    return [row for row in rows if all(row.payload.get(k) == v for k, v in payload.items())]


def free(shop, product) -> Decimal:
    return inventory_selectors.stock_level(company=shop.company, product=product, warehouse=shop.warehouse).free


# ---------------------------------------------------------------- create


def test_an_order_is_priced_from_the_customers_price_list_with_tax(shop):
    product = shop.product(price=D("120"))
    vip = inv.price_list_create(company=shop.company, name="VIP", customer_group="vip")
    inv.price_list_item_set(price_list=vip, product=product, unit_price=D("100"), min_quantity=D("10"))
    shop.customer.customer_group = "vip"
    shop.customer.save(update_fields=["customer_group"])

    order = svc.sales_order_create(
        company=shop.company,
        partner=shop.customer,
        lines=[
            {"product": product, "quantity": D("10"), "tax": shop.vat, "discount": D("10")},
            {"product": product.pk, "quantity": 2},
        ],
        warehouse=shop.warehouse,
    )

    first, second = order.lines.order_by("sequence")
    assert (first.unit_price, first.price_source, first.subtotal, first.tax_amount, first.total) == (
        D("100"),
        "price_list",
        D("900.00"),
        D("117.00"),
        D("1017.00"),
    )
    assert (second.unit_price, second.price_source, second.total) == (D("120"), "list_price", D("240.00"))
    assert (order.number, order.state, order.amount_untaxed, order.amount_tax, order.amount_total) == (
        "SO00001",
        "draft",
        D("1140.00"),
        D("117.00"),
        D("1257.00"),
    )
    assert order.crm_account_id == shop.customer.crm_account_id


def test_bad_lines_are_field_errors_and_nothing_is_written(shop, other_company):
    product = shop.product()
    foreign = make_shop(other_company).product()

    with pytest.raises(ValidationError) as caught:
        svc.sales_order_create(
            company=shop.company,
            partner=shop.customer,
            lines=[
                {"product": product, "quantity": D("-1")},
                {"product": foreign, "quantity": 1},
                {"product": product, "quantity": D("1.5")},
                {"product": product, "quantity": 1, "discount": 120},
            ],
        )

    assert set(caught.value.message_dict) == {
        "lines.0.quantity",
        "lines.1.product",
        "lines.2.quantity",
        "lines.3.discount",
    }
    assert not SalesOrder.objects.exists()
    with pytest.raises(ValidationError) as caught:
        svc.sales_order_create(company=shop.company, partner=shop.customer, lines=[])
    assert "lines" in caught.value.message_dict


def test_an_order_for_a_crm_opportunity_is_made_once(shop):
    product = shop.product(stock=D("5"))

    first = shop.order((product, 1), crm_opportunity_id=991)
    again = shop.order((product, 3), crm_opportunity_id=991)

    assert again.pk == first.pk
    assert SalesOrder.objects.filter(crm_opportunity_id=991).count() == 1


# ---------------------------------------------------------------- confirm, reserve, credit hold


def test_confirming_reserves_stock_and_makes_a_delivery_per_warehouse(shop):
    product = shop.product(stock=D("10"))
    other = shop.product(stock=D("10"))

    order = shop.confirmed((product, 4), (other, 10))

    assert order.state == SalesOrderState.CONFIRMED
    lines = list(order.lines.select_related("reservation").order_by("sequence"))
    assert [line.reservation.open_quantity for line in lines] == [D("4"), D("10")]
    assert free(shop, product) == D("6") and free(shop, other) == D("0")
    [delivery] = order.deliveries.all()
    assert delivery.state == DeliveryState.READY
    assert sorted(delivery.lines.values_list("quantity", flat=True)) == [D("4"), D("10")]
    assert order.promised_date == timezone.localdate()
    [event] = events_named("erp.sales_order.confirmed", sales_order_id=order.pk)
    assert event.payload["crm_account_id"] == shop.customer.crm_account_id
    assert [line["reserved"] for line in event.payload["lines"]] == ["4.0000", "10.0000"]


def test_a_short_line_reserves_what_is_free_and_is_promised_when_supply_arrives(shop):
    product = shop.product(stock=D("3"))
    arrival = timezone.localdate() + dt.timedelta(days=7)
    inv.incoming_supply_plan(
        product=product, warehouse=shop.warehouse, quantity=10, expected_date=arrival, reference="PO1"
    )

    order = shop.confirmed((product, 8))

    line = order.lines.get()
    assert line.reservation.open_quantity == D("3")
    assert line.promised_date == arrival
    assert order.promised_date == arrival

    inv.stock_receive(product=product, warehouse=shop.warehouse, quantity=10)
    svc.sales_order_reserve(order=order)

    line.refresh_from_db()
    assert line.reservation.open_quantity == D("8")
    assert StockReservation.objects.filter(product=product, state="active").count() == 1
    assert free(shop, product) == D("5")


def test_over_the_credit_limit_the_order_is_held_until_a_manager_releases_it(company):
    shop = make_shop(company, credit_limit=D("500.00"))
    product = shop.product(stock=D("10"))
    manager = shop.member()

    order = shop.confirmed((product, 5))  # 5 × 100 + 13 % VAT = 565 > 500

    assert order.state == SalesOrderState.HELD
    assert "500" in order.hold_reason
    assert not StockReservation.objects.filter(product=product).exists()
    assert not order.deliveries.exists()
    [held] = events_named("erp.sales_order.held", sales_order_id=order.pk)
    assert held.payload["hold_reason"] == order.hold_reason
    with pytest.raises(svc.StateConflict):
        svc.sales_order_confirm(order=order)

    order = svc.sales_order_release_hold(order=order, by=manager.user, note="Paid in advance")

    assert order.state == SalesOrderState.CONFIRMED
    assert (order.released_by, order.release_note) == (manager.user, "Paid in advance")
    assert order.lines.get().reservation.open_quantity == D("5")
    assert len(events_named("erp.sales_order.confirmed", sales_order_id=order.pk)) == 1


def test_cancelling_releases_the_reservations(shop):
    product = shop.product(stock=D("10"))
    order = shop.confirmed((product, 4))

    order = svc.sales_order_cancel(order=order, reason="Customer changed their mind")

    assert order.state == SalesOrderState.CANCELLED
    assert free(shop, product) == D("10")
    assert set(order.deliveries.values_list("state", flat=True)) == {"cancelled"}
    assert len(events_named("erp.sales_order.cancelled", sales_order_id=order.pk)) == 1


# ---------------------------------------------------------------- pick, pack, ship


def test_partial_delivery_makes_a_backorder_and_consumes_the_reservation(shop):
    product = shop.product(stock=D("10"))
    order = shop.confirmed((product, 10))
    delivery = order.deliveries.get()
    line = delivery.lines.get()

    svc.delivery_pick(delivery=delivery, picks=[{"line": line.pk, "quantity": 6}])
    svc.delivery_pack(delivery=delivery, package_count=2, weight=D("12.5"))
    delivery = svc.delivery_ship(delivery=delivery, carrier="顺丰速运", tracking_number="SF1234567890")

    order.refresh_from_db()
    sales_line = order.lines.get()
    assert (delivery.state, delivery.carrier, delivery.tracking_number) == ("shipped", "顺丰速运", "SF1234567890")
    assert sales_line.delivered_quantity == D("6")
    assert order.state == SalesOrderState.PARTIALLY_DELIVERED
    moves = StockMove.objects.filter(reference=delivery.number, kind=MoveKind.DELIVERY)
    assert sum(m.quantity for m in moves) == D("6") and all(m.reservation_id for m in moves)
    assert StockQuant.objects.get(product=product).quantity == D("4")
    assert sales_line.reservation.open_quantity == D("4")
    backorder = DeliveryOrder.objects.get(backorder_of=delivery)
    assert (backorder.state, backorder.lines.get().quantity) == ("ready", D("4"))
    [shipped] = events_named("erp.shipment.shipped", delivery_id=delivery.pk)
    assert shipped.payload["backorder_id"] == backorder.pk
    assert shipped.payload["tracking_number"] == "SF1234567890"
    [partial] = events_named("erp.sales_order.delivered", sales_order_id=order.pk)
    assert partial.payload["status"] == "partial"

    svc.delivery_ship(delivery=backorder, carrier="顺丰速运", tracking_number="SF2")

    order.refresh_from_db()
    assert order.state == SalesOrderState.DELIVERED
    assert StockQuant.objects.get(product=product).quantity == D("0")
    assert [e.payload["status"] for e in events_named("erp.sales_order.delivered", sales_order_id=order.pk)] == [
        "partial",
        "full",
    ]
    delivered = svc.delivery_confirm_delivered(delivery=backorder, received_by="王经理")
    assert delivered.state == DeliveryState.DELIVERED
    assert len(events_named("erp.shipment.delivered", delivery_id=backorder.pk)) == 1


def test_shipping_without_backorder_cancels_the_rest_and_frees_its_stock(shop):
    product = shop.product(stock=D("10"))
    order = shop.confirmed((product, 10))
    delivery = order.deliveries.get()
    svc.delivery_pick(delivery=delivery, picks=[{"line": delivery.lines.get().pk, "quantity": 7}])

    svc.delivery_ship(delivery=delivery, backorder=False)

    order.refresh_from_db()
    line = order.lines.get()
    assert (line.delivered_quantity, line.cancelled_quantity) == (D("7"), D("3"))
    assert order.state == SalesOrderState.DELIVERED
    assert free(shop, product) == D("3")
    assert not DeliveryOrder.objects.filter(backorder_of=delivery).exists()


def test_picking_suggests_the_first_expiring_lot_and_the_picker_may_take_another(shop):
    today = timezone.localdate()
    product = shop.product(
        lots=[("LATE", today + dt.timedelta(days=90), D("5")), ("SOON", today + dt.timedelta(days=10), D("5"))]
    )
    late, soon = product.lots.get(code="LATE"), product.lots.get(code="SOON")
    order = shop.confirmed((product, 4))
    delivery = order.deliveries.get()
    line = delivery.lines.get()

    suggestion = svc.pick_suggestion(delivery)
    assert suggestion[line.pk] == [(soon, D("4"))]

    svc.delivery_pick(delivery=delivery, picks=[{"line": line.pk, "quantity": 4, "lot": late.pk}])
    svc.delivery_ship(delivery=delivery)

    moves = StockMove.objects.filter(reference=delivery.number)
    assert [(m.lot_id, m.quantity) for m in moves] == [(late.pk, D("4"))]
    assert StockQuant.objects.get(product=product, lot=late).quantity == D("1")
    assert StockQuant.objects.get(product=product, lot=soon).reserved == D("0")
    assert free(shop, product) == D("6")


def test_an_expired_lot_cannot_be_picked(shop):
    today = timezone.localdate()
    product = shop.product(
        lots=[("OLD", today - dt.timedelta(days=1), D("5")), ("NEW", today + dt.timedelta(days=30), D("5"))]
    )
    order = shop.confirmed((product, 2))
    delivery = order.deliveries.get()

    with pytest.raises(ValidationError) as caught:
        svc.delivery_pick(
            delivery=delivery,
            picks=[{"line": delivery.lines.get().pk, "quantity": 2, "lot": product.lots.get(code="OLD").pk}],
        )
    assert "picks.0.lot" in caught.value.message_dict


def test_shipping_more_than_is_in_stock_is_refused_and_nothing_moves(shop):
    product = shop.product(stock=D("2"))
    order = shop.confirmed((product, 5))
    delivery = order.deliveries.get()
    svc.delivery_pick(delivery=delivery, picks=[{"line": delivery.lines.get().pk, "quantity": 5}])

    with pytest.raises(svc.InsufficientStock):
        svc.delivery_ship(delivery=delivery)

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PICKED
    assert StockQuant.objects.get(product=product).quantity == D("2")
    assert order.lines.get().delivered_quantity == D("0")


# ---------------------------------------------------------------- invoicing and returns


def test_only_delivered_quantities_are_invoiced_and_never_twice(shop):
    product = shop.product(stock=D("10"))
    order = shop.confirmed((product, 10))
    delivery = order.deliveries.get()
    with pytest.raises(svc.StateConflict):
        svc.sales_order_invoice(order=order)
    svc.delivery_pick(delivery=delivery, picks=[{"line": delivery.lines.get().pk, "quantity": 6}])
    svc.delivery_ship(delivery=delivery)

    invoice = svc.sales_order_invoice(order=order)

    line = order.lines.get()
    [invoice_line] = invoice.lines.all()
    assert (invoice.kind, invoice.origin, invoice.partner_id) == ("out_invoice", order.number, shop.customer.pk)
    assert (invoice_line.quantity, invoice_line.sales_line_id, invoice.amount_total) == (D("6"), line.pk, D("678.00"))
    assert line.invoiced_quantity == D("6")
    with pytest.raises(svc.StateConflict):
        svc.sales_order_invoice(order=order)
    [invoiced] = events_named("erp.sales_order.invoiced", sales_order_id=order.pk)
    assert invoiced.payload["invoice_id"] == invoice.pk

    svc.delivery_ship(delivery=DeliveryOrder.objects.get(backorder_of=delivery))
    second = svc.sales_order_invoice(order=order)

    order.refresh_from_db()
    assert second.lines.get().quantity == D("4")
    assert (order.state, order.invoice_status) == (SalesOrderState.INVOICED, "invoiced")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE erp_salesorderline SET invoiced_quantity = 11 WHERE id = %s", [line.pk])
    svc.sales_order_close(order=order)
    assert SalesOrder.objects.get(pk=order.pk).state == SalesOrderState.DONE


def test_a_cancelled_draft_invoice_makes_its_quantity_invoiceable_again(shop):
    from erp.services import invoicing

    product = shop.product(stock=D("3"))
    order = shop.confirmed((product, 3))
    svc.delivery_ship(delivery=order.deliveries.get())
    invoice = svc.sales_order_invoice(order=order)

    invoicing.invoice_cancel(invoice=invoice)
    again = svc.sales_order_invoice(order=order)

    assert again.lines.get().quantity == D("3")
    assert order.lines.get().invoiced_quantity == D("3")


def test_a_return_of_invoiced_goods_comes_back_to_stock_with_a_credit_note(shop):
    product = shop.product(stock=D("10"))
    order = shop.confirmed((product, 10))
    delivery = svc.delivery_ship(delivery=order.deliveries.get(), carrier="EMS")
    invoice = post(svc.sales_order_invoice(order=order))

    rma = svc.sales_return_create(
        delivery=delivery, lines=[{"delivery_line": delivery.lines.get().pk, "quantity": 3}], reason="Damaged box"
    )
    with pytest.raises(ValidationError):  # 3 are already on their way back: at most 7 more
        svc.sales_return_create(
            delivery=delivery, lines=[{"delivery_line": delivery.lines.get().pk, "quantity": 8}], reason="x"
        )
    rma = svc.sales_return_receive(sales_return=rma)

    line = order.lines.get()
    assert (rma.state, rma.number) == ("received", "RMA00001")
    assert StockQuant.objects.get(product=product).quantity == D("3")
    assert (line.returned_quantity, line.refunded_quantity) == (D("3"), D("3"))
    note = rma.credit_note
    assert (note.kind, note.refund_of_id, note.amount_total) == ("out_refund", invoice.pk, D("339.00"))
    assert note.lines.get().sales_line_id == line.pk
    assert free(shop, product) == D("3")


def test_goods_returned_before_invoicing_are_not_invoiced_and_scrap_does_not_restock(shop):
    product = shop.product(stock=D("10"))
    order = shop.confirmed((product, 10))
    delivery = svc.delivery_ship(delivery=order.deliveries.get())
    rma = svc.sales_return_create(
        delivery=delivery,
        lines=[{"delivery_line": delivery.lines.get().pk, "quantity": 2}],
        reason="Broken",
        destination="scrap",
    )

    rma = svc.sales_return_receive(sales_return=rma)
    invoice = svc.sales_order_invoice(order=order)

    assert rma.credit_note is None
    assert invoice.lines.get().quantity == D("8")
    assert StockQuant.objects.get(product=product).quantity == D("0")
    assert StockMove.objects.filter(reference=rma.number, kind=MoveKind.ADJUSTMENT).count() == 1


def test_customer_orders_for_the_crm_360_page(shop, other_company, django_assert_max_num_queries):
    product = shop.product(stock=D("10"))
    for _ in range(3):
        shop.confirmed((product, 1))
    other = make_shop(other_company)
    other.order((other.product(), 1))

    with django_assert_max_num_queries(1):
        rows = sales_selectors.customer_orders(
            company_id=shop.company.pk, crm_account_id=shop.customer.crm_account_id, limit=2
        )

    assert [row.number for row in rows] == ["SO00003", "SO00002"]
    assert rows[0].state == "confirmed" and rows[0].amount_total == D("113.00")
    assert (
        sales_selectors.customer_orders(
            company_id=shop.company.pk, crm_account_id=other.customer.crm_account_id, limit=5
        )
        == []
    )


def test_invoice_lines_link_to_sales_lines(shop):
    product = shop.product(stock=D("1"))
    order = shop.confirmed((product, 1))
    svc.delivery_ship(delivery=order.deliveries.get())
    svc.sales_order_invoice(order=order)
    assert InvoiceLine.objects.filter(sales_line__order=order).count() == 1
    assert Invoice.objects.filter(origin=order.number).count() == 1
    assert SalesOrderLine.objects.get(order=order).invoice_lines.count() == 1
    assert SalesReturn.objects.count() == 0
