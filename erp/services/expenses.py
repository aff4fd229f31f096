"""Writes of expense claims (报账): categories, approval levels, claims with lines and receipts, the approval
chain, posting and reimbursement.

The life of a claim: ``draft`` → (``expense_claim_submit``) ``submitted`` → one ``expense_claim_approve`` per
required step → ``approved`` → (``expense_claim_post``) ``posted`` → (``expense_claim_pay``) ``paid``. A step may
reject the claim with a reason (``rejected``: the employee edits and submits again); a claim not yet approved may
be cancelled by its employee.

Postings (journal 记账 ``GEN``; reimbursement on ``BNK`` when the company has it):

* posting: Dr the lines' expense accounts (amount − deductible VAT, with cost centre/project), Dr 22210101
  进项税额 (the VAT), Cr 2241 其他应付款 (the total, owed to the employee);
* reimbursement: Dr 2241 其他应付款 / Cr 1002 银行存款 (or the cash account chosen).

Both carry a ``source_key`` so a retried call never posts twice. Every state change locks the claim row first
(``lock_claim``) and publishes ``erp.expense_claim.<verb>`` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date as Date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from erp import events as erp_events
from erp.models import (
    Account,
    AccountType,
    ApprovalDecision,
    Dimension,
    DimensionKind,
    ExpenseApproval,
    ExpenseApprovalLevel,
    ExpenseCategory,
    ExpenseClaim,
    ExpenseClaimState,
    ExpenseLine,
    ExpenseReceipt,
    Journal,
)
from erp.models.expenses import EDITABLE_CLAIM_STATES
from erp.services import finance as ledger
from suite import events
from suite.models import Company, Membership, Role
from suite.services.notifications import notification_send
from suite.services.uploads import _clean_name
from suite.uploads import GIF, JPEG, PDF, PNG, WEBP, validate_upload

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MAX_MONEY = Decimal("9999999999999999.99")
RECEIPT_KINDS = frozenset(kind.mime for kind in (PDF, PNG, JPEG, GIF, WEBP))
PAYABLE_CODE = "2241"  # 其他应付款
INPUT_VAT_CODE = "22210101"  # 进项税额
BANK_CODE = "1002"  # 银行存款

DEFAULT_CATEGORIES = (
    # code, name, English name, account code
    ("travel", "差旅费", "Travel", "6602"),
    ("transport", "交通费", "Local transport", "6602"),
    ("meals", "业务招待费", "Entertainment", "6602"),
    ("office", "办公费", "Office supplies", "6602"),
    ("communication", "通讯费", "Phone and internet", "6602"),
    ("training", "培训费", "Training", "6602"),
    ("marketing", "市场推广费", "Marketing", "6601"),
)
DEFAULT_LEVELS = (
    # sequence, name, role, required above (CNY)
    (1, "部门经理审批", Role.MANAGER, Decimal("0.00")),
    (2, "财务审核", Role.FINANCE, Decimal("1000.00")),
    (3, "总经理审批", Role.ADMIN, Decimal("10000.00")),
)


def receipt_max_bytes() -> int:
    """The largest receipt accepted (``ERP_EXPENSE_RECEIPT_MAX_BYTES``, default 5 MB)."""
    return getattr(settings, "ERP_EXPENSE_RECEIPT_MAX_BYTES", 5 * 1024 * 1024)


class ExpenseConflict(Exception):
    """The claim's state refuses the action (e.g. approving a draft): an HTTP 409 with ``code``."""

    def __init__(self, code: str, message) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message


# ---------------------------------------------------------------- helpers


def lock_claim(pk: int) -> ExpenseClaim:
    """The claim row ``FOR UPDATE`` (every state change goes through here)."""
    return ExpenseClaim.objects.select_for_update(of=("self",)).select_related("company").get(pk=pk)


def _role_of(user, company_id: int) -> str | None:
    if user is None:
        return None
    return (
        Membership.objects.filter(user=user, company_id=company_id, is_active=True)
        .values_list("role", flat=True)
        .first()
    )


