"""The connector interface every social channel implements, and the connector-neutral inbound event."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

REPLAY_WINDOW_SECONDS = 300


class ChannelError(Exception):
    """A webhook request the connector refuses; ``status`` and ``code`` go into the API error answer."""

    status = 400
    code = "invalid"

    def __init__(self, message, *, status: int | None = None, code: str | None = None):
        super().__init__(str(message))
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class SignatureError(ChannelError):
    status = 401
    code = "bad_signature"


class ReplayError(ChannelError):
    status = 401
    code = "stale_timestamp"


class NonceReplayError(ReplayError):
    code = "replayed"


class RateLimited(Exception):
    """The platform said: too many requests; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int = 60):
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


class SendError(Exception):
    """The platform refused or failed an outbound message."""


@dataclass
class InboundEvent:
    """A message, comment or relationship event from any platform, as the inbox pipeline consumes it."""

    external_id: str  # the dedupe key on (channel, external_id)
    sender_id: str  # openid / external_userid / uid / open_id
    kind: str = "message"  # message | comment | event
    event: str = ""  # platform event for kind=event (add_external_contact, del_follow_user …)
    text: str = ""
    sender_name: str = ""
    unionid: str = ""
    phone: str = ""
    phone_verified: bool = False
    staff_id: str = ""  # the platform's id of our staff member involved (WeCom UserID)
    sent_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    # A public post to capture as UGC (scrm.services.ugc): share | review | mention | comment | buyer_show;
    # comments and mentions are captured without it. ``url`` links the post; ``rating`` is 1–5 stars.
    ugc_kind: str = ""
    url: str = ""
    rating: int | None = None
    # platform facts some consumers need: WeCom ``state`` of a channel QR code, group chat changes …
    extra: dict = field(default_factory=dict)

    def as_payload(self) -> dict:
        """The event as a JSON-ready dict (a shallow copy: ``asdict`` deep-copies, which costs on every webhook)."""
        payload = dict(self.__dict__)
        payload["extra"] = dict(self.extra or {})
        return payload


@dataclass
class WebhookResult:
    """What ``verify_and_parse`` found: events to store, the body to answer the platform with, and the signed
    ``<timestamp>:<nonce>`` of a push whose platform signs one (empty otherwise): a second request with the same
    pair is refused as a replay (``scrm.services.channels.webhook_receive``)."""

    events: list[InboundEvent]
    reply: str = "success"
    content_type: str = "text/plain"
    nonce: str = ""


def check_timestamp(timestamp: str, *, window: int = REPLAY_WINDOW_SECONDS, now: float | None = None) -> None:
    """Refuse a signed timestamp outside ±``window`` seconds of now (a replayed or forged old request)."""
    try:
        value = int(timestamp)
    except (TypeError, ValueError):
        raise SignatureError(_("The request carries no valid timestamp.")) from None
    if abs((now if now is not None else time.time()) - value) > window:
        raise ReplayError(_("The request's timestamp is outside the accepted window."))


class Connector:
    """One platform's protocol. Subclasses implement what their platform offers; the rest raise."""

    kind: str = ""
    can_poll = False
    # Commerce channels (plugins, scrm.channels.plugins): stored deliveries become outbox events, not inbox items.
    handles_deliveries = False
    # A stable id of the next ``send`` (e.g. ``push-<PushMessage id>``: one per push and recipient), set by the
    # caller; connectors whose platform dedupes on a client message id send it, so a retried send is dropped.
    send_key: str = ""

    def __init__(self, channel):
        self.channel = channel
        self.credentials = channel.credentials
        self.config = channel.config or {}

    def verify_and_parse(self, request: HttpRequest) -> WebhookResult:
        """Check the request's signature (and replay window) and return its events; raise ``ChannelError``."""
        raise ChannelError(_("This channel does not receive webhooks."), status=405, code="method_not_allowed")

    def poll(self, cursor: str) -> tuple[list[InboundEvent], str]:
        """New items after ``cursor`` and the cursor to store once they are saved."""
        raise NotImplementedError(f"{self.kind} does not poll")

    def send(self, recipient: str, message: str) -> str:
        """Send ``message`` to the platform user ``recipient``; return the platform's message id."""
        raise SendError(f"{self.kind} channels cannot send yet")

    def delivery_events(self, payload: dict) -> list[tuple[str, dict]]:
        """For ``handles_deliveries`` connectors: the ``(event name, payload)`` pairs one stored delivery becomes
        (names from ``scrm.channels.plugins.CHANNEL_EVENTS``). Called once per delivery, in SCRM's transaction."""
        return []
