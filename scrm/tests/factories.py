"""Factories for SCRM records, through the services where one exists; registered for the tenant-isolation
test."""

from __future__ import annotations

import itertools

from django.db.models import Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from scrm.models import Channel, Conversation, Message, SocialIdentity
from scrm.services.channels import channel_create
from suite.models import Company
from suite.testing import tenant_factory

_seq = itertools.count(1)

WECOM_CREDENTIALS = {
    "token": "QDG6eK",
    "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    "secret": "wecom-app-secret",
}
WECOM_CORP_ID = "wx5823bf96d3bd56c7"


def make_channel(company: Company, kind: str = "webhook", *, credentials=None, config=None, **fields) -> Channel:
    defaults = {
        "webhook": {"secret": "whsec-test"},
        "simulator": {"secret": "sim-secret"},
        "douyin": {"client_secret": "dy-client-secret"},
        "wecom": WECOM_CREDENTIALS,
        "weibo": {"access_token": "tok-1", "refresh_token": "ref-1", "app_key": "k", "app_secret": "s"},
    }
    if config is None:
        config = {"corp_id": WECOM_CORP_ID} if kind == "wecom" else {}
    return channel_create(
        company=company,
        kind=kind,
        name=fields.pop("name", None) or f"{kind} {next(_seq)}",
        credentials=defaults.get(kind, {}) if credentials is None else credentials,
        config=config,
        **fields,
    )


def make_identity(company: Company, *, kind: str = "webhook", external_id: str | None = None, **fields):
    return SocialIdentity.objects.create(
        company=company,
        channel_kind=kind,
        external_id=external_id or f"fan-{next(_seq)}",
        display_name=fields.pop("display_name", "王小明"),
        **fields,
    )


def make_conversation(company: Company, *, channel: Channel | None = None, assigned_to=None, identity=None):
    channel = channel or make_channel(company)
    identity = identity or make_identity(company, kind=channel.kind)
    return Conversation.objects.create(
        company=company,
        channel=channel,
        identity=identity,
        assigned_to=assigned_to,
        last_message_at=timezone.now(),
    )


def make_message(company: Company, *, conversation: Conversation | None = None, text: str = "你好", **fields):
    conversation = conversation or make_conversation(company)
    message = Message.objects.create(
        company=company,
        channel=conversation.channel,
        conversation=conversation,
        direction=fields.pop("direction", Message.Direction.IN),
        text=text,
        external_id=fields.pop("external_id", f"m-{next(_seq)}"),
        sent_at=fields.pop("sent_at", timezone.now()),
        **fields,
    )
    keep_first_inbound(message)
    return message


def keep_first_inbound(message: Message) -> None:
    """What the inbox batch keeps for an inbound message written directly: the conversation's first inbound time."""
    if message.direction == Message.Direction.IN:
        Conversation.objects.filter(pk=message.conversation_id).update(
            first_inbound_at=Least(Coalesce("first_inbound_at", Value(message.sent_at)), Value(message.sent_at))
        )


tenant_factory(Channel)(lambda company: make_channel(company))
tenant_factory(SocialIdentity)(lambda company: make_identity(company))
tenant_factory(Conversation)(lambda company: make_conversation(company))
tenant_factory(Message)(lambda company: make_message(company))

from scrm.tests import (  # noqa: E402
    factories_campaigns,  # noqa: F401  QR campaigns, coupons, UGC (scrmqr)
    factories_relations,  # noqa: F401  communities, cadences, QR codes, handover
    factories_segments,  # noqa: F401  rules, segments, consents, pushes (scrmseg)
)