def _money(value, *, key: str, errors: dict, positive: bool = False) -> Decimal | None:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value if value not in (None, "") else "0"))
    except (InvalidOperation, ValueError, TypeError):
        errors[key] = [_("Enter a number.")]
        return None
    if not amount.is_finite():
        errors[key] = [_("Enter a number.")]
    elif abs(amount) > MAX_MONEY:
        errors[key] = [_("The amount is too large.")]
    elif amount != amount.quantize(CENT):
        errors[key] = [_("Use at most 2 decimal places.")]
    elif amount < 0 or (positive and amount == 0):
        errors[key] = [_("Enter an amount greater than zero.") if positive else _("The amount cannot be negative.")]
    else:
        return amount.quantize(CENT)
    return None


def _by_pk(model, value, company_id: int, **filters):
    pk = getattr(value, "pk", value)
    if pk in (None, ""):
        return None
    try:
        return model.objects.filter(company_id=company_id, pk=int(pk), **filters).first()
    except (TypeError, ValueError):
        return None


def _clean_lines(company: Company, lines: Sequence[dict]) -> list[ExpenseLine]:
    """Validate the lines (``date``, ``category``, ``amount``, ``tax_amount``, ``description``, ``cost_centre``,
    ``project``) against the company's categories and dimensions; field errors as ``lines.<i>.<field>``."""
    errors: dict[str, list] = {}
    clean: list[ExpenseLine] = []
    if not lines:
        raise ValidationError({"lines": [_("Add at least one expense.")]})
    if len(lines) > 200:
        raise ValidationError({"lines": [_("At most 200 expenses per claim.")]})
    for i, raw in enumerate(lines):
        prefix = f"lines.{i}."
        raw = dict(raw)
        category = _by_pk(ExpenseCategory, raw.get("category"), company.pk, is_active=True)
        if category is None:
            errors[prefix + "category"] = [_("Choose an active expense category.")]
        amount = _money(raw.get("amount"), key=prefix + "amount", errors=errors, positive=True)
        tax = _money(raw.get("tax_amount", ZERO), key=prefix + "tax_amount", errors=errors)
        if amount is not None and tax is not None and tax >= amount:
            errors[prefix + "tax_amount"] = [_("The VAT must be less than the amount.")]
        day = raw.get("date")
        if not isinstance(day, Date):
            errors[prefix + "date"] = [_("Enter a valid date.")]
        elif day > timezone.localdate():
            errors[prefix + "date"] = [_("An expense cannot be in the future.")]
        description = str(raw.get("description") or "").strip()
        if len(description) > 255:
            errors[prefix + "description"] = [_("At most 255 characters.")]
        dims = {}
        for name, kind in (("cost_centre", DimensionKind.COST_CENTRE), ("project", DimensionKind.PROJECT)):
            value = raw.get(name)
            dims[name] = _by_pk(Dimension, value, company.pk, kind=kind, is_active=True)
            if value not in (None, "") and dims[name] is None:
                errors[prefix + name] = [_("Choose an active dimension of the right kind.")]
        if not errors:
            clean.append(
                ExpenseLine(
                    company=company,
                    line_no=i + 1,
                    date=day,
                    category=category,
                    account_id=category.account_id,
                    description=description,
                    amount=amount,
                    tax_amount=tax,
                    **dims,
                )
            )
    if errors:
        raise ValidationError(errors)
    return clean


def _write_lines(claim: ExpenseClaim, lines: list[ExpenseLine]) -> None:
    for line in lines:
        line.claim = claim
    ExpenseLine.objects.bulk_create(lines)
    claim.total_amount = sum((line.amount for line in lines), ZERO)
    claim.total_tax = sum((line.tax_amount for line in lines), ZERO)


def _publish(name: str, claim: ExpenseClaim, *, by, **extra) -> None:
    events.publish(name, erp_events.expense_claim_payload(claim, **extra), company_id=claim.company_id, by=by)


def _required_levels(claim: ExpenseClaim) -> list[ExpenseApprovalLevel]:
    levels = list(ExpenseApprovalLevel.objects.filter(company_id=claim.company_id).order_by("sequence"))
    if not levels:
        levels = expense_approval_levels_install_defaults(company=claim.company)
    return [level for level in levels if claim.total_amount > level.applies_above or level.applies_above == 0]


