"""Marketing campaigns (市场活动): the plan (channel, budget, dates, target segment), the members it reached,
what it cost, and its touches — the timestamped facts (sent, responded, lead created, converted) that
attribution reads to credit leads, opportunities, customers and won revenue to campaigns.

Also the public web-to-lead forms (a campaign can be named by ``utm_campaign``), reminder preferences of
activities and the "stale opportunity" nudges, which share the campaign of making sales staff act in time.

Money is NUMERIC(18, 2) and never negative (costs are positive); a member is exactly one of an account, a
contact or a lead, once per campaign; a touch carried over from a lead keeps the same row.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import OwnedModel, TenantModel


class CampaignChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat Official Account")
    WECOM = "wecom", _("WeCom")
    DOUYIN = "douyin", _("Douyin")
    XIAOHONGSHU = "xiaohongshu", _("Xiaohongshu")
    WEIBO = "weibo", _("Weibo")
    SEARCH_ADS = "search_ads", _("Search advertising")
    WEBSITE = "website", _("Website")
    EVENT = "event", _("Event")
    EXHIBITION = "exhibition", _("Trade show")
    WEBINAR = "webinar", _("Webinar")
    PARTNER = "partner", _("Partner")
    OTHER = "other", _("Other")


class CampaignStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    ACTIVE = "active", _("Active")
    DONE = "done", _("Done")


class CampaignMemberStatus(models.TextChoices):
    SENT = "sent", _("Sent")
    RESPONDED = "responded", _("Responded")
    CONVERTED = "converted", _("Converted")


class TouchKind(models.TextChoices):
    SENT = "sent", _("Sent")
    RESPONDED = "responded", _("Responded")
    LEAD_CREATED = "lead_created", _("Lead created")
    CONVERTED = "converted", _("Converted")


class TouchSource(models.TextChoices):
    MANUAL = "manual", _("Entered by staff")
    WEB_FORM = "web_form", _("Web form")
    LEAD = "lead", _("Lead created for the campaign")
    SCRM = "scrm", _("SCRM send or response")


@audited
class Campaign(OwnedModel):
    """A marketing campaign. ``code`` is what links and forms carry (``?utm_campaign=<code>``)."""

    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    code = models.SlugField(_("code"), max_length=50, help_text=_("used in links: ?utm_campaign=<code>"))
    # names, their pinyin and the code, lower case (crm.text.build_search_text): what the campaign list searches
    search_text = models.TextField(_("search key"), default="", blank=True, editable=False)
    channel = models.CharField(_("channel"), max_length=20, choices=CampaignChannel.choices)
    status = models.CharField(_("status"), max_length=10, choices=CampaignStatus.choices, default="planned")
    budget = models.DecimalField(_("budget"), max_digits=18, decimal_places=2, default=Decimal("0.00"))
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)
    target_segment = models.TextField(_("target segment"), blank=True, help_text=_("who the campaign is for"))
    target_tags = models.ManyToManyField("crm.Tag", blank=True, related_name="campaigns", verbose_name=_("target tags"))
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-start_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="crm_campaign_code_unique"),
            models.CheckConstraint(condition=Q(budget__gte=0), name="crm_campaign_budget_not_negative"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="crm_campaign_ends_after_start",
            ),
            models.CheckConstraint(condition=Q(status__in=CampaignStatus.values), name="crm_campaign_status_valid"),
            models.CheckConstraint(condition=Q(channel__in=CampaignChannel.values), name="crm_campaign_channel_valid"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="crm_campaign_currency_iso"),
        ]
        indexes = [models.Index(fields=["company", "status", "-start_date"], name="crm_campaign_company_status")]

    def __str__(self) -> str:
        return self.name


@audited
class CampaignCost(TenantModel):
    """One dated cost line of a campaign (ad spend, venue, printing …)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="costs", verbose_name=_("campaign"))
    incurred_on = models.DateField(_("date"))
    description = models.CharField(_("description"), max_length=200)
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("entered by"),
    )

    class Meta:
        verbose_name = _("campaign cost")
        verbose_name_plural = _("campaign costs")
        ordering = ["incurred_on", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="crm_campaigncost_amount_positive")]
        indexes = [models.Index(fields=["campaign", "incurred_on"], name="crm_campaigncost_campaign")]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"


