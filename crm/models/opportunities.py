"""Opportunities (商机) on configurable pipelines of stages, with their full stage history.

A stage carries its win probability; exactly one stage of a pipeline is "won" (100 %) and one "lost" (0 %).
An opportunity's ``status`` (open / won / lost) follows its stage and is kept by the services together with
``closed_at`` and the lost reason; the database refuses any combination that does not fit.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from suite.audit import audited
from suite.models import OwnedModel, TenantModel


@audited
class Pipeline(TenantModel):
    """A sales process: an ordered list of stages. One pipeline per company is the default."""

    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    is_default = models.BooleanField(_("default"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)
    stale_after_days = models.PositiveSmallIntegerField(
        _("nudge after days without activity"),
        null=True,
        blank=True,
        help_text=_("owners of open opportunities with no activity for this many days are nudged; empty: never"),
    )

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["sort_order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="crm_pipeline_name_unique"),
            models.UniqueConstraint(fields=["company"], condition=Q(is_default=True), name="crm_pipeline_one_default"),
        ]

    def __str__(self) -> str:
        return self.name


@audited
class Stage(TenantModel):
    """A step of a pipeline with the probability that an opportunity in it is won."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages", verbose_name=_("pipeline"))
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    sequence = models.PositiveIntegerField(_("sequence"), default=0)
    probability = models.PositiveSmallIntegerField(_("win probability (%)"), default=0)
    is_won = models.BooleanField(_("won stage"), default=False)
    is_lost = models.BooleanField(_("lost stage"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["pipeline", "sequence", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="crm_stage_name_unique_in_pipeline"),
            models.UniqueConstraint(fields=["pipeline"], condition=Q(is_won=True), name="crm_stage_one_won"),
            models.UniqueConstraint(fields=["pipeline"], condition=Q(is_lost=True), name="crm_stage_one_lost"),
            models.CheckConstraint(condition=Q(probability__lte=100), name="crm_stage_probability_percent"),
            models.CheckConstraint(condition=~Q(is_won=True, is_lost=True), name="crm_stage_not_won_and_lost"),
            models.CheckConstraint(condition=Q(is_won=False) | Q(probability=100), name="crm_stage_won_is_certain"),
            models.CheckConstraint(condition=Q(is_lost=False) | Q(probability=0), name="crm_stage_lost_is_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.probability}%)"

    @property
    def is_closed(self) -> bool:
        return self.is_won or self.is_lost


@audited
class LostReason(TenantModel):
    """Why deals are lost (price, competitor, no budget …): a list per company, for loss analysis."""

    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)

    class Meta:
        verbose_name = _("lost reason")
        verbose_name_plural = _("lost reasons")
        ordering = ["sort_order", "name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="crm_lostreason_name_unique")]

    def __str__(self) -> str:
        return self.name


class OpportunityStatus(models.TextChoices):
    OPEN = "open", _("Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class FulfilmentStatus(models.TextChoices):
    """How far ERP got with a won deal's goods, in order (closed loop, flow 3)."""

    IN_PRODUCTION = "in_production", _("In production")
    PRODUCED = "produced", _("Produced")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")


FULFILMENT_RANK = {status: rank for rank, status in enumerate(FulfilmentStatus.values, start=1)}


@audited(exclude=["search_text"])
class Opportunity(OwnedModel):
    """A deal being worked: an amount expected from a customer by a date, moving through stages."""

    name = models.CharField(_("name"), max_length=200)
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="opportunities", verbose_name=_("stage"))
    status = models.CharField(
        _("status"), max_length=10, choices=OpportunityStatus.choices, default=OpportunityStatus.OPEN, editable=False
    )
    account = models.ForeignKey(
        "crm.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="opportunities",
        verbose_name=_("account"),
    )
    contact = models.ForeignKey(
        "crm.Contact",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="opportunities",
        verbose_name=_("contact"),
    )
    lead = models.ForeignKey(
        "crm.Lead",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="opportunities",
        verbose_name=_("source lead"),
    )
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2, default=Decimal("0.00"))
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    expected_close_date = models.DateField(_("expected close date"), null=True, blank=True)
    stage_entered_at = models.DateTimeField(_("in stage since"), editable=False)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)
    lost_reason = models.ForeignKey(
        LostReason,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="opportunities",
        verbose_name=_("lost reason"),
        editable=False,
    )
    lost_note = models.TextField(_("why it was lost"), blank=True, editable=False)
    description = models.TextField(_("description"), blank=True)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    search_text = models.TextField(_("search key"), default="", blank=True, editable=False)
    # Set by SCRM relationship signals (the customer deleted the salesperson on WeCom …), cleared by people.
    at_risk = models.BooleanField(_("at risk"), default=False, editable=False)
    at_risk_reason = models.CharField(_("why at risk"), max_length=200, blank=True, editable=False)
    # What ERP did with the won deal (closed loop, issue #7): set by the handlers of erp.sales_order.* events.
    erp_order_id = models.BigIntegerField(_("ERP sales order id"), null=True, blank=True, editable=False)
    erp_order_number = models.CharField(_("ERP sales order"), max_length=30, blank=True, editable=False)
    erp_order_state = models.CharField(_("ERP order state"), max_length=30, blank=True, editable=False)
    erp_hold_reason = models.CharField(_("why ERP holds the order"), max_length=300, blank=True, editable=False)
    promised_date = models.DateField(_("promised delivery date"), null=True, blank=True, editable=False)
    erp_updated_at = models.DateTimeField(_("ERP status since"), null=True, blank=True, editable=False)
    # How far fulfilment got (closed loop, flow 3): set by the handlers of ERP production and shipment events,
    # only ever forward (in production → produced → shipped → delivered).
    fulfilment_status = models.CharField(
        _("fulfilment"), max_length=15, choices=FulfilmentStatus.choices, blank=True, editable=False
    )
    fulfilment_detail = models.CharField(_("fulfilment detail"), max_length=200, blank=True, editable=False)
    fulfilment_at = models.DateTimeField(_("fulfilment since"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="crm_opportunity_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(status__in=OpportunityStatus.values), name="crm_opportunity_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True) | (~Q(status="open") & Q(closed_at__isnull=False)),
                name="crm_opportunity_closed_at_iff_closed",
            ),
            models.CheckConstraint(
                condition=Q(status="lost", lost_reason__isnull=False)
                | (~Q(status="lost") & Q(lost_reason__isnull=True)),
                name="crm_opportunity_lost_reason_iff_lost",
            ),
            models.CheckConstraint(
                condition=Q(account__isnull=False) | Q(contact__isnull=False), name="crm_opportunity_has_customer"
            ),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="crm_opportunity_currency_iso"),
        ]
        indexes = [
            GinIndex(fields=["search_text"], opclasses=["gin_trgm_ops"], name="crm_opportunity_search_trgm"),
            GinIndex(fields=["custom"], opclasses=["jsonb_path_ops"], name="crm_opportunity_custom_gin"),
            models.Index(fields=["company", "status", "expected_close_date"], name="crm_opportunity_forecast"),
            # the sales dashboard's aggregates read these alone (index-only scans, issue #7 speed): deals closed
            # in the period, and open deals expected to close in it, with what the figures and the scope need
            models.Index(
                fields=["company", "status", "closed_at"],
                include=["id", "created_at", "amount", "stage", "owner", "team", "account", "contact"],
                name="crm_opportunity_closed_cover",
            ),
            # the marketing dashboard's attribution of the deals created in the period (index-only)
            models.Index(
                fields=["company", "created_at"],
                include=["id", "account", "contact"],
                name="crm_opportunity_created_cover",
            ),
            models.Index(
                fields=["company", "status", "expected_close_date"],
                include=["amount", "stage", "owner", "team"],
                name="crm_opportunity_open_cover",
            ),
            models.Index(fields=["company", "owner", "status"], name="crm_opportunity_owner_status"),
            models.Index(fields=["company", "stage", "-updated_at"], name="crm_opportunity_stage"),
            models.Index(fields=["company", "-updated_at"], name="crm_opportunity_updated"),
            # a customer's deals (360° page, ?account= / ?contact= filters): without them every customer page
            # scanned the company's deals (docs/performance.md, "CRM at scale")
            models.Index(fields=["account", "-updated_at"], name="crm_opportunity_account"),
            models.Index(fields=["contact", "-updated_at"], name="crm_opportunity_contact"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("crm:opportunity-detail", args=[self.pk])

    @property
    def pipeline(self) -> Pipeline:
        return self.stage.pipeline

    @property
    def weighted_amount(self) -> Decimal:
        return (self.amount * self.stage.probability / Decimal(100)).quantize(Decimal("0.01"))


class ContactRole(models.TextChoices):
    """The part a person plays in a deal's buying decision (决策链): B2B deals are decided by a committee."""

    DECISION_MAKER = "decision_maker", _("Decision maker")
    ECONOMIC_BUYER = "economic_buyer", _("Budget holder")
    TECHNICAL = "technical", _("Technical evaluator")
    PROCUREMENT = "procurement", _("Procurement")
    INFLUENCER = "influencer", _("Influencer")
    USER = "user", _("User")
    OTHER = "other", _("Other")


@audited
class OpportunityContactRole(TenantModel):
    """A contact of the customer in a deal's buying committee, with their role and stance. One row per
    (opportunity, contact); the deal's ``contact`` stays its main contact. Written only by
    ``crm.services.opportunity_roles``."""

    class Stance(models.TextChoices):
        SUPPORTER = "supporter", _("Supporter")
        NEUTRAL = "neutral", pgettext_lazy("stance", "Neutral")  # 中立 (a sentiment's "Neutral" is 中性)
        OPPONENT = "opponent", _("Opponent")

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="contact_roles", verbose_name=_("opportunity")
    )
    contact = models.ForeignKey(
        "crm.Contact", on_delete=models.CASCADE, related_name="opportunity_roles", verbose_name=_("contact")
    )
    role = models.CharField(_("role"), max_length=20, choices=ContactRole.choices)
    stance = models.CharField(_("stance"), max_length=10, choices=Stance.choices, default=Stance.NEUTRAL)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("buying committee member")
        verbose_name_plural = _("buying committee")
        ordering = ["opportunity", "id"]
        constraints = [
            models.UniqueConstraint(fields=["opportunity", "contact"], name="crm_contactrole_one_per_contact"),
        ]
        indexes = [models.Index(fields=["contact"], name="crm_contactrole_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id} ({self.role}) @ {self.opportunity_id}"


@audited
class OpportunityStageChange(TenantModel):
    """One move of an opportunity between stages (its first row has no ``from_stage``): the data of funnel,
    velocity and win-rate reports. Written only by the opportunity services, never changed."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="stage_changes", verbose_name=_("opportunity")
    )
    from_stage = models.ForeignKey(
        Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("from stage")
    )
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+", verbose_name=_("to stage"))
    changed_at = models.DateTimeField(_("changed at"))
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("changed by"),
    )
    amount = models.DecimalField(_("amount then"), max_digits=18, decimal_places=2)
    probability = models.PositiveSmallIntegerField(_("probability then (%)"))
    seconds_in_from_stage = models.BigIntegerField(_("time in the previous stage (s)"), null=True, blank=True)

    class Meta:
        verbose_name = _("opportunity stage change")
        verbose_name_plural = _("opportunity stage changes")
        ordering = ["changed_at", "id"]
        indexes = [
            models.Index(fields=["company", "changed_at"], name="crm_stagechange_company_at"),
            # the sales funnel reads the period's changes from this alone (index-only scan, issue #7 speed)
            models.Index(
                fields=["company", "changed_at"], include=["opportunity", "to_stage"], name="crm_stagechange_funnel"
            ),
            models.Index(fields=["opportunity", "changed_at"], name="crm_stagechange_opportunity"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="crm_stagechange_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.opportunity_id}: {self.from_stage_id} → {self.to_stage_id}"


class FunnelReach(models.Model):
    """The sales funnel's pre-aggregate (issue #7 speed): how many stage changes of the deals of one (team,
    owner) reached ``threshold`` (a change to an active, not-lost stage of ``pipeline`` with that sequence or a
    later one) in ``month``, by the month of the same deal's previous such change (``previous_month``; none:
    the deal's first). A deal reached the threshold in a period starting on the 1st of month M exactly when it
    has a change counted in the period whose previous one is before M, so the funnel of a period is a sum over
    the rows of its months with ``previous_month`` before its first — no per-deal aggregation at read time.

    Months are calendar months in ``settings.TIME_ZONE``; ``team`` / ``owner`` are the deal's current ones.
    Derived data, kept by ``crm.services.funnel`` in the transaction of every write that changes it (a stage
    change, a reassignment, a deletion, a stage's sequence or activity) and rebuilt by
    ``funnel_reach_rebuild`` (migration ``crm 0024``, the bench generator); not audited (the stage history is).
    """

    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+")
    threshold = models.PositiveIntegerField()  # a stage sequence
    # the deal's current team and owner, plain ids: a deleted team or user leaves them (see docs/decisions.md)
    team_id = models.BigIntegerField(null=True)
    owner_id = models.BigIntegerField(null=True)
    month = models.DateField()
    previous_month = models.DateField(null=True)
    changes = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["company", "pipeline", "month", "previous_month", "threshold", "team_id", "owner_id"],
                nulls_distinct=False,
                name="crm_funnelreach_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline_id} ≥{self.threshold} {self.month}: {self.changes}"