def _notify_approvers(claim: ExpenseClaim, level: ExpenseApprovalLevel) -> None:
    roles = {level.approver_role, Role.ADMIN} if level.approver_role == Role.ADMIN else {level.approver_role}
    recipients = list(
        Membership.objects.filter(company_id=claim.company_id, role__in=roles, is_active=True)
        .exclude(user_id=claim.employee_id)
        .values_list("user_id", flat=True)
    )
    if recipients:
        notification_send(
            recipients=recipients,
            company=claim.company,
            title=lambda: gettext("Expense claim %(number)s waits for your approval") % {"number": claim.number},
            body=f"{claim.title} · {claim.total_amount} {claim.currency}",
            link=f"/erp/expenses/{claim.pk}/",
        )


# ---------------------------------------------------------------- master data


@transaction.atomic
def expense_categories_install_defaults(*, company: Company, by: User | None = None) -> int:
    """Create the default categories (差旅费 … on 6602 管理费用 / 6601 销售费用) whose account exists and whose
    code the company lacks; returns how many were created."""
    existing = set(ExpenseCategory.objects.filter(company=company).values_list("code", flat=True))
    accounts = {
        a.code: a for a in Account.objects.filter(company=company, code__in={row[3] for row in DEFAULT_CATEGORIES})
    }
    new = [
        ExpenseCategory(company=company, code=code, name=name, name_en=name_en, account=accounts[account_code])
        for code, name, name_en, account_code in DEFAULT_CATEGORIES
        if code not in existing and account_code in accounts
    ]
    ExpenseCategory.objects.bulk_create(new)
    return len(new)


@transaction.atomic
def expense_category_create(
    *, company: Company, code: str, name: str, account: Account, name_en: str = "", by: User | None = None
) -> ExpenseCategory:
    """A category posting to ``account`` (an expense or cost account of the company)."""
    errors: dict[str, list] = {}
    code, name = (code or "").strip(), (name or "").strip()
    if not code:
        errors["code"] = [_("This field is required.")]
    elif ExpenseCategory.objects.filter(company=company, code=code).exists():
        errors["code"] = [_("Category %(code)s already exists.") % {"code": code}]
    if not name:
        errors["name"] = [_("This field is required.")]
    if account is None or account.company_id != company.pk or account.account_type != AccountType.EXPENSE:
        errors["account"] = [_("Choose an expense account of the company.")]
    if errors:
        raise ValidationError(errors)
    return ExpenseCategory.objects.create(company=company, code=code, name=name, name_en=name_en, account=account)


@transaction.atomic
def expense_category_update(*, category: ExpenseCategory, by: User | None = None, **changes) -> ExpenseCategory:
    """Change name, English name, account or ``is_active`` (posted claims keep the account they posted to)."""
    unknown = set(changes) - {"name", "name_en", "account", "is_active"}
    if unknown:
        raise TypeError(f"expense_category_update: unknown fields {sorted(unknown)}")
    account = changes.get("account")
    if "account" in changes and (
        account is None or account.company_id != category.company_id or account.account_type != AccountType.EXPENSE
    ):
        raise ValidationError({"account": [_("Choose an expense account of the company.")]})
    for name, value in changes.items():
        setattr(category, name, value)
    category.save(update_fields=[*changes, "updated_at"])
    return category


@transaction.atomic
def expense_approval_levels_install_defaults(*, company: Company, by: User | None = None) -> list[ExpenseApprovalLevel]:
    """The default chain when the company has none: a manager always, finance above ¥1,000, an administrator
    above ¥10,000. Returns the company's levels."""
    Company.objects.select_for_update().filter(pk=company.pk).first()  # two first claims: one set of defaults
    if not ExpenseApprovalLevel.objects.filter(company=company).exists():
        ExpenseApprovalLevel.objects.bulk_create(
            ExpenseApprovalLevel(company=company, sequence=seq, name=name, approver_role=role, applies_above=above)
            for seq, name, role, above in DEFAULT_LEVELS
        )
    return list(ExpenseApprovalLevel.objects.filter(company=company).order_by("sequence"))


@transaction.atomic
def expense_approval_level_set(
    *,
    company: Company,
    sequence: int,
    name: str,
    approver_role: str,
    applies_above: Decimal,
    by: User | None = None,
) -> ExpenseApprovalLevel:
    """Create or change the step ``sequence`` of the company's chain. Claims already waiting keep their step
    number and are checked against the new rule when approved."""
    errors: dict[str, list] = {}
    if approver_role not in Role.values:
        errors["approver_role"] = [_("Choose a role.")]
    amount = _money(applies_above, key="applies_above", errors=errors)
    if not (name or "").strip():
        errors["name"] = [_("This field is required.")]
    if not isinstance(sequence, int) or sequence < 1:
        errors["sequence"] = [_("Enter a step number from 1.")]
    if errors:
        raise ValidationError(errors)
    level, _created = ExpenseApprovalLevel.objects.update_or_create(
        company=company,
        sequence=sequence,
        defaults={"name": name.strip(), "approver_role": approver_role, "applies_above": amount},
    )
    return level


