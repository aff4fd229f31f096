"""Communities (社群): a WeCom customer group or a WeChat group, its members, the join/leave log and the
posts/Q&A in it — the figures of the community page (active members, answer rate, joins/leaves per week)
are read from these rows.

A member that is a customer is linked to their ``SocialIdentity`` (and so to the CRM customer it resolved to);
staff members carry their WeCom UserID only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel

from .channels import Channel
from .inbox import SocialIdentity


class CommunityKind(models.TextChoices):
    WECOM_GROUP = "wecom_group", _("WeCom customer group")
    WECHAT_GROUP = "wechat_group", _("WeChat group")
    OTHER = "other", _("Other")


@audited
class Community(TenantModel):
    """One group. ``external_id`` is the platform's chat id (WeCom ``ChatId``) when it lives on a platform."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        DISMISSED = "dismissed", _("Dismissed")

    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="communities", verbose_name=_("channel")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=CommunityKind.choices, default=CommunityKind.WECOM_GROUP)
    external_id = models.CharField(_("platform chat id"), max_length=128, blank=True)
    name = models.CharField(_("name"), max_length=200)
    owner_staff_id = models.CharField(_("owner (WeCom UserID)"), max_length=64, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    notice = models.TextField(_("notice"), blank=True)
    dismissed_at = models.DateTimeField(_("dismissed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("community")
        verbose_name_plural = _("communities")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], condition=~Q(external_id=""), name="scrm_community_unique_chat"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CommunityMember(TenantModel):
    """A person in a community: a customer (``identity`` set) or a staff member (``is_staff``). Leaving keeps
    the row with ``left_at`` (rejoining clears it) so history and figures stay."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="members")
    member_id = models.CharField(_("platform member id"), max_length=128)
    identity = models.ForeignKey(
        SocialIdentity, null=True, blank=True, on_delete=models.SET_NULL, related_name="community_memberships"
    )
    is_staff = models.BooleanField(_("staff member"), default=False)
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    joined_at = models.DateTimeField(_("joined at"))
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)
    join_scene = models.PositiveSmallIntegerField(_("join scene"), null=True, blank=True)

    class Meta:
        verbose_name = _("community member")
        verbose_name_plural = _("community members")
        ordering = ["-joined_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["community", "member_id"], name="scrm_community_member_unique")]
        indexes = [models.Index(fields=["community", "left_at"], name="scrm_community_member_active")]

    def __str__(self) -> str:
        return self.display_name or self.member_id


class CommunityMemberChange(models.Model):
    """The join/leave log (one row per member per change), read for joins/leaves per week."""

    class Kind(models.TextChoices):
        JOINED = "joined", _("Joined")
        LEFT = "left", _("Left")

    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+")
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="member_events")
    member_id = models.CharField(_("platform member id"), max_length=128)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    occurred_at = models.DateTimeField(_("occurred at"))
    source_key = models.CharField(_("source key"), max_length=200)

    class Meta:
        verbose_name = _("community member event")
        verbose_name_plural = _("community member events")
        constraints = [
            models.UniqueConstraint(
                fields=["community", "member_id", "kind", "source_key"], name="scrm_community_member_change_once"
            )
        ]
        indexes = [models.Index(fields=["community", "occurred_at"], name="scrm_community_events_time")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.kind}"


@audited
class CommunityPost(TenantModel):
    """A post or question in a community; a question is ``answered`` once staff (or a member) answers it.
    Answers are posts with ``parent`` set."""

    class Kind(models.TextChoices):
        POST = "post", _("Post")
        QUESTION = "question", _("Question")
        ANSWER = "answer", _("Answer")

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="posts")
    member = models.ForeignKey(CommunityMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="posts")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.POST)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="answers")
    text = models.TextField(_("text"))
    answered = models.BooleanField(_("answered"), default=False)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    posted_at = models.DateTimeField(_("posted at"))
    external_id = models.CharField(_("external id"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("community post")
        verbose_name_plural = _("community posts")
        ordering = ["-posted_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["community", "external_id"], condition=~Q(external_id=""), name="scrm_community_post_unique"
            ),
            models.CheckConstraint(
                condition=Q(kind="answer", parent__isnull=False) | (~Q(kind="answer") & Q(parent__isnull=True)),
                name="scrm_community_post_answer_has_parent",
            ),
        ]
        indexes = [models.Index(fields=["community", "posted_at"], name="scrm_community_posts_time")]

    def __str__(self) -> str:
        return self.text[:50]
