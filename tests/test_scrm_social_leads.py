"""Leads from SCRM: a person who adds the company on WeCom and matches no CRM customer becomes a CRM lead — through
the real inbox pipeline (``deliveries_record`` → ``deliveries_process``) and the outbox relay."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.utils import translation

from crm.models import Lead, LeadStatus, Source
from crm.services.customers import contact_create
from scrm.channels.base import InboundEvent
from scrm.models import CadenceEnrollment, Message, SocialIdentity
from scrm.services.cadences import cadence_create
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


# ---------------------------------------------------------------- Douyin 留资 (lead capture) through the webhook


def _douyin(client, channel, payload: dict, msg_id: str):
    body = json.dumps(payload, ensure_ascii=False).encode()
    signature = hashlib.sha1(b"dy-client-secret" + body).hexdigest()  # noqa: S324  Douyin's scheme
    response = client.post(
        f"/api/v1/scrm/channels/{channel.pk}/webhook/",
        data=body,
        content_type="application/json",
        headers={"X-Douyin-Signature": signature, "Msg-Id": msg_id},
    )
    assert response.status_code == 200, response.content
    deliveries_process(channel_id=channel.pk)
    relay_all()


def _left_details(open_id: str, phone: str, remark: str, **content) -> dict:
    return {
        "event": "personal_tab_contact",
        "from_user_id": open_id,
        "content": {"telephone": phone, "name": content.pop("name", "小杨"), "remark": remark, **content},
    }


def test_a_douyin_lead_capture_becomes_a_lead_with_what_the_person_wrote(client, company, member):
    adviser = member(company, Role.SALES, username="adviser")
    channel = make_channel(company, "douyin", default_assignee=adviser.user)
    cadence = cadence_create(
        company=company,
        name="抖音留资跟进",
        trigger_source=Source.DOUYIN,
        channel=channel,
        steps=[{"kind": "task", "delay_minutes": 0, "subject": "电话回访"}],
    )
    # The person chatted first (an identity without a phone), then left their details on the home page.
    chat = {"event": "im_receive_msg", "from_user_id": "dy-yang", "content": {"text": "电工证怎么报名"}}
    _douyin(client, channel, chat, "m-1")
    assert not Lead.objects.filter(company=company).exists()
    _douyin(client, channel, _left_details("dy-yang", "17712345616", "想学电工证，周末班"), "m-2")

    lead = Lead.objects.get(company=company)
    assert (lead.name, lead.phone, lead.source, lead.status, lead.owner_id) == (
        "小杨",
        "+8617712345616",
        Source.DOUYIN,
        LeadStatus.NEW,
        adviser.user.pk,
    )
    assert "想学电工证，周末班" in lead.notes and "dy-yang" in lead.notes
    # The inbox shows the event with what was written, and the identity has the phone for the cadences.
    message = Message.objects.get(channel=channel, external_id="m-2")
    assert (message.kind, message.event, message.text) == ("event", "personal_tab_contact", "想学电工证，周末班")
    with translation.override("en"):
        assert message.event_text == "Left contact details on the Douyin home page"
    with translation.override("zh-hans"):
        assert message.event_text == "在抖音主页留资"
    identity = SocialIdentity.objects.get(company=company, external_id="dy-yang")
    assert identity.phone == "17712345616"
    # The training school's follow-up starts: the Douyin cadence enrolled the lead, on the person's identity.
    enrollment = CadenceEnrollment.objects.get(cadence=cadence)
    assert (enrollment.lead_id, enrollment.identity_id) == (lead.pk, identity.pk)

    # Delivered again, and the same person leaving details a second time: still one lead.
    redeliver("scrm.contact.created")
    _douyin(client, channel, _left_details("dy-yang", "177 1234 5616", "再问一次"), "m-3")
    assert Lead.objects.filter(company=company).count() == 1


def test_a_douyin_lead_capture_of_a_known_customer_is_not_a_lead(client, company, member):
    sales = member(company, Role.SALES)
    contact = contact_create(company=company, by=sales.user, name="陈女士", phone="13800138001")
    channel = make_channel(company, "douyin")
    SocialIdentity.objects.create(
        company=company, channel_kind="douyin", external_id="dy-chen", display_name="陈女士", crm_contact_id=contact.pk
    )
    _douyin(client, channel, _left_details("dy-chen", "13800138001", "续报", name="陈女士"), "m-9")
    assert not Lead.objects.filter(company=company).exists()
