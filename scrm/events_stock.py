"""Closed loop (issue #7, flow 8): stock → marketing. Imported at the end of ``scrm/events.py``.

erp.stock.changed (a receipt, a production receipt, a reservation …) ─► scrm.push_campaigns_on_stock_changed
    ─► warm-up campaigns of the product start / product campaigns pause (paused_stock) or resume
    ─► scrm.push_campaign.stock_state_changed (same correlation id)
erp.sales_order.confirmed ─► scrm.tag_rules_on_purchase (scrm/events_segments.py) ─► purchase tags
"""

from __future__ import annotations

from suite import events

STOCK_STATE_CHANGED = "scrm.push_campaign.stock_state_changed"


@events.handler("erp.stock.changed", name="scrm.push_campaigns_on_stock_changed")
def push_campaigns_on_stock_changed(event: events.Event) -> None:
    """Re-check the push campaigns tied to the product against its current free stock (read through
    ``erp.selectors.stock_signals``, not the event's figures: events arrive late or twice)."""
    from scrm.services.stock_pushes import push_campaigns_stock_check

    product_id = event.payload.get("product_id")
    if product_id and event.company_id is not None:
        push_campaigns_stock_check(company_id=event.company_id, erp_product_id=int(product_id))
