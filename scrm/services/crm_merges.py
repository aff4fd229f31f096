"""SCRM follows a CRM merge: what pointed at the duplicate customer points at the survivor.

Accounts: social identities and status messages. Contacts: social identities, status messages, coupons, push
messages (so the survivor's frequency cap counts the pushes the duplicate received), the push cap lock, and
consent. Consent keeps the person's **latest word per kind of channel**: a withdrawal on either record that is
newer than the other record's grant withdraws the merged consent too, and of two live consents the newer grant
stays live. A consent closed by the merge says so (``withdrawn_via = "merge"``); nothing is deleted.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from scrm.models import Consent, Coupon, PushCapLock, PushMessage, SocialIdentity, StatusMessage

MERGE_VIA = "merge"


@transaction.atomic
def references_follow_crm_merge(*, company_id: int, kind: str, survivor_id: int, duplicate_id: int) -> dict:
    """Re-point SCRM's references from CRM ``kind`` ("account" or "contact") ``duplicate_id`` to ``survivor_id``.
    Idempotent: a redelivered event finds nothing left to move. Returns the rows moved, by table."""
    if kind == "account":
        field, models = "crm_account_id", (SocialIdentity, StatusMessage)
    elif kind == "contact":
        field, models = "crm_contact_id", (SocialIdentity, StatusMessage, Coupon, PushMessage)
    else:
        return {}
    now = timezone.now()
    moved = {}
    for model in models:
        changes = {field: survivor_id}
        if any(f.name == "updated_at" for f in model._meta.fields):
            changes["updated_at"] = now
        count = model.objects.filter(company_id=company_id, **{field: duplicate_id}).update(**changes)
        if count:
            moved[model._meta.label_lower] = count
    if kind == "contact":
        moved.update(_merge_consents(company_id, survivor_id, duplicate_id, now))
        _merge_cap_locks(company_id, survivor_id, duplicate_id)
    return moved


def _merge_consents(company_id: int, survivor_id: int, duplicate_id: int, now) -> dict:
    rows = list(
        Consent.objects.select_for_update()
        .filter(company_id=company_id, crm_contact_id__in=(survivor_id, duplicate_id))
        .order_by("pk")
    )
    if not any(consent.crm_contact_id == duplicate_id for consent in rows):
        return {}
    closed = 0
    for channel_kind in sorted({consent.channel_kind for consent in rows}):
        of_kind = [consent for consent in rows if consent.channel_kind == channel_kind]
        live = sorted((c for c in of_kind if c.withdrawn_at is None), key=lambda c: (c.granted_at, c.pk))
        last_withdrawal = max((c.withdrawn_at for c in of_kind if c.withdrawn_at is not None), default=None)
        keep = live[-1] if live else None
        if keep is not None and last_withdrawal is not None and last_withdrawal > keep.granted_at:
            keep = None  # the person withdrew after the newest grant (on the other record)
        for consent in live:
            if consent is keep:
                continue
            # Closed before the re-pointing below, so the survivor never has two live consents of one kind: at
            # the person's withdrawal when that is their latest word, else now (superseded by a newer grant).
            closed_at = now if keep is not None else last_withdrawal
            consent.withdrawn_at = max(closed_at, consent.granted_at)
            consent.withdrawn_via = MERGE_VIA
            consent.save(update_fields=["withdrawn_at", "withdrawn_via", "updated_at"])
            closed += 1
    moved = {
        "scrm.consent": Consent.objects.filter(company_id=company_id, crm_contact_id=duplicate_id).update(
            crm_contact_id=survivor_id, updated_at=now
        )
    }
    if closed:
        moved["scrm.consent.closed_by_merge"] = closed
    return moved


def _merge_cap_locks(company_id: int, survivor_id: int, duplicate_id: int) -> None:
    """One cap lock row per contact: the survivor keeps (or takes over) one, with the later reservation time."""
    locks = {
        lock.crm_contact_id: lock
        for lock in PushCapLock.objects.select_for_update()
        .filter(company_id=company_id, crm_contact_id__in=(survivor_id, duplicate_id))
        .order_by("pk")
    }
    duplicate, survivor = locks.get(duplicate_id), locks.get(survivor_id)
    if duplicate is None:
        return
    if survivor is None:
        duplicate.crm_contact_id = survivor_id
        duplicate.save(update_fields=["crm_contact_id"])
        return
    stamps = [at for at in (survivor.last_reserved_at, duplicate.last_reserved_at) if at is not None]
    if stamps and max(stamps) != survivor.last_reserved_at:
        survivor.last_reserved_at = max(stamps)
        survivor.save(update_fields=["last_reserved_at"])
    duplicate.delete()
