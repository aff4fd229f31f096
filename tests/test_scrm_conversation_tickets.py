"""Tickets from SCRM messages (「转工单」): on a conversation's page, staff ask for a service ticket; the CRM opens it
(channel social, the customer's last message as the subject, the recent messages as the description, the matched
contact) when it handles ``scrm.conversation.escalated`` — through the real outbox relay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Ticket, TicketChannel
from crm.services.customers import contact_create
from crm.tests.test_views_customers import browser
from scrm.models import Message
from scrm.services.inbox import conversation_note_add
from scrm.tests.factories import make_channel, make_conversation, make_identity, make_message
from suite.models import Module, Role
from tests.loop_support import redeliver, relay_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(company, member):
    company.enabled_modules = [Module.CRM, Module.SCRM]
    company.save()
    return member(company, Role.SERVICE, username="kefu01")


def test_staff_turn_a_conversation_into_a_ticket_of_the_matched_contact(company, agent, member):
    sales = member(company, Role.SALES)
    contact = contact_create(company=company, by=sales.user, name="王小明", phone="13800138000")
    channel = make_channel(company, "wecom")
    identity = make_identity(company, kind="wecom", crm_contact_id=contact.pk, display_name="王小明")
    conversation = make_conversation(company, channel=channel, identity=identity, assigned_to=agent.user)
    earlier = timezone.now() - timedelta(minutes=5)
    make_message(company, conversation=conversation, text="你们的冷柜不制冷了", sent_at=earlier)
    make_message(company, conversation=conversation, text="请提供型号", direction=Message.Direction.OUT)
    make_message(company, conversation=conversation, text="型号 BC-200，急！")
    conversation_note_add(conversation=conversation, text="内部：老客户", by=agent.user)
    client = browser(agent)

    page = client.get(reverse("scrm:conversation", args=[conversation.pk])).content.decode()
    assert reverse("scrm:conversation-ticket", args=[conversation.pk]) in page
    response = client.post(reverse("scrm:conversation-ticket", args=[conversation.pk]), follow=True)
    assert "A service ticket is being opened" in response.content.decode()
    relay_all()

    ticket = Ticket.objects.get(company=company)
    assert (ticket.channel, ticket.subject, ticket.contact_id) == (
        TicketChannel.SOCIAL,
        "型号 BC-200，急！",
        contact.pk,
    )
    assert ticket.assigned_agent_id == agent.user.pk and ticket.requester_name == "王小明"
    assert "不制冷" in ticket.description and "请提供型号" in ticket.description
    assert "内部" not in ticket.description  # internal notes stay in the inbox

    # Asking again (or the event delivered again) before the customer writes anything new: still one ticket.
    client.post(reverse("scrm:conversation-ticket", args=[conversation.pk]))
    relay_all()
    redeliver("scrm.conversation.escalated")
    assert Ticket.objects.filter(company=company).count() == 1
    # A new message from the customer is a new request.
    make_message(company, conversation=conversation, text="又坏了")
    client.post(reverse("scrm:conversation-ticket", args=[conversation.pk]))
    relay_all()
    assert Ticket.objects.filter(company=company).count() == 2


def test_nothing_to_escalate_and_who_may_ask(company, agent, member):
    conversation = make_conversation(company, channel=make_channel(company, "wecom"))
    make_message(company, conversation=conversation, text="您好，有什么可以帮您？", direction=Message.Direction.OUT)
    response = browser(agent).post(reverse("scrm:conversation-ticket", args=[conversation.pk]), follow=True)
    assert "has written nothing" in response.content.decode()
    finance = member(company, Role.FINANCE)
    assert browser(finance).post(reverse("scrm:conversation-ticket", args=[conversation.pk])).status_code in (403, 404)
    relay_all()
    assert not Ticket.objects.filter(company=company).exists()
