"""SCRM identity resolution onto CRM customers (read through crm.selectors) and the CRM's handler of
``scrm.identity.resolved`` — cross-app, so it lives here rather than in either app."""

from __future__ import annotations

import pytest

from crm.events import contact_link_social_identity
from crm.models import Contact
from crm.tests.factories import ContactFactory
from scrm.channels.base import InboundEvent
from scrm.models import Conversation, Resolution, SocialIdentity
from scrm.services.channels import deliveries_record
from scrm.services.inbox import deliveries_process
from scrm.tests.factories import make_channel
from suite.events.registry import Event
from suite.models import OutboxEvent, Role

pytestmark = pytest.mark.django_db


def deliver(channel, **sender):
    deliveries_record(
        channel=channel, events=[InboundEvent(external_id=f"x-{sender}", sender_id="fan-1", text="在吗", **sender)]
    )
    deliveries_process(channel_id=channel.pk)
    return SocialIdentity.objects.get(external_id="fan-1")


def test_unionid_match_is_automatic_and_assigns_the_crm_owner(company, member):
    owner = member(company, Role.SALES)
    contact = ContactFactory(company=company, name="王小明", unionid="o6_union_1", owner=owner.user)
    channel = make_channel(company, "webhook")

    identity = deliver(channel, unionid="o6_union_1")

    assert (identity.resolution, identity.crm_contact_id, identity.crm_owner_id) == (
        Resolution.AUTO,
        contact.pk,
        owner.user.pk,
    )
    assert Conversation.objects.get(identity=identity).assigned_to == owner.user
    published = OutboxEvent.objects.get(name="scrm.identity.resolved")
    assert published.payload["crm_contact_id"] == contact.pk


def test_verified_phone_is_automatic_and_crm_records_the_unionid(company):
    contact = ContactFactory(company=company, name="张伟", phone="13912345678")
    channel = make_channel(company, "webhook")

    identity = deliver(channel, phone="+86 139 1234 5678", phone_verified=True, unionid="o6_union_2")

    assert (identity.resolution, identity.crm_contact_id) == (Resolution.AUTO, contact.pk)
    outbox = OutboxEvent.objects.get(name="scrm.identity.resolved")
    contact_link_social_identity(
        Event(
            id=outbox.pk,
            uuid=outbox.uuid,
            name=outbox.name,
            version=outbox.version,
            payload=outbox.payload,
            company_id=outbox.company_id,
            correlation_id=outbox.correlation_id,
            created_at=outbox.created_at,
            created_by_id=None,
            attempts=0,
        )
    )
    assert Contact.objects.get(pk=contact.pk).unionid == "o6_union_2"


def test_unverified_phone_is_only_a_suggestion_and_no_match_is_none(company):
    contact = ContactFactory(company=company, name="李娜", phone="13800138000")
    channel = make_channel(company, "webhook")

    identity = deliver(channel, phone="13800138000")

    assert (identity.resolution, identity.crm_contact_id) == (Resolution.SUGGESTED, contact.pk)
    assert not OutboxEvent.objects.filter(name="scrm.identity.resolved").exists()
    other = make_channel(company, "simulator")
    deliveries_record(channel=other, events=[InboundEvent(external_id="y", sender_id="nobody", phone="13700001111")])
    deliveries_process(channel_id=other.pk)
    assert SocialIdentity.objects.get(external_id="nobody").resolution == Resolution.NONE


def test_removed_wecom_contact_alerts_the_owner_and_crm_makes_a_follow_up_task(company, member):
    from crm.events import churn_follow_up_task
    from crm.models import Activity
    from suite.models import Notification

    owner = member(company, Role.SALES)
    contact = ContactFactory(company=company, name="陈静", unionid="o6_union_9", owner=owner.user)
    channel = make_channel(company, "wecom")
    deliveries_record(
        channel=channel,
        events=[
            InboundEvent(external_id="m1", sender_id="wmChen", unionid="o6_union_9", text="你好"),
            InboundEvent(
                external_id="event:sys:2:del",
                sender_id="wmChen",
                kind="event",
                event="del_external_contact",
                staff_id="zs",
            ),
        ],
    )
    deliveries_process(channel_id=channel.pk)

    alert = Notification.objects.filter(recipient=owner.user, level="warning").get()
    assert alert.link.startswith("/scrm/inbox/")
    outbox = OutboxEvent.objects.get(name="scrm.contact.removed")
    assert outbox.payload["crm_contact_id"] == contact.pk
    assert outbox.payload["change"] == "del_external_contact"
    event = Event(
        id=outbox.pk,
        uuid=outbox.uuid,
        name=outbox.name,
        version=outbox.version,
        payload=outbox.payload,
        company_id=outbox.company_id,
        correlation_id=outbox.correlation_id,
        created_at=outbox.created_at,
    )
    churn_follow_up_task(event)
    churn_follow_up_task(event)  # redelivered: still one task
    task = Activity.objects.get(contact=contact)
    assert (task.kind, task.owner, task.done_at) == ("task", owner.user, None)
    assert task.due_at is not None
