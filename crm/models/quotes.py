"""Opportunity line items from the ERP product catalogue, and the quotes (报价单) generated from them.

A line names an ERP product by its id (a plain integer: CRM reads the catalogue through ``erp.selectors`` and
never holds a foreign key into ERP's tables) and keeps a snapshot of what the customer was offered — SKU, name,
unit, quantity, unit price, discount and tax rate — with its amounts computed by the services to the cent:

    net   = round(quantity × unit price × (1 − discount / 100), 2)
    tax   = round(net × tax rate / 100, 2)
    total = net + tax

An opportunity with lines has ``amount`` = Σ line totals (tax included). A quote copies the lines as they are
when it is generated (``QuoteLine``) and never changes them afterwards; a new version is a new quote.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import TenantModel

QUANTITY = {"max_digits": 18, "decimal_places": 4}
UNIT_PRICE = {"max_digits": 18, "decimal_places": 4}
MONEY = {"max_digits": 18, "decimal_places": 2}
PERCENT = {"max_digits": 5, "decimal_places": 2}
ZERO = Decimal("0")


class PriceSource(models.TextChoices):
    PRICE_LIST = "price_list", _("Price list")
    LIST_PRICE = "list_price", _("Product list price")
    MANUAL = "manual", _("Set by hand")


class _LineAmounts(models.Model):
    """What an opportunity line and a quote line share: the product snapshot, the terms and the amounts."""

    product_id = models.BigIntegerField(_("ERP product id"))
    sku = models.CharField(_("SKU"), max_length=64)
    product_name = models.CharField(_("product"), max_length=200)
    uom = models.CharField(_("unit"), max_length=20, blank=True)
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    unit_price = models.DecimalField(_("unit price"), **UNIT_PRICE)
    discount_percent = models.DecimalField(_("discount (%)"), default=ZERO, **PERCENT)
    tax_rate = models.DecimalField(_("tax rate (%)"), default=ZERO, **PERCENT)
    net_amount = models.DecimalField(_("net amount"), default=ZERO, **MONEY)
    tax_amount = models.DecimalField(_("tax"), default=ZERO, **MONEY)
    line_total = models.DecimalField(_("line total"), default=ZERO, **MONEY)
    sequence = models.PositiveIntegerField(_("sequence"), default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.quantity} × [{self.sku}] {self.product_name}"


def _line_constraints(prefix: str) -> list:
    return [
        models.CheckConstraint(condition=Q(quantity__gt=0), name=f"{prefix}_quantity_positive"),
        models.CheckConstraint(
            condition=Q(discount_percent__gte=0) & Q(discount_percent__lte=100), name=f"{prefix}_discount_percent"
        ),
        models.CheckConstraint(condition=Q(tax_rate__gte=0) & Q(tax_rate__lte=100), name=f"{prefix}_tax_rate_percent"),
        models.CheckConstraint(condition=Q(unit_price__gte=0), name=f"{prefix}_unit_price_not_negative"),
        models.CheckConstraint(
            condition=Q(net_amount__gte=0) & Q(tax_amount__gte=0), name=f"{prefix}_amounts_not_negative"
        ),
        models.CheckConstraint(
            condition=Q(line_total=F("net_amount") + F("tax_amount")), name=f"{prefix}_total_is_net_plus_tax"
        ),
    ]


@audited
class OpportunityLine(_LineAmounts, TenantModel):
    """A product offered on an opportunity. Priced from ERP's price lists (``price_source``) unless someone
    allowed to set prices by hand did (``manual``)."""

    opportunity = models.ForeignKey(
        "crm.Opportunity", on_delete=models.CASCADE, related_name="lines", verbose_name=_("opportunity")
    )
    price_source = models.CharField(
        _("price from"), max_length=20, choices=PriceSource.choices, default=PriceSource.PRICE_LIST
    )
    price_list_id = models.BigIntegerField(_("ERP price list id"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("opportunity line")
        verbose_name_plural = _("opportunity lines")
        ordering = ["opportunity", "sequence", "id"]
        constraints = [
            *_line_constraints("crm_opportunityline"),
            models.CheckConstraint(
                condition=Q(price_source__in=PriceSource.values), name="crm_opportunityline_price_source_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["opportunity", "sequence"], name="crm_oppline_opportunity"),
            models.Index(fields=["company", "product_id"], name="crm_oppline_product"),
        ]


class QuoteState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENT = "sent", _("Sent")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")


OPEN_QUOTE_STATES = (QuoteState.DRAFT, QuoteState.SENT)


class QuoteApproval(models.TextChoices):
    """Whether a quote needs a manager's yes before it goes to the customer (报价审批, ``QuoteApprovalRule``)."""

    NOT_NEEDED = "", _("Not needed")
    REQUIRED = "required", _("Needs approval")
    PENDING = "pending", _("Waiting for approval")
    APPROVED = "approved", _("Approved")
    DECLINED = "declined", _("Declined")


