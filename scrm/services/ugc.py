"""User-generated content: capture (from connectors or by hand), sentiment and keywords, the negative-post
event that opens a CRM ticket, featuring and coupon rewards."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from scrm import events as scrm_events
from scrm.models import Channel, CouponReason, CouponTemplate, Sentiment, SocialIdentity, UgcKind, UgcPost
from scrm.services.bulk import adopt_inserted, insert_new
from scrm.services.coupons import coupon_issue
from scrm.text.sentiment import analyse
from suite import events
from suite.lookups import present_in
from suite.models import Company

# Inbound events captured as UGC (besides direct messages, which are conversations, not posts): public
# comments and mentions on Weibo / Douyin / Xiaohongshu, and what a connector labels with ``ugc_kind``.
UGC_EVENT_KINDS = {"comment": UgcKind.COMMENT, "mention": UgcKind.MENTION}


def lock_post(pk: int) -> UgcPost:
    return UgcPost.objects.select_for_update(of=("self",)).get(pk=pk)


@transaction.atomic
def ugc_capture(
    *,
    company: Company | int,
    kind: str,
    text: str,
    channel: Channel | None = None,
    identity: SocialIdentity | None = None,
    external_id: str = "",
    url: str = "",
    author_name: str = "",
    rating: int | None = None,
    posted_at=None,
) -> tuple[UgcPost, bool]:
    """Record a post once (deduped on ``(channel, external_id)`` when it has an external id), scored for
    sentiment and keywords. A new negative post publishes ``scrm.ugc.negative`` (CRM opens a service ticket).
    Returns the post and whether it is new. Raises ``ValidationError`` per field."""
    company_id = getattr(company, "pk", company)
    errors: dict[str, list] = {}
    text = (text or "").strip()
    if not text:
        errors.setdefault("text", []).append(_("The post has no text."))
    if kind not in UgcKind.values:
        errors.setdefault("kind", []).append(_("Unknown kind."))
    if rating is not None and not (isinstance(rating, int) and 1 <= rating <= 5):
        errors.setdefault("rating", []).append(_("A rating is 1 to 5 stars."))
    if channel is not None and channel.company_id != company_id:
        errors.setdefault("channel", []).append(_("Unknown channel."))
    if identity is not None and identity.company_id != company_id:
        errors.setdefault("identity", []).append(_("Unknown identity."))
    if errors:
        raise ValidationError(errors)
    external_id = (external_id or "")[:200]
    if external_id:
        existing = UgcPost.objects.filter(company_id=company_id, channel=channel, external_id=external_id).first()
        if existing is not None:
            return existing, False
    analysis = analyse(text, rating=rating)
    if isinstance(posted_at, str):
        posted_at = parse_datetime(posted_at)
    fields = {
        "company_id": company_id,
        "kind": kind,
        "channel": channel,
        "identity": identity,
        "external_id": external_id,
        "url": (url or "")[:500],
        "author_name": (author_name or getattr(identity, "display_name", "") or "")[:200],
        "text": text,
        "rating": rating,
        "language": analysis.language,
        "sentiment": analysis.sentiment,
        "sentiment_score": analysis.score,
        "keywords": analysis.keywords,
        "posted_at": posted_at or timezone.now(),
    }
    try:
        with transaction.atomic():
            post = UgcPost.objects.create(**fields)
    except IntegrityError:  # the same delivery captured by a concurrent worker
        return UgcPost.objects.get(company_id=company_id, channel=channel, external_id=external_id), False
    if post.sentiment == Sentiment.NEGATIVE:
        events.publish(scrm_events.UGC_NEGATIVE, scrm_events.ugc_negative_payload(post=post), company_id=company_id)
    return post, True


def ugc_capture_from_event(*, channel: Channel, identity: SocialIdentity, event: dict) -> UgcPost | None:
    """Capture an inbound connector event as UGC when it is a public post (comment, mention, or anything a
    connector labels with ``ugc_kind``: share, review, buyer_show); direct messages are not UGC."""
    kind = event.get("ugc_kind") or UGC_EVENT_KINDS.get(event.get("kind", ""))
    if kind not in UgcKind.values or not (event.get("text") or "").strip():
        return None
    post, _created = ugc_capture(
        company=channel.company_id,
        kind=kind,
        text=event["text"],
        channel=channel,
        identity=identity,
        external_id=event.get("external_id", ""),
        url=event.get("url", ""),
        rating=event.get("rating"),
        posted_at=event.get("sent_at"),
    )
    return post


def ugc_capture_batch(*, channel: Channel, items: list[tuple[SocialIdentity, dict]]) -> list[UgcPost]:
    """The UGC among one inbox batch's events (``ugc_capture_from_event`` rules), in a few statements: one read
    of the external ids already captured, one INSERT, one outbox write for the negative posts. Runs in the
    batch's transaction (whose delivery locks keep a concurrent worker off the same items)."""
    wanted: dict[str, tuple[SocialIdentity, dict, str]] = {}
    for identity, event in items:
        kind = event.get("ugc_kind") or UGC_EVENT_KINDS.get(event.get("kind", ""))
        external_id = (event.get("external_id") or "")[:200]
        if kind in UgcKind.values and (event.get("text") or "").strip() and external_id:
            wanted.setdefault(external_id, (identity, event, kind))
    if not wanted:
        return []
    seen = set(
        UgcPost.objects.filter(present_in("external_id", wanted), company_id=channel.company_id, channel=channel)
        .order_by()
        .values_list("external_id", flat=True)
    )
    posts = []
    for external_id, (identity, event, kind) in wanted.items():
        if external_id in seen:
            continue
        rating = event.get("rating") if isinstance(event.get("rating"), int) and 1 <= event["rating"] <= 5 else None
        text = event["text"].strip()
        analysis = analyse(text, rating=rating)
        posts.append(
            UgcPost(
                company_id=channel.company_id,
                kind=kind,
                channel=channel,
                identity=identity,
                external_id=external_id,
                url=(event.get("url") or "")[:500],
                author_name=(event.get("sender_name") or identity.display_name or "")[:200],
                text=text,
                rating=rating,
                language=analysis.language,
                sentiment=analysis.sentiment,
                sentiment_score=analysis.score,
                keywords=analysis.keywords,
                posted_at=parse_datetime(event.get("sent_at") or "") or timezone.now(),
            )
        )
    # One INSERT … ON CONFLICT DO NOTHING (a post a concurrent batch captured first is skipped, not an error),
    # without bulk_create's SQL compilation of every value (ing4: ~10 % of the inbox batch's Python).
    created = adopt_inserted(posts, insert_new(UgcPost, posts, returning=("id", "external_id")), "external_id")
    negative = [
        (scrm_events.UGC_NEGATIVE, scrm_events.ugc_negative_payload(post=post))
        for post in created
        if post.sentiment == Sentiment.NEGATIVE
    ]
    if negative:
        events.publish_many(negative, company_id=channel.company_id)
    return created


