"""Finance: the chart of accounts, dimensions, journals, fiscal years and periods, journal entries (凭证) with
their lines, the numbering counters and the per-period account balances.

What must never be wrong is enforced by PostgreSQL, not only here (SQL in migrations
``0003_finance_ledger_rules`` and ``0004_finance_posting_by_insert``; docs/decisions.md "ERP ledger"):

* a line has exactly one non-zero side, both sides ≥ 0 (CHECK);
* an entry becomes posted either by an UPDATE of a draft or by being inserted posted (its lines following in
  one statement of the same transaction); either way its lines must balance at commit (a DEFERRABLE
  INITIALLY DEFERRED constraint trigger);
* a posted entry and its lines can be neither updated nor deleted, nor can lines be added to it later
  (triggers);
* nothing posts into a closed period, and the period is locked ``FOR SHARE`` while posting so a concurrent
  close waits (statement triggers);
* numbers are unique per journal and fiscal year and every posting continues the sequence with no gap; the
  hash chain continues without a gap or fork (UNIQUE plus the statement triggers);
* ``AccountPeriodBalance`` is upserted by those triggers, in the posting transaction, and cannot be written
  directly.
"""

from __future__ import annotations

from decimal import Decimal

import pghistory
from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateRangeField, RangeBoundary, RangeOperators
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from suite.audit import audited
from suite.models import Company
from suite.models.tenancy import TenantModel

ZERO = Decimal("0.00")
MONEY = {"max_digits": 18, "decimal_places": 2}
RATE = {"max_digits": 18, "decimal_places": 6}

account_code_validator = RegexValidator(r"^[0-9A-Za-z][0-9A-Za-z.\-]*$", _("Use digits, letters, dots or dashes."))
currency_validator = RegexValidator(r"^[A-Z]{3}$", _("Use a three-letter ISO 4217 code such as CNY."))


class DateRange(models.Func):
    """``daterange(start, end, '[]')``: the days a fiscal year or period covers, both ends included."""

    function = "DATERANGE"
    output_field = DateRangeField()

    def __init__(self, start, end):
        super().__init__(start, end, RangeBoundary(inclusive_lower=True, inclusive_upper=True))


# ---------------------------------------------------------------- chart of accounts and dimensions


class AccountType(models.TextChoices):
    ASSET = "asset", _("Asset")
    LIABILITY = "liability", _("Liability")
    EQUITY = "equity", _("Equity")
    INCOME = "income", _("Income")
    EXPENSE = "expense", _("Expense")


DEBIT_NORMAL_TYPES = frozenset({AccountType.ASSET, AccountType.EXPENSE})


