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
# Enterprise-account lead capture (企业号留资), as named in Douyin's webhook event list: a visitor left contact
# details in the account's home-page component (主页留资) or its official-site component (官网留资); and, inside a
# private message, a submitted lead card (``message_type`` ``retain_consult_card``). Douyin's list names these
# events but its schemas are not public beyond the envelope, so the fields read are the ones its lead records
# carry (``telephone``, ``name``, ``remark``, ``clue_id``), with their common aliases; the whole body stays in the
# stored delivery. Each becomes an inbox event that ``scrm.services.inbox`` turns into ``scrm.contact.created``.
LEAD_EVENTS = {"personal_tab_contact", "website_contact"}
LEAD_CARD = "retain_consult_card"


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
        platform_event = data.get("event", "")
        kind = MESSAGE_EVENTS.get(platform_event)
        if kind is None and platform_event not in LEAD_EVENTS:
            return WebhookResult(events=[])
        msg_id = request.headers.get("Msg-Id", "")
        if not msg_id:
            raise ChannelError(_("The Msg-Id header is missing."), code="required")
        if platform_event in LEAD_EVENTS or content.get("message_type") == LEAD_CARD:
            return WebhookResult(events=[_lead_event(data, content, msg_id, platform_event)])
        sent_at = _sent_at(content.get("create_time"))
        event = InboundEvent(
            external_id=msg_id[:200],
            sender_id=str(data.get("from_user_id") or content.get("user_id") or "")[:128],
            kind=kind,
            text=str(content.get("text") or content.get("content") or ""),
            sender_name=(str(content.get("nick_name") or "") or _nick_name(content, data.get("from_user_id")))[:200],
        )
        if not event.sender_id:
            raise ChannelError(_("The event has no sender."), code="required")
        if sent_at:
            event.sent_at = sent_at
        return WebhookResult(events=[event])


def _sent_at(created) -> str | None:
    """Douyin's ``create_time``: seconds, or milliseconds in the IM events (13 digits)."""
    if not str(created or "").isdigit():
        return None
    value = int(created)
    return datetime.fromtimestamp(value / 1000 if value > 10**11 else value, tz=UTC).isoformat()


def _first(mapping: dict, *names: str) -> str:
    for name in names:
        value = mapping.get(name)
        if value not in (None, ""):
            return str(value).strip()
    return ""


def _nick_name(content: dict, open_id) -> str:
    """The sender's nickname from an IM event's ``user_infos`` (``open_id``, ``nick_name``, ``avatar``)."""
    users = [u for u in content.get("user_infos") or [] if isinstance(u, dict)] if isinstance(content, dict) else []
    sender = next((u for u in users if u.get("open_id") == open_id), users[0] if users else {})
    return _first(sender, "nick_name")


def _lead_event(data: dict, content: dict, msg_id: str, platform_event: str) -> InboundEvent:
    """A 留资: the visitor's phone, name and what they wrote, as a ``kind=event`` inbox event."""
    card = content.get(LEAD_CARD) if isinstance(content.get(LEAD_CARD), dict) else {}
    fields = {**content, **card}
    phone = _first(fields, "telephone", "phone", "mobile", "phone_number")
    if not phone:
        raise ChannelError(_("The lead carries no telephone."), code="required")
    nick_name = _nick_name(content, data.get("from_user_id"))
    event = InboundEvent(
        external_id=msg_id[:200],
        sender_id=str(data.get("from_user_id") or _first(fields, "open_id", "user_id"))[:128],
        kind="event",
        event=LEAD_CARD if platform_event not in LEAD_EVENTS else platform_event,
        text=_first(fields, "remark", "intention", "message")[:2000],
        sender_name=(_first(fields, "name", "user_name", "nick_name") or nick_name)[:200],
        phone=phone[:32],
        extra={"clue_id": _first(fields, "clue_id", "leads_id")[:64]},
    )
    if not event.sender_id:  # a home-page visitor not logged in to Douyin: the phone is who they are
        event.sender_id = f"tel:{phone}"[:128]
    sent_at = _sent_at(content.get("create_time") or data.get("create_time"))
    if sent_at:
        event.sent_at = sent_at
    return event
