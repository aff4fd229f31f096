"""Closed loop, flow 3 — fulfilment → customer: ERP production and shipment events move the won deal's
fulfilment status forward on the opportunity (the owner is told), and SCRM sends the customer a status message on
their social channel only with consent, through the channel's connector (a local fake platform)."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest
from django.db import connections, transaction
from django.utils import timezone
from werkzeug import Response

from crm.models import Opportunity
from crm.services.opportunities import opportunity_create
from crm.tests.factories import AccountFactory, ContactFactory
from erp.services import partners, sales
from erp.tests.sales_support import make_shop
from scrm.models import Resolution, StatusMessage
from scrm.services.consent import consent_record
from scrm.services.status_messages import status_message_send
from scrm.tests.factories import make_channel, make_conversation, make_identity
from suite.models import HandlerRun, Notification, OutboxEvent, Role
from suite.testing import make_member
from tests.loop_support import redeliver, relay_all

D = Decimal


@pytest.fixture
def platform(settings, httpserver):
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    received = []

    def handler(request):
        received.append(json.loads(request.data))
        return Response(json.dumps({"message_id": f"m{len(received)}"}), status=200, content_type="application/json")

    httpserver.expect_request("/send", method="POST").respond_with_handler(handler)
    httpserver.received = received
    return httpserver


def _deal(platform):
    shop = make_shop()
    company = shop.company
    owner = make_member(company, Role.SALES).user
    account = AccountFactory(company=company, owner=owner, name="杭州云杉家居有限公司")
    deal = opportunity_create(company=company, by=owner, name="办公家具 20 套", account=account, amount="0")
    customer = partners.partner_create(company=company, name=account.name, is_customer=True, crm_account_id=account.pk)
    product = shop.product(stock=D("30"))
    channel = make_channel(company, "webhook", config={"outbound_url": platform.url_for("/send")})
    people = []
    for i, consent in enumerate((True, False)):
        contact = ContactFactory(company=company, name=f"采购{i}", account=account)
        identity = make_identity(
            company, kind="webhook", external_id=f"fan-{account.pk}-{i}", crm_contact_id=contact.pk,
            crm_account_id=account.pk, resolution=Resolution.AUTO,
        )  # fmt: skip
        make_conversation(company, channel=channel, identity=identity)
        if consent:
            consent_record(company_id=company.pk, crm_contact_id=contact.pk, channel_kind="webhook",
                           lawful_basis="consent", source="小程序下单")  # fmt: skip
        people.append(identity)
    order = sales.sales_order_confirm(
        order=sales.sales_order_create(
            company=company,
            partner=customer,
            crm_opportunity_id=deal.pk,
            lines=[{"product": product, "quantity": D("20"), "tax": shop.vat}],
        )
    )
    return shop, deal, order, people, owner


def _progress_notes(owner, deal) -> int:
    """The owner's fulfilment notifications about the deal (their body is the fulfilment detail)."""
    deal.refresh_from_db()
    return Notification.objects.filter(recipient=owner, body=deal.fulfilment_detail).exclude(body="").count()


@pytest.mark.django_db
def test_shipment_and_delivery_reach_the_deal_and_the_consenting_customer_once(platform):
    _shop, deal, order, (consenting, silent), owner = _deal(platform)
    delivery = order.deliveries.get()
    sales.delivery_pick(delivery=delivery)
    sales.delivery_ship(delivery=delivery, carrier="顺丰速运", tracking_number="SF1234567890")
    relay_all()

    deal.refresh_from_db()
    assert (deal.fulfilment_status, deal.fulfilment_detail) == (
        "shipped",
        f"{delivery.number} · 顺丰速运 · SF1234567890",
    )
    assert _progress_notes(owner, deal) == 1
    queued = StatusMessage.objects.get(identity=consenting)
    skipped = StatusMessage.objects.get(identity=silent)
    assert (queued.status, skipped.status, skipped.skip_reason) == ("queued", "skipped", "no_consent")
    assert order.number in queued.text and "SF1234567890" in queued.text

    sent = status_message_send(message_id=queued.pk)
    assert sent.status == "sent" and sent.external_id
    assert status_message_send(message_id=queued.pk) is None  # sent once
    assert len(platform.received) == 1
    assert order.number in json.dumps(platform.received[0], ensure_ascii=False)

    # the same events again: nothing new for the deal, the owner or the customer
    redeliver("erp.shipment.shipped", "erp.sales_order.delivered")
    assert StatusMessage.objects.count() == 2
    assert _progress_notes(owner, deal) == 1

    sales.delivery_confirm_delivered(delivery=delivery, received_by="王采购")
    relay_all()
    deal.refresh_from_db()
    assert deal.fulfilment_status == "delivered"
    assert StatusMessage.objects.filter(event_name="erp.shipment.delivered", status="queued").count() == 1
    # a late "shipped" cannot move the deal back
    redeliver("erp.shipment.shipped")
    deal.refresh_from_db()
    assert deal.fulfilment_status == "delivered"
    assert {e.correlation_id for e in OutboxEvent.objects.filter(name__startswith="erp.shipment")} == {
        order.correlation_id
    }


@pytest.mark.django_db(transaction=True)
def test_a_locked_deal_fails_the_handler_which_is_retried_then_applied_once(platform, settings):
    settings.TROIKA_OUTBOX_BACKOFF_SECONDS = 1.0
    _shop, deal, order, _people, owner = _deal(platform)
    delivery = order.deliveries.get()
    sales.delivery_pick(delivery=delivery)
    relay_all()  # the confirmation reached the deal before the salesperson opened it
    locked, release = threading.Event(), threading.Event()

    def salesperson_editing():  # another transaction holds the opportunity row
        try:
            with transaction.atomic():
                assert Opportunity.objects.select_for_update().filter(pk=deal.pk).exists()
                locked.set()
                release.wait(30)
        finally:
            connections["default"].close()

    thread = threading.Thread(target=salesperson_editing)
    thread.start()
    assert locked.wait(10)
    try:
        sales.delivery_ship(delivery=delivery, carrier="京东物流", tracking_number="JD0001")
        relay_all()
        run = HandlerRun.objects.get(handler="crm.order_progress_shipped")
        assert (run.status, run.attempts) == ("failed", 1)
        assert Opportunity.objects.get(pk=deal.pk).fulfilment_status == ""
    finally:
        release.set()
        thread.join(10)
    relay_all(now=timezone.now() + timezone.timedelta(seconds=5))
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("done", 2)
    assert Opportunity.objects.get(pk=deal.pk).fulfilment_status == "shipped"
    assert _progress_notes(owner, deal) == 1
    assert StatusMessage.objects.count() == 2  # the SCRM handler succeeded the first time and did not run again
