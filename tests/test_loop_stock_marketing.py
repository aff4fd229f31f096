"""Closed loop, flow 8 (issue #7): stock → marketing. A restock of a product starts the warm-up push prepared for
it (consent applies per recipient), a product's push campaign pauses itself (``paused_stock``) when its free stock
falls below the threshold or its price list expires and resumes when they recover, and purchases tag customers
in SCRM. Every hop through the outbox relay, in-process."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone, translation
from werkzeug import Response

from crm.models import ContactTag
from crm.services.customers import customer_tags_set
from crm.services.opportunities import opportunity_create, opportunity_win
from crm.services.quotes import opportunity_line_add
from crm.tests.factories import AccountFactory, ContactFactory, TagFactory
from erp.services import inventory as inv
from erp.tests.catalogue import catalogue_product, price_list
from erp.tests.sales_support import make_shop
from scrm.events_stock import push_campaigns_on_stock_changed
from scrm.models import PushCampaignStatus, PushMessage, Resolution, SkipReason
from scrm.services import pushes
from scrm.services.consent import consent_record
from scrm.services.segments import segment_create, tag_rule_create
from scrm.services.stock_pushes import push_campaign_stock_guard, push_campaigns_stock_check
from scrm.tests.factories import make_channel, make_conversation, make_identity
from suite.events.selectors import trace
from suite.models import HandlerRun, OutboxEvent, Role
from suite.testing import make_member
from tests.loop_support import advisory_lock_held, as_event, redeliver, relay_all

pytestmark = pytest.mark.django_db
D = Decimal
STATE_CHANGED = "scrm.push_campaign.stock_state_changed"


@pytest.fixture(autouse=True)
def english(settings):
    """Pages and API answers in English: the default language is zh-Hans."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def platform(settings, httpserver):
    """A fake social platform receiving the webhook channel's pushes."""
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    received = []

    def handler(request):
        received.append(json.loads(request.data))
        return Response("{}", status=200, content_type="application/json")

    httpserver.expect_request("/send", method="POST").respond_with_handler(handler)
    httpserver.received = received
    return httpserver


@pytest.fixture
def shop(company):
    return make_shop(company)


def waiting_segment(company, channel, n=3):
    """``n`` contacts tagged 等货 matched to identities on ``channel``; all but the last consented."""
    tag = TagFactory(company=company, name="等货-液压泵")
    people = []
    for i in range(n):
        person = ContactFactory(company=company, name=f"客户{i}")
        customer_tags_set(customer=person, tags=[tag], by=None)
        identity = make_identity(
            company, kind=channel.kind, external_id=f"fan-{i}", crm_contact_id=person.pk, resolution=Resolution.AUTO
        )
        make_conversation(company, channel=channel, identity=identity)
        if i < n - 1:
            consent_record(
                company_id=company.pk, crm_contact_id=person.pk, channel_kind=channel.kind, lawful_basis="consent",
                source="到货提醒",
            )  # fmt: skip
        people.append(person)
    return people, segment_create(company=company, name="等液压泵的客户", query={"tag": tag.pk})


def campaign_for(company, segment, channel, name="液压泵到货"):
    return pushes.push_campaign_create(
        company=company, name=name, segment=segment, contents=[(channel, "{name}您好，液压泵到货了")]
    )


