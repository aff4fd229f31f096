"""Social channel connectors: one class per platform behind the interface in ``base``.

``connector_for(channel)`` returns the connector of a ``Channel``; the webhook view, the poller and the reply
service use nothing else."""

from __future__ import annotations

from .base import (
    ChannelError,
    Connector,
    InboundEvent,
    RateLimited,
    ReplayError,
    SendError,
    SignatureError,
    WebhookResult,
)
from .douyin import DouyinConnector
from .simulator import SimulatorConnector
from .webhook import SignedWebhookConnector
from .wechat_oa import WeChatOfficialAccountConnector
from .wecom import WeComConnector
from .weibo import WeiboConnector
from .xiaohongshu import XiaohongshuConnector

CONNECTORS: dict[str, type[Connector]] = {
    "wecom": WeComConnector,
    "webhook": SignedWebhookConnector,
    "douyin": DouyinConnector,
    "simulator": SimulatorConnector,
    "weibo": WeiboConnector,
    "wechat_oa": WeChatOfficialAccountConnector,
    "xiaohongshu": XiaohongshuConnector,
}


def connector_for(channel) -> Connector:
    """The connector of ``channel``; a kind without one gets the base class,
    which refuses webhooks, polls and sends. ``kind="plugin"`` channels get the connector of the installed plugin
    named by ``config["plugin"]`` (entry point group ``troika.channels``, ``scrm.channels.plugins``)."""
    if channel.kind == "plugin":
        from .plugins import plugin_connector

        return (plugin_connector((channel.config or {}).get("plugin", "")) or Connector)(channel)
    return CONNECTORS.get(channel.kind, Connector)(channel)


__all__ = [
    "CONNECTORS",
    "ChannelError",
    "Connector",
    "InboundEvent",
    "RateLimited",
    "ReplayError",
    "SendError",
    "SignatureError",
    "WebhookResult",
    "connector_for",
]
