"""User-generated content: shares, reviews, mentions and 买家秀 posts about the brand, scored for sentiment
(``scrm.text``), with keywords; negative posts open a CRM service ticket (event ``scrm.ugc.negative``),
positive ones can be featured on the UGC wall and rewarded with a coupon."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel


class UgcKind(models.TextChoices):
    SHARE = "share", _("Share")
    REVIEW = "review", _("Review")
    MENTION = "mention", _("Mention")
    COMMENT = "comment", _("Comment")
    BUYER_SHOW = "buyer_show", _("Buyer show (买家秀)")


class Sentiment(models.TextChoices):
    POSITIVE = "positive", _("Positive")
    NEUTRAL = "neutral", _("Neutral")
    NEGATIVE = "negative", _("Negative")


@audited
class UgcPost(TenantModel):
    """One piece of content a customer posted. ``(channel, external_id)`` dedupes what connectors deliver
    again; posts recorded by hand or by the API without an external id are never deduped."""

    kind = models.CharField(_("kind"), max_length=20, choices=UgcKind.choices)
    channel = models.ForeignKey(
        "scrm.Channel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("channel")
    )
    identity = models.ForeignKey(
        "scrm.SocialIdentity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ugc_posts",
        verbose_name=_("author identity"),
    )
    external_id = models.CharField(_("external id"), max_length=200, blank=True)
    url = models.URLField(_("link"), max_length=500, blank=True)
    author_name = models.CharField(_("author"), max_length=200, blank=True)
    text = models.TextField(_("text"))
    rating = models.PositiveSmallIntegerField(_("rating (1–5)"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=5, blank=True)
    sentiment = models.CharField(_("sentiment"), max_length=10, choices=Sentiment.choices)
    sentiment_score = models.DecimalField(_("sentiment score"), max_digits=4, decimal_places=3)
    keywords = models.JSONField(_("keywords"), default=list, blank=True)
    posted_at = models.DateTimeField(_("posted at"))
    is_featured = models.BooleanField(_("featured"), default=False)
    featured_at = models.DateTimeField(_("featured at"), null=True, blank=True)
    reward_coupon = models.OneToOneField(
        "scrm.Coupon", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("reward")
    )

    class Meta:
        verbose_name = _("UGC post")
        verbose_name_plural = _("UGC posts")
        ordering = ["-posted_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "channel", "external_id"],
                condition=~Q(external_id=""),
                name="scrm_ugc_unique_external",
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5), name="scrm_ugc_rating_1_to_5"
            ),
            models.CheckConstraint(
                condition=Q(sentiment_score__gte=-1, sentiment_score__lte=1), name="scrm_ugc_score_range"
            ),
        ]
        indexes = [
            models.Index(fields=["company", "-posted_at", "-id"], name="scrm_ugc_recent"),
            models.Index(fields=["company", "sentiment", "-posted_at"], name="scrm_ugc_by_sentiment"),
            # the wall's "featured" filter: its list and count read the few featured posts, not a scan of all
            models.Index(
                fields=["company", "-posted_at", "-id"], condition=Q(is_featured=True), name="scrm_ugc_featured"
            ),
        ]

    def __str__(self) -> str:
        return self.text[:50]
