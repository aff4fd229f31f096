"""The events SCRM publishes (names and payload builders: the contract in docs/events.md)."""

from __future__ import annotations

IDENTITY_RESOLVED = "scrm.identity.resolved"
CONTACT_CREATED = "scrm.contact.created"
CONTACT_REMOVED = "scrm.contact.removed"
REMOVAL_EVENTS = ("del_external_contact", "del_follow_user")


def identity_resolved_payload(*, identity) -> dict:
    """v1: ``identity_id``, ``channel_kind``, ``external_id``, ``unionid``, ``crm_contact_id``,
    ``crm_account_id``, ``matched_on`` ("unionid" or "phone")."""
    return {
        "identity_id": identity.pk,
        "channel_kind": identity.channel_kind,
        "external_id": identity.external_id,
        "unionid": identity.unionid,
        "crm_contact_id": identity.crm_contact_id,
        "crm_account_id": identity.crm_account_id,
        "matched_on": "unionid" if identity.unionid else "phone",
    }


def contact_created_payload(*, identity, channel, staff_id: str = "") -> dict:
    """v1: a person added the company on a platform (WeCom ``add_external_contact``) and matches no CRM
    customer: ``identity_id``, ``channel_id``, ``channel_kind``, ``external_id``, ``display_name``,
    ``unionid``, ``phone``, ``staff_external_id`` (WeCom UserID), ``owner_id`` (the channel's default
    assignee, may be null)."""
    return {
        "identity_id": identity.pk,
        "channel_id": channel.pk,
        "channel_kind": channel.kind,
        "external_id": identity.external_id,
        "display_name": identity.display_name,
        "unionid": identity.unionid,
        "phone": identity.phone,
        "staff_external_id": staff_id,
        "owner_id": channel.default_assignee_id,
    }


def contact_removed_payload(*, identity, channel, change: str, staff_id: str, conversation) -> dict:
    """v1: a WeCom relationship ended — ``change`` is ``del_external_contact`` (the customer deleted the
    salesperson) or ``del_follow_user`` (the salesperson deleted the customer): ``identity_id``,
    ``channel_id``, ``external_id``, ``display_name``, ``crm_contact_id`` / ``crm_account_id`` (null when not
    matched), ``staff_external_id`` (WeCom UserID), ``assigned_to_id`` (the conversation's staff member)."""
    return {
        "identity_id": identity.pk,
        "channel_id": channel.pk,
        "external_id": identity.external_id,
        "display_name": identity.display_name,
        "crm_contact_id": identity.crm_contact_id,
        "crm_account_id": identity.crm_account_id,
        "change": change,
        "staff_external_id": staff_id,
        "assigned_to_id": conversation.assigned_to_id,
    }
