"""Closed loop, flow 5 — complaint → quality → reply: a CRM ticket linked to a lot the customer received opens
an ERP non-conformance on that lot and the production order that made it; the resolution goes back to the customer
through SCRM (consent only) with the satisfaction survey link; field complaints count in defect rates by product."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import Ticket
from crm.services.complaints import ticket_lot_link, ticket_lots_choices
from crm.services.tickets import ticket_resolve
from crm.tests.factories import AccountFactory, ContactFactory, ticket_for
from erp.models import NonConformance
from erp.selectors.fulfilment import field_complaints_by_product
from erp.services import partners, sales
from erp.services import production as prod
from erp.services.complaints import complaint_lock_key
from erp.tests.production_support import make_plant
from scrm.models import Resolution, StatusMessage
from scrm.services.consent import consent_record
from scrm.tests.factories import make_channel, make_conversation, make_identity
from suite.models import HandlerRun, OutboxEvent, Role
from suite.testing import make_member
from tests.loop_support import advisory_lock_held, redeliver, relay_all

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def delivered_lot():
    """A pump lot made by a production order and shipped to a CRM account whose contact follows us on WeChat."""
    plant = make_plant()
    company = plant.company
    agent = make_member(company, Role.SERVICE)
    owner = make_member(company, Role.SALES).user
    account = AccountFactory(company=company, owner=owner, name="宁波海天注塑机有限公司")
    contact = ContactFactory(company=company, name="质量部 李工", account=account)
    customer = partners.partner_create(company=company, name=account.name, is_customer=True, crm_account_id=account.pk)
    order = prod.production_order_create(
        company=company, product=plant.pump, quantity=D("5"), warehouse=plant.warehouse,
        due_date=timezone.localdate() + timedelta(days=3), planned_start=timezone.localdate(),
    )  # fmt: skip
    plant.stock(plant.housing, "5", "60")
    plant.stock(plant.bolt, "10", "5")
    prod.production_order_release(order=order, schedule=False)
    prod.production_receive(order=order, quantity="5", lot_code="GP-2611-A")
    sale = sales.sales_order_confirm(
        order=sales.sales_order_create(
            company=company,
            partner=customer,
            lines=[{"product": plant.pump, "quantity": D("5"), "unit_price": D("800")}],
        )
    )
    delivery = sale.deliveries.get()
    sales.delivery_pick(delivery=delivery)
    sales.delivery_ship(delivery=delivery)
    channel = make_channel(company, "simulator")
    identity = make_identity(
        company, kind="simulator", crm_contact_id=contact.pk, crm_account_id=account.pk, resolution=Resolution.AUTO
    )
    make_conversation(company, channel=channel, identity=identity)
    consent_record(company_id=company.pk, crm_contact_id=contact.pk, channel_kind="simulator",
                   lawful_basis="contract", source="售后服务协议")  # fmt: skip
    relay_all()
    ticket = ticket_for(company, by=agent.user, account=account, contact=contact, subject="泵体漏油",
                        description="收到的齿轮泵有 2 台漏油")  # fmt: skip
    return plant, order, ticket, agent, identity


def test_a_complaint_on_a_delivered_lot_opens_one_non_conformance_and_the_reply_carries_the_survey(delivered_lot):
    plant, production_order, ticket, agent, identity = delivered_lot
    [choice] = ticket_lots_choices(ticket)
    assert (choice["lot_code"], choice["product_id"], choice["quantity"]) == ("GP-2611-A", plant.pump.pk, D("5"))

    ticket_lot_link(ticket=ticket, lot_id=choice["lot_id"], by=agent.user)
    ticket_lot_link(ticket=ticket, lot_id=choice["lot_id"], by=agent.user)  # the same lot again: nothing new
    assert OutboxEvent.objects.filter(name="crm.ticket.lot_linked").count() == 1
    relay_all()
    redeliver("crm.ticket.lot_linked")

    nc = NonConformance.objects.get(company=plant.company)
    assert (nc.crm_ticket_id, nc.lot.code, nc.production_order, nc.product) == (
        ticket.pk,
        "GP-2611-A",
        production_order,
        plant.pump,
    )
    assert nc.quantity == D("5") and "漏油" in nc.description
    linked = OutboxEvent.objects.get(name="crm.ticket.lot_linked")
    assert HandlerRun.objects.get(event=linked, handler="erp.non_conformance_from_ticket").status == "done"

    # field complaints count in the defect rates by product
    [row] = field_complaints_by_product(plant.company)
    assert (row["key"], row["complaints"], row["quantity"]) == (plant.pump.pk, 1, D("5"))
    client = Client()
    client.force_login(make_member(plant.company, Role.ADMIN).user)
    page = client.get(reverse("erp:production-quality")).content.decode()
    assert 'data-testid="field-complaints"' in page and plant.pump.sku in page
    page = client.get(reverse("crm:ticket-detail", args=[ticket.pk])).content.decode()
    assert 'data-testid="ticket-nc"' in page and nc.number in page

    # the resolution goes back to the customer on their channel, with the survey link
    ticket_resolve(ticket=Ticket.objects.get(pk=ticket.pk), by=agent.user)
    relay_all()
    redeliver("crm.ticket.resolved")
    message = StatusMessage.objects.get(event_name="crm.ticket.resolved")
    survey = Ticket.objects.get(pk=ticket.pk).csat
    assert (message.identity, message.status) == (identity, "queued")
    assert reverse("crm:csat", args=[survey.token]) in message.text
    resolved = OutboxEvent.objects.get(name="crm.ticket.resolved")
    assert resolved.correlation_id != linked.correlation_id  # a new chain: the agent's resolution


def test_a_lot_the_customer_never_received_is_refused_with_nothing_written(delivered_lot):
    plant, _order, ticket, agent, _identity = delivered_lot
    other = AccountFactory(company=plant.company, name="别家客户")
    stranger = ticket_for(plant.company, by=agent.user, account=other)
    lot_id = ticket_lots_choices(ticket)[0]["lot_id"]
    with pytest.raises(ValidationError) as error:
        ticket_lot_link(ticket=stranger, lot_id=lot_id, by=agent.user)
    assert "lot" in error.value.message_dict
    assert Ticket.objects.get(pk=stranger.pk).erp_lot_id is None
    assert not OutboxEvent.objects.filter(name="crm.ticket.lot_linked").exists()


def test_a_busy_complaint_is_retried_and_opens_one_non_conformance(delivered_lot, settings):
    settings.TROIKA_OUTBOX_BACKOFF_SECONDS = 1.0
    plant, _order, ticket, agent, _identity = delivered_lot
    lot_id = ticket_lots_choices(ticket)[0]["lot_id"]
    with advisory_lock_held(complaint_lock_key(plant.company.pk, ticket.pk, lot_id)):
        ticket_lot_link(ticket=ticket, lot_id=lot_id, by=agent.user)
        relay_all()
        run = HandlerRun.objects.get(handler="erp.non_conformance_from_ticket")
        assert (run.status, run.attempts) == ("failed", 1)
        assert not NonConformance.objects.exists()
    relay_all(now=timezone.now() + timedelta(seconds=5))
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("done", 2)
    assert NonConformance.objects.filter(crm_ticket_id=ticket.pk).count() == 1
