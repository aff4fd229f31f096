"""Partners: the customers and suppliers ERP invoices and pays, and the payment terms that give an invoice its
due date. A partner may mirror a CRM account (``crm_account_id``, unique per company): ERP never reads CRM
tables, the closed loop keeps the two in step through events and ``partner_ensure_for_crm_account``.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel

from .finance import MONEY, currency_validator


@audited
class PaymentTerm(TenantModel):
    """When an invoice falls due (付款条件): ``days`` after the invoice date, or by its ``lines`` (e.g. 30 % in
    10 days, the rest in 60) — the due date of an invoice is then the last line's."""

    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    days = models.PositiveSmallIntegerField(_("days after the invoice date"), default=0)
    end_of_month = models.BooleanField(
        _("from the end of the month"), default=False, help_text=_("Count the days from the end of the invoice month.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("payment term")
        verbose_name_plural = _("payment terms")
        ordering = ["company", "days", "name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="erp_paymentterm_name_unique"),
            models.CheckConstraint(condition=Q(days__lte=3650), name="erp_paymentterm_days_max"),
        ]

    def __str__(self) -> str:
        return self.name


@audited
class PaymentTermLine(TenantModel):
    """One instalment of a payment term: ``percent`` of the total due ``days`` after the invoice date."""

    term = models.ForeignKey(PaymentTerm, on_delete=models.CASCADE, related_name="lines", verbose_name=_("term"))
    sequence = models.PositiveSmallIntegerField(_("sequence"), default=1)
    percent = models.DecimalField(_("percent"), max_digits=5, decimal_places=2)
    days = models.PositiveSmallIntegerField(_("days"), default=0)

    class Meta:
        verbose_name = _("payment term line")
        verbose_name_plural = _("payment term lines")
        ordering = ["term", "sequence"]
        constraints = [
            models.CheckConstraint(
                condition=Q(percent__gt=0, percent__lte=100), name="erp_paymenttermline_percent_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.percent}% / {self.days}"


@audited
class Partner(TenantModel):
    """A customer and/or supplier (往来单位). ``crm_account_id`` is the CRM account it mirrors (an id, not a
    foreign key: apps do not share tables). ``credit_limit`` null means no limit; ``customer_group`` is the slug
    price lists use."""

    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    is_customer = models.BooleanField(_("customer"), default=True)
    is_supplier = models.BooleanField(_("supplier"), default=False)
    crm_account_id = models.BigIntegerField(_("CRM account id"), null=True, blank=True)
    tax_id = models.CharField(
        _("tax id"), max_length=30, blank=True, help_text=_("统一社会信用代码 / taxpayer identification number.")
    )
    customer_group = models.SlugField(_("customer group"), max_length=50, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True, validators=[currency_validator])
    payment_term = models.ForeignKey(
        PaymentTerm,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="partners",
        verbose_name=_("payment term"),
    )
    credit_limit = models.DecimalField(_("credit limit"), null=True, blank=True, **MONEY)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    address = models.TextField(_("address"), blank=True)
    bank_account_number = models.CharField(_("bank account number"), max_length=50, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    # Set when the CRM account this partner mirrored was merged into an account that had a partner of its own:
    # the two partners' documents stay as posted, and what ERP reports for the survivor includes both.
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_partners",
        verbose_name=_("merged into"),
    )

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["company", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "crm_account_id"],
                condition=Q(crm_account_id__isnull=False),
                name="erp_partner_crm_account_unique",
            ),
            models.CheckConstraint(
                condition=Q(credit_limit__isnull=True) | Q(credit_limit__gte=Decimal("0")),
                name="erp_partner_credit_limit_not_negative",
            ),
        ]
        indexes = [models.Index(fields=["company", "name"], name="erp_partner_name_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def crm_account_for_documents(self) -> int | None:
        """The CRM account this partner's invoices and payments belong to: the one it mirrors, or, for a partner
        merged into another (``merged_into``), the one that partner mirrors."""
        if self.crm_account_id is not None or self.merged_into_id is None:
            return self.crm_account_id
        return self.merged_into.crm_account_id