@transaction.atomic
def expense_approval_level_delete(*, level: ExpenseApprovalLevel, by: User | None = None) -> None:
    """Remove a step (claims waiting at it move on to the next required step when next approved)."""
    level.delete()


# ---------------------------------------------------------------- claims


@transaction.atomic
def expense_claim_create(
    *,
    company: Company,
    employee: User,
    title: str,
    lines: Sequence[dict],
    currency: str = "CNY",
    by: User | None = None,
) -> ExpenseClaim:
    """A draft claim of ``employee`` (a member of ``company``) with its lines; totals are the lines' sums.
    Nothing is written when any line is invalid. Publishes nothing (a draft is private)."""
    errors: dict[str, list] = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = [_("This field is required.")]
    elif len(title) > 200:
        errors["title"] = [_("At most 200 characters.")]
    if _role_of(employee, company.pk) is None:
        errors["employee"] = [_("The employee must be a member of the company.")]
    if currency != "CNY":
        errors["currency"] = [_("Claims are in the company's currency (CNY).")]
    try:
        clean = _clean_lines(company, lines)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    claim = ExpenseClaim.objects.create(company=company, employee=employee, title=title, currency=currency)
    _write_lines(claim, clean)
    claim.save(update_fields=["total_amount", "total_tax", "updated_at"])
    return claim


@transaction.atomic
def expense_claim_update(
    *, claim: ExpenseClaim, by: User | None = None, title: str | None = None, lines: Sequence[dict] | None = None
) -> ExpenseClaim:
    """Change a draft or rejected claim (its employee only): the title and/or all lines (``lines`` replaces
    them). Locks the claim."""
    claim = lock_claim(claim.pk)
    if by is not None and by.pk != claim.employee_id:
        raise PermissionDenied(_("Only the employee may change their claim."))
    if not claim.is_editable:
        raise ExpenseConflict("claim_not_editable", _("Only a draft or rejected claim can be changed."))
    if title is not None:
        title = title.strip()
        if not title or len(title) > 200:
            raise ValidationError({"title": [_("Enter a title of at most 200 characters.")]})
        claim.title = title
    if lines is not None:
        clean = _clean_lines(claim.company, lines)
        claim.lines.all().delete()
        _write_lines(claim, clean)
    claim.save(update_fields=["title", "total_amount", "total_tax", "updated_at"])
    return claim


@transaction.atomic
def expense_receipt_add(*, claim: ExpenseClaim, upload, by: User | None = None) -> ExpenseReceipt:
    """Attach a receipt to a draft or rejected claim. The file must prove by its content to be an image (PNG,
    JPEG, GIF, WebP) or a PDF and be at most ``receipt_max_bytes()``; otherwise a ``ValidationError`` on
    ``file`` and nothing is written (no row, no stored file)."""
    claim = lock_claim(claim.pk)
    if by is not None and by.pk != claim.employee_id:
        raise PermissionDenied(_("Only the employee may add receipts to their claim."))
    if not claim.is_editable:
        raise ExpenseConflict("claim_not_editable", _("Receipts can only be added to a draft or rejected claim."))
    if claim.receipts.count() >= 50:
        raise ValidationError({"file": [_("At most 50 receipts per claim.")]})
    try:
        checked = validate_upload(upload, max_bytes=receipt_max_bytes())
    except ValidationError as exc:
        raise ValidationError({"file": exc.error_list}) from None
    if checked.mime not in RECEIPT_KINDS:
        raise ValidationError(
            {"file": ValidationError(_("A receipt must be an image (PNG, JPEG, GIF, WebP) or a PDF."), code="kind")}
        )
    receipt = ExpenseReceipt(
        company=claim.company,
        claim=claim,
        original_name=_clean_name(upload.name),
        mime=checked.mime,
        size=checked.size,
        uploaded_by=by,
    )
    upload.seek(0)
    receipt.file.save(f"receipt{checked.extension}", upload, save=False)
    try:
        with transaction.atomic():
            receipt.save()
    except Exception:
        receipt.file.delete(save=False)
        raise
    return receipt