@audited
class CampaignMember(TenantModel):
    """Someone the campaign reached: exactly one of an account, a contact or a lead, once per campaign."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members", verbose_name=_("campaign"))
    account = models.ForeignKey(
        "crm.Account",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="campaign_memberships",
        verbose_name=_("account"),
    )
    contact = models.ForeignKey(
        "crm.Contact",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="campaign_memberships",
        verbose_name=_("contact"),
    )
    lead = models.ForeignKey(
        "crm.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("lead")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=CampaignMemberStatus.choices, default=CampaignMemberStatus.SENT
    )
    sent_at = models.DateTimeField(_("sent at"))
    responded_at = models.DateTimeField(_("responded at"), null=True, blank=True)
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign member")
        verbose_name_plural = _("campaign members")
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(account__isnull=False, contact__isnull=True, lead__isnull=True)
                | Q(account__isnull=True, contact__isnull=False, lead__isnull=True)
                | Q(account__isnull=True, contact__isnull=True, lead__isnull=False),
                name="crm_campaignmember_one_target",
            ),
            models.CheckConstraint(
                condition=Q(status__in=CampaignMemberStatus.values), name="crm_campaignmember_status_valid"
            ),
            models.UniqueConstraint(
                fields=["campaign", "account"], condition=Q(account__isnull=False), name="crm_campaignmember_account"
            ),
            models.UniqueConstraint(
                fields=["campaign", "contact"], condition=Q(contact__isnull=False), name="crm_campaignmember_contact"
            ),
            models.UniqueConstraint(
                fields=["campaign", "lead"], condition=Q(lead__isnull=False), name="crm_campaignmember_lead"
            ),
        ]
        indexes = [models.Index(fields=["campaign", "status"], name="crm_campaignmember_status")]

    def __str__(self) -> str:
        target = self.account_id or self.contact_id or self.lead_id
        return f"{self.campaign_id}: {target}"

    @property
    def target(self):
        return self.account or self.contact or self.lead


@audited
class CampaignTouch(TenantModel):
    """A timestamped contact of a campaign with a lead, contact, account (or, carried over from a lead on
    conversion, an opportunity). Attribution picks the first or the last touch before the moment that counts.
    ``source_key`` makes a touch reported twice (an event redelivered) one row."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="touches", verbose_name=_("campaign"))
    kind = models.CharField(_("kind"), max_length=20, choices=TouchKind.choices)
    source = models.CharField(_("source"), max_length=20, choices=TouchSource.choices, default=TouchSource.MANUAL)
    source_key = models.CharField(_("source key"), max_length=100, blank=True, editable=False)
    touched_at = models.DateTimeField(_("touched at"))
    lead = models.ForeignKey(
        "crm.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("lead")
    )
    contact = models.ForeignKey(
        "crm.Contact",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="campaign_touches",
        verbose_name=_("contact"),
    )
    account = models.ForeignKey(
        "crm.Account",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="campaign_touches",
        verbose_name=_("account"),
    )
    opportunity = models.ForeignKey(
        "crm.Opportunity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("opportunity"),
    )

    class Meta:
        verbose_name = _("campaign touch")
        verbose_name_plural = _("campaign touches")
        ordering = ["-touched_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(lead__isnull=False) | Q(contact__isnull=False) | Q(account__isnull=False),
                name="crm_campaigntouch_has_target",
            ),
            models.CheckConstraint(condition=Q(kind__in=TouchKind.values), name="crm_campaigntouch_kind_valid"),
            models.UniqueConstraint(
                fields=["company", "source_key"], condition=~Q(source_key=""), name="crm_campaigntouch_source_key"
            ),
        ]
        indexes = [
            models.Index(fields=["lead", "touched_at"], name="crm_touch_lead"),
            models.Index(fields=["contact", "touched_at"], name="crm_touch_contact"),
            models.Index(fields=["account", "touched_at"], name="crm_touch_account"),
            models.Index(fields=["opportunity", "touched_at"], name="crm_touch_opportunity"),
            models.Index(fields=["campaign", "touched_at"], name="crm_touch_campaign"),
            # first-touch attribution (crm.selectors_campaigns): each record's first touch read in index order,
            # index-only (issue #7 speed)
            *(
                models.Index(
                    fields=[column, "touched_at", "id"],
                    include=["campaign", "company"],
                    condition=Q(**{f"{column}__isnull": False}),
                    name=f"crm_touch_first_{column}",
                )
                for column in ("lead", "contact", "account", "opportunity")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.kind} {self.touched_at:%Y-%m-%d %H:%M}"


# ---------------------------------------------------------------- web-to-lead


LEAD_FORM_FIELDS = (
    "name",
    "company_name",
    "title",
    "phone",
    "email",
    "wechat_id",
    "province",
    "city",
    "industry",
    "notes",
)
# A support form (kind "ticket") asks who writes and what about; the ticket is matched to a contact by e-mail or
# phone and answered to the e-mail given.
TICKET_FORM_FIELDS = ("name", "company_name", "phone", "email", "subject", "description")
WEB_FORM_FIELDS = (*LEAD_FORM_FIELDS, *(name for name in TICKET_FORM_FIELDS if name not in LEAD_FORM_FIELDS))


class WebFormKind(models.TextChoices):
    LEAD = "lead", _("Lead (web-to-lead)")
    TICKET = "ticket", _("Service request (web-to-ticket)")


def _form_key() -> str:
    return secrets.token_urlsafe(24)


@audited(exclude=["key"])
class WebForm(TenantModel):
    """A public form of a company, published at ``/crm/forms/<key>/`` (the key is opaque and random). A ``lead``
    form asks for lead fields (``LEAD_FORM_FIELDS``) and makes leads, with ``source`` and, unless the link names
    another one, ``campaign``; a ``ticket`` form (``TICKET_FORM_FIELDS``) opens service tickets (channel web) in
    ``ticket_category``. ``required_fields`` must be filled in."""

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("makes"), max_length=10, choices=WebFormKind.choices, default=WebFormKind.LEAD)
    key = models.CharField(_("form key"), max_length=64, unique=True, default=_form_key, editable=False)
    title = models.CharField(_("title shown"), max_length=200)
    intro = models.TextField(_("introduction"), blank=True)
    fields = ArrayField(models.CharField(max_length=20), verbose_name=_("fields"))
    required_fields = ArrayField(models.CharField(max_length=20), default=list, blank=True, verbose_name=_("required"))
    source = models.CharField(_("lead source"), max_length=20, default="website")
    campaign = models.ForeignKey(
        Campaign,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="web_forms",
        verbose_name=_("default campaign"),
    )
    ticket_category = models.ForeignKey(
        "crm.TicketCategory",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="web_forms",
        verbose_name=_("ticket category"),
    )
    success_message = models.CharField(_("thank-you message"), max_length=255, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("web-to-lead form")
        verbose_name_plural = _("web-to-lead forms")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="crm_webform_name_unique"),
            models.CheckConstraint(condition=Q(fields__contained_by=list(WEB_FORM_FIELDS)), name="crm_webform_fields"),
            models.CheckConstraint(condition=Q(kind__in=WebFormKind.values), name="crm_webform_kind_valid"),
            models.CheckConstraint(
                condition=Q(required_fields__contained_by=models.F("fields")), name="crm_webform_required_asked"
            ),
        ]

    def __str__(self) -> str:
        return self.name


