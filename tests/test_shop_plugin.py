"""Channel plugins (issue #7, acceptance 4): the example shop plugin, installed from plugins/troika-shop with
``pip install -e``, is discovered through the ``troika.channels`` entry point; its signed webhook creates the
CRM customer, a won deal, and — through ``crm.opportunity.won`` — the ERP sales order, all on one trace."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from crm.models import Account, Opportunity
from erp.models import SalesOrder
from erp.tests.catalogue import catalogue_product
from erp.tests.sales_support import make_shop
from scrm.channels import connector_for
from scrm.channels.plugins import plugin_connectors
from scrm.models import Delivery
from scrm.services.inbox import deliveries_process
from scrm.tests.factories import make_channel
from suite import events
from suite.models import OutboxEvent
from tests.loop_support import redeliver, relay_all

pytestmark = pytest.mark.django_db
SECRET = "shop-secret-甲"


@pytest.fixture
def shop_channel(company):
    return make_channel(company, "plugin", credentials={"secret": SECRET}, config={"plugin": "shop"})


def post(channel, body: dict, *, timestamp=None, secret=SECRET, signature=None):
    from troika_shop.connector import sign

    raw = json.dumps(body, ensure_ascii=False).encode()
    t, signed = sign(secret, raw, timestamp)
    return Client().post(
        reverse("scrm-channel-webhook", kwargs={"channel_id": channel.pk}),
        data=raw,
        content_type="application/json",
        HTTP_X_SHOP_TIMESTAMP=t,
        HTTP_X_SHOP_SIGNATURE=signature or signed,
    )


def order_body(order_id="1001", sku="SHOP-SKU-1", quantity="2"):
    return {
        "topic": "orders/create",
        "data": {
            "id": order_id,
            "number": f"#{order_id}",
            "currency": "CNY",
            "customer": {"id": "c-7", "name": "王芳", "phone": "13800138000", "email": "wangfang@example.com"},
            "lines": [{"sku": sku, "quantity": quantity, "unit_price": "49.90"}],
        },
    }


def test_the_shop_plugin_is_discovered_through_its_entry_point(shop_channel):
    from troika_shop.connector import ShopConnector

    assert plugin_connectors()["shop"] is ShopConnector
    connector = connector_for(shop_channel)
    assert isinstance(connector, ShopConnector) and connector.handles_deliveries


def test_a_bad_signature_is_refused_with_401(shop_channel):
    response = post(shop_channel, order_body(), signature="sha256=" + "0" * 64)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "bad_signature"
    assert post(shop_channel, order_body(), secret="another secret").status_code == 401
    assert not Delivery.objects.exists()


def test_a_replayed_old_request_is_refused(shop_channel):
    response = post(shop_channel, order_body(), timestamp=int(time.time()) - 3600)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "stale_timestamp"
    assert not Delivery.objects.exists()


def test_a_duplicate_order_is_stored_once(shop_channel):
    assert post(shop_channel, order_body()).status_code == 200
    assert post(shop_channel, order_body()).status_code == 200  # the shop retried
    assert Delivery.objects.filter(channel=shop_channel).count() == 1
    deliveries_process(channel_id=shop_channel.pk)
    deliveries_process(channel_id=shop_channel.pk)
    assert OutboxEvent.objects.filter(name="scrm.channel_order.received").count() == 1


def test_an_order_creates_the_customer_the_won_deal_and_the_sales_order(company, shop_channel):
    shop = make_shop(company)
    product = catalogue_product(company, sku="SHOP-SKU-1", list_price="60", on_hand="10", warehouse=shop.warehouse)

    assert post(shop_channel, order_body()).status_code == 200
    assert post(shop_channel, {"topic": "customers/create", "data": {"id": "c-8", "name": "李雷"}}).status_code == 200
    deliveries_process(channel_id=shop_channel.pk)
    relay_all()

    account = Account.objects.get(company=company, name="王芳")
    assert account.phone.endswith("13800138000") and account.email == "wangfang@example.com"
    assert Account.objects.filter(company=company, name="李雷").exists()
    deal = Opportunity.objects.get(company=company, account=account)
    assert deal.status == "won"
    order = SalesOrder.objects.get(company=company, crm_opportunity_id=deal.pk)
    assert order.state == "confirmed"
    [line] = order.lines.all()
    assert (line.product_id, line.quantity, line.unit_price) == (product.pk, Decimal("2"), Decimal("49.90"))
    # One trace from the shop's order to ERP's confirmation.
    received = OutboxEvent.objects.get(name="scrm.channel_order.received")
    names = [e.name for e in events.selectors.trace(received.correlation_id, company=company)]
    assert names[:3] == ["scrm.channel_order.received", "crm.opportunity.created", "crm.opportunity.won"]
    assert "erp.sales_order.confirmed" in names

    # Delivered again: applied once. A second order of the same buyer reuses the account.
    redeliver("scrm.channel_order.received", "crm.opportunity.won")
    assert SalesOrder.objects.filter(company=company).count() == 1
    assert Opportunity.objects.filter(company=company).count() == 1
    assert post(shop_channel, order_body(order_id="1002", quantity="1")).status_code == 200
    deliveries_process(channel_id=shop_channel.pk)
    relay_all()
    assert Account.objects.filter(company=company, name="王芳").count() == 1
    assert SalesOrder.objects.filter(company=company).count() == 2


def test_an_order_for_an_unknown_sku_fails_visibly_and_succeeds_once_the_product_exists(company, shop_channel):
    shop = make_shop(company)
    post(shop_channel, order_body(sku="LATER-1"))
    deliveries_process(channel_id=shop_channel.pk)
    relay_all()
    received = OutboxEvent.objects.get(name="scrm.channel_order.received")
    assert received.state == "pending" and "lines.0.sku" in received.last_error and "LATER-1" in received.last_error
    assert not Opportunity.objects.exists()

    catalogue_product(company, sku="LATER-1", list_price="60", on_hand="10", warehouse=shop.warehouse)
    from suite.services.events import event_retry

    event_retry(event=received)
    relay_all()
    assert Opportunity.objects.filter(company=company, status="won").count() == 1
    assert SalesOrder.objects.filter(company=company).count() == 1
