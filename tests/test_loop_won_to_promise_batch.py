"""Closed loop, flow 1 per relay batch (issue #7 figure): several wins relayed together go through the set-based
``erp.services.sales_loop_batch`` and end exactly as the per-order path ends them — same orders, lines,
reservations, promised dates, deliveries, holds — with one ``erp.stock.changed`` per product per batch, each
answer carrying its win's correlation id, applied once on redelivery, and a bad win retried alone."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone, translation

from crm.models import Opportunity
from crm.services.opportunities import opportunity_create, opportunity_win
from crm.services.quotes import opportunity_line_add
from crm.tests.factories import AccountFactory
from erp.events_loop import sales_order_from_won_opportunity
from erp.models import DeliveryOrder, MrpRun, Product, SalesOrder, StockQuant, StockReservation
from erp.services.sales_loop import sales_order_from_opportunity
from erp.tests.catalogue import catalogue_product, expect_supply
from erp.tests.sales_support import make_shop
from suite.events.registry import current_event
from suite.models import Company, HandlerRun, Notification, OutboxEvent, Role
from suite.testing import CompanyFactory, make_member
from tests.loop_support import as_event, redeliver, relay_all

pytestmark = pytest.mark.django_db
D = Decimal
ERP_HANDLER = "erp.sales_order_from_won_opportunity"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def _scenario(company: Company, owner_name: str):
    """Products A (10 on hand), B (3 on hand, 10 more due in 7 days); four deals won: A×2+B×2, A×3+B×5 (B
    short), A×1 for a customer with a credit limit of 1.00 (held), A×4. Returns (products, deals, won events)."""
    shop = make_shop(company)
    owner = make_member(company, Role.SALES, username=owner_name).user
    today = timezone.localdate()
    a = catalogue_product(company, list_price="50", on_hand="10", warehouse=shop.warehouse, sku="BATCH-A")
    b = catalogue_product(company, list_price="80", on_hand="3", warehouse=shop.warehouse, sku="BATCH-B")
    expect_supply(b, quantity="10", on=today + dt.timedelta(days=7), warehouse=shop.warehouse)
    deals = []
    for n, (items, limit) in enumerate(
        [([(a, 2), (b, 2)], None), ([(a, 3), (b, 5)], None), ([(a, 1)], D("1.00")), ([(a, 4)], None)]
    ):
        fields = {"credit_limit": limit} if limit is not None else {}
        account = AccountFactory(company=company, by=owner, name=f"批量客户{n}有限公司", **fields)
        deal = opportunity_create(company=company, by=owner, name=f"批量商机{n}", account=account)
        for product, quantity in items:
            opportunity_line_add(opportunity=deal, by=owner, product_id=product.pk, quantity=str(quantity))
        deals.append(opportunity_win(opportunity=deal, by=owner))
    won = list(OutboxEvent.objects.filter(name="crm.opportunity.won", company=company).order_by("pk"))
    return (a, b), deals, won, owner


def _summary(company: Company, products, deals) -> dict:
    """What the loop made, without ids and numbers (the same scenario in two companies compares equal)."""
    orders = []
    for deal in deals:
        order = SalesOrder.objects.get(company=company, crm_opportunity_id=deal.pk)
        lines = [
            (
                line.product.sku,
                line.quantity,
                line.unit_price,
                line.tax_amount,
                line.total,
                line.reservation.quantity if line.reservation_id else None,
                line.promised_date,
            )
            for line in order.lines.select_related("product", "reservation").order_by("sequence")
        ]
        deliveries = [
            (delivery.scheduled_date, sorted(dl.quantity for dl in delivery.lines.all()))
            for delivery in DeliveryOrder.objects.filter(sales_order=order).prefetch_related("lines")
        ]
        orders.append(
            (
                order.state,
                order.amount_untaxed,
                order.amount_tax,
                order.amount_total,
                order.promised_date,
                order.hold_reason,
                "owner" if order.salesperson_id else None,
                order.partner.name,
                order.partner.credit_limit,
                order.currency,
                lines,
                deliveries,
            )
        )
    quants = {
        product.sku: StockQuant.objects.filter(product=product).aggregate(r=Sum("reserved"), q=Sum("quantity"))
        for product in products
    }
    return {"orders": orders, "quants": quants, "mrp_runs": MrpRun.objects.filter(company=company).count()}


def test_a_batch_of_wins_ends_as_the_per_order_path_ends_each(company):
    products, deals, won, owner = _scenario(company, "wangwu")
    other = CompanyFactory()
    other_products, other_deals, other_won, _other_owner = _scenario(other, "zhaoliu")
    for event in other_won:  # the per-order path, one win at a time (what a retried win runs)
        token = current_event.set(as_event(event))
        try:
            with transaction.atomic():
                sales_order_from_opportunity(company_id=other.pk, payload=event.payload, by_id=event.created_by_id)
        finally:
            current_event.reset(token)

    relay_all()  # the four wins of `company` are claimed together: the set-based path

    runs = HandlerRun.objects.filter(event__in=won, handler=ERP_HANDLER)
    assert sorted(run.status for run in runs) == ["done"] * 4
    summary = _summary(company, products, deals)
    expected = _summary(other, other_products, other_deals)
    for got, want in zip(summary["orders"], expected["orders"], strict=True):
        assert got == want
    assert summary == expected
    today = timezone.localdate()
    states = [order[0] for order in summary["orders"]]
    assert states == ["confirmed", "confirmed", "held", "confirmed"]
    assert summary["orders"][1][4] == today + dt.timedelta(days=7)  # B short: promised from the PO
    assert summary["orders"][1][10][1][5] == D("1")  # … and holds what was left of B
    assert summary["quants"]["BATCH-A"]["r"] == D("9") and summary["quants"]["BATCH-B"]["r"] == D("3")
    assert summary["mrp_runs"] == 1  # the shortage queued one run

    # numbers unique and in the company's sequence; one delivery per confirmed order
    numbers = list(SalesOrder.objects.filter(company=company).order_by("sequence").values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)) == 4
    assert DeliveryOrder.objects.filter(company=company).count() == 3

    # each answer carries its win's correlation id and the deal shows it
    for deal, event in zip(deals, won, strict=True):
        order = SalesOrder.objects.get(company=company, crm_opportunity_id=deal.pk)
        answer = OutboxEvent.objects.get(
            company=company,
            name__in=["erp.sales_order.confirmed", "erp.sales_order.held"],
            payload__number=order.number,
        )
        assert answer.correlation_id == event.correlation_id == order.correlation_id
        assert answer.created_by_id == owner.pk
        deal = Opportunity.objects.get(pk=deal.pk)
        assert (deal.erp_order_number, deal.erp_order_state) == (order.number, order.state)
    # one erp.stock.changed per product for the batch's reservations (the per-order path sends one per line)
    changed = OutboxEvent.objects.filter(company=company, name="erp.stock.changed", payload__reason="reservation")
    assert sorted(event.payload["sku"] for event in changed) == ["BATCH-A", "BATCH-B"]
    assert {event.payload["sku"]: D(event.payload["reserved"]) for event in changed} == {"BATCH-A": 9, "BATCH-B": 3}
    assert Notification.objects.filter(company=company, recipient=owner).count() == 4

    # delivered again (a crash after commit, a duplicated task): nothing changes
    before = _summary(company, products, deals)
    assert redeliver("crm.opportunity.won") == 8
    sales_order_from_won_opportunity([as_event(event) for event in won])
    assert _summary(company, products, deals) == before
    assert SalesOrder.objects.filter(company=company).count() == 4
    assert OutboxEvent.objects.filter(company=company, name__startswith="erp.sales_order.").count() == 4
    assert StockReservation.objects.filter(company=company, reference__startswith="SO").count() == 5
    # the CRM handlers' events again (three confirmations in one chunk: the set-based path): applied once
    deal_fields = list(Opportunity.objects.filter(pk__in=[d.pk for d in deals]).order_by("pk").values())
    assert redeliver("erp.sales_order.confirmed", "erp.sales_order.held") == 8
    assert list(Opportunity.objects.filter(pk__in=[d.pk for d in deals]).order_by("pk").values()) == deal_fields
    assert Notification.objects.filter(company=company, recipient=owner).count() == 4


def test_a_bad_win_in_a_batch_is_retried_alone_and_the_others_are_applied_once(company):
    products, deals, won, _owner = _scenario(company, "sunqi")
    a, b = products
    Product.objects.filter(pk=b.pk).update(is_active=False)  # B stopped being sold after the deals were won
    now = timezone.now()

    relay_all(now=now)

    runs = {run.event_id: run for run in HandlerRun.objects.filter(event__in=won, handler=ERP_HANDLER)}
    statuses = [runs[event.pk].status for event in won]
    assert statuses == ["failed", "failed", "done", "done"]  # the two deals with a B line wait; the others went on
    assert "product" in runs[won[0].pk].last_error
    assert SalesOrder.objects.filter(company=company).count() == 2
    assert StockQuant.objects.filter(product=a).aggregate(r=Sum("reserved"))["r"] == D("4")  # A×4; A×1 held

    Product.objects.filter(pk=b.pk).update(is_active=True)
    relay_all(now=now + dt.timedelta(minutes=10))

    assert sorted(run.status for run in HandlerRun.objects.filter(event__in=won, handler=ERP_HANDLER)) == ["done"] * 4
    assert SalesOrder.objects.filter(company=company).count() == 4
    assert [SalesOrder.objects.filter(crm_opportunity_id=deal.pk).count() for deal in deals] == [1, 1, 1, 1]
    assert StockQuant.objects.filter(product=a).aggregate(r=Sum("reserved"))["r"] == D("9")
    assert StockQuant.objects.filter(product=b).aggregate(r=Sum("reserved"))["r"] == D("3")
    assert OutboxEvent.objects.filter(company=company, name__startswith="erp.sales_order.").count() == 4


def test_the_win_request_costs_a_fixed_number_of_queries(company):
    """``POST /api/v1/crm/opportunities/<id>/win/`` with a token (the bench's request): authentication, the
    policy, the service (lock, stage move, customers, the outbox row) and the answer."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from suite.models import Membership
    from suite.services.tokens import api_token_issue

    shop = make_shop(company)
    owner = make_member(company, Role.SALES, username="qianba").user
    product = catalogue_product(company, list_price="50", on_hand="10", warehouse=shop.warehouse)
    account = AccountFactory(company=company, by=owner, name="请求客户有限公司")
    deals = []
    for n in range(2):
        deal = opportunity_create(company=company, by=owner, name=f"请求商机{n}", account=account)
        opportunity_line_add(opportunity=deal, by=owner, product_id=product.pk, quantity="2")
        deals.append(deal)
    secret = api_token_issue(membership=Membership.objects.get(company=company, user=owner), name="t").secret
    client = Client(HTTP_AUTHORIZATION=f"Token {secret}", HTTP_ACCEPT_LANGUAGE="en")
    assert client.post(f"/api/v1/crm/opportunities/{deals[0].pk}/win/").status_code == 200  # warm caches
    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/api/v1/crm/opportunities/{deals[1].pk}/win/")
    assert response.status_code == 200 and response.json()["status"] == "won"
    # the scoped read (token cached), BEGIN, the locked read with stage/account/contact and the pipeline's won
    # stage, the stage change, the update, the lines of the payload, the outbox row, COMMIT; no read-back
    assert len(queries) <= 8, [query["sql"][:120] for query in queries.captured_queries]
    assert response.json()["stage"]["is_won"] is True and response.json()["closed_at"]
