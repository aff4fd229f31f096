"""Expense claims (报账): an employee claims back what they paid for the company, with receipts; the claim is
approved along a chain that depends on its amount, posted to the ledger (expense accounts and input VAT against
其他应付款 2241 owed to the employee) and reimbursed from the bank (2241 against 1002).

Categories map what was spent (差旅费, 业务招待费 …) to an expense account; approval levels say who approves a
claim of which size (configurable per company: by default a manager always, finance above ¥1,000, an
administrator above ¥10,000). Amounts are in the company's currency.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import Role
from suite.models.tenancy import TenantModel

from .finance import Account, Dimension, JournalEntry

ZERO = Decimal("0.00")
MONEY = {"max_digits": 18, "decimal_places": 2}


@audited
class ExpenseCategory(TenantModel):
    """What an expense was for (差旅费 travel, 业务招待费 entertainment …) and the expense account it posts to."""

    code = models.CharField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", verbose_name=_("expense account"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("expense category")
        verbose_name_plural = _("expense categories")
        ordering = ["company", "code"]
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="erp_expensecategory_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


@audited
class ExpenseApprovalLevel(TenantModel):
    """One step of the approval chain: a claim whose total is above ``applies_above`` needs the approval of a
    member with ``approver_role`` (administrators may approve any step). Steps are taken in ``sequence``."""

    sequence = models.PositiveSmallIntegerField(_("sequence"))
    name = models.CharField(_("name"), max_length=100)
    approver_role = models.CharField(_("approver role"), max_length=20, choices=Role.choices)
    applies_above = models.DecimalField(_("required above amount"), default=ZERO, **MONEY)

    class Meta:
        verbose_name = _("expense approval level")
        verbose_name_plural = _("expense approval levels")
        ordering = ["company", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["company", "sequence"], name="erp_expenseapprovallevel_seq_unique"),
            models.CheckConstraint(condition=Q(applies_above__gte=0), name="erp_expenseapprovallevel_amount_sign"),
        ]

    def __str__(self) -> str:
        return f"{self.sequence}. {self.name}"


class ExpenseClaimState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    POSTED = "posted", _("Posted")
    PAID = "paid", _("Reimbursed")
    CANCELLED = "cancelled", _("Cancelled")


EDITABLE_CLAIM_STATES = frozenset({ExpenseClaimState.DRAFT, ExpenseClaimState.REJECTED})


@audited
class ExpenseClaim(TenantModel):
    """An employee's claim (报销单). Edited while a draft (or after a rejection), then submitted, approved step
    by step (``approval_level`` is the sequence of the step waiting), posted and reimbursed. The totals are the
    sums of the lines, kept by the services."""

    number = models.CharField(_("number"), max_length=30, blank=True)
    employee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("employee")
    )
    title = models.CharField(_("title"), max_length=200)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    total_amount = models.DecimalField(_("total"), default=ZERO, **MONEY)
    total_tax = models.DecimalField(_("deductible VAT"), default=ZERO, **MONEY)
    state = models.CharField(
        _("state"), max_length=12, choices=ExpenseClaimState.choices, default=ExpenseClaimState.DRAFT
    )
    approval_level = models.PositiveSmallIntegerField(_("waiting for approval step"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    rejected_reason = models.CharField(_("reason for rejection"), max_length=500, blank=True)
    journal_entry = models.ForeignKey(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("entry")
    )
    payment_entry = models.ForeignKey(
        JournalEntry,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("reimbursement entry"),
    )
    paid_at = models.DateTimeField(_("reimbursed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("expense claim")
        verbose_name_plural = _("expense claims")
        ordering = ["company", "-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=ExpenseClaimState.values), name="erp_expenseclaim_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(total_amount__gte=0, total_tax__gte=0, total_tax__lte=F("total_amount")),
                name="erp_expenseclaim_totals",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=[ExpenseClaimState.POSTED, ExpenseClaimState.PAID])
                | Q(journal_entry__isnull=False),
                name="erp_expenseclaim_posted_has_entry",
            ),
            models.CheckConstraint(
                condition=~Q(state=ExpenseClaimState.PAID) | Q(payment_entry__isnull=False),
                name="erp_expenseclaim_paid_has_entry",
            ),
            models.CheckConstraint(
                condition=~Q(state=ExpenseClaimState.SUBMITTED) | Q(approval_level__isnull=False),
                name="erp_expenseclaim_submitted_has_step",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "employee"], name="erp_expclaim_employee"),
            models.Index(fields=["company", "state"], name="erp_expclaim_state"),
        ]

    def __str__(self) -> str:
        return self.number or f"#{self.pk}"

    @property
    def is_editable(self) -> bool:
        return self.state in EDITABLE_CLAIM_STATES


@audited
class ExpenseLine(TenantModel):
    """One expense: ``amount`` is what was paid including VAT; ``tax_amount`` the deductible input VAT on a
    special VAT fapiao (posted to 22210101), the rest goes to the category's expense account with the line's
    cost centre and project."""

    claim = models.ForeignKey(ExpenseClaim, on_delete=models.CASCADE, related_name="lines", verbose_name=_("claim"))
    line_no = models.PositiveSmallIntegerField(_("line"))
    date = models.DateField(_("date"))
    category = models.ForeignKey(
        ExpenseCategory, on_delete=models.PROTECT, related_name="+", verbose_name=_("category")
    )
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", verbose_name=_("account"))
    description = models.CharField(_("description"), max_length=255, blank=True)
    amount = models.DecimalField(_("amount"), **MONEY)
    tax_amount = models.DecimalField(_("deductible VAT"), default=ZERO, **MONEY)
    cost_centre = models.ForeignKey(
        Dimension, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("cost centre")
    )
    project = models.ForeignKey(
        Dimension, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("project")
    )

    class Meta:
        verbose_name = _("expense line")
        verbose_name_plural = _("expense lines")
        ordering = ["claim", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["claim", "line_no"], name="erp_expenseline_no_unique"),
            models.CheckConstraint(
                condition=Q(amount__gt=0, tax_amount__gte=0, tax_amount__lt=F("amount")),
                name="erp_expenseline_amounts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.claim_id}/{self.line_no}: {self.amount}"


def receipt_path(instance: ExpenseReceipt, filename: str) -> str:
    """Stored under a random name; the user's file name is kept in ``original_name`` only."""
    suffix = PurePosixPath(filename).suffix.lower()[:10]
    return f"expense-receipts/{instance.company_id}/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{suffix}"