class QuoteApprovalLevel(models.TextChoices):
    """Whose yes a pending quote waits for (二级审批): first the managers of the deal's team (and of the teams
    above it), then — for a discount beyond the rule's second level, or when the team has no manager — an admin."""

    NONE = "", _("Nobody")
    MANAGER = "manager", _("The team's manager")
    ADMIN = "admin", _("An admin")


@audited
class QuoteApprovalRule(TenantModel):
    """When a quote needs approval: a line discounted beyond what a salesperson may give, or a total beyond a
    limit. One per company, edited by its admins; approvals go to the deal team's manager (else the admins)."""

    is_active = models.BooleanField(_("quotes beyond these limits need approval"), default=False)
    max_discount_percent = models.DecimalField(
        _("largest discount without approval (%)"),
        default=Decimal("10.00"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        **PERCENT,
    )
    admin_discount_percent = models.DecimalField(
        _("beyond this discount an admin approves too (%)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("A second level: deeper discounts need the team manager's yes, then an admin's."),
        **PERCENT,
    )
    max_total = models.DecimalField(
        _("largest total without approval"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("In the company currency; empty: any total."),
        **MONEY,
    )

    class Meta:
        verbose_name = _("quote approval rule")
        verbose_name_plural = _("quote approval rules")
        constraints = [
            models.UniqueConstraint(fields=["company"], name="crm_quoteapprovalrule_one_per_company"),
            models.CheckConstraint(
                condition=Q(max_discount_percent__gte=0) & Q(max_discount_percent__lte=100),
                name="crm_quoteapprovalrule_discount_percent",
            ),
            models.CheckConstraint(
                condition=Q(max_total__isnull=True) | Q(max_total__gte=0), name="crm_quoteapprovalrule_total"
            ),
        ]

    def __str__(self) -> str:
        return str(_("Quote approval rule"))

    def clean(self):
        if self.admin_discount_percent is not None and self.admin_discount_percent < (self.max_discount_percent or 0):
            raise ValidationError(
                {"admin_discount_percent": _("The admins' level starts above the discount a salesperson may give.")}
            )


def approval_reason_text(facts: dict) -> str:
    """Say the facts ``crm.services.quote_approvals.approval_facts_for`` kept about a quote — the deepest discount
    beyond the salesperson's limit, the total beyond the company's — in the active language, so the manager reads
    them in theirs and the salesperson in theirs. ``text`` is a reason kept as words before the facts were."""
    facts = facts or {}
    reasons = []
    discount = facts.get("discount")
    if discount:
        reasons.append(
            gettext("%(product)s at %(discount)s%% off, above the %(limit)s%% a salesperson may give")
            % {"product": discount["product"], "discount": discount["percent"], "limit": discount["limit"]}
        )
    total = facts.get("total")
    if total:
        reasons.append(
            gettext("a total of %(total)s %(currency)s, above %(limit)s")
            % {"total": total["amount"], "currency": total["currency"], "limit": total["limit"]}
        )
    if facts.get("text"):
        reasons.append(facts["text"])
    return gettext("; ").join(reasons)


@audited
class Quote(TenantModel):
    """A quote (报价单) for an opportunity: a frozen copy of its lines with totals, terms and a validity date.

    ``number`` is the company's quote number (``Q2026-0007``); the quotes of one opportunity share it and count
    ``version`` 1, 2, … Draft → sent → accepted / rejected; a draft or sent quote past ``valid_until`` expires.
    """

    opportunity = models.ForeignKey(
        "crm.Opportunity", on_delete=models.PROTECT, related_name="quotes", verbose_name=_("opportunity")
    )
    number = models.CharField(_("number"), max_length=30)
    version = models.PositiveIntegerField(_("version"), default=1)
    state = models.CharField(_("state"), max_length=10, choices=QuoteState.choices, default=QuoteState.DRAFT)
    customer_name = models.CharField(_("customer"), max_length=200)
    contact_name = models.CharField(_("contact"), max_length=100, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    valid_until = models.DateField(_("valid until"))
    terms = models.TextField(_("terms"), blank=True)
    subtotal = models.DecimalField(_("net total"), default=ZERO, **MONEY)
    tax_total = models.DecimalField(_("tax total"), default=ZERO, **MONEY)
    total = models.DecimalField(_("total"), default=ZERO, **MONEY)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    decided_at = models.DateTimeField(_("accepted or rejected at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    approval = models.CharField(
        _("approval"), max_length=10, choices=QuoteApproval.choices, default=QuoteApproval.NOT_NEEDED, blank=True
    )
    approval_facts = models.JSONField(
        _("why it needs approval"),
        default=dict,
        blank=True,
        help_text=_("the limits the quote went beyond, kept as figures and said in the reader's language"),
    )
    approval_by_admin = models.BooleanField(
        _("an admin approves too"),
        default=False,
        help_text=_("beyond the rule's second level: after the team's manager"),
    )
    approval_requested_at = models.DateTimeField(_("approval asked at"), null=True, blank=True)
    approval_decided_at = models.DateTimeField(_("approval decided at"), null=True, blank=True)
    approval_decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("approved or declined by"),
    )
    approval_note = models.CharField(_("approval note"), max_length=300, blank=True)
    approval_level = models.CharField(
        _("waits for"), max_length=10, choices=QuoteApprovalLevel.choices, default=QuoteApprovalLevel.NONE, blank=True
    )

    class Meta:
        verbose_name = _("quote")
        verbose_name_plural = _("quotes")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number", "version"], name="crm_quote_number_version_unique"),
            models.UniqueConstraint(fields=["opportunity", "version"], name="crm_quote_opportunity_version_unique"),
            models.UniqueConstraint(
                fields=["opportunity"], condition=Q(state="accepted"), name="crm_quote_one_accepted"
            ),
            models.CheckConstraint(condition=Q(state__in=QuoteState.values), name="crm_quote_state_valid"),
            models.CheckConstraint(condition=Q(version__gte=1), name="crm_quote_version_positive"),
            models.CheckConstraint(condition=Q(approval__in=QuoteApproval.values), name="crm_quote_approval_valid"),
            # a pending quote waits for someone, and only a pending one does
            models.CheckConstraint(
                condition=Q(approval="pending", approval_level__in=["manager", "admin"])
                | (~Q(approval="pending") & Q(approval_level="")),
                name="crm_quote_approval_level",
            ),
            # a quote that needed approval reaches the customer only approved
            models.CheckConstraint(
                condition=Q(state__in=["draft", "expired"]) | Q(approval__in=["", "approved"]),
                name="crm_quote_sent_only_approved",
            ),
            models.CheckConstraint(
                condition=Q(subtotal__gte=0) & Q(tax_total__gte=0), name="crm_quote_amounts_not_negative"
            ),
            models.CheckConstraint(condition=Q(total=F("subtotal") + F("tax_total")), name="crm_quote_total_sum"),
            models.CheckConstraint(
                condition=Q(state="draft") | Q(state="expired") | Q(sent_at__isnull=False), name="crm_quote_sent_at"
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["accepted", "rejected"]) | Q(decided_at__isnull=False),
                name="crm_quote_decided_at",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "-created_at"], name="crm_quote_company_created"),
            models.Index(fields=["company", "state", "valid_until"], name="crm_quote_state_valid_until"),
            models.Index(
                fields=["company", "approval_requested_at"], condition=Q(approval="pending"), name="crm_quote_pending"
            ),
        ]

    def __str__(self) -> str:
        return self.display_number

    @property
    def display_number(self) -> str:
        return f"{self.number}-v{self.version}" if self.version > 1 else self.number

    @property
    def approval_reason(self) -> str:
        """Why the quote needs approval, in the active language ('' when it does not)."""
        return approval_reason_text(self.approval_facts)

    @property
    def cleared(self) -> bool:
        """May go to the customer as far as approval goes (none needed, or approved)."""
        return self.approval in (QuoteApproval.NOT_NEEDED, QuoteApproval.APPROVED)


class QuoteApprovalDecision(TenantModel):
    """One yes or no on a quote's approval (报价审批): who, at which level, when, with which note — the trail a
    two-level approval leaves (the team's manager, then an admin). Written once by
    ``crm.services.quote_approvals``; the quote's own approval fields carry the outcome."""

    quote = models.ForeignKey(
        Quote, on_delete=models.CASCADE, related_name="approval_decisions", verbose_name=_("quote")
    )
    level = models.CharField(_("level"), max_length=10, choices=QuoteApprovalLevel.choices)  # never "" (CHECK)
    outcome = models.CharField(
        _("outcome"),
        max_length=10,
        choices=[
            (QuoteApproval.APPROVED, QuoteApproval.APPROVED.label),
            (QuoteApproval.DECLINED, QuoteApproval.DECLINED.label),
        ],
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("by")
    )
    decided_at = models.DateTimeField(_("at"))
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("quote approval decision")
        verbose_name_plural = _("quote approval decisions")
        ordering = ["decided_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(level__in=["manager", "admin"]), name="crm_quoteapprovaldecision_level"),
            models.CheckConstraint(
                condition=Q(outcome__in=["approved", "declined"]), name="crm_quoteapprovaldecision_outcome"
            ),
        ]
        indexes = [models.Index(fields=["quote", "decided_at"], name="crm_quote_decision_quote")]

    def __str__(self) -> str:
        return f"{self.quote} {self.level} {self.outcome}"


@audited
class QuoteLine(_LineAmounts, TenantModel):
    """One line of a quote, copied from the opportunity line when the quote was generated; never changed."""

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines", verbose_name=_("quote"))

    class Meta:
        verbose_name = _("quote line")
        verbose_name_plural = _("quote lines")
        ordering = ["quote", "sequence", "id"]
        constraints = _line_constraints("crm_quoteline")
        indexes = [models.Index(fields=["quote", "sequence"], name="crm_quoteline_quote")]
