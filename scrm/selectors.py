"""SCRM reads: scoped by the policy layer, joined for their pages and lists."""

from __future__ import annotations

from django.db.models import QuerySet

from scrm.models import Channel, Conversation, Message, SocialIdentity
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