@transaction.atomic
def ugc_feature(*, post: UgcPost, featured: bool = True) -> UgcPost:
    """Show the post on the UGC wall (or take it off). Negative posts are not featured. Locks the post."""
    locked = lock_post(post.pk)
    if featured and locked.sentiment == Sentiment.NEGATIVE:
        raise ValidationError({"is_featured": _("A negative post cannot be featured.")})
    if locked.is_featured == featured:
        return locked
    locked.is_featured = featured
    locked.featured_at = timezone.now() if featured else None
    locked.save(update_fields=["is_featured", "featured_at", "updated_at"])
    return locked


@transaction.atomic
def ugc_reward(*, post: UgcPost, template: CouponTemplate) -> UgcPost:
    """Reward the post's author with a coupon of ``template`` (once per post). Locks the post; the coupon is
    issued to the author's social identity (and its CRM contact). Raises ``ValidationError``."""
    locked = lock_post(post.pk)
    if locked.reward_coupon_id:
        raise ValidationError({"template": _("This post was rewarded already.")})
    if locked.sentiment == Sentiment.NEGATIVE:
        raise ValidationError({"template": _("A negative post is not rewarded.")})
    if locked.identity_id is None:
        raise ValidationError({"template": _("The author of this post is not known; a coupon needs a recipient.")})
    if template.company_id != locked.company_id:
        raise ValidationError({"template": _("Unknown coupon template.")})
    coupon = coupon_issue(template=template, identity=locked.identity, reason=CouponReason.UGC_REWARD)
    locked.reward_coupon = coupon
    locked.save(update_fields=["reward_coupon", "updated_at"])
    return locked