@audited
class Account(TenantModel):
    """An account of a company's chart (科目): a code, Chinese and English names, a type and a place in the
    hierarchy (1002 银行存款 → 100201 工商银行). ``is_cash`` marks cash and cash equivalents for the cash-flow
    statement. Accounts that have lines are deactivated, never deleted (the lines protect them)."""

    code = models.CharField(_("code"), max_length=20, validators=[account_code_validator])
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    account_type = models.CharField(_("type"), max_length=10, choices=AccountType.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name=_("parent")
    )
    is_cash = models.BooleanField(_("cash or cash equivalent"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = pgettext_lazy("ledger", "account")
        verbose_name_plural = pgettext_lazy("ledger", "accounts")
        ordering = ["company", "code"]
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="erp_account_code_unique_per_company"),
            models.CheckConstraint(condition=Q(account_type__in=AccountType.values), name="erp_account_type_valid"),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="erp_account_not_own_parent"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_debit_normal(self) -> bool:
        return self.account_type in DEBIT_NORMAL_TYPES


class DimensionKind(models.TextChoices):
    COST_CENTRE = "cost_centre", _("Cost centre")
    DEPARTMENT = "department", _("Department")
    PROJECT = "project", _("Project")


@audited
class Dimension(TenantModel):
    """An analytic dimension a line may carry: a cost centre (成本中心), a department (部门) or a project (项目)."""

    kind = models.CharField(_("kind"), max_length=20, choices=DimensionKind.choices)
    code = models.CharField(_("code"), max_length=30, validators=[account_code_validator])
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("dimension")
        verbose_name_plural = _("dimensions")
        ordering = ["company", "kind", "code"]
        constraints = [
            models.UniqueConstraint(fields=["company", "kind", "code"], name="erp_dimension_code_unique"),
            models.CheckConstraint(condition=Q(kind__in=DimensionKind.values), name="erp_dimension_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


# ---------------------------------------------------------------- journals, fiscal years, periods


class JournalKind(models.TextChoices):
    GENERAL = "general", _("General")
    SALES = "sales", _("Sales")
    PURCHASE = "purchase", _("Purchases")
    CASH = "cash", _("Cash")
    BANK = "bank", _("Bank")
    INVENTORY = "inventory", _("Inventory")


@audited
class Journal(TenantModel):
    """A book of entries with its own numbering per fiscal year (记账凭证, 收款凭证, 付款凭证 …) and its own
    hash chain."""

    code = models.CharField(_("code"), max_length=10, validators=[account_code_validator])
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=JournalKind.choices, default=JournalKind.GENERAL)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("journal")
        verbose_name_plural = _("journals")
        ordering = ["company", "code"]
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="erp_journal_code_unique_per_company"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


@audited
class FiscalYear(TenantModel):
    """A company's fiscal year (会计年度), split into periods; years of a company never overlap."""

    name = models.CharField(_("name"), max_length=20)
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"))

    class Meta:
        verbose_name = _("fiscal year")
        verbose_name_plural = _("fiscal years")
        ordering = ["company", "start_date"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="erp_fiscalyear_name_unique"),
            models.CheckConstraint(condition=Q(end_date__gte=F("start_date")), name="erp_fiscalyear_dates_ordered"),
            ExclusionConstraint(
                name="erp_fiscalyear_no_overlap",
                expressions=[
                    ("company", RangeOperators.EQUAL),
                    (DateRange("start_date", "end_date"), RangeOperators.OVERLAPS),
                ],
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PeriodState(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


@audited
class FiscalPeriod(TenantModel):
    """A period of a fiscal year (会计期间, usually a month). Entries post only into open periods; closing and
    reopening are services (reopening is for administrators only and is audited)."""

    fiscal_year = models.ForeignKey(
        FiscalYear, on_delete=models.PROTECT, related_name="periods", verbose_name=_("fiscal year")
    )
    number = models.PositiveSmallIntegerField(_("number"))
    name = models.CharField(_("name"), max_length=20)
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"))
    state = models.CharField(_("state"), max_length=10, choices=PeriodState.choices, default=PeriodState.OPEN)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("closed by"),
    )
    reopened_at = models.DateTimeField(_("reopened at"), null=True, blank=True)
    reopened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("reopened by"),
    )
    reopen_reason = models.CharField(_("reason for reopening"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("fiscal period")
        verbose_name_plural = _("fiscal periods")
        ordering = ["company", "start_date"]
        constraints = [
            models.UniqueConstraint(fields=["fiscal_year", "number"], name="erp_fiscalperiod_number_unique"),
            models.CheckConstraint(condition=Q(end_date__gte=F("start_date")), name="erp_fiscalperiod_dates_ordered"),
            models.CheckConstraint(condition=Q(state__in=PeriodState.values), name="erp_fiscalperiod_state_valid"),
            ExclusionConstraint(
                name="erp_fiscalperiod_no_overlap",
                expressions=[
                    ("company", RangeOperators.EQUAL),
                    (DateRange("start_date", "end_date"), RangeOperators.OVERLAPS),
                ],
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.state == PeriodState.OPEN


# ---------------------------------------------------------------- entries and lines


class JournalSequence(models.Model):
    """The next number of a journal in a fiscal year. Posting locks this row ``FOR UPDATE``, takes the numbers
    it needs and moves it on in the same transaction: a rollback gives the numbers back, so there is no gap."""

    journal = models.ForeignKey(Journal, on_delete=models.CASCADE, related_name="+")
    fiscal_year = models.ForeignKey(FiscalYear, on_delete=models.CASCADE, related_name="+")
    next_number = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("journal sequence")
        verbose_name_plural = _("journal sequences")
        constraints = [
            models.UniqueConstraint(fields=["journal", "fiscal_year"], name="erp_journalsequence_unique"),
            models.CheckConstraint(condition=Q(next_number__gte=1), name="erp_journalsequence_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.journal_id}/{self.fiscal_year_id}: {self.next_number}"


class EntryState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    POSTED = "posted", _("Posted")


# Entries record updates and deletes (the edits of drafts, the posting of a draft, the deletion of a draft), not
# inserts: an inserted entry is the row itself, with ``created_by``; a posted one also carries ``posted_by``,
# ``posted_at`` and its hash, and can never change again. Not writing an event per inserted entry keeps bulk
# posting fast (docs/decisions.md "ERP ledger").
@pghistory.track(pghistory.UpdateEvent(), pghistory.DeleteEvent())
class JournalEntry(TenantModel):
    """A journal entry (记账凭证): a draft until posted, then numbered, hashed and frozen. Entries created
    and posted in one go (``journal_entry_create(post=True)``, batches, reversals) are inserted already posted;
    a draft is posted by an UPDATE. PostgreSQL checks both ways (migration ``0004_finance_posting_by_insert``).

    ``entry_hash`` is SHA-256 over the entry's content and ``previous_hash`` (the hash of the entry before it in
    the journal's chain, ``chain_position`` − 1); ``verify_ledger`` recomputes the chain. ``source_key`` makes
    entries generated by other domains idempotent (one entry per key and company).
    """

    # Every index costs each insert. Company, journal and fiscal year are served by the composite indexes; the
    # period, the fiscal year and the users are only looked up to refuse deleting them (rare; a scan will do).
    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="+", verbose_name=_("company"), db_index=False
    )
    journal = models.ForeignKey(
        Journal, on_delete=models.PROTECT, related_name="entries", verbose_name=_("journal"), db_index=False
    )
    fiscal_year = models.ForeignKey(
        FiscalYear, on_delete=models.PROTECT, related_name="entries", verbose_name=_("fiscal year"), db_index=False
    )
    period = models.ForeignKey(
        FiscalPeriod, on_delete=models.PROTECT, related_name="entries", verbose_name=_("period"), db_index=False
    )
    date = models.DateField(_("date"))
    number = models.PositiveIntegerField(_("number"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=EntryState.choices, default=EntryState.DRAFT)
    memo = models.CharField(_("memo"), max_length=255, blank=True)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    source_key = models.CharField(_("source key"), max_length=100, blank=True)
    reversal_of = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
        verbose_name=_("reversal of"),
    )
    chain_position = models.PositiveBigIntegerField(_("position in the journal's chain"), null=True, blank=True)
    previous_hash = models.CharField(_("previous hash"), max_length=64, blank=True)
    entry_hash = models.CharField(_("hash"), max_length=64, blank=True)
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,  # posted entries cannot change: deactivate users who posted, never delete them
        related_name="+",
        verbose_name=_("posted by"),
        db_index=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,  # posted entries cannot change: deactivate users who posted, never delete them
        related_name="+",
        verbose_name=_("created by"),
        db_index=False,
    )

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        ordering = ["company", "-date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["journal", "fiscal_year", "number"], name="erp_journalentry_number_unique"),
            models.UniqueConstraint(fields=["journal", "chain_position"], name="erp_journalentry_chain_unique"),
            models.UniqueConstraint(
                fields=["company", "source_key"],
                condition=~Q(source_key=""),
                name="erp_journalentry_source_key_unique",
            ),
            models.CheckConstraint(condition=Q(state__in=EntryState.values), name="erp_journalentry_state_valid"),
            models.CheckConstraint(
                condition=Q(
                    state=EntryState.DRAFT,
                    number__isnull=True,
                    chain_position__isnull=True,
                    entry_hash="",
                    posted_at__isnull=True,
                )
                | Q(
                    state=EntryState.POSTED,
                    number__isnull=False,
                    chain_position__isnull=False,
                    entry_hash__regex=r"^[0-9a-f]{64}$",
                    posted_at__isnull=False,
                ),
                name="erp_journalentry_posting_marks",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "date"], name="erp_je_company_date"),
        ]

    def __str__(self) -> str:
        return self.display_number

    @property
    def is_posted(self) -> bool:
        return self.state == EntryState.POSTED

    @property
    def display_number(self) -> str:
        """``GEN-2025-000042`` for a posted entry (journal code, fiscal year, number); ``#id`` for a draft."""
        if self.number is None:
            return f"#{self.pk}"
        return f"{self.journal.code}-{self.fiscal_year.name}-{self.number:06d}"


# Lines record updates and deletes (each with the row before), not inserts: an inserted line is the row itself,
# and not writing an event per inserted line halves the cost of posting in bulk (docs/decisions.md).
@pghistory.track(pghistory.UpdateEvent(), pghistory.DeleteEvent())
class JournalLine(TenantModel):
    """A line of an entry. ``debit``/``credit`` are in the company's currency, exactly one of them non-zero;
    ``amount_currency`` is the same amount in the line's ``currency`` at ``exchange_rate``
    (company currency per unit of ``currency``)."""

    # Every index costs each insert: the company, entry and account columns are served by the composite indexes
    # below, and the dimensions by partial indexes that lines without a dimension never touch. The company is
    # the entry's (the posting rules check it): no foreign-key check per line at COMMIT for it.
    company = models.ForeignKey(
        Company,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("company"),
        db_index=False,
        db_constraint=False,
    )
    entry = models.ForeignKey(
        JournalEntry, on_delete=models.CASCADE, related_name="lines", verbose_name=_("entry"), db_index=False
    )
    line_no = models.PositiveSmallIntegerField(_("line"))
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="lines",
        verbose_name=pgettext_lazy("ledger", "account"),
        db_index=False,
    )
    description = models.CharField(_("description"), max_length=255, blank=True)
    debit = models.DecimalField(_("debit"), default=ZERO, **MONEY)
    credit = models.DecimalField(_("credit"), default=ZERO, **MONEY)
    currency = models.CharField(_("currency"), max_length=3, validators=[currency_validator])
    exchange_rate = models.DecimalField(_("exchange rate"), default=Decimal("1"), **RATE)
    amount_currency = models.DecimalField(_("amount in currency"), default=ZERO, **MONEY)
    cost_centre = models.ForeignKey(
        Dimension,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("cost centre"),
        db_index=False,
    )
    department = models.ForeignKey(
        Dimension,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("department"),
        db_index=False,
    )
    project = models.ForeignKey(
        Dimension,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("project"),
        db_index=False,
    )

    class Meta:
        verbose_name = _("journal line")
        verbose_name_plural = _("journal lines")
        ordering = ["entry", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "line_no"], name="erp_journalline_line_no_unique"),
            models.CheckConstraint(
                condition=Q(debit__gte=0, credit__gte=0) & (Q(debit=0) ^ Q(credit=0)),
                name="erp_journalline_one_side",
            ),
            models.CheckConstraint(condition=Q(exchange_rate__gt=0), name="erp_journalline_rate_positive"),
            models.CheckConstraint(condition=Q(amount_currency__gte=0), name="erp_journalline_amount_currency_sign"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="erp_journalline_currency_code"),
        ]
        indexes = [
            models.Index(fields=["account", "entry"], name="erp_jl_account_entry"),
            models.Index(fields=["cost_centre"], condition=Q(cost_centre__isnull=False), name="erp_jl_cost_centre"),
            models.Index(fields=["department"], condition=Q(department__isnull=False), name="erp_jl_department"),
            models.Index(fields=["project"], condition=Q(project__isnull=False), name="erp_jl_project"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.debit} / {self.credit}"


class AccountPeriodBalance(models.Model):
    """Sum of posted debits and credits of one account in one period, maintained by the posting trigger in the
    posting transaction. Reports read these instead of summing millions of lines; a test proves they equal the
    lines."""

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+", db_index=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="period_balances", db_index=False)
    period = models.ForeignKey(FiscalPeriod, on_delete=models.PROTECT, related_name="account_balances")
    debit = models.DecimalField(default=ZERO, **MONEY)
    credit = models.DecimalField(default=ZERO, **MONEY)

    class Meta:
        verbose_name = _("account period balance")
        verbose_name_plural = _("account period balances")
        constraints = [
            models.UniqueConstraint(fields=["account", "period"], name="erp_accountperiodbalance_unique"),
        ]
        indexes = [models.Index(fields=["company", "period"], name="erp_apb_company_period")]

    def __str__(self) -> str:
        return f"{self.account_id}@{self.period_id}: {self.debit} / {self.credit}"
