"""What the CRM knows about a customer's money (closed loop, flow 4): one row per account, kept by CRM handlers of
ERP's receivable events (``crm.events_finance``) from ERP's own figures, so the customer list, the 360 page and the
SCRM inbox sidebar read CRM tables only."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .customers import Account

MONEY = {"max_digits": 18, "decimal_places": 2}
ZERO = Decimal("0.00")


class CustomerFinance(models.Model):
    """An account's receivables as ERP last reported them, in the company currency: what is open (credit notes
    count negative), what of it is past due, the lifetime revenue (posted invoices net of credit notes, untaxed),
    the credit limit ERP enforces and the last payment. Derived data (rebuilt from ERP on every receivable event),
    so it is not audited and is never edited by people."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="finance", verbose_name=_("account")
    )
    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    outstanding = models.DecimalField(_("outstanding balance"), default=ZERO, **MONEY)
    overdue = models.DecimalField(_("overdue amount"), default=ZERO, **MONEY)
    lifetime_revenue = models.DecimalField(_("lifetime revenue"), default=ZERO, **MONEY)
    credit_limit = models.DecimalField(_("credit limit (ERP)"), null=True, blank=True, **MONEY)
    last_payment_date = models.DateField(_("last payment"), null=True, blank=True)
    last_payment_amount = models.DecimalField(_("last payment amount"), null=True, blank=True, **MONEY)
    erp_partner_id = models.BigIntegerField(_("ERP customer id"), null=True, blank=True)
    # The ERP event that caused the last refresh (its outbox id and time): shows where the figures came from.
    source_event_id = models.BigIntegerField(_("source event"), null=True, blank=True)
    refreshed_at = models.DateTimeField(_("refreshed at"))

    class Meta:
        verbose_name = _("customer finance")
        verbose_name_plural = _("customer finances")
        constraints = [
            models.CheckConstraint(condition=Q(overdue__gte=0), name="crm_customerfinance_overdue_not_negative"),
            models.CheckConstraint(
                condition=Q(credit_limit__isnull=True) | Q(credit_limit__gte=0),
                name="crm_customerfinance_credit_limit_not_negative",
            ),
        ]
        indexes = [
            models.Index(
                fields=["company", "-overdue"], condition=Q(overdue__gt=0), name="crm_customerfinance_overdue"
            ),
        ]

    def __str__(self) -> str:
        return str(self.account_id)

    @property
    def credit_available(self) -> Decimal | None:
        return None if self.credit_limit is None else self.credit_limit - self.outstanding
