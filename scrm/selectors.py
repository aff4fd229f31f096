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


def channel_for_webhook(channel_id: int) -> Channel | None:
    """The active channel a platform pushes to (``/api/v1/scrm/channels/<id>/webhook/``), or None. No actor: the
    connector's signature check is the authentication. A raw primary-key read — the ORM's compilation of the
    same query was ~1 ms of the webhook request's ~9 ms of CPU."""
    found = Channel.objects.raw("SELECT * FROM scrm_channel WHERE id = %s AND is_active", [channel_id])
    return next(iter(found), None)


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
    """User-generated content (shares, reviews, mentions, 买家秀) posted by the social identities automatically
    matched to the CRM contact ``crm_contact_id`` (or, for an account, to ``crm_account_id``) that the actor may
    see, newest first, as ``CustomerSocialItem(kind="ugc")`` (``channel_name`` is the post's channel or its
    kind). One query."""
    from scrm.models import UgcKind, UgcPost

    if crm_account_id is None and crm_contact_id is None:
        return []
    identities = SocialIdentity.objects.filter(
        _customer_identity_filter("", crm_account_id=crm_account_id, crm_contact_id=crm_contact_id),
        resolution=Resolution.AUTO,
    ).values("pk")
    rows = (
        policy.scope(actor, UgcPost.objects.filter(identity_id__in=identities))
        .order_by("-posted_at", "-id")
        .values_list("id", "kind", "channel__kind", "channel__name", "author_name", "identity__display_name", "text",
                     "posted_at")[: max(0, int(limit))]
    )  # fmt: skip
    kinds = dict(UgcKind.choices)
    return [
        CustomerSocialItem(
            "ugc", pk, None, channel_kind or "", channel_name or str(kinds[kind]), "", text, author or name, at
        )
        for pk, kind, channel_kind, channel_name, author, name, text, at in rows
    ]
    identities = SocialIdentity.objects.filter(
        _customer_identity_filter("", crm_account_id=crm_account_id, crm_contact_id=crm_contact_id),
        resolution=Resolution.AUTO,
    ).values("pk")
    rows = (
        policy.scope(actor, UgcPost.objects.all())
        .filter(identity_id__in=identities)
        .order_by("-posted_at", "-id")
        .values_list("id", "channel__kind", "channel__name", "text", "author_name", "posted_at")[: max(0, int(limit))]
    )
    return [
        CustomerSocialItem("ugc", pk, None, kind or "", name or "", "", text, author, at)
        for pk, kind, name, text, author, at in rows
    ]


# ---------------------------------------------------------------- QR campaigns, coupons, UGC (scrmqr)


def qr_campaigns_visible_to(actor: Actor | None) -> QuerySet:
    """QR campaigns with their figures for a list: codes, scans and prizes counted by subqueries (one query
    for the page, however many campaigns)."""
    from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
    from django.db.models.functions import Coalesce

    from scrm.models import QrCampaign, QrCode, QrScan

    def counted(model):
        return Coalesce(
            Subquery(
                model.objects.filter(campaign=OuterRef("pk"))
                .order_by()
                .values("campaign")
                .annotate(n=Count("pk"))
                .values("n"),
                output_field=IntegerField(),
            ),
            Value(0),
        )

    return (
        policy.scope(actor, QrCampaign.objects.select_related("reward_template"))
        .annotate(code_total=counted(QrCode), scan_total=counted(QrScan))
        .order_by("-created_at", "-id")
    )


def qr_campaign_figures(campaign) -> dict:
    """The figures of one campaign's page: codes (and how many were scanned), scans, distinct scanners, prizes,
    spent / remaining budget, scans by region (top 10), by source, and per day over the last 14 days."""
    from datetime import timedelta

    from django.db.models import Count
    from django.db.models.functions import TruncDate
    from django.utils import timezone

    from scrm.models import QrCode, QrScan

    scans = QrScan.objects.filter(campaign=campaign)
    codes = QrCode.objects.filter(campaign=campaign).aggregate(
        total=Count("pk"), scanned=Count("pk", filter=Q(scan_count__gt=0))
    )
    totals = scans.aggregate(scans=Count("pk"), scanners=Count("scanner_key", distinct=True))
    since = timezone.now() - timedelta(days=14)
    return {
        "codes": codes["total"],
        "codes_scanned": codes["scanned"],
        "scans": totals["scans"],
        "scanners": totals["scanners"],
        "prizes": campaign.prizes_granted,
        "spent": campaign.spent,
        "budget": campaign.budget,
        "remaining": campaign.budget - campaign.spent,
        "by_region": list(
            scans.values("province", "city").annotate(n=Count("pk")).order_by("-n", "province", "city")[:10]
        ),
        "by_source": list(scans.values("source").annotate(n=Count("pk")).order_by("-n", "source")[:10]),
        "by_day": list(
            scans.filter(scanned_at__gte=since)
            .annotate(day=TruncDate("scanned_at"))
            .values("day")
            .annotate(n=Count("pk"))
            .order_by("day")
        ),
    }


