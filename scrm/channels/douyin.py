"""Douyin (抖音) enterprise webhooks: ``X-Douyin-Signature`` = SHA1(client_secret + raw body), dedupe on the
``Msg-Id`` header, the ``verify_webhook`` challenge echoed. Douyin signs no timestamp: the dedupe on Msg-Id
(unique per channel, kept) is what refuses a replay."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

from django.utils.translation import gettext_lazy as _

from .base import ChannelError, Connector, InboundEvent, SignatureError, WebhookResult

MESSAGE_EVENTS = {"im_receive_msg": "message", "item_comment_reply": "comment", "new_comment": "comment"}


def sign(client_secret: str, body: bytes) -> str:
    return hashlib.sha1(client_secret.encode() + body).hexdigest()  # noqa: S324  Douyin's documented scheme


class DouyinConnector(Connector):
    """credentials: ``client_secret``."""

    kind = "douyin"

    def verify_and_parse(self, request) -> WebhookResult:
        if request.method != "POST":
            raise ChannelError(_("Only POST is accepted."), status=405, code="method_not_allowed")
        secret = self.credentials.get("client_secret", "")
        given = request.headers.get("X-Douyin-Signature", "")
        if not secret or not hmac.compare_digest(sign(secret, request.body), given):
            raise SignatureError(_("The signature does not match."))
        try:
            data = json.loads(request.body)
        except ValueError:
            raise ChannelError(_("The body is not valid JSON."), code="parse_error") from None
        if not isinstance(data, dict):
            raise ChannelError(_("The body is not a JSON object."), code="parse_error")
        content = data.get("content") or {}
        if isinstance(content, str):
            try:
                content = json.loads(content)
            except ValueError:
                content = {"text": content}
        if data.get("event") == "verify_webhook":
            return WebhookResult(
                events=[], reply=json.dumps({"challenge": content.get("challenge")}), content_type="application/json"
            )
        kind = MESSAGE_EVENTS.get(data.get("event", ""))
        if kind is None:
            return WebhookResult(events=[])
        msg_id = request.headers.get("Msg-Id", "")
        if not msg_id:
            raise ChannelError(_("The Msg-Id header is missing."), code="required")
        created = content.get("create_time")
        sent_at = datetime.fromtimestamp(int(created), tz=UTC).isoformat() if str(created or "").isdigit() else None
        event = InboundEvent(
            external_id=msg_id[:200],
            sender_id=str(data.get("from_user_id") or content.get("user_id") or "")[:128],
            kind=kind,
            text=str(content.get("text") or content.get("content") or ""),
            sender_name=str(content.get("nick_name") or "")[:200],
        )
        if not event.sender_id:
            raise ChannelError(_("The event has no sender."), code="required")
        if sent_at:
            event.sent_at = sent_at
        return WebhookResult(events=[event])
