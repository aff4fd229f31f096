"""The generic signed webhook: ``X-Troika-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
a 5-minute replay window, and dedupe on the body's ``id``. The same scheme Troika uses for its own outgoing
webhooks (docs/events.md), so an integrator signs both ways alike.

Body: ``{"id": "...", "sender": {"id", "name", "phone", "unionid"}, "kind": "message"|"comment", "text",
"sent_at"}``; ``"events": [...]`` of those for a batch. Replies are POSTed, signed the same way, to
``config["outbound_url"]``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

from django.utils.translation import gettext_lazy as _

from suite import net

from .base import ChannelError, Connector, InboundEvent, SendError, SignatureError, WebhookResult, check_timestamp

HEADER = "X-Troika-Signature"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(secret: str, body: bytes, header: str) -> None:
    try:
        parts = dict(item.strip().split("=", 1) for item in (header or "").split(","))
        timestamp, given = parts["t"], parts["v1"]
    except (ValueError, KeyError):
        raise SignatureError(_("The request is not signed.")) from None
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not secret or not hmac.compare_digest(expected, given):
        raise SignatureError(_("The signature does not match."))
    check_timestamp(timestamp)


def _event(item: dict) -> InboundEvent:
    if not isinstance(item, dict) or not str(item.get("id") or "").strip():
        raise ChannelError(_("Every event needs an id."), code="required")
    sender = item.get("sender") or {}
    if not isinstance(sender, dict) or not str(sender.get("id") or "").strip():
        raise ChannelError(_("Every event needs a sender id."), code="required")
    kind = item.get("kind", "message")
    if kind not in ("message", "comment"):
        raise ChannelError(_("kind must be message or comment."), code="invalid")
    event = InboundEvent(
        external_id=str(item["id"])[:200],
        sender_id=str(sender["id"])[:128],
        kind=kind,
        text=str(item.get("text") or ""),
        sender_name=str(sender.get("name") or "")[:200],
        phone=str(sender.get("phone") or "")[:32],
        unionid=str(sender.get("unionid") or "")[:64],
    )
    if item.get("sent_at"):
        event.sent_at = str(item["sent_at"])
    return event


def parse_body(body: bytes) -> list[InboundEvent]:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise ChannelError(_("The body is not valid JSON."), code="parse_error") from None
    items = data.get("events") if isinstance(data, dict) and "events" in data else [data]
    if not isinstance(items, list) or not items:
        raise ChannelError(_("No events in the body."), code="required")
    return [_event(item) for item in items]


class SignedWebhookConnector(Connector):
    """credentials: ``secret``; config: ``outbound_url`` for replies."""

    kind = "webhook"

    def verify_and_parse(self, request) -> WebhookResult:
        if request.method != "POST":
            raise ChannelError(_("Only POST is accepted."), status=405, code="method_not_allowed")
        verify(self.credentials.get("secret", ""), request.body, request.headers.get(HEADER, ""))
        return WebhookResult(events=parse_body(request.body), reply='{"ok": true}', content_type="application/json")

    def send(self, recipient: str, message: str) -> str:
        url = self.config.get("outbound_url")
        if not url:
            raise SendError("the channel has no outbound_url")
        message_id = self.send_key or uuid.uuid4().hex  # stable per push recipient: the receiver dedupes on it
        body = json.dumps({"id": message_id, "recipient": recipient, "text": message}, ensure_ascii=False).encode()
        try:
            response = net.request(
                "POST",
                url,
                body=body,
                headers={"Content-Type": "application/json", HEADER: sign(self.credentials.get("secret", ""), body)},
                timeout=10,
            )
        except (net.UnsafeURL, net.OutboundError) as exc:
            raise SendError(str(exc)) from exc
        if not 200 <= response.status < 300:
            raise SendError(f"HTTP {response.status}: {response.body[:200]!r}")
        return message_id