@transaction.atomic
def expense_receipt_remove(*, receipt: ExpenseReceipt, by: User | None = None) -> None:
    """Remove a receipt of a draft or rejected claim; its file goes once the transaction has committed."""
    claim = lock_claim(receipt.claim_id)
    if by is not None and by.pk != claim.employee_id:
        raise PermissionDenied(_("Only the employee may remove receipts of their claim."))
    if not claim.is_editable:
        raise ExpenseConflict("claim_not_editable", _("Receipts can only be removed from a draft or rejected claim."))
    storage, name = receipt.file.storage, receipt.file.name
    receipt.delete()
    transaction.on_commit(lambda: storage.delete(name))


@transaction.atomic
def expense_claim_submit(*, claim: ExpenseClaim, by: User | None = None) -> ExpenseClaim:
    """Send a draft or rejected claim for approval (its employee only). It needs at least one line and one
    receipt. The first required step waits; its approvers are notified. Locks the claim. Publishes
    ``erp.expense_claim.submitted``."""
    claim = lock_claim(claim.pk)
    if by is not None and by.pk != claim.employee_id:
        raise PermissionDenied(_("Only the employee may submit their claim."))
    if claim.state == ExpenseClaimState.SUBMITTED:
        return claim
    if not claim.is_editable:
        raise ExpenseConflict("claim_not_editable", _("Only a draft or rejected claim can be submitted."))
    errors: dict[str, list] = {}
    if not claim.lines.exists():
        errors["lines"] = [_("Add at least one expense.")]
    if not claim.receipts.exists():
        errors["receipts"] = [_("Attach at least one receipt.")]
    if errors:
        raise ValidationError(errors)
    levels = _required_levels(claim)
    if not claim.number:
        claim.number = f"BX{timezone.localdate().year}-{claim.pk:06d}"
    claim.state = ExpenseClaimState.SUBMITTED
    claim.approval_level = levels[0].sequence if levels else 0
    claim.submitted_at = timezone.now()
    claim.rejected_reason = ""
    if not levels:  # no chain configured above this amount: approved at once
        claim.state = ExpenseClaimState.APPROVED
        claim.approval_level = None
        claim.approved_at = timezone.now()
    claim.save(
        update_fields=[
            "number",
            "state",
            "approval_level",
            "submitted_at",
            "approved_at",
            "rejected_reason",
            "updated_at",
        ]
    )
    _publish(erp_events.EXPENSE_CLAIM_SUBMITTED, claim, by=by)
    if levels:
        _notify_approvers(claim, levels[0])
    return claim


def _current_level(claim: ExpenseClaim) -> ExpenseApprovalLevel | None:
    return ExpenseApprovalLevel.objects.filter(company_id=claim.company_id, sequence=claim.approval_level).first()


def _check_approver(claim: ExpenseClaim, by) -> ExpenseApprovalLevel | None:
    if claim.state != ExpenseClaimState.SUBMITTED:
        raise ExpenseConflict("claim_not_submitted", _("Only a submitted claim can be approved or rejected."))
    if by is None:
        raise PermissionDenied(_("An approval needs an approver."))
    if by.pk == claim.employee_id:
        raise PermissionDenied(_("Nobody approves their own claim."))
    level = _current_level(claim)
    role = _role_of(by, claim.company_id)
    if role != Role.ADMIN and (level is None or role != level.approver_role):
        raise PermissionDenied(_("This step waits for another role's approval."))
    return level


