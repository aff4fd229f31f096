"""Leads from SCRM: a person who adds the company on WeCom and matches no CRM customer becomes a CRM lead — through
the real inbox pipeline (``deliveries_record`` → ``deliveries_process``) and the outbox relay."""

from __future__ import annotations

import pytest

from crm.models import Lead, LeadStatus, Source
from crm.services.customers import contact_create
from scrm.channels.base import InboundEvent
from scrm.services.channels import deliveries_record
from scrm.services.inbox import deliveries_process
from scrm.tests.factories import make_channel
from suite.models import Role
from tests.loop_support import redeliver, relay_all

pytestmark = pytest.mark.django_db


def _added(channel, sender, **fields):
    deliveries_record(
        channel=channel,
        events=[
            InboundEvent(
                external_id=f"event:add:{sender}:{fields.pop('n', 1)}",
                sender_id=sender,
                kind="event",
                event="add_external_contact",
                staff_id="zhangsan",
                **fields,
            )
        ],
    )
    deliveries_process(channel_id=channel.pk)
    relay_all()


def test_a_new_wecom_contact_becomes_an_assigned_lead_once(company, member):
    sales = member(company, Role.SALES, username="zhangsan")
    channel = make_channel(company, "wecom", default_assignee=sales.user)
    _added(channel, "wmChen", sender_name="陈晨", unionid="u-chen", phone="138 0013 8000")

    lead = Lead.objects.get(company=company)
    assert (lead.name, lead.phone, lead.unionid, lead.source, lead.status) == (
        "陈晨",
        "+8613800138000",
        "u-chen",
        Source.WECOM,
        LeadStatus.NEW,
    )
    assert lead.owner_id == sales.user.pk and "wmChen" in lead.notes and "zhangsan" in lead.notes

    # The event delivered again, and the person adding again (a new event): still one lead.
    redeliver("scrm.contact.created")
    _added(channel, "wmChen", sender_name="陈晨", unionid="u-chen", n=2)
    assert Lead.objects.filter(company=company).count() == 1


def test_an_unreadable_phone_is_kept_in_the_notes_and_rules_assign_without_a_default(company):
    channel = make_channel(company, "wecom")
    _added(channel, "wmWang", sender_name="", phone="12345")
    lead = Lead.objects.get(company=company)
    assert (lead.name, lead.phone) == ("wmWang", "")
    assert "12345" in lead.notes


def test_a_known_customer_is_not_a_lead(company, member):
    sales = member(company, Role.SALES)
    contact_create(company=company, by=sales.user, name="李娜", phone="13900001111")
    channel = make_channel(company, "wecom")
    _added(channel, "wmLi", sender_name="李娜", phone="13900001111", phone_verified=True)
    assert not Lead.objects.filter(company=company).exists()
