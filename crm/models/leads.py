"""Leads (线索): prospects not yet qualified, scored by rules, assigned by rules, converted into customers and an
opportunity once qualified."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm.models.customers import Industry, Source
from crm.text import E164_PATTERN
from suite.audit import audited
from suite.models import OwnedModel, Team, TenantModel


class LeadStatus(models.TextChoices):
    NEW = "new", _("New")
    CONTACTED = "contacted", _("Contacted")
    QUALIFIED = "qualified", _("Qualified")
    DISQUALIFIED = "disqualified", _("Disqualified")
    CONVERTED = "converted", _("Converted")


@audited(exclude=["search_text"])
class Lead(OwnedModel):
    """A person and/or organisation that may buy: from a web form, the API, an import or SCRM."""

    name = models.CharField(_("contact name"), max_length=200, blank=True)
    name_en = models.CharField(_("Latin name"), max_length=200, blank=True)
    company_name = models.CharField(_("company name"), max_length=200, blank=True)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    email = models.EmailField(_("email"), max_length=254, blank=True)
    wechat_id = models.CharField(_("WeChat ID"), max_length=64, blank=True)
    unionid = models.CharField(_("WeChat unionid"), max_length=64, blank=True)
    province = models.CharField(_("province"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    district = models.CharField(_("district"), max_length=50, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    industry = models.CharField(_("industry"), max_length=20, choices=Industry.choices, blank=True)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=LeadStatus.choices, default=LeadStatus.NEW)
    score = models.PositiveSmallIntegerField(_("score"), default=0, editable=False)
    score_explanation = models.JSONField(_("how the score was reached"), default=dict, blank=True, editable=False)
    notes = models.TextField(_("notes"), blank=True)
    disqualified_reason = models.CharField(_("why disqualified"), max_length=255, blank=True)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    search_text = models.TextField(_("search key"), default="", blank=True, editable=False)
    campaign = models.ForeignKey(
        "crm.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
        verbose_name=_("campaign"),
        editable=False,
        help_text=_("the campaign the lead came from, set when it is created"),
    )
    social_ref = models.CharField(
        _("social identity"),
        max_length=160,
        blank=True,
        editable=False,
        help_text=_("the platform and platform id of the person, for a lead that came from SCRM"),
    )
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True, editable=False)
    assignment_rule = models.ForeignKey(
        "crm.AssignmentRule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assigned by rule"),
        editable=False,
    )
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True, editable=False)
    converted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("converted by"),
        editable=False,
    )
    converted_account = models.ForeignKey(
        "crm.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="converted_leads",
        verbose_name=_("account"),
        editable=False,
    )
    converted_contact = models.ForeignKey(
        "crm.Contact",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="converted_leads",
        verbose_name=_("contact"),
        editable=False,
    )
    converted_opportunity = models.ForeignKey(
        "crm.Opportunity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("opportunity"),
        editable=False,
    )
    conversion_reused = ArrayField(
        models.CharField(max_length=20),
        default=list,
        blank=True,
        editable=False,
        verbose_name=_("existing customers reused on conversion"),
    )

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(name="") | ~Q(company_name=""), name="crm_lead_has_a_name"),
            models.CheckConstraint(condition=Q(score__lte=100), name="crm_lead_score_percent"),
            models.CheckConstraint(condition=Q(status__in=LeadStatus.values), name="crm_lead_status_valid"),
            models.CheckConstraint(
                condition=Q(status="converted", converted_at__isnull=False)
                | (~Q(status="converted") & Q(converted_at__isnull=True)),
                name="crm_lead_converted_at_iff_converted",
            ),
            models.CheckConstraint(condition=Q(phone="") | Q(phone__regex=E164_PATTERN), name="crm_lead_phone_e164"),
            models.CheckConstraint(condition=Q(email=Lower("email")), name="crm_lead_email_lower_case"),
        ]
        indexes = [
            GinIndex(fields=["search_text"], opclasses=["gin_trgm_ops"], name="crm_lead_search_trgm"),
            GinIndex(fields=["custom"], opclasses=["jsonb_path_ops"], name="crm_lead_custom_gin"),
            models.Index(fields=["company", "status", "-created_at"], name="crm_lead_company_status"),
            models.Index(fields=["company", "owner", "status"], name="crm_lead_owner_status"),
            models.Index(fields=["company", "-score"], name="crm_lead_company_score"),
            models.Index(fields=["company", "-created_at"], name="crm_lead_company_created"),
            models.Index(fields=["company", "social_ref"], condition=~Q(social_ref=""), name="crm_lead_social_ref"),
        ]

    def __str__(self) -> str:
        if self.name and self.company_name:
            return f"{self.name} ({self.company_name})"
        return self.name or self.company_name

    def get_absolute_url(self) -> str:
        return reverse("crm:lead-detail", args=[self.pk])


@audited
class AssignmentRule(TenantModel):
    """Who gets new leads. Rules are tried by ascending ``priority``; the first that matches a lead and has an
    available assignee assigns it, round robin among its assignees."""

    class Kind(models.TextChoices):
        ROUND_ROBIN = "round_robin", _("Round robin (every lead)")
        BY_PROVINCE = "by_province", _("By province / territory")
        BY_SOURCE = "by_source", _("By source")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    match_values = ArrayField(
        models.CharField(max_length=50),
        default=list,
        blank=True,
        verbose_name=_("matches"),
        help_text=_("provinces (广东, 广东省 …) for by-province rules, source codes for by-source rules"),
    )
    priority = models.PositiveIntegerField(_("priority"), default=100, help_text=_("lower runs first"))
    is_active = models.BooleanField(_("active"), default=True)
    assignees = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="+", blank=True, verbose_name=_("assignees")
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("team to set")
    )
    last_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        verbose_name=_("last assigned to"),
    )

    class Meta:
        verbose_name = _("lead assignment rule")
        verbose_name_plural = _("lead assignment rules")
        ordering = ["priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="crm_assignmentrule_name_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=["round_robin", "by_province", "by_source"]), name="crm_assignmentrule_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


@audited
class LeadScoringRule(TenantModel):
    """One rule of lead scoring: when ``field`` ``operator`` ``value`` holds for a lead, add ``points``
    (negative points subtract). A lead's score is the sum, kept within 0–100, with each matched rule listed in
    its ``score_explanation``."""

    class Field(models.TextChoices):
        SOURCE = "source", _("Source")
        PROVINCE = "province", _("Province")
        CITY = "city", _("City")
        INDUSTRY = "industry", _("Industry")
        TITLE = "title", _("Job title")
        COMPANY_NAME = "company_name", _("Company name")
        PHONE = "phone", _("Phone")
        EMAIL = "email", _("Email")
        WECHAT_ID = "wechat_id", _("WeChat ID")
        CUSTOM = "custom", _("Custom field")

    class Operator(models.TextChoices):
        EQUALS = "equals", _("equals")
        IN = "in", _("is one of")
        CONTAINS = "contains", _("contains")
        IS_SET = "is_set", _("is filled in")

    name = models.CharField(_("name"), max_length=100)
    field = models.CharField(_("field"), max_length=20, choices=Field.choices)
    custom_key = models.CharField(_("custom field"), max_length=40, blank=True)
    operator = models.CharField(_("operator"), max_length=10, choices=Operator.choices)
    value = models.JSONField(_("value"), default=str, blank=True)
    points = models.SmallIntegerField(_("points"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("lead scoring rule")
        verbose_name_plural = _("lead scoring rules")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="crm_leadscoringrule_name_unique"),
            models.CheckConstraint(
                condition=Q(points__gte=-100, points__lte=100), name="crm_leadscoringrule_points_range"
            ),
            models.CheckConstraint(
                condition=~Q(field="custom") | ~Q(custom_key=""), name="crm_leadscoringrule_custom_needs_key"
            ),
        ]

    def __str__(self) -> str:
        return self.name