@transaction.atomic
def expense_claim_approve(*, claim: ExpenseClaim, by: User, reason: str = "") -> ExpenseClaim:
    """Approve the step the claim waits at (a member with the step's role, or an administrator; never the
    employee). The claim moves to the next required step (its approvers are notified) or, after the last,
    to ``approved`` (the employee is notified). Locks the claim. Publishes ``erp.expense_claim.approved`` when
    the last step is approved."""
    claim = lock_claim(claim.pk)
    _check_approver(claim, by)
    sequence = claim.approval_level
    ExpenseApproval.objects.create(
        company=claim.company,
        claim=claim,
        sequence=sequence,
        approver=by,
        decision=ApprovalDecision.APPROVED,
        reason=(reason or "")[:500],
    )
    following = [lvl for lvl in _required_levels(claim) if lvl.sequence > sequence]
    if following:
        claim.approval_level = following[0].sequence
        claim.save(update_fields=["approval_level", "updated_at"])
        _notify_approvers(claim, following[0])
        return claim
    claim.state = ExpenseClaimState.APPROVED
    claim.approval_level = None
    claim.approved_at = timezone.now()
    claim.save(update_fields=["state", "approval_level", "approved_at", "updated_at"])
    _publish(erp_events.EXPENSE_CLAIM_APPROVED, claim, by=by)
    notification_send(
        recipients=[claim.employee_id],
        company=claim.company,
        title=lambda: gettext("Expense claim %(number)s was approved") % {"number": claim.number},
        link=f"/erp/expenses/{claim.pk}/",
    )
    return claim


