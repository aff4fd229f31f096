"""Leads from SCRM conversations (「转线索」): on a conversation's page, staff ask for a lead of the person; the CRM
makes it (owned by the one who asked, source from the platform, the conversation in its notes) when it handles
``scrm.conversation.lead_requested`` — through the real outbox relay. One open lead per platform identity, also
when two events for one person are handled at the same moment."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from crm.models import Lead, Source, Ticket
from crm.services.customers import contact_create
from crm.services.social_leads import lead_from_social_contact
from crm.tests.test_views_customers import browser
from scrm.models import Message
from scrm.services.inbox import conversation_note_add
from scrm.tests.factories import make_channel, make_conversation, make_identity, make_message
from suite.models import Module, Role
from tests.loop_support import redeliver, relay_all


@pytest.fixture
def adviser(company, member):
    company.enabled_modules = [Module.CRM, Module.SCRM]
    company.save()
    return member(company, Role.SALES, username="qihang.adviser1")


@pytest.mark.django_db
def test_staff_make_a_lead_of_a_conversation_once(company, adviser):
    channel = make_channel(company, "douyin")
    identity = make_identity(company, kind="douyin", external_id="dy-open-1", display_name="周同学")
    conversation = make_conversation(company, channel=channel, identity=identity, assigned_to=adviser.user)
    make_message(
        company, conversation=conversation, text="电工证培训多少钱？", sent_at=timezone.now() - timedelta(minutes=3)
    )
    make_message(company, conversation=conversation, text="学费 2,980 元，可分期", direction=Message.Direction.OUT)
    conversation_note_add(conversation=conversation, text="内部：意向很强", by=adviser.user)
    client = browser(adviser)

    page = client.get(reverse("scrm:conversation", args=[conversation.pk])).content.decode()
    assert reverse("scrm:conversation-lead", args=[conversation.pk]) in page
    response = client.post(reverse("scrm:conversation-lead", args=[conversation.pk]), follow=True)
    assert "A lead is being made in the CRM" in response.content.decode()
    relay_all()

    lead = Lead.objects.get(company=company)
    assert (lead.name, lead.source, lead.owner_id, lead.social_ref) == (
        "周同学",
        Source.DOUYIN,
        adviser.user.pk,
        "douyin:dy-open-1",
    )
    assert "conversation (dy-open-1)" in lead.notes
    assert "电工证培训多少钱" in lead.notes and "学费 2,980 元" in lead.notes
    assert "内部" not in lead.notes  # internal notes stay in the inbox

    # Asking again, and the event delivered again: the person keeps their one open lead (no phone, no
    # unionid: the platform identity is what finds it).
    client.post(reverse("scrm:conversation-lead", args=[conversation.pk]))
    relay_all()
    redeliver("scrm.conversation.lead_requested")
    assert Lead.objects.filter(company=company).count() == 1


@pytest.mark.django_db
def test_a_customer_is_not_made_a_lead_and_who_may_ask(company, adviser, member):
    contact = contact_create(company=company, by=adviser.user, name="孙悦", phone="13900002222")
    channel = make_channel(company, "douyin")
    matched = make_identity(company, kind="douyin", crm_contact_id=contact.pk, display_name="孙悦")
    conversation = make_conversation(company, channel=channel, identity=matched, assigned_to=adviser.user)
    make_message(company, conversation=conversation, text="下期什么时候开班？")
    client = browser(adviser)

    page = client.get(reverse("scrm:conversation", args=[conversation.pk])).content.decode()
    assert reverse("scrm:conversation-lead", args=[conversation.pk]) not in page
    response = client.post(reverse("scrm:conversation-lead", args=[conversation.pk]), follow=True)
    assert "already a CRM customer" in response.content.decode()

    stranger = make_conversation(company, channel=channel, identity=make_identity(company, kind="douyin"))
    finance = member(company, Role.FINANCE)
    assert browser(finance).post(reverse("scrm:conversation-lead", args=[stranger.pk])).status_code in (403, 404)
    relay_all()
    assert not Lead.objects.filter(company=company).exists()


@pytest.mark.django_db(transaction=True)
def test_two_events_of_one_person_at_the_same_moment_make_one_lead(company):
    """The first handler has made the lead but not committed yet when the second one looks for it: the second
    waits for the first (not seeing an uncommitted lead would make a second one)."""
    made, first_made, first_may_commit = [], threading.Event(), threading.Event()

    def make():
        return lead_from_social_contact(
            company_id=company.pk, channel_kind="wecom", external_id="wmSame", display_name="同一人"
        ).pk

    def first():
        try:
            with transaction.atomic():
                made.append(make())
                first_made.set()
                first_may_commit.wait(10)
        finally:
            connection.close()

    def second():
        try:
            first_made.wait(10)
            made.append(make())
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_made.wait(10)
    time.sleep(0.5)  # the second handler is now inside, waiting or (without the lock) done
    first_may_commit.set()
    for thread in threads:
        thread.join(20)
    assert len(made) == 2 and made[0] == made[1]
    assert Lead.objects.filter(company=company, social_ref="wecom:wmSame").count() == 1


@pytest.mark.django_db
def test_the_api_asks_for_a_lead_and_a_ticket(company, adviser, api_client):
    channel = make_channel(company, "douyin")
    person = make_identity(company, kind="douyin", external_id="dy-open-api", display_name="吴同学")
    conversation = make_conversation(company, channel=channel, identity=person, assigned_to=adviser.user)
    client = api_client(adviser)

    # The customer has written nothing yet: no ticket, a field error naming the conversation.
    refused = client.post(f"/api/v1/scrm/conversations/{conversation.pk}/ticket/")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "conversation"
    make_message(company, conversation=conversation, text="周末班还有名额吗？")

    for kind in ("lead", "ticket"):
        response = client.post(f"/api/v1/scrm/conversations/{conversation.pk}/{kind}/")
        assert response.status_code == 202, response.content
        assert response.json() == {"requested": kind, "conversation": conversation.pk}
    relay_all()
    lead = Lead.objects.get(company=company)
    assert (lead.name, lead.owner_id, lead.social_ref) == ("吴同学", adviser.user.pk, "douyin:dy-open-api")
    assert Ticket.objects.get(company=company).subject == "周末班还有名额吗？"
