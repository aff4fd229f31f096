"""The simulator channel: realistic bilingual traffic (Chinese and English messages and comments from fake
fans) for the demo and the benchmarks, polled like a real platform.

``poll(cursor)`` is deterministic: item *n* of a channel is always the same fan, text and id, so a poll
repeated after a crash yields the same external ids and the dedupe drops them — exactly the property real
pollers must have. ``send`` POSTs to ``config["outbound_url"]`` when set (a local fake server in tests),
signed like the generic webhook; without one the reply is only recorded (demo).
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

from suite import net

from .base import Connector, InboundEvent, SendError, WebhookResult
from .webhook import HEADER, parse_body, sign, verify

FANS = [
    ("王小明", "+8613800138001"),
    ("李娜", ""),
    ("张伟", "+8613912345678"),
    ("陈静", ""),
    ("刘洋", ""),
    ("赵丽颖粉丝团", ""),
    ("小红薯123", ""),
    ("Emily Chen", ""),
    ("Jack Li", "+8613700001111"),
    ("Sophie Wang", ""),
    ("Michael Zhang", ""),
    ("Olivia Liu", ""),
]
TEXTS_ZH = [
    "请问这款面霜敏感肌可以用吗？",
    "快递三天了还没到，能帮忙查一下吗？订单号 {n}",
    "上次买的口红颜色很正，还会回购！",
    "直播间的优惠券怎么领不到？",
    "包装破损了，想申请退换货。",
    "有没有适合送妈妈的礼盒推荐？",
    "你们的新品什么时候上市呀？",
    "客服回复太慢了，有点失望。",
]
TEXTS_EN = [
    "Hi, is the new serum suitable for oily skin?",
    "My order #{n} hasn't arrived yet, can you check?",
    "Love the packaging, will definitely buy again!",
    "How do I use the coupon from the livestream?",
    "The product arrived damaged, I'd like a refund.",
    "Do you ship to Hong Kong?",
]


def simulated_item(channel_id: int, n: int, *, start: datetime | None = None) -> InboundEvent:
    """Item number ``n`` of the channel's endless, repeatable stream."""
    rng = random.Random(f"{channel_id}:{n}")
    fan_index = rng.randrange(len(FANS))
    name, phone = FANS[fan_index]
    english = name[0].isascii()
    text = rng.choice(TEXTS_EN if english else TEXTS_ZH).format(n=100000 + n)
    base = start or datetime(2026, 1, 1, tzinfo=UTC)
    return InboundEvent(
        external_id=f"sim-{n}",
        sender_id=f"fan-{channel_id}-{fan_index}",
        kind=rng.choice(["message", "message", "comment"]),
        text=text,
        sender_name=name,
        phone=phone,
        phone_verified=False,
        sent_at=(base + timedelta(seconds=n)).isoformat(),
    )


class SimulatorConnector(Connector):
    """config: ``batch`` (items per poll, default 20), ``outbound_url``; credentials: ``secret`` (webhook)."""

    kind = "simulator"
    can_poll = True

    def poll(self, cursor: str) -> tuple[list[InboundEvent], str]:
        last = int(cursor or 0)
        batch = int(self.config.get("batch", 20))
        events = [simulated_item(self.channel.pk, n) for n in range(last + 1, last + batch + 1)]
        return events, str(last + batch)

    def verify_and_parse(self, request) -> WebhookResult:
        verify(self.credentials.get("secret", ""), request.body, request.headers.get(HEADER, ""))
        return WebhookResult(events=parse_body(request.body), reply='{"ok": true}', content_type="application/json")

    def send(self, recipient: str, message: str) -> str:
        message_id = f"sim-out-{uuid.uuid4().hex}"
        url = self.config.get("outbound_url")
        if not url:
            return message_id
        body = json.dumps({"id": message_id, "recipient": recipient, "text": message}, ensure_ascii=False).encode()
        try:
            response = net.request(
                "POST",
                url,
                body=body,
                headers={"Content-Type": "application/json", HEADER: sign(self.credentials.get("secret", ""), body)},
            )
        except (net.UnsafeURL, net.OutboundError) as exc:
            raise SendError(str(exc)) from exc
        if not 200 <= response.status < 300:
            raise SendError(f"HTTP {response.status}")
        return message_id
