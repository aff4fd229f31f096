"""CRM merged two customers → ERP follows: the duplicate account's sales orders and partner move to the survivor.

crm.customer.merged (kind "account") ─► erp.partners_follow_crm_merge ─► SalesOrder.crm_account_id,
                                                                       Partner.crm_account_id / merged_into
"""

from __future__ import annotations

from suite import events as _events


@_events.handler("crm.customer.merged", name="erp.partners_follow_crm_merge")
def partners_follow_crm_merge(event: _events.Event) -> None:
    """Re-point ERP's references from the duplicate account to the survivor (``partners_follow_crm_merge``).
    Contacts are not referenced by ERP: a contact merge is ignored. Idempotent."""
    from erp.services.partners import partners_follow_crm_merge as follow

    payload = event.payload
    if event.version != 1 or payload.get("kind") != "account":
        return
    follow(
        company_id=event.company_id,
        survivor_account_id=int(payload["survivor_id"]),
        duplicate_account_id=int(payload["duplicate_id"]),
    )