# ---------------------------------------------------------------- reminders and nudges


@audited
class ReminderPreference(TenantModel):
    """Whether activity reminders also go out by e-mail: the company's default (``user`` empty) or one
    user's own choice, which wins over the default. In-app reminders are always sent."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("user"),
        help_text=_("empty: the company's default"),
    )
    email_reminders = models.BooleanField(_("e-mail reminders"), default=False)

    class Meta:
        verbose_name = _("reminder preference")
        verbose_name_plural = _("reminder preferences")
        ordering = ["company", "user"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "user"], nulls_distinct=False, name="crm_reminderpreference_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user or '*'}: {self.email_reminders}"


@audited
class OpportunityNudge(TenantModel):
    """The owner of an open opportunity was told it had no activity for ``stale_days`` days (its pipeline's
    setting). At most one per opportunity in any window of that many days; at most one a day by constraint."""

    opportunity = models.ForeignKey(
        "crm.Opportunity", on_delete=models.CASCADE, related_name="nudges", verbose_name=_("opportunity")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("owner")
    )
    team = models.ForeignKey(
        "suite.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("team")
    )
    nudged_at = models.DateTimeField(_("nudged at"))
    nudged_on = models.DateField(_("nudged on"))
    stale_days = models.PositiveSmallIntegerField(_("days without activity"))
    last_activity_at = models.DateTimeField(_("last activity"))

    class Meta:
        verbose_name = _("stale opportunity nudge")
        verbose_name_plural = _("stale opportunity nudges")
        ordering = ["-nudged_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["opportunity", "nudged_on"], name="crm_nudge_once_a_day"),
        ]
        indexes = [
            models.Index(fields=["opportunity", "-nudged_at"], name="crm_nudge_opportunity"),
            models.Index(fields=["company", "owner", "-nudged_at"], name="crm_nudge_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.opportunity_id} @ {self.nudged_on}"
