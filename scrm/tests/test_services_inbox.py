"""The inbox pipeline (delivery → identity → conversation/message → alert) and replies through connectors,
against the real database and, for replies, a local fake server."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from werkzeug import Response

from scrm.channels.base import InboundEvent
from scrm.channels.webhook import verify
from scrm.models import Conversation, Delivery, Message, Resolution, SocialIdentity
from scrm.services.channels import deliveries_record
from scrm.services.inbox import conversation_reply, deliveries_process
from scrm.tests.factories import make_channel
from suite.models import Notification, Role

pytestmark = pytest.mark.django_db


def event(n: int, *, sender="fan-1", name="李娜", text="你好", **extra) -> InboundEvent:
    return InboundEvent(external_id=f"e-{n}", sender_id=sender, sender_name=name, text=text, **extra)


def test_pipeline_creates_identity_conversation_message_and_alerts_the_assignee(company, member):
    agent = member(company, Role.SERVICE)
    channel = make_channel(company, "webhook", default_assignee=agent.user)
    assert deliveries_record(channel=channel, events=[event(1), event(2, text="还在吗？"), event(1)]) == 2

    result = deliveries_process(channel_id=channel.pk)

    assert (result.deliveries, result.messages) == (2, 2)
    identity = SocialIdentity.objects.get(company=company)
    assert (identity.channel_kind, identity.external_id, identity.display_name) == ("webhook", "fan-1", "李娜")
    assert identity.resolution == Resolution.NONE
    conversation = Conversation.objects.get(identity=identity)
    assert conversation.assigned_to == agent.user
    assert conversation.last_message_at is not None and conversation.first_response_at is None
    assert list(conversation.messages.order_by("id").values_list("text", "direction")) == [
        ("你好", "in"),
        ("还在吗？", "in"),
    ]
    notification = Notification.objects.get(recipient=agent.user)  # one alert per conversation per batch
    assert notification.link == f"/scrm/inbox/{conversation.pk}/"
    assert "2" in notification.title and "李娜" in notification.title
    assert notification.body == "还在吗？"
    assert not Delivery.objects.filter(processed_at__isnull=True).exists()
    assert deliveries_process(channel_id=channel.pk).deliveries == 0  # nothing left; nothing doubled
    assert Message.objects.count() == 2


def test_same_person_twice_on_a_channel_is_one_conversation_and_names_refresh(company):
    channel = make_channel(company, "webhook")
    deliveries_record(channel=channel, events=[event(1, name=""), event(2, name="Olivia Liu", phone="13800138000")])
    deliveries_process(channel_id=channel.pk)
    identity = SocialIdentity.objects.get()
    assert (identity.display_name, identity.phone) == ("Olivia Liu", "13800138000")
    assert Conversation.objects.count() == 1
    assert Notification.objects.count() == 0  # nobody assigned: nobody alerted


def test_wecom_relationship_event_becomes_an_event_message_and_publishes_contact_created(company, member):
    from suite.models import OutboxEvent

    agent = member(company, Role.SERVICE)
    channel = make_channel(company, "wecom", default_assignee=agent.user)
    deliveries_record(
        channel=channel,
        events=[
            InboundEvent(external_id="event:sys:1:add", sender_id="wmX", kind="event", event="add_external_contact")
        ],
    )
    deliveries_process(channel_id=channel.pk)
    message = Message.objects.get()
    assert (message.kind, message.event, message.text) == ("event", "add_external_contact", "")
    with translation.override("en"):
        assert str(message.display_text) == "Added you as a WeCom contact"
    with translation.override("zh-hans"):
        assert str(message.display_text) != ""
    # the agent's alert shows the event's description where the event has no text (as Message.display_text),
    # in the language the worker ran in
    assert Notification.objects.get(recipient=agent.user).body in {
        "Added you as a WeCom contact",
        "添加你为企业微信联系人",
    }
    published = OutboxEvent.objects.get(name="scrm.contact.created")
    assert published.payload["external_id"] == "wmX"
    assert published.company_id == company.pk


# ---------------------------------------------------------------- replies through the connector


@pytest.fixture
def fake_platform(settings, httpserver):
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    return httpserver


def inbound_conversation(company, channel):
    deliveries_record(channel=channel, events=[event(1, sender="fan-9")])
    deliveries_process(channel_id=channel.pk)
    return Conversation.objects.get(channel=channel)


@pytest.mark.parametrize("kind,secret", [("webhook", "whsec-test"), ("simulator", "sim-secret")])
def test_reply_goes_out_signed_and_is_recorded(company, member, fake_platform, kind, secret):
    agent = member(company, Role.SERVICE)
    received = []

    def handler(request):
        verify(secret, request.get_data(), request.headers["X-Troika-Signature"])
        received.append(json.loads(request.get_data()))
        return Response("ok")

    fake_platform.expect_request("/outbound", method="POST").respond_with_handler(handler)
    channel = make_channel(company, kind, config={"outbound_url": fake_platform.url_for("/outbound")})
    conversation = inbound_conversation(company, channel)

    message = conversation_reply(conversation=conversation, text="您好，已为您查询，今天发货。", by=agent.user)

    assert received == [{"id": received[0]["id"], "recipient": "fan-9", "text": "您好，已为您查询，今天发货。"}]
    assert (message.direction, message.author, message.external_id) == ("out", agent.user, f"out:{received[0]['id']}")
    conversation.refresh_from_db()
    assert conversation.first_response_at == message.sent_at
    second = conversation_reply(conversation=conversation, text="Anything else?", by=agent.user)
    conversation.refresh_from_db()
    assert conversation.first_response_at == message.sent_at  # the first response stays the first
    assert conversation.last_message_at == second.sent_at


def test_reply_refused_by_the_platform_records_nothing(company, member, fake_platform):
    agent = member(company, Role.SERVICE)
    fake_platform.expect_request("/outbound").respond_with_data("nope", status=500)
    channel = make_channel(company, "webhook", config={"outbound_url": fake_platform.url_for("/outbound")})
    conversation = inbound_conversation(company, channel)
    with pytest.raises(ValidationError) as exc:
        conversation_reply(conversation=conversation, text="hello", by=agent.user)
    assert "text" in exc.value.message_dict
    with pytest.raises(ValidationError):
        conversation_reply(conversation=conversation, text="   ", by=agent.user)
    assert not Message.objects.filter(direction="out").exists()
