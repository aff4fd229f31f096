"""Consent (lawful basis) per CRM contact and kind of channel, and its withdrawal.

No push is sent without a live ``Consent`` (PIPL art. 13, GDPR art. 6); unsubscribing — the 退订/TD keyword in any
inbound message, the signed unsubscribe link of a push, staff — withdraws it in the transaction that records it,
and the push service checks it again under the contact's cap lock right before every send.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm import selectors as crm_selectors
from scrm.models import ChannelKind, Consent, LawfulBasis, SocialIdentity

# What people type to unsubscribe (WeChat/SMS convention: 退订, TD, T; and the English ones).
UNSUBSCRIBE_KEYWORDS = frozenset({"退订", "td", "t", "unsubscribe", "stop", "取消订阅", "退订推送"})
_PUNCTUATION = re.compile(r"[\s\W_]+", re.UNICODE)


def is_unsubscribe(text: str) -> bool:
    """Whether an inbound message is an unsubscribe request (the whole message, punctuation and case ignored)."""
    normalized = _PUNCTUATION.sub("", unicodedata.normalize("NFKC", text or "")).lower()
    return bool(normalized) and normalized in UNSUBSCRIBE_KEYWORDS


@transaction.atomic
def consent_record(
    *,
    company_id: int,
    crm_contact_id: int,
    channel_kind: str,
    lawful_basis: str,
    source: str,
    evidence: str = "",
    granted_at: datetime | None = None,
    by=None,
) -> Consent:
    """Record the lawful basis on which we may push to a contact on a kind of channel. A live consent for the
    same contact and channel kind is returned unchanged (one live row per pair: a partial unique index)."""
    errors = {}
    if channel_kind not in ChannelKind.values:
        errors["channel_kind"] = [_("Unknown channel kind.")]
    if lawful_basis not in LawfulBasis.values:
        errors["lawful_basis"] = [_("Choose consent, contract or legitimate interest.")]
    if not (source or "").strip():
        errors["source"] = [_("Say where the consent was given.")]
    if not crm_selectors.contacts_personalisation(company_id=company_id, contact_ids=[crm_contact_id]):
        errors["crm_contact_id"] = [_("Unknown contact.")]
    if errors:
        raise ValidationError(errors)
    live = Consent.objects.filter(
        company_id=company_id, crm_contact_id=crm_contact_id, channel_kind=channel_kind, withdrawn_at__isnull=True
    ).first()
    if live is not None:
        return live
    try:
        with transaction.atomic():
            return Consent.objects.create(
                company_id=company_id,
                crm_contact_id=crm_contact_id,
                channel_kind=channel_kind,
                lawful_basis=lawful_basis,
                source=source.strip()[:200],
                evidence=evidence,
                granted_at=granted_at or timezone.now(),
                recorded_by=by,
            )
    except IntegrityError:  # a parallel request recorded it first
        return Consent.objects.get(
            company_id=company_id, crm_contact_id=crm_contact_id, channel_kind=channel_kind, withdrawn_at__isnull=True
        )


@transaction.atomic
def consent_withdraw(*, company_id: int, crm_contact_id: int, channel_kind: str | None, via: str) -> int:
    """Withdraw the contact's live consent on ``channel_kind`` (every kind when ``None``) now. Returns how many
    were withdrawn; withdrawing twice changes nothing."""
    qs = Consent.objects.filter(company_id=company_id, crm_contact_id=crm_contact_id, withdrawn_at__isnull=True)
    if channel_kind:
        qs = qs.filter(channel_kind=channel_kind)
    now = timezone.now()
    withdrawn = 0
    for consent in qs.select_for_update(of=("self",)).order_by("pk"):
        consent.withdrawn_at = max(now, consent.granted_at)
        consent.withdrawn_via = via[:50]
        consent.save(update_fields=["withdrawn_at", "withdrawn_via", "updated_at"])
        withdrawn += 1
    return withdrawn


def consent_withdraw_identity(*, identity: SocialIdentity, via: str) -> int:
    """An identity unsubscribed on its platform: withdraw its matched contact's consent on that kind of
    channel. An unmatched identity has no consent to withdraw (and is never pushed to)."""
    if identity.crm_contact_id is None:
        return 0
    return consent_withdraw(
        company_id=identity.company_id,
        crm_contact_id=identity.crm_contact_id,
        channel_kind=identity.channel_kind,
        via=via,
    )


def consent_allows(*, company_id: int, crm_contact_id: int, channel_kind: str, lock: bool = False) -> bool:
    """Whether a live consent lets us push to the contact on this kind of channel (``lock``: lock the consent row
    until the caller's transaction ends, so a withdrawal waits for the send being reserved)."""
    qs = Consent.objects.filter(
        company_id=company_id, crm_contact_id=crm_contact_id, channel_kind=channel_kind, withdrawn_at__isnull=True
    )
    if lock:
        qs = qs.select_for_update(of=("self",))
    return qs.exists() if not lock else qs.first() is not None
