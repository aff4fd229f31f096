"""Bank: the company's bank accounts (each on its own bank or cash journal and ledger account), imported
statements and their lines, and the reconciliation of a statement line with a payment."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel

from .finance import MONEY, Account, Journal, currency_validator
from .invoicing import Payment
from .partners import Partner


@audited
class BankAccount(TenantModel):
    """A bank account (银行账户) of the company: its payments post on ``journal`` to ``account`` (1002 银行存款
    or a sub-account such as 100201 工商银行)."""

    name = models.CharField(_("name"), max_length=100)
    bank_name = models.CharField(_("bank"), max_length=100, blank=True)
    account_number = models.CharField(_("account number"), max_length=50)
    currency = models.CharField(_("currency"), max_length=3, validators=[currency_validator])
    journal = models.OneToOneField(
        Journal, on_delete=models.PROTECT, related_name="bank_account", verbose_name=_("journal")
    )
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", verbose_name=_("ledger account"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("bank account")
        verbose_name_plural = _("bank accounts")
        ordering = ["company", "name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "account_number"], name="erp_bankaccount_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_number})"


@audited
class BankStatement(TenantModel):
    """One imported statement file: its lines, and the rows that could not be read (``import_errors``: a list of
    ``{"row": n, "errors": {...}}``)."""

    bank_account = models.ForeignKey(
        BankAccount, on_delete=models.PROTECT, related_name="statements", verbose_name=_("bank account")
    )
    name = models.CharField(_("name"), max_length=200)
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    preset = models.CharField(_("column preset"), max_length=30, blank=True)
    line_count = models.PositiveIntegerField(_("lines imported"), default=0)
    duplicate_count = models.PositiveIntegerField(_("duplicates ignored"), default=0)
    import_errors = models.JSONField(_("rows not imported"), default=list, blank=True)

    class Meta:
        verbose_name = _("bank statement")
        verbose_name_plural = _("bank statements")
        ordering = ["company", "-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class StatementLineState(models.TextChoices):
    OPEN = "open", _("To reconcile")
    RECONCILED = "reconciled", _("Reconciled")


@audited
class BankStatementLine(TenantModel):
    """A line of a bank statement: money in (positive ``amount``) or out (negative). ``line_hash`` identifies the
    same bank transaction when a statement is imported again (unique per bank account). Reconciled with at
    most one payment, and a payment with at most one line."""

    statement = models.ForeignKey(
        BankStatement, on_delete=models.CASCADE, related_name="lines", verbose_name=_("statement")
    )
    bank_account = models.ForeignKey(
        BankAccount, on_delete=models.PROTECT, related_name="statement_lines", verbose_name=_("bank account")
    )
    date = models.DateField(_("date"))
    amount = models.DecimalField(_("amount"), **MONEY)
    description = models.CharField(_("description"), max_length=255, blank=True)
    partner_name = models.CharField(_("counterparty"), max_length=200, blank=True)
    counterparty_account = models.CharField(_("counterparty account"), max_length=50, blank=True)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    balance = models.DecimalField(_("balance"), null=True, blank=True, **MONEY)
    line_hash = models.CharField(_("hash"), max_length=64)
    state = models.CharField(
        _("state"), max_length=12, choices=StatementLineState.choices, default=StatementLineState.OPEN
    )
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("partner")
    )
    payment = models.OneToOneField(
        Payment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="statement_line",
        verbose_name=_("payment"),
    )

    class Meta:
        verbose_name = _("bank statement line")
        verbose_name_plural = _("bank statement lines")
        ordering = ["company", "date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["bank_account", "line_hash"], name="erp_statementline_hash_unique"),
            models.CheckConstraint(condition=~Q(amount=0), name="erp_statementline_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(state="open", payment__isnull=True) | Q(state="reconciled", payment__isnull=False),
                name="erp_statementline_reconciled_has_payment",
            ),
        ]
        indexes = [models.Index(fields=["company", "state", "date"], name="erp_stmtline_state_date")]

    def __str__(self) -> str:
        return f"{self.date} {self.amount} {self.partner_name}"
