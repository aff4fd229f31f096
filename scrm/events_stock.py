"""Closed loop (issue #7, flow 8): stock → marketing. Imported at the end of ``scrm/events.py``.

erp.stock.changed (a receipt, a production receipt, a reservation …) ─► scrm.push_campaigns_on_stock_changed
    ─► warm-up campaigns of the product start / product campaigns pause (paused_stock) or resume
    ─► scrm.push_campaign.stock_state_changed (same correlation id)
erp.sales_order.confirmed ─► scrm.tag_rules_on_purchase (scrm/events_segments.py) ─► purchase tags
"""

from __future__ import annotations

from suite import events

STOCK_STATE_CHANGED = "scrm.push_campaign.stock_state_changed"


@events.handler("erp.stock.changed", name="scrm.push_campaigns_on_stock_changed", batch=True)
def push_campaigns_on_stock_changed(event: events.Event | list[events.Event]) -> None:
    """Re-check the push campaigns tied to the product against its current free stock (read through
    ``erp.selectors.stock_signals``, not the event's figures: events arrive late or twice). A batch handler:
    one query finds which of the chunk's products have a watched campaign at all (most have none), and only
    those are checked, once per product (issue #7 figure: one cheap query per chunk, not one per event)."""
    from scrm.services.stock_pushes import products_with_watched_campaigns, push_campaigns_stock_check

    batch = event if isinstance(event, list) else [event]
    pairs = sorted(
        {
            (one.company_id, int(one.payload["product_id"]))
            for one in batch
            if one.company_id is not None and one.payload.get("product_id")
        }
    )
    if len(pairs) > 1:
        pairs = sorted(products_with_watched_campaigns(pairs))
    for company_id, product_id in pairs:
        push_campaigns_stock_check(company_id=company_id, erp_product_id=product_id)