def test_a_restock_starts_the_prepared_warm_up_push_to_the_waiting_segment(company, shop, platform):
    pump = catalogue_product(company, list_price="500", sku="PUMP-50")
    channel = make_channel(company, "webhook", config={"outbound_url": platform.url_for("/send")})
    people, segment = waiting_segment(company, channel)
    campaign = campaign_for(company, segment, channel)
    campaign = push_campaign_stock_guard(campaign=campaign, erp_product_id=pump.pk, stock_threshold="5", wait=True)
    assert campaign.status == PushCampaignStatus.WAITING_STOCK

    inv.stock_receive(product=pump, warehouse=shop.warehouse, quantity=D("3"), unit_cost=D("200"), reference="GR-1")
    relay_all()
    campaign.refresh_from_db()
    assert campaign.status == PushCampaignStatus.WAITING_STOCK  # 3 free < 5
    assert campaign.stock_reason == "free stock 3 of PUMP-50 below 5"
    assert not PushMessage.objects.filter(campaign=campaign).exists()

    inv.stock_receive(product=pump, warehouse=shop.warehouse, quantity=D("10"), unit_cost=D("200"), reference="GR-2")
    relay_all()

    campaign.refresh_from_db()
    assert (campaign.status, campaign.stock_reason) == (PushCampaignStatus.SENDING, "")
    assert PushMessage.objects.filter(campaign=campaign).count() == 3
    restock = OutboxEvent.objects.filter(name="erp.stock.changed").order_by("-pk").first()
    started = OutboxEvent.objects.get(name=STATE_CHANGED)
    assert started.payload["previous_status"] == "waiting_stock" and started.payload["status"] == "sending"
    assert (started.payload["recipients"], started.payload["free"]) == (3, "13.0000")
    assert started.correlation_id == restock.correlation_id  # one correlation id on both hops
    chain = trace(restock.correlation_id, company=company)
    assert [event.name for event in chain] == ["erp.stock.changed", STATE_CHANGED]
    assert ("scrm.push_campaigns_on_stock_changed", "done") in [(r.handler, r.status) for r in chain[0].runs]

    # the existing push services send it: consent per recipient (the last one has none)
    result = pushes.push_send_batch(campaign_id=campaign.pk)
    assert (result.sent, result.skipped) == (2, 1)
    assert PushMessage.objects.get(campaign=campaign, crm_contact_id=people[2].pk).skip_reason == SkipReason.NO_CONSENT
    assert sorted(body["recipient"] for body in platform.received) == ["fan-0", "fan-1"]

    # the stock events delivered again and the handler re-run by hand: nothing starts twice
    assert redeliver("erp.stock.changed") == 2
    push_campaigns_on_stock_changed(as_event(restock))
    relay_all()
    assert OutboxEvent.objects.filter(name=STATE_CHANGED).count() == 1
    assert PushMessage.objects.filter(campaign=campaign).count() == 3


def test_a_product_campaign_pauses_on_low_stock_or_an_expired_price_list_and_resumes(company, shop, platform):
    today = timezone.localdate()
    pump = catalogue_product(company, list_price="500", sku="PUMP-50", on_hand="10", warehouse=shop.warehouse)
    offer = price_list(company, tiers={pump: [(1, "450")]}, valid_to=today + dt.timedelta(days=2), name="双十一")
    channel = make_channel(company, "webhook", config={"outbound_url": platform.url_for("/send")})
    _people, segment = waiting_segment(company, channel)
    campaign = campaign_for(company, segment, channel, name="液压泵促销")
    push_campaign_stock_guard(
        campaign=campaign, erp_product_id=pump.pk, stock_threshold="5", erp_price_list_id=offer.pk
    )
    pushes.push_campaign_start(campaign=campaign)
    relay_all()

    inv.stock_reserve(product=pump, warehouse=shop.warehouse, quantity=D("7"), reference="SO-9 line 1")
    relay_all()

    campaign.refresh_from_db()
    assert (campaign.status, campaign.stock_reason) == ("paused_stock", "free stock 3 of PUMP-50 below 5")
    assert pushes.push_send_batch(campaign_id=campaign.pk).sent == 0  # nothing goes out while paused
    browser = Client()
    browser.force_login(make_member(company, Role.MARKETING).user)
    page = browser.get(f"/scrm/pushes/{campaign.pk}/").content.decode()
    assert 'data-testid="push-stock-guard"' in page and "free stock 3 of PUMP-50 below 5" in page
    assert "Paused: stock or price" in page
    assert platform.received == []

    inv.stock_receive(product=pump, warehouse=shop.warehouse, quantity=D("4"), unit_cost=D("200"), reference="GR-3")
    relay_all()
    campaign.refresh_from_db()
    assert (campaign.status, campaign.stock_reason) == ("sending", "")
    assert [e.payload["status"] for e in OutboxEvent.objects.filter(name=STATE_CHANGED).order_by("pk")] == [
        "paused_stock",
        "sending",
    ]

    # the price list ends: the beat sweep pauses the campaign the day after; a second sweep changes nothing
    later = timezone.now() + dt.timedelta(days=3)
    [change] = push_campaigns_stock_check(now=later)
    assert (change.previous, change.status) == ("sending", "paused_stock")
    assert change.reason == f"price list {offer.pk} is not in force"
    assert push_campaigns_stock_check(now=later) == []
    assert push_campaigns_stock_check() != []  # today the list is still in force: it resumes
    campaign.refresh_from_db()
    assert campaign.status == "sending"


