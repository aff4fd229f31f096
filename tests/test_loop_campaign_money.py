"""Closed loop, flow 6 — marketing → revenue: the campaign comparison reaches the money ERP booked for the won
deals a campaign is credited with — revenue invoiced (net of credit notes, untaxed), gross margin after the cost of
the goods shipped (COGS from ERP's stock moves) and the ROI on that margin. A synchronous read through
``erp.selectors.fulfilment.opportunity_financials`` (no handler of its own, hence no redelivery test here)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.selectors_campaigns import campaign_comparison
from crm.services.campaigns import campaign_cost_add, campaign_touch_record
from crm.services.opportunities import opportunity_create, opportunity_win
from crm.services.quotes import opportunity_line_add
from crm.tests.factories import AccountFactory
from crm.tests.factories_campaigns import make_campaign
from erp.models import SalesOrder
from erp.selectors.fulfilment import opportunity_financials
from erp.services import invoicing, sales
from erp.tests.sales_support import make_shop
from suite.models import Role
from suite.policy import Actor
from suite.testing import make_member
from tests.loop_support import relay_all

pytestmark = pytest.mark.django_db
D = Decimal


def _won_and_invoiced(shop, owner, campaign, product, quantity, *, ship=True):
    account = AccountFactory(company=shop.company, owner=owner)
    campaign_touch_record(campaign=campaign, kind="responded", account=account,
                          touched_at=timezone.now() - timedelta(days=3))  # fmt: skip
    deal = opportunity_create(company=shop.company, by=owner, name=f"{account.name} 订单", account=account, amount="0")
    opportunity_line_add(opportunity=deal, by=owner, product_id=product.pk, quantity=str(quantity), unit_price="100")
    opportunity_win(opportunity=deal, by=owner)
    relay_all()
    order = SalesOrder.objects.get(company=shop.company, crm_opportunity_id=deal.pk)
    if ship:
        delivery = order.deliveries.get()
        sales.delivery_pick(delivery=delivery)
        sales.delivery_ship(delivery=delivery)
        invoicing.invoice_post(invoice=sales.sales_order_invoice(order=order))
    return deal


def test_campaign_roi_in_booked_revenue_and_gross_margin():
    shop = make_shop()
    owner = make_member(shop.company, Role.SALES).user
    marketing = make_member(shop.company, Role.MARKETING)
    product = shop.product(stock=D("100"))  # received at 40.00 a unit
    spring, autumn = make_campaign(shop.company, name="春季展会"), make_campaign(shop.company, name="秋季直播")
    campaign_cost_add(campaign=spring, by=None, incurred_on=date(2026, 1, 2), description="展位", amount="100.00")
    first = _won_and_invoiced(shop, owner, spring, product, 10)
    _won_and_invoiced(shop, owner, spring, product, 5, ship=False)  # won, not shipped or invoiced yet

    money = opportunity_financials(company_id=shop.company.pk, opportunity_ids=[first.pk])
    assert money == {first.pk: {"revenue": D("1000.00"), "cogs": D("400.00"), "margin": D("600.00")}}

    rows = {row.campaign.pk: row for row in campaign_comparison(Actor(marketing), model="first")}
    spring_row = rows[spring.pk]
    # CRM's won revenue is the deals' amounts (13 % VAT included, shipped or not); ERP's is what was invoiced
    assert (spring_row.won_deals, spring_row.won_revenue) == (2, D("1695.00"))
    assert (spring_row.booked_revenue, spring_row.gross_margin) == (D("1000.00"), D("600.00"))
    assert spring_row.margin_roi == D("5.00")  # (600 − 100) / 100
    assert (rows[autumn.pk].booked_revenue, rows[autumn.pk].margin_roi) == (D("0.00"), None)

    client = Client()
    client.force_login(marketing.user)
    page = client.get(reverse("crm:campaign-compare")).content.decode()
    assert 'data-testid="gross-margin"' in page and "600.00" in page


def test_the_comparison_stays_at_a_fixed_number_of_queries_with_booked_money(django_assert_max_num_queries):
    shop = make_shop()
    owner = make_member(shop.company, Role.SALES).user
    marketing = make_member(shop.company, Role.MARKETING)
    product = shop.product(stock=D("100"))
    for i in range(3):
        _won_and_invoiced(shop, owner, make_campaign(shop.company, name=f"活动{i}"), product, 2)
    with django_assert_max_num_queries(12):  # eight + four for the money ERP booked
        rows = campaign_comparison(Actor(marketing), model="last")
    assert sum(row.booked_revenue for row in rows) == D("600.00")
