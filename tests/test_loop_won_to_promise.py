"""Closed loop, flows 1 and 9 (issue #7): a won opportunity becomes a confirmed — or credit-held — ERP sales
order, the promised date flows back to the deal and its owner, shortages queue an MRP run, and a production
order that slips re-promises the deal and tells the owner. Every hop through the outbox relay, in-process."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from crm.models import Opportunity
from crm.services.opportunities import opportunity_create, opportunity_win
from crm.services.quotes import opportunity_line_add
from crm.tests.factories import AccountFactory
from erp.events_loop import sales_order_from_won_opportunity
from erp.models import MrpRun, Partner, PlannedOrder, SalesOrder, Warehouse
from erp.services import production as prod
from erp.services.mrp import mrp_run_execute
from erp.tests.catalogue import catalogue_product, expect_supply
from erp.tests.production_support import make_plant
from erp.tests.sales_support import make_shop
from suite.models import HandlerRun, Notification, OutboxEvent, Role
from suite.testing import make_member
from tests.loop_support import as_event, redeliver, relay_all

pytestmark = pytest.mark.django_db
D = Decimal


def won_deal(company, owner, *items, credit_limit=None):
    """A deal of ``owner`` for a new account with ``(product, quantity)`` lines, won."""
    fields = {"credit_limit": credit_limit} if credit_limit is not None else {}
    account = AccountFactory(company=company, by=owner, name="苏州精工机械有限公司", **fields)
    deal = opportunity_create(company=company, by=owner, name="数控车床采购", account=account)
    for product, quantity in items:
        opportunity_line_add(opportunity=deal, by=owner, product_id=product.pk, quantity=str(quantity))
    return opportunity_win(opportunity=deal, by=owner)


@pytest.fixture(autouse=True)
def english():
    """Notifications are written in the language active in the handler (the suite's default is Chinese)."""
    with translation.override("en"):
        yield


@pytest.fixture
def shop(company):
    return make_shop(company)


@pytest.fixture
def owner(company):
    return make_member(company, Role.SALES, username="lisi").user


def test_won_deal_becomes_a_confirmed_order_and_the_promise_comes_back(company, shop, owner):
    today = timezone.localdate()
    product = catalogue_product(company, list_price="50", on_hand="5", warehouse=shop.warehouse)
    expect_supply(product, quantity="10", on=today + dt.timedelta(days=7), warehouse=shop.warehouse)
    deal = won_deal(company, owner, (product, 12))

    relay_all()

    order = SalesOrder.objects.get(company=company, crm_opportunity_id=deal.pk)
    assert order.state == "confirmed"
    assert order.partner.crm_account_id == deal.account_id and order.partner.name == "苏州精工机械有限公司"
    assert order.salesperson_id == owner.pk
    [line] = order.lines.select_related("reservation")
    assert (line.quantity, line.unit_price, line.reservation.quantity) == (D("12"), D("50"), D("5"))
    assert order.promised_date == today + dt.timedelta(days=7)
    deal.refresh_from_db()
    assert (deal.erp_order_number, deal.erp_order_state) == (order.number, "confirmed")
    assert deal.promised_date == today + dt.timedelta(days=7)
    [note] = Notification.objects.filter(recipient=owner, company=company)
    assert order.number in note.title and note.link == f"/crm/opportunities/{deal.pk}/"
    assert (today + dt.timedelta(days=7)).isoformat() in note.body
    # one correlation id on every hop: the win, the confirmation and their handler runs
    won = OutboxEvent.objects.get(name="crm.opportunity.won")
    confirmed = OutboxEvent.objects.get(name="erp.sales_order.confirmed")
    assert confirmed.correlation_id == won.correlation_id
    assert HandlerRun.objects.get(event=won, handler="erp.sales_order_from_won_opportunity").status == "done"
    assert HandlerRun.objects.get(event=confirmed, handler="crm.opportunity_order_confirmed").status == "done"

    # the same events delivered again, and the handler re-run by hand (an operator's retry): applied once
    assert redeliver("crm.opportunity.won", "erp.sales_order.confirmed") == 2
    sales_order_from_won_opportunity(as_event(won))
    relay_all()
    assert SalesOrder.objects.filter(company=company, crm_opportunity_id=deal.pk).count() == 1
    assert Partner.objects.filter(company=company, crm_account_id=deal.account_id).count() == 1
    assert OutboxEvent.objects.filter(name="erp.sales_order.confirmed").count() == 1
    assert Notification.objects.filter(recipient=owner).count() == 1


def test_over_the_credit_limit_the_order_is_held_and_the_owner_told_why(company, shop, owner):
    product = catalogue_product(company, list_price="400", on_hand="50", warehouse=shop.warehouse)
    deal = won_deal(company, owner, (product, 3), credit_limit=D("1000.00"))  # 3 × 400 + 13 % VAT = 1,356 > 1,000

    relay_all()

    order = SalesOrder.objects.get(company=company, crm_opportunity_id=deal.pk)
    assert order.state == "held" and "exceeds the credit limit 1000.00" in order.hold_reason
    assert order.partner.credit_limit == D("1000.00")  # the CRM's limit travelled with the win
    assert not order.lines.filter(reservation__isnull=False).exists()  # nothing reserved
    deal.refresh_from_db()
    assert (deal.erp_order_state, deal.erp_hold_reason, deal.promised_date) == ("held", order.hold_reason, None)
    [note] = Notification.objects.filter(recipient=owner)
    assert note.level == "warning" and "credit hold" in note.title and note.body == order.hold_reason
    held = OutboxEvent.objects.get(name="erp.sales_order.held")
    assert held.correlation_id == OutboxEvent.objects.get(name="crm.opportunity.won").correlation_id
    assert not OutboxEvent.objects.filter(name="erp.sales_order.confirmed").exists()

    redeliver("crm.opportunity.won", "erp.sales_order.held")
    assert SalesOrder.objects.filter(company=company).count() == 1
    assert Notification.objects.filter(recipient=owner).count() == 1


def test_a_win_before_erp_has_a_warehouse_fails_then_is_retried_once_it_exists(company, owner):
    product = catalogue_product(company, list_price="80")  # no stock: no warehouse yet
    assert not Warehouse.objects.filter(company=company).exists()
    deal = won_deal(company, owner, (product, 2))
    now = timezone.now()

    relay_all(now=now)

    won = OutboxEvent.objects.get(name="crm.opportunity.won")
    run = HandlerRun.objects.get(event=won, handler="erp.sales_order_from_won_opportunity")
    assert (run.status, run.attempts) == ("failed", 1) and "warehouse" in run.last_error
    assert not SalesOrder.objects.exists() and not Partner.objects.filter(crm_account_id=deal.account_id).exists()

    warehouse = Warehouse.objects.create(company=company, code="WH-SH", name="上海仓")  # the row that appears later
    relay_all(now=now + dt.timedelta(minutes=5))

    run.refresh_from_db()
    assert run.status == "done"
    order = SalesOrder.objects.get(crm_opportunity_id=deal.pk)
    assert order.warehouse == warehouse and order.state == "confirmed"
    assert SalesOrder.objects.count() == 1 and Partner.objects.filter(crm_account_id=deal.account_id).count() == 1
    deal.refresh_from_db()
    assert deal.erp_order_number == order.number
    # nothing in stock and nothing expected: no promise yet, and an MRP run is queued for the warehouse
    assert deal.promised_date is None
    assert MrpRun.objects.filter(company=company, warehouse=warehouse, status="queued").count() == 1


def test_a_shortage_queues_one_mrp_run_whose_planned_orders_cover_it(company, shop, owner):
    short = catalogue_product(company, list_price="30", on_hand="1", warehouse=shop.warehouse)
    won_deal(company, owner, (short, 4))
    won_deal(company, owner, (short, 2))
    relay_all()

    [run] = MrpRun.objects.filter(company=company, warehouse=shop.warehouse)  # one queued run for both wins
    mrp_run_execute(run_id=run.pk)

    planned = PlannedOrder.objects.filter(run=run, product=short)
    assert sum(p.quantity for p in planned) == D("5")  # 4 + 2 ordered − 1 in stock


def test_a_production_slip_re_promises_the_deal_and_tells_the_owner(db):
    plant = make_plant()
    company = plant.company
    owner = make_member(company, Role.SALES, username="wangwu").user
    plant.stock(plant.housing, "1000", "10")
    plant.stock(plant.bolt, "2000", "5")
    today = timezone.localdate()
    feeding = prod.production_order_create(
        company=company,
        product=plant.pump,
        quantity=D("10"),
        warehouse=plant.warehouse,
        due_date=today + dt.timedelta(days=30),
        priority=50,
    )
    feeding = prod.production_order_release(order=feeding)
    first_date = timezone.localtime(feeding.promised_at).date()
    deal = won_deal(company, owner, (plant.pump, 10))
    relay_all()
    deal.refresh_from_db()
    assert deal.promised_date == first_date

    # a rush order of higher priority takes the assembly line first: the feeding order slips by days
    rush = prod.production_order_create(
        company=company,
        product=plant.pump,
        quantity=D("300"),
        warehouse=plant.warehouse,
        due_date=today + dt.timedelta(days=30),
        priority=1,
    )
    prod.production_order_release(order=rush)
    feeding.refresh_from_db()
    new_date = timezone.localtime(feeding.promised_at).date()
    assert new_date > first_date
    relay_all()

    slipped = OutboxEvent.objects.get(name="erp.production_order.rescheduled", payload__number=feeding.number)
    changed = OutboxEvent.objects.get(name="erp.sales_order.promise_changed")
    assert changed.correlation_id == slipped.correlation_id
    assert changed.payload["previous_promised_date"] == first_date.isoformat()
    deal.refresh_from_db()
    order = SalesOrder.objects.get(crm_opportunity_id=deal.pk)
    assert order.promised_date == deal.promised_date
    assert deal.promised_date > first_date
    note = Notification.objects.filter(recipient=owner, title__contains="New delivery date").get()
    assert deal.promised_date.isoformat() in note.title and first_date.isoformat() in note.body

    redeliver("erp.production_order.rescheduled", "erp.sales_order.promise_changed")
    assert OutboxEvent.objects.filter(name="erp.sales_order.promise_changed").count() == 1
    assert Notification.objects.filter(recipient=owner, title__contains="New delivery date").count() == 1
    assert Opportunity.objects.get(pk=deal.pk).promised_date == deal.promised_date


def test_the_deal_page_polls_until_the_promised_date_appears_and_the_360_shows_it(company, shop, owner):
    from django.test import Client

    today = timezone.localdate()
    product = catalogue_product(company, list_price="50", on_hand="5", warehouse=shop.warehouse)
    expect_supply(product, quantity="10", on=today + dt.timedelta(days=7), warehouse=shop.warehouse)
    deal = won_deal(company, owner, (product, 12))
    browser = Client()
    browser.force_login(owner)
    browser.cookies["django_language"] = "en"

    page = browser.get(f"/crm/opportunities/{deal.pk}/").content.decode()
    assert 'data-testid="promised-date"' in page and "waiting for ERP" in page
    assert f'hx-get="/crm/opportunities/{deal.pk}/promise/"' in page and 'hx-trigger="every 3s"' in page

    relay_all()

    fragment = browser.get(f"/crm/opportunities/{deal.pk}/promise/").content.decode()
    promised = (today + dt.timedelta(days=7)).isoformat()
    assert f'<time datetime="{promised}">' in fragment and "hx-get" not in fragment  # arrived: polling stops
    assert SalesOrder.objects.get(crm_opportunity_id=deal.pk).number in fragment
    customer = browser.get(f"/crm/accounts/{deal.account_id}/").content.decode()
    assert "delivery promised" in customer
    assert f"promised {promised}" in customer  # the won stage change in the timeline names the order and date


def test_the_delivery_card_is_not_shown_to_someone_who_cannot_see_the_deal(company, shop, owner, other_company):
    from django.test import Client

    deal = won_deal(company, owner, (catalogue_product(company, on_hand="1", warehouse=shop.warehouse), 1))
    stranger = make_member(other_company, Role.ADMIN).user
    browser = Client()
    browser.force_login(stranger)
    assert browser.get(f"/crm/opportunities/{deal.pk}/promise/").status_code == 404


def test_quote_time_lines_show_the_erp_promise_read_live(company, shop, owner):
    """Flow 2: each line of an open deal shows the live price, free stock and the earliest date from ERP's
    explained promise — the same answer as /api/v1/erp/promise/, read synchronously, nothing copied."""
    from crm import selectors as crm_selectors
    from erp.selectors.promise import explain_promise

    today = timezone.localdate()
    product = catalogue_product(company, list_price="50", on_hand="5", warehouse=shop.warehouse)
    account = AccountFactory(company=company, by=owner)
    deal = opportunity_create(company=company, by=owner, name="报价", account=account)
    line = opportunity_line_add(opportunity=deal, by=owner, product_id=product.pk, quantity="12")

    before = crm_selectors.lines_availability(opportunity=deal, lines=[line])[line.pk]
    assert (before.available_now, before.earliest_date, before.current_price) == (D("5"), None, D("50.0000"))

    expect_supply(product, quantity="10", on=today + dt.timedelta(days=7), warehouse=shop.warehouse)
    after = crm_selectors.lines_availability(opportunity=deal, lines=[line])[line.pk]
    assert after.earliest_date == today + dt.timedelta(days=7)
    assert after.earliest_date == explain_promise(company=company, product=product, quantity=D("12")).promised_date


def test_an_accepted_quote_soft_reserves_until_it_expires_and_the_win_consumes_it(company, shop, owner):
    """Flow 9's last sentence: an accepted quote holds its quantities back from what ERP promises to others
    until it expires; the deal's own lines do not compete with it; winning turns it into the real reservation,
    losing releases it."""
    from crm import selectors as crm_selectors
    from crm.models import LostReason
    from crm.services.opportunities import opportunity_lose
    from crm.services.quotes import quote_accept, quote_create, quote_send
    from erp.models import QuoteReservation
    from erp.selectors.promise import explain_promise

    today = timezone.localdate()
    product = catalogue_product(company, list_price="50", on_hand="10", warehouse=shop.warehouse)
    account = AccountFactory(company=company, by=owner)
    deal = opportunity_create(company=company, by=owner, name="报价", account=account)
    line = opportunity_line_add(opportunity=deal, by=owner, product_id=product.pk, quantity="6")
    quote = quote_create(opportunity=deal, by=owner, valid_until=today + dt.timedelta(days=5))
    quote_accept(quote=quote_send(quote=quote, by=owner), by=owner)
    relay_all()

    [held] = QuoteReservation.objects.filter(company=company, crm_quote_id=quote.pk)
    assert (held.product_id, held.quantity, held.expires_on, held.state) == (
        product.pk,
        D("6"),
        today + dt.timedelta(days=5),
        "active",
    )
    others = explain_promise(company=company, product=product, quantity=D("5"))
    assert (others.free_now, others.soft_reserved, others.promised_date) == (D("4"), D("6"), None)
    # the deal's own lines still see the stock its quote holds
    assert crm_selectors.lines_availability(opportunity=deal, lines=[line])[line.pk].earliest_date == today
    # past the quote's validity nothing is held any more
    later = explain_promise(company=company, product=product, quantity=D("5"), today=today + dt.timedelta(days=6))
    assert later.soft_reserved == 0
    redeliver("crm.quote.accepted")
    assert QuoteReservation.objects.filter(company=company).count() == 1

    opportunity_win(opportunity=deal, by=owner)
    relay_all()
    held.refresh_from_db()
    assert held.state == "consumed"
    order = SalesOrder.objects.get(crm_opportunity_id=deal.pk)
    assert order.lines.get().reservation.quantity == D("6")  # the real reservation took the quote's place
    assert explain_promise(company=company, product=product, quantity=D("4")).promised_date == today

    # another deal's accepted quote, then lost: released
    other = opportunity_create(company=company, by=owner, name="另一单", account=account)
    opportunity_line_add(opportunity=other, by=owner, product_id=product.pk, quantity="2")
    other_quote = quote_create(opportunity=other, by=owner)
    quote_accept(quote=quote_send(quote=other_quote, by=owner), by=owner)
    relay_all()
    reason = LostReason.objects.create(company=company, name="价格")
    opportunity_lose(opportunity=other, reason=reason, by=owner)
    relay_all()
    assert QuoteReservation.objects.get(crm_quote_id=other_quote.pk).state == "released"