def test_a_busy_product_fails_the_stock_handler_then_the_retry_starts_the_push_once(company, shop, platform):
    pump = catalogue_product(company, list_price="500", sku="PUMP-50")
    channel = make_channel(company, "webhook", config={"outbound_url": platform.url_for("/send")})
    _people, segment = waiting_segment(company, channel)
    campaign = campaign_for(company, segment, channel)
    push_campaign_stock_guard(campaign=campaign, erp_product_id=pump.pk, stock_threshold="2", wait=True)
    inv.stock_receive(product=pump, warehouse=shop.warehouse, quantity=D("6"), unit_cost=D("200"), reference="GR-1")
    stock_event = OutboxEvent.objects.get(name="erp.stock.changed")
    now = timezone.now()

    with advisory_lock_held(f"scrm.stock_pushes:{company.pk}:{pump.pk}"):  # the beat sweep checking it right now
        relay_all(now=now)

    run = HandlerRun.objects.get(event=stock_event, handler="scrm.push_campaigns_on_stock_changed")
    assert (run.status, run.attempts) == ("failed", 1) and "being checked" in run.last_error
    campaign.refresh_from_db()
    assert campaign.status == "waiting_stock"

    relay_all(now=now + dt.timedelta(minutes=5))

    run.refresh_from_db()
    campaign.refresh_from_db()
    assert (run.status, campaign.status) == ("done", "sending")
    assert PushMessage.objects.filter(campaign=campaign).count() == 3
    assert OutboxEvent.objects.filter(name=STATE_CHANGED).count() == 1
    assert OutboxEvent.objects.get(name=STATE_CHANGED).correlation_id == stock_event.correlation_id


def test_a_purchase_tags_the_customer_in_scrm_through_the_loop(company, shop):
    owner = make_member(company, Role.SALES, username="qianqi").user
    pump = catalogue_product(company, list_price="500", on_hand="10", warehouse=shop.warehouse)
    buyer_tag = TagFactory(company=company, name="已购液压泵")
    tag_rule_create(
        company=company, name="买了液压泵", trigger="purchase", product_ids=[pump.pk], add_tag_id=buyer_tag.pk
    )
    account = AccountFactory(company=company, by=owner, name="宁波液压件有限公司")
    buyer = ContactFactory(company=company, name="周经理", account=account)
    deal = opportunity_create(company=company, by=owner, name="液压泵", account=account)
    opportunity_line_add(opportunity=deal, by=owner, product_id=pump.pk, quantity="2")
    opportunity_win(opportunity=deal, by=owner)

    relay_all()

    assert ContactTag.objects.filter(contact=buyer, tag=buyer_tag).count() == 1
    won = OutboxEvent.objects.get(name="crm.opportunity.won")
    requested = OutboxEvent.objects.get(name="scrm.customer.tag_requested")
    confirmed = OutboxEvent.objects.get(name="erp.sales_order.confirmed")
    assert requested.correlation_id == confirmed.correlation_id == won.correlation_id
    assert requested.payload["contact_ids"] == [buyer.pk]
    names = [event.name for event in trace(won.correlation_id, company=company)]
    assert names.index("crm.opportunity.won") < names.index("erp.sales_order.confirmed")
    assert names.index("erp.sales_order.confirmed") < names.index("scrm.customer.tag_requested")

    redeliver("erp.sales_order.confirmed", "scrm.customer.tag_requested")
    assert OutboxEvent.objects.filter(name="scrm.customer.tag_requested").count() == 1
    assert ContactTag.objects.filter(contact=buyer, tag=buyer_tag).count() == 1


def test_a_campaign_is_tied_to_its_product_over_the_api(company, shop, platform):
    from suite.testing import api_client_for

    pump = catalogue_product(company, list_price="500", sku="PUMP-50")
    channel = make_channel(company, "webhook", config={"outbound_url": platform.url_for("/send")})
    _people, segment = waiting_segment(company, channel)
    campaign = campaign_for(company, segment, channel)
    api = api_client_for(make_member(company, Role.ADMIN))
    url = f"/api/v1/scrm/push-campaigns/{campaign.pk}/stock-guard/"

    bad = api.post(url, {"erp_product_id": 999999, "stock_threshold": "0"}, format="json")
    assert bad.status_code == 400 and "erp_product_id" in str(bad.json())
    answer = api.post(url, {"erp_product_id": pump.pk, "stock_threshold": "4", "wait": True}, format="json")

    assert answer.status_code == 200
    body = answer.json()
    assert (body["status"], body["erp_product_id"], body["stock_threshold"]) == ("waiting_stock", pump.pk, "4.0000")
    assert body["stock_reason"] == "waiting for PUMP-50"
    again = api.post(url, {"erp_product_id": pump.pk}, format="json")  # no longer a draft
    assert again.status_code == 400 and "status" in str(again.json())
