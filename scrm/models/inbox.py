"""The inbox: social identities (resolved onto CRM customers by plain ids), conversations and messages."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel

from .channels import Channel, ChannelKind


class Resolution(models.TextChoices):
    AUTO = "auto", _("Matched automatically")
    SUGGESTED = "suggested", _("Suggested match")
    NONE = "none", _("Not matched")


@audited
class SocialIdentity(TenantModel):
    """A person on one platform (openid, unionid, external_userid, Weibo uid, Douyin open_id …).

    ``crm_account_id`` / ``crm_contact_id`` are plain ids of CRM customers (no foreign key across apps): set
    for ``auto`` matches and proposed for ``suggested`` ones."""

    channel_kind = models.CharField(_("channel kind"), max_length=20, choices=ChannelKind.choices)
    external_id = models.CharField(_("external id"), max_length=128)
    unionid = models.CharField(_("WeChat unionid"), max_length=64, blank=True)
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    phone_verified = models.BooleanField(_("phone verified by the platform"), default=False)
    crm_account_id = models.BigIntegerField(_("CRM account id"), null=True, blank=True)
    crm_contact_id = models.BigIntegerField(_("CRM contact id"), null=True, blank=True)
    crm_owner_id = models.BigIntegerField(_("CRM owner id"), null=True, blank=True)
    resolution = models.CharField(_("resolution"), max_length=10, choices=Resolution.choices, default=Resolution.NONE)

    class Meta:
        verbose_name = _("social identity")
        verbose_name_plural = _("social identities")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "channel_kind", "external_id"], name="scrm_identity_unique_per_platform"
            )
        ]
        indexes = [models.Index(fields=["company", "unionid"], condition=~Q(unionid=""), name="scrm_identity_unionid")]

    def __str__(self) -> str:
        return self.display_name or self.external_id


@audited(exclude=["last_message_at", "last_inbound_at", "first_inbound_at"])  # times every inbox batch moves
class Conversation(TenantModel):
    """The thread between the company and one identity on one channel, worked by the assigned staff member."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    # No single-column index: (channel, identity) is unique, its index serves the foreign key (scrmingest).
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="conversations", db_index=False)
    # Nor on company: scrm_conversation_recent (company, -last_message_at, -id) serves it; one index write less
    # per conversation created and per inbox batch's UPDATE of its conversations (never HOT: last_message_at is
    # indexed for the inbox order).
    company = models.ForeignKey(
        "suite.Company", on_delete=models.PROTECT, related_name="+", verbose_name=_("company"), db_index=False
    )
    identity = models.ForeignKey(SocialIdentity, on_delete=models.PROTECT, related_name="conversations")
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assigned to"),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    last_message_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    last_inbound_at = models.DateTimeField(_("last inbound message at"), null=True, blank=True)
    first_response_at = models.DateTimeField(_("first response at"), null=True, blank=True)
    # The earliest inbound message's sent_at, kept by the inbox batch (``InboxBatch.finish``) so the social
    # dashboard's response times read conversations, not their messages (issue #7 speed).
    first_inbound_at = models.DateTimeField(_("first inbound message at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-last_message_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "identity"], name="scrm_conversation_one_per_identity")
        ]
        indexes = [models.Index(fields=["company", "-last_message_at", "-id"], name="scrm_conversation_recent")]

    def __str__(self) -> str:
        return f"{self.identity} @ {self.channel}"


EVENT_TEXT = {
    "add_external_contact": _("Added you as a WeCom contact"),
    "del_external_contact": _("Deleted the salesperson from their WeCom contacts"),
    "del_follow_user": _("Was removed from the salesperson's WeCom contacts"),
    "edit_external_contact": _("WeCom contact details changed"),
    "personal_tab_contact": _("Left contact details on the Douyin home page"),
    "website_contact": _("Left contact details on the Douyin website component"),
    "retain_consult_card": _("Sent a Douyin lead card with contact details"),
}


class Message(models.Model):
    """One message, comment or platform event in a conversation, inbound or outbound."""

    class Direction(models.TextChoices):
        IN = "in", _("Inbound")
        OUT = "out", _("Outbound")

    class Kind(models.TextChoices):
        MESSAGE = "message", _("Message")
        COMMENT = "comment", _("Comment")
        EVENT = "event", _("Event")
        NOTE = "note", _("Internal note")

    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+")
    # No single-column index on channel: scrm_message_unique_external (channel, external_id) serves inbound
    # lookups, and a channel with messages has conversations, which protect it from deletion (ingestion: one
    # index write less per message).
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Served by scrm_message_by_conversation (conversation, -id): one index less per inbound message.
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False)
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.MESSAGE)
    event = models.CharField(_("platform event"), max_length=50, blank=True)
    text = models.TextField(_("text"), blank=True)
    external_id = models.CharField(_("external id"), max_length=200, blank=True)
    # Indexed only where set (scrm_message_author, partial): inbound messages have no author and no index entry.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    sent_at = models.DateTimeField(_("sent at"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], condition=~Q(external_id=""), name="scrm_message_unique_external"
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "-id"], name="scrm_message_by_conversation"),
            models.Index(fields=["author"], condition=Q(author__isnull=False), name="scrm_message_author"),
        ]

    def __str__(self) -> str:
        return str(self.display_text)[:50]

    @property
    def event_text(self) -> str:
        """For a platform event, what happened in the reader's language (shown beside the text it carries)."""
        return str(EVENT_TEXT.get(self.event, "")) if self.kind == self.Kind.EVENT else ""

    @property
    def display_text(self) -> str:
        """The text, or for a platform event without one its description in the reader's language."""
        if self.text or self.kind != self.Kind.EVENT:
            return self.text
        return EVENT_TEXT.get(self.event, self.event)