@transaction.atomic
def expense_claim_reject(*, claim: ExpenseClaim, by: User, reason: str) -> ExpenseClaim:
    """Reject the claim at its current step, with a reason the employee sees; they may change and resubmit
    it. Locks the claim. Publishes ``erp.expense_claim.rejected``."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why the claim is rejected.")]})
    claim = lock_claim(claim.pk)
    _check_approver(claim, by)
    ExpenseApproval.objects.create(
        company=claim.company,
        claim=claim,
        sequence=claim.approval_level,
        approver=by,
        decision=ApprovalDecision.REJECTED,
        reason=reason[:500],
    )
    claim.state = ExpenseClaimState.REJECTED
    claim.approval_level = None
    claim.rejected_reason = reason[:500]
    claim.save(update_fields=["state", "approval_level", "rejected_reason", "updated_at"])
    _publish(erp_events.EXPENSE_CLAIM_REJECTED, claim, by=by, reason=claim.rejected_reason)
    notification_send(
        recipients=[claim.employee_id],
        company=claim.company,
        title=lambda: gettext("Expense claim %(number)s was rejected") % {"number": claim.number},
        body=reason,
        link=f"/erp/expenses/{claim.pk}/",
        level="warning",
    )
    return claim


@transaction.atomic
def expense_claim_cancel(*, claim: ExpenseClaim, by: User | None = None) -> ExpenseClaim:
    """Withdraw a claim that is not approved yet (its employee only). Locks the claim."""
    claim = lock_claim(claim.pk)
    if by is not None and by.pk != claim.employee_id:
        raise PermissionDenied(_("Only the employee may cancel their claim."))
    if claim.state == ExpenseClaimState.CANCELLED:
        return claim
    if claim.state not in (*EDITABLE_CLAIM_STATES, ExpenseClaimState.SUBMITTED):
        raise ExpenseConflict("claim_not_cancellable", _("An approved claim cannot be cancelled."))
    claim.state = ExpenseClaimState.CANCELLED
    claim.approval_level = None
    claim.save(update_fields=["state", "approval_level", "updated_at"])
    return claim


def _account(company_id: int, code: str, label) -> Account:
    account = Account.objects.filter(company_id=company_id, code=code, is_active=True).first()
    if account is None:
        raise ValidationError(
            {"account": [_("Account %(code)s (%(label)s) is missing.") % {"code": code, "label": label}]}
        )
    return account


def _journal(company_id: int, *codes: str) -> Journal:
    journals = {j.code: j for j in Journal.objects.filter(company_id=company_id, code__in=codes, is_active=True)}
    for code in codes:
        if code in journals:
            return journals[code]
    raise ValidationError({"journal": [_("Install the default journals first.")]})


@transaction.atomic
def expense_claim_post(*, claim: ExpenseClaim, by: User | None = None, date: Date | None = None) -> ExpenseClaim:
    """Post an approved claim (finance): Dr expense accounts (net of VAT, with the lines' cost centre and
    project) and Dr 22210101 input VAT, Cr 2241 其他应付款 for the total, on ``date`` (default today) in journal
    ``GEN``. Idempotent through the entry's ``source_key``. Locks the claim. Publishes
    ``erp.expense_claim.posted`` (and the ledger's ``erp.journal_entry.posted``)."""
    claim = lock_claim(claim.pk)
    if claim.state in (ExpenseClaimState.POSTED, ExpenseClaimState.PAID):
        return claim
    if claim.state != ExpenseClaimState.APPROVED:
        raise ExpenseConflict("claim_not_approved", _("Only an approved claim can be posted."))
    payable = _account(claim.company_id, PAYABLE_CODE, "其他应付款")
    lines = []
    tax = ZERO
    for line in claim.lines.select_related("category").order_by("line_no"):
        lines.append(
            ledger.LineSpec(
                account=line.account_id,
                debit=line.amount - line.tax_amount,
                description=(f"{line.category.name} {line.description}".strip())[:255],
                cost_centre=line.cost_centre_id,
                project=line.project_id,
            )
        )
        tax += line.tax_amount
    if tax:
        lines.append(
            ledger.LineSpec(
                account=_account(claim.company_id, INPUT_VAT_CODE, "进项税额"),
                debit=tax,
                description=str(_("Input VAT")),
            )
        )
    employee_name = claim.employee.get_full_name() or claim.employee.get_username()
    lines.append(
        ledger.LineSpec(account=payable, credit=claim.total_amount, description=f"{employee_name} {claim.number}"[:255])
    )
    entry = ledger.journal_entry_create(
        company=claim.company,
        journal=_journal(claim.company_id, "GEN"),
        date=date or timezone.localdate(),
        lines=lines,
        memo=f"{_('Expense claim')} {claim.number} {claim.title}"[:255],
        reference=claim.number,
        source_key=f"expense-claim:{claim.pk}",
        post=True,
        by=by,
    )
    claim.state = ExpenseClaimState.POSTED
    claim.journal_entry = entry
    claim.save(update_fields=["state", "journal_entry", "updated_at"])
    _publish(erp_events.EXPENSE_CLAIM_POSTED, claim, by=by)
    return claim


@transaction.atomic
def expense_claim_pay(
    *, claim: ExpenseClaim, by: User | None = None, date: Date | None = None, cash_account: Account | None = None
) -> ExpenseClaim:
    """Record the reimbursement of a posted claim: Dr 2241 其他应付款 / Cr ``cash_account`` (default 1002
    银行存款; it must be a cash account), journal ``BNK`` (or ``GEN``). Idempotent through the entry's
    ``source_key``. Locks the claim. Publishes ``erp.expense_claim.paid``."""
    claim = lock_claim(claim.pk)
    if claim.state == ExpenseClaimState.PAID:
        return claim
    if claim.state != ExpenseClaimState.POSTED:
        raise ExpenseConflict("claim_not_posted", _("Post the claim before reimbursing it."))
    if cash_account is None:
        cash_account = _account(claim.company_id, BANK_CODE, "银行存款")
    elif cash_account.company_id != claim.company_id or not cash_account.is_cash or not cash_account.is_active:
        raise ValidationError({"cash_account": [_("Choose an active cash or bank account of the company.")]})
    payable = _account(claim.company_id, PAYABLE_CODE, "其他应付款")
    employee_name = claim.employee.get_full_name() or claim.employee.get_username()
    entry = ledger.journal_entry_create(
        company=claim.company,
        journal=_journal(claim.company_id, "BNK", "GEN"),
        date=date or timezone.localdate(),
        lines=[
            ledger.LineSpec(account=payable, debit=claim.total_amount, description=f"{employee_name} {claim.number}"),
            ledger.LineSpec(account=cash_account, credit=claim.total_amount, description=str(_("Reimbursement"))),
        ],
        memo=f"{_('Reimbursement')} {claim.number}"[:255],
        reference=claim.number,
        source_key=f"expense-claim-paid:{claim.pk}",
        post=True,
        by=by,
    )
    claim.state = ExpenseClaimState.PAID
    claim.payment_entry = entry
    claim.paid_at = timezone.now()
    claim.save(update_fields=["state", "payment_entry", "paid_at", "updated_at"])
    _publish(erp_events.EXPENSE_CLAIM_PAID, claim, by=by)
    return claim


def claim_totals_match_lines(claim: ExpenseClaim) -> bool:
    """Whether the stored totals equal the lines' sums (used by tests and the admin)."""
    sums = claim.lines.aggregate(amount=Sum("amount"), tax=Sum("tax_amount"))
    return (sums["amount"] or ZERO) == claim.total_amount and (sums["tax"] or ZERO) == claim.total_tax
