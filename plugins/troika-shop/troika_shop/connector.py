"""The shop connector: a shop's signed webhook with orders and customers.

Protocol (what the shop sends, ``POST /api/v1/scrm/channels/<id>/webhook/``)::

    X-Shop-Timestamp: 1764280000                       (unix seconds; ±300 s replay window)
    X-Shop-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
    X-Shop-Topic:     orders/create | customers/create  (or "topic" in the body)

    {"topic": "orders/create",
     "data": {"id": "1001", "number": "#1001", "currency": "CNY", "placed_at": "2026-11-27T10:00:00+08:00",
              "customer": {"id": "c-7", "name": "王芳", "phone": "13800000000", "email": "wf@example.com"},
              "lines": [{"sku": "SKU-1", "quantity": "2", "unit_price": "49.90"}]}}

The channel is ``kind="plugin"``, ``config={"plugin": "shop"}``, ``credentials={"secret": "..."}``. Each order
or customer is stored once per channel (dedupe key ``order:<id>`` / ``customer:<id>``: the shop's retries and
replays of a valid request are dropped); SCRM then publishes ``scrm.channel_order.received`` or
``scrm.channel_customer.received`` (``delivery_events``), which CRM turns into an account and a won deal, and
ERP into a sales order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from scrm.channels.base import (
    ChannelError,
    Connector,
    InboundEvent,
    SignatureError,
    WebhookResult,
    check_timestamp,
)

SIGNATURE_HEADER = "X-Shop-Signature"
TIMESTAMP_HEADER = "X-Shop-Timestamp"
TOPIC_HEADER = "X-Shop-Topic"
TOPICS = ("orders/create", "customers/create")
SOURCE = "shop"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> tuple[str, str]:
    """The ``(timestamp, signature)`` headers a shop sends for ``body`` (used by tests and by the guide)."""
    t = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return t, f"sha256={digest}"


def verify(secret: str, body: bytes, timestamp: str, signature: str) -> None:
    """Raise ``SignatureError`` (401) for a missing or wrong signature, ``ReplayError`` (401) for a timestamp
    outside the replay window. The signature is checked first: an attacker learns nothing from the clock."""
    if not secret:
        raise SignatureError("The channel has no secret.")
    given = (signature or "").removeprefix("sha256=")
    if not timestamp or not given:
        raise SignatureError("The request is not signed.")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise SignatureError("The signature does not match.")
    check_timestamp(timestamp)


def _text(value, limit: int = 200) -> str:
    return str(value if value is not None else "").strip()[:limit]


def _customer(data: dict) -> dict:
    if not isinstance(data, dict) or not _text(data.get("id")) or not _text(data.get("name")):
        raise ChannelError("A customer needs an id and a name.", code="required")
    return {
        "id": _text(data["id"], 100),
        "name": _text(data["name"]),
        "phone": _text(data.get("phone"), 32),
        "email": _text(data.get("email"), 254),
        "city": _text(data.get("city"), 100),
        "address": _text(data.get("address")),
    }


def _order(data: dict) -> dict:
    if not isinstance(data, dict) or not _text(data.get("id")):
        raise ChannelError("An order needs an id.", code="required")
    lines = data.get("lines")
    if not isinstance(lines, list) or not lines:
        raise ChannelError("An order needs lines.", code="required")
    clean = []
    for line in lines:
        if not isinstance(line, dict) or not _text(line.get("sku")) or line.get("quantity") in (None, ""):
            raise ChannelError("Every line needs a sku and a quantity.", code="required")
        clean.append(
            {
                "sku": _text(line["sku"], 64),
                "quantity": _text(line["quantity"], 32),
                "unit_price": _text(line.get("unit_price"), 32) or None,
            }
        )
    return {
        "id": _text(data["id"], 100),
        "number": _text(data.get("number") or data["id"], 100),
        "currency": _text(data.get("currency"), 3).upper(),
        "placed_at": _text(data.get("placed_at"), 40),
        "lines": clean,
        "customer": _customer(data.get("customer") or {}),
    }


class ShopConnector(Connector):
    """credentials: ``secret`` (the shop's webhook signing secret)."""

    kind = "plugin"
    label = "E-commerce shop"
    handles_deliveries = True

    def verify_and_parse(self, request) -> WebhookResult:
        if request.method != "POST":
            raise ChannelError("Only POST is accepted.", status=405, code="method_not_allowed")
        verify(
            self.credentials.get("secret", ""),
            request.body,
            request.headers.get(TIMESTAMP_HEADER, ""),
            request.headers.get(SIGNATURE_HEADER, ""),
        )
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            raise ChannelError("The body is not valid JSON.", code="parse_error") from None
        if not isinstance(body, dict):
            raise ChannelError("The body must be an object.", code="parse_error")
        topic = request.headers.get(TOPIC_HEADER) or body.get("topic")
        if topic not in TOPICS:
            raise ChannelError(f"Unknown topic; use one of {', '.join(TOPICS)}.", code="invalid")
        if topic == "orders/create":
            order = _order(body.get("data"))
            event = InboundEvent(
                external_id=f"order:{order['id']}",
                sender_id=order["customer"]["id"],
                kind="event",
                event=topic,
                sender_name=order["customer"]["name"],
                extra={"topic": topic, "order": order},
            )
        else:
            customer = _customer(body.get("data"))
            event = InboundEvent(
                external_id=f"customer:{customer['id']}",
                sender_id=customer["id"],
                kind="event",
                event=topic,
                sender_name=customer["name"],
                extra={"topic": topic, "customer": customer},
            )
        return WebhookResult(events=[event], reply='{"ok": true}', content_type="application/json")

    def delivery_events(self, payload: dict) -> list[tuple[str, dict]]:
        extra = payload.get("extra") or {}
        if extra.get("topic") == "orders/create":
            order = dict(extra["order"])
            customer = order.pop("customer")
            return [("scrm.channel_order.received", {"source": SOURCE, "order": order, "customer": customer})]
        if extra.get("topic") == "customers/create":
            return [("scrm.channel_customer.received", {"source": SOURCE, "customer": extra["customer"]})]
        return []