@audited
class ExpenseReceipt(TenantModel):
    """A receipt or fapiao scan of a claim: an image or a PDF, checked by its content and size before it is
    stored (``suite.uploads``)."""

    claim = models.ForeignKey(ExpenseClaim, on_delete=models.CASCADE, related_name="receipts", verbose_name=_("claim"))
    file = models.FileField(_("file"), upload_to=receipt_path, max_length=300)
    original_name = models.CharField(_("file name"), max_length=255)
    mime = models.CharField(_("content type"), max_length=100)
    size = models.PositiveBigIntegerField(_("size"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("uploaded by"),
    )

    class Meta:
        verbose_name = _("expense receipt")
        verbose_name_plural = _("expense receipts")
        ordering = ["claim", "id"]

    def __str__(self) -> str:
        return self.original_name


class ApprovalDecision(models.TextChoices):
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


@audited
class ExpenseApproval(TenantModel):
    """A decision on one step of a claim: who approved or rejected it, when and why."""

    claim = models.ForeignKey(ExpenseClaim, on_delete=models.CASCADE, related_name="approvals", verbose_name=_("claim"))
    sequence = models.PositiveSmallIntegerField(_("step"))
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("approver")
    )
    decision = models.CharField(_("decision"), max_length=10, choices=ApprovalDecision.choices)
    reason = models.CharField(_("reason"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("expense approval")
        verbose_name_plural = _("expense approvals")
        ordering = ["claim", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(decision__in=ApprovalDecision.values), name="erp_expenseapproval_decision_valid"
            ),
            models.CheckConstraint(
                condition=~Q(decision=ApprovalDecision.REJECTED) | ~Q(reason=""),
                name="erp_expenseapproval_reject_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.claim_id}/{self.sequence}: {self.decision}"
