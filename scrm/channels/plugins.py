"""Channel plugins: connectors shipped as Python packages and discovered through the ``troika.channels`` entry
point group (docs/plugins.md).

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."troika.channels"]
    shop = "troika_shop.connector:ShopConnector"

The entry point's name is the plugin's key; its object is a ``scrm.channels.base.Connector`` subclass. A channel
uses it with ``kind="plugin"`` and ``config={"plugin": "shop"}``; ``connector_for`` finds it here.

A connector whose ``handles_deliveries`` is true is a *commerce* channel: the deliveries its webhook stores
(deduplicated on ``(channel, external_id)`` like every channel's) do not go to the inbox; SCRM turns each into
the outbox events its ``delivery_events`` returns — only the contract events in ``CHANNEL_EVENTS``, which CRM
handles (a customer; an order: customer, won deal, then ERP's sales order through ``crm.opportunity.won``).
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points

from .base import Connector

logger = logging.getLogger(__name__)

GROUP = "troika.channels"

# The events a commerce plugin may have SCRM publish (payloads in docs/events.md, "Channel plugins").
CHANNEL_CUSTOMER_RECEIVED = "scrm.channel_customer.received"
CHANNEL_ORDER_RECEIVED = "scrm.channel_order.received"
CHANNEL_EVENTS = frozenset({CHANNEL_CUSTOMER_RECEIVED, CHANNEL_ORDER_RECEIVED})


@cache
def plugin_connectors() -> dict[str, type[Connector]]:
    """The connectors of the installed plugins, by entry point name (loaded once per process). A plugin that
    fails to load or is not a ``Connector`` is logged and left out; it never breaks the other channels."""
    found: dict[str, type[Connector]] = {}
    for entry in entry_points(group=GROUP):
        try:
            connector = entry.load()
        except Exception:
            logger.exception("channel plugin %s (%s) failed to load", entry.name, entry.value)
            continue
        if not (isinstance(connector, type) and issubclass(connector, Connector)):
            logger.error("channel plugin %s (%s) is not a Connector subclass", entry.name, entry.value)
            continue
        found[entry.name] = connector
    return found


def plugin_connector(name: str) -> type[Connector] | None:
    return plugin_connectors().get(name or "")


def plugin_choices() -> list[tuple[str, str]]:
    """(key, label) of the installed plugins, for forms and docs."""
    return [(name, getattr(cls, "label", "") or name) for name, cls in sorted(plugin_connectors().items())]
