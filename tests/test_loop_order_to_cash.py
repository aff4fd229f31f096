"""Closed loop, acceptance 2 (end to end): a won deal with a shortage → sales order → MRP planned order →
production → delivery → invoice → payment, ending with the CRM customer's balance at zero and one complete trace
for the chain's correlation id. Every hop goes through the outbox relay on PostgreSQL (in-process)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import CustomerFinance
from crm.services.opportunities import opportunity_create, opportunity_win
from crm.services.quotes import opportunity_line_add
from crm.tests.factories import AccountFactory
from erp.models import Journal, MrpRun, MrpRunStatus, SalesOrder
from erp.services import invoicing, mrp, sales
from erp.services import production as prod
from erp.tests.production_support import make_plant
from suite.events import selectors as event_selectors
from suite.models import HandlerRun, OutboxEvent, Role
from suite.testing import make_member
from tests.loop_support import redeliver, relay_all

pytestmark = pytest.mark.django_db
D = Decimal

CHAIN = [
    "crm.opportunity.won",
    "erp.sales_order.confirmed",
    "erp.production_order.released",
    "erp.production_order.completed",
    "erp.shipment.shipped",
    "erp.sales_order.delivered",
    "erp.sales_order.invoiced",
    "erp.invoice.posted",
    "erp.invoice.paid",  # the payment's allocation settles the invoice, then the payment is announced
    "erp.payment.received",
]


def _mrp_run(plant) -> MrpRun:
    """The run the shortage queued (the worker would execute it), else a new one; executed here."""
    queued = MrpRun.objects.filter(company=plant.company, status=MrpRunStatus.QUEUED).order_by("pk").last()
    if queued is None:
        queued = mrp.mrp_run_start(company=plant.company, warehouse=plant.warehouse, queue=False)
    return mrp.mrp_run_execute(run_id=queued.pk, today=timezone.localdate())


def test_won_deal_with_a_shortage_is_made_delivered_invoiced_paid_and_traced():
    plant = make_plant()
    company = plant.company
    owner = make_member(company, Role.SALES).user
    account = AccountFactory(company=company, owner=owner, name="苏州汇川泵业有限公司")
    deal = opportunity_create(company=company, by=owner, name="齿轮泵 4 台", account=account, amount="0")
    opportunity_line_add(opportunity=deal, by=owner, product_id=plant.pump.pk, quantity="4", unit_price="500")

    # 1. the win: ERP makes and confirms the order; nothing in stock, so nothing reserved
    opportunity_win(opportunity=deal, by=owner)
    relay_all()
    won = OutboxEvent.objects.get(name="crm.opportunity.won")
    order = SalesOrder.objects.get(company=company, crm_opportunity_id=deal.pk)
    assert order.correlation_id == won.correlation_id
    assert order.state == "confirmed" and order.lines.get().reservation is None

    # 2. MRP plans the pump for the order; the planner confirms; production makes it
    run = _mrp_run(plant)
    planned = run.planned_orders.get(product=plant.pump)
    assert any(c.get("source", "").startswith(order.number) for c in planned.covers)
    production_order = mrp.planned_order_confirm(planned=planned).production_order
    plant.stock(plant.housing, "4", "60")
    plant.stock(plant.bolt, "8", "5")
    prod.production_order_release(order=production_order, schedule=False)
    prod.production_receive(order=production_order, quantity="4", lot_code="GP-E2E-01")

    relay_all()
    deal.refresh_from_db()
    assert deal.fulfilment_status == "produced"
    assert deal.fulfilment_detail.startswith(f"{order.number} · {production_order.number}")
    assert "4.0000" in deal.fulfilment_detail

    # 3. the order takes the new stock, ships, is invoiced, and the customer pays
    sales.sales_order_reserve(order=order)
    delivery = order.deliveries.get()
    sales.delivery_pick(delivery=delivery)
    sales.delivery_ship(delivery=delivery)
    invoice = invoicing.invoice_post(invoice=sales.sales_order_invoice(order=order))
    assert invoice.amount_total == D("2260.00")
    relay_all()
    assert CustomerFinance.objects.get(account=account).outstanding == D("2260.00")
    invoicing.payment_create(
        company=company,
        payment_type="inbound",
        partner=order.partner,
        amount=invoice.amount_total,
        journal=Journal.objects.get(company=company, code="BNK"),
        date=timezone.localdate(),
    )
    relay_all()

    facts = CustomerFinance.objects.get(account=account)
    assert (facts.outstanding, facts.overdue, facts.lifetime_revenue) == (D("0.00"), D("0.00"), D("2000.00"))
    assert facts.last_payment_amount == D("2260.00")

    deal.refresh_from_db()
    assert deal.fulfilment_status == "shipped"
    client = Client()
    client.force_login(owner)
    page = client.get(reverse("crm:opportunity-detail", args=[deal.pk])).content.decode()
    assert 'data-testid="fulfilment-status"' in page and delivery.number in page
    page = client.get(reverse("crm:account-detail", args=[account.pk])).content.decode()
    assert 'data-testid="deal-fulfilment"' in page

    # 4. one trace from the win to the payment, every handler done
    trace = event_selectors.trace(won.correlation_id, company=company)
    names = [e.name for e in trace]
    assert [n for n in names if n in CHAIN] == CHAIN, names
    assert all(e.state == "done" for e in trace)
    assert all(run.ok for e in trace for run in e.runs)
    handlers = {run.handler for e in trace for run in e.runs}
    assert {
        "erp.sales_order_from_won_opportunity",
        "crm.customer_finance_on_invoice_posted",
        "crm.customer_finance_on_payment_received",
        "crm.customer_finance_on_invoice_paid",
        "crm.order_progress_production_released",
        "crm.order_progress_production_completed",
        "crm.order_progress_shipped",
    } <= handlers
    assert {e.correlation_id for e in trace} == {won.correlation_id}

    # 5. the whole chain delivered again: nothing is applied twice
    runs_before = HandlerRun.objects.count()
    redeliver(*CHAIN)
    assert HandlerRun.objects.count() == runs_before
    assert SalesOrder.objects.filter(company=company, crm_opportunity_id=deal.pk).count() == 1
    assert CustomerFinance.objects.get(account=account).outstanding == D("0.00")
