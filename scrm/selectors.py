"""SCRM reads: scoped by the policy layer, joined for their pages and lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from scrm.models import Channel, Conversation, Message, Resolution, SocialIdentity
from scrm.models.inbox import EVENT_TEXT
from suite import policy
from suite.policy import Actor


def channels_visible_to(actor: Actor | None) -> QuerySet[Channel]:
    """Channels of the actor's company, for the roles that see channels."""
    return policy.scope(actor, Channel.objects.select_related("default_assignee"))


def conversations_visible_to(actor: Actor | None, *, status: str = "", mine: bool = False) -> QuerySet[Conversation]:
    """The actor's inbox, most recent activity first, with channel, identity and assignee joined."""
    qs = policy.scope(actor, Conversation.objects.select_related("channel", "identity", "assigned_to"))
    if status:
        qs = qs.filter(status=status)
    if mine and actor is not None:
        qs = qs.filter(assigned_to=actor.user)
    return qs.order_by("-last_message_at", "-id")


def messages_visible_to(actor: Actor | None, *, conversation: Conversation | None = None) -> QuerySet[Message]:
    """Messages the actor may see (of conversations they may see), newest first."""
    qs = policy.scope(actor, Message.objects.select_related("author"))
    if conversation is not None:
        qs = qs.filter(conversation=conversation)
    return qs.order_by("-id")


def identities_visible_to(actor: Actor | None) -> QuerySet[SocialIdentity]:
    return policy.scope(actor, SocialIdentity.objects.all()).order_by("-id")


@dataclass(frozen=True)
class CustomerSocialItem:
    """One social message (or, once SCRM stores them, one piece of UGC) about a CRM customer, as CRM's 360 page
    shows it: plain values, no SCRM model leaves the app."""

    kind: str  # "message" | "ugc"
    id: int
    conversation_id: int | None
    channel_kind: str
    channel_name: str
    direction: str  # "in" | "out" ("" for UGC)
    text: str
    sender: str  # the identity's display name (inbound) or the agent's username (outbound)
    at: datetime


def _customer_identity_filter(prefix: str, *, crm_account_id: int | None, crm_contact_id: int | None) -> Q:
    if crm_contact_id is not None:
        return Q(**{f"{prefix}crm_contact_id": crm_contact_id})
    return Q(**{f"{prefix}crm_account_id": crm_account_id})


def customer_social_messages(
    actor: Actor | None, *, crm_account_id: int | None = None, crm_contact_id: int | None = None, limit: int = 20
) -> list[CustomerSocialItem]:
    """The latest ``limit`` messages (inbound and outbound, internal notes left out) of the conversations whose
    social identity is matched to the CRM contact ``crm_contact_id`` — or, for an account, to ``crm_account_id``
    (its contacts' identities carry it too) — that the actor may see, newest first. Only automatic matches
    count (a suggested match is not yet the customer's). One query."""
    if crm_account_id is None and crm_contact_id is None:
        return []
    identities = SocialIdentity.objects.filter(
        _customer_identity_filter("", crm_account_id=crm_account_id, crm_contact_id=crm_contact_id),
        resolution=Resolution.AUTO,
    ).values("pk")
    rows = (
        policy.scope(actor, Message.objects.all())
        .filter(conversation__identity_id__in=identities)
        .exclude(kind=Message.Kind.NOTE)
        .order_by("-sent_at", "-id")
        .values_list(
            "id",
            "conversation_id",
            "channel__kind",
            "channel__name",
            "direction",
            "kind",
            "event",
            "text",
            "conversation__identity__display_name",
            "author__username",
            "sent_at",
        )[: max(0, int(limit))]
    )
    items = []
    for pk, conversation_id, channel_kind, channel_name, direction, kind, event, text, name, author, at in rows:
        if not text and kind == Message.Kind.EVENT:
            text = str(EVENT_TEXT.get(event, event))
        sender = name if direction == Message.Direction.IN else (author or "")
        items.append(
            CustomerSocialItem("message", pk, conversation_id, channel_kind, channel_name, direction, text, sender, at)
        )
    return items


def customer_ugc(
    actor: Actor | None, *, crm_account_id: int | None = None, crm_contact_id: int | None = None, limit: int = 20
) -> list[CustomerSocialItem]:
    """HOOK for the customer 360 page: user-generated content (reviews, posts, comments) by the customer's social
    identities, newest first, as ``CustomerSocialItem(kind="ugc")``. SCRM stores no UGC yet (``scrm.models.ugc``
    does not exist): this returns nothing and runs no query; fill it in — one query, ``limit`` rows — when the
    UGC models arrive, and CRM's 360 page shows the items without a change."""
    return []