def qr_scans_visible_to(actor: Actor | None, *, campaign=None) -> QuerySet:
    from scrm.models import QrScan

    qs = policy.scope(actor, QrScan.objects.select_related("code", "code__claim", "identity"))
    if campaign is not None:
        qs = qs.filter(campaign=campaign)
    return qs.order_by("-id")


def qr_code_by_serial(serial: str):
    """The code with this serial (the landing page, after the signature was checked), with its campaign."""
    from scrm.models import QrCode

    return QrCode.objects.select_related("campaign", "staff").filter(serial=serial).first()


@dataclass
class QrScanner:
    """One person who scanned a campaign's codes, for follow-up pushes: the social identity (WeChat scanners)
    and/or the phone given on the landing page, and their latest region."""

    scanner_key: str
    identity_id: int | None
    crm_contact_id: int | None
    phone: str
    province: str
    city: str
    last_scanned_at: datetime


def qr_scanners(campaign, *, province: str = "", city: str = "") -> list[QrScanner]:
    """The campaign's scanners (one row per person, their latest scan), optionally only those of a province
    / city: the segment a follow-up push goes to. One query (``DISTINCT ON``)."""
    from scrm.models import QrScan

    qs = QrScan.objects.filter(campaign=campaign)
    if province:
        qs = qs.filter(province=province)
    if city:
        qs = qs.filter(city=city)
    rows = (
        qs.order_by("scanner_key", "-id")
        .distinct("scanner_key")
        .values_list(
            "scanner_key", "identity_id", "identity__crm_contact_id", "phone", "province", "city", "scanned_at"
        )
    )
    return [QrScanner(*row) for row in rows]


def coupon_templates_visible_to(actor: Actor | None) -> QuerySet:
    from scrm.models import CouponTemplate

    return policy.scope(actor, CouponTemplate.objects.all()).order_by("name", "id")


def coupons_visible_to(actor: Actor | None, *, status: str = "") -> QuerySet:
    from scrm.models import Coupon

    qs = policy.scope(actor, Coupon.objects.select_related("template", "identity", "redeemed_by"))
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-id")


def ugc_visible_to(actor: Actor | None, *, sentiment: str = "", featured: bool | None = None) -> QuerySet:
    """UGC the actor may see, newest first, with channel, author identity and reward coupon joined."""
    from scrm.models import UgcPost

    qs = policy.scope(actor, UgcPost.objects.select_related("channel", "identity", "reward_coupon"))
    if sentiment:
        qs = qs.filter(sentiment=sentiment)
    if featured is not None:
        qs = qs.filter(is_featured=featured)
    return qs.order_by("-posted_at", "-id")


# ---------------------------------------------------------------- rules, segments, consents, pushes (scrmseg)


def tag_rules_visible_to(actor: Actor | None) -> QuerySet:
    from scrm.models import TagRule

    return policy.scope(actor, TagRule.objects.all()).order_by("name", "id")


def segments_visible_to(actor: Actor | None) -> QuerySet:
    from scrm.models import Segment

    return policy.scope(actor, Segment.objects.select_related("created_by")).order_by("name", "id")


def consents_visible_to(actor: Actor | None, *, crm_contact_id: int | None = None) -> QuerySet:
    from scrm.models import Consent

    qs = policy.scope(actor, Consent.objects.all())
    if crm_contact_id is not None:
        qs = qs.filter(crm_contact_id=crm_contact_id)
    return qs.order_by("-granted_at", "-id")


def push_campaigns_visible_to(actor: Actor | None) -> QuerySet:
    """Push campaigns, newest first, with their segment and the sent / clicked counts annotated."""
    from django.db.models import Count, Q

    from scrm.models import PushCampaign

    return (
        policy.scope(actor, PushCampaign.objects.select_related("segment"))
        .annotate(
            recipients=Count("messages"),
            sent=Count("messages", filter=Q(messages__status="sent")),
            clicked=Count("messages", filter=Q(messages__clicked_at__isnull=False)),
        )
        .order_by("-created_at", "-id")
    )


def push_messages_visible_to(actor: Actor | None, *, campaign=None) -> QuerySet:
    from scrm.models import PushMessage

    qs = policy.scope(actor, PushMessage.objects.select_related("identity", "channel"))
    if campaign is not None:
        qs = qs.filter(campaign=campaign)
    return qs.order_by("id")
