"""The inbox's alerts are written in each agent's language (``Membership.language``), whatever language the
ingest worker runs in — also the coalesced "N new messages from …" line, the count where each language puts it."""

from __future__ import annotations

import pytest
from django.utils import translation

from scrm.channels.base import InboundEvent
from scrm.services.channels import deliveries_record
from scrm.services.inbox import deliveries_process
from scrm.tests.factories import make_channel
from suite.models import Membership, Notification, Role
from suite.services.notifications import notification_mark_read

pytestmark = pytest.mark.django_db


def test_inbox_alerts_are_written_in_each_agents_language_also_when_coalesced(company, member):
    english, chinese = member(company, Role.SERVICE), member(company, Role.SERVICE)
    Membership.objects.filter(pk=english.pk).update(language="en")
    Membership.objects.filter(pk=chinese.pk).update(language="zh-hans")
    channels = {
        agent.user_id: make_channel(company, "webhook", default_assignee=agent.user) for agent in (english, chinese)
    }
    sent = 0

    def batch(messages: int, language: str) -> dict:
        """``messages`` more from 李娜 on each agent's channel, processed by workers running in ``language``."""
        nonlocal sent
        for agent_id, channel in channels.items():
            events = [
                InboundEvent(external_id=f"e-{sent + n}", sender_id=f"fan-{agent_id}", sender_name="李娜", text="你好")
                for n in range(messages)
            ]
            deliveries_record(channel=channel, events=events)
        sent += messages
        with translation.override(language):
            for channel in channels.values():
                deliveries_process(channel_id=channel.pk)
        return dict(Notification.objects.filter(read_at__isnull=True).values_list("recipient_id", "title"))

    assert batch(1, "zh-hans") == {english.user_id: "New message from 李娜", chinese.user_id: "来自 李娜 的新消息"}
    assert batch(2, "en") == {  # the unread alert updated in place
        english.user_id: "3 new messages from 李娜",
        chinese.user_id: "来自 李娜 的 3 条新消息",
    }
    for agent in (english, chinese):
        notification_mark_read(user=agent.user, company=company)
    assert batch(2, "zh-hans") == {  # read: a new one, already counting two
        english.user_id: "2 new messages from 李娜",
        chinese.user_id: "来自 李娜 的 2 条新消息",
    }
