"""Writes of the bank: bank accounts, statement import from CSV, reconciliation of statement lines with payments.

Import (``statement_import``): the file is read as UTF-8 (with or without BOM) or GB18030 (what Chinese banks
export); columns are found through a mapping — a preset (``PRESETS``: ``cn_bank`` for 交易日期/摘要/收入金额/
支出金额/余额/对方户名 exports, ``cn_bank_signed`` for one signed 交易金额 column, ``generic`` in English) or an
explicit ``{"date": "...", "amount": "...", ...}``. Each bad row is reported (row number and field errors) and
skipped; the good rows are imported. A line's ``line_hash`` (SHA-256 of bank account, date, amount, counterparty,
reference, description and balance) makes importing the same transactions again a no-op: duplicates are
counted, not written (unique per bank account).

Reconciliation: ``reconcile_suggestions`` ranks unreconciled payments on the account's journal and open invoices
by amount, date window and counterparty name / reference similarity; ``statement_line_reconcile`` links a line
to a payment, ``statement_line_create_payment`` records the payment a line shows (allocated to the given or the
oldest open invoices) and links it, ``statement_line_unreconcile`` undoes the link.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date as Date
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from erp.models import (
    Account,
    BankAccount,
    BankStatement,
    BankStatementLine,
    Invoice,
    Journal,
    JournalKind,
    Partner,
    Payment,
    PaymentType,
    StatementLineState,
)
from erp.services import finance
from erp.services import invoicing as inv
from erp.services.finance import LedgerConflict
from suite.models import Company
from suite.uploads import decode_text

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0.00")
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000

# Mapping keys: date, description, amount (signed) or credit (money in) + debit (money out), balance, partner_name,
# counterparty_account, reference. Values: the column header in the file.
PRESETS: dict[str, dict[str, str]] = {
    "cn_bank": {
        "date": "交易日期",
        "description": "摘要",
        "credit": "收入金额",
        "debit": "支出金额",
        "balance": "余额",
        "partner_name": "对方户名",
        "counterparty_account": "对方账号",
        "reference": "流水号",
    },
    "cn_bank_signed": {
        "date": "交易日期",
        "description": "摘要",
        "amount": "交易金额",
        "balance": "余额",
        "partner_name": "对方户名",
        "counterparty_account": "对方账号",
        "reference": "流水号",
    },
    "generic": {
        "date": "Date",
        "description": "Description",
        "amount": "Amount",
        "balance": "Balance",
        "partner_name": "Counterparty",
        "reference": "Reference",
    },
}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S")
OPTIONAL_COLUMNS = ("description", "balance", "partner_name", "counterparty_account", "reference")


# ---------------------------------------------------------------- bank accounts


@transaction.atomic
def bank_account_create(
    *,
    company: Company,
    name: str,
    account_number: str,
    currency: str = "",
    bank_name: str = "",
    journal: Journal | None = None,
    account: Account | None = None,
    by: User | None = None,
) -> BankAccount:
    """Add a bank account. Without a ``journal`` a bank journal of its own is created (code ``BK<n>``); without
    a ledger ``account`` it posts to 1002 银行存款."""
    errors: dict[str, list] = {}
    account_number = account_number.strip()
    if not account_number:
        errors["account_number"] = [_("Enter the account number.")]
    elif BankAccount.objects.filter(company=company, account_number=account_number).exists():
        errors["account_number"] = [_("This account number is already registered.")]
    if journal is not None:
        if journal.company_id != company.pk or journal.kind not in (JournalKind.BANK, JournalKind.CASH):
            errors["journal"] = [_("Choose a bank or cash journal.")]
        elif BankAccount.objects.filter(journal=journal).exists():
            errors["journal"] = [_("The journal already belongs to a bank account.")]
    account = account or inv.default_account(company, "bank")
    if account is None or account.company_id != company.pk:
        errors["account"] = [_("Choose the ledger account (1002 银行存款 or a sub-account).")]
    if errors:
        raise ValidationError(errors)
    if journal is None:
        number = BankAccount.objects.filter(company=company).count() + 1
        while Journal.objects.filter(company=company, code=f"BK{number}").exists():
            number += 1
        journal = finance.journal_create(
            company=company, code=f"BK{number}", name=f"{name} 银行凭证"[:100], kind=JournalKind.BANK
        )
    return BankAccount.objects.create(
        company=company,
        name=name.strip(),
        bank_name=bank_name.strip(),
        account_number=account_number,
        currency=(currency or company.currency).upper(),
        journal=journal,
        account=account,
    )


# ---------------------------------------------------------------- statement import


def _parse_date(value: str) -> Date | None:
    value = value.strip()
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def _parse_amount(value: str) -> Decimal | None:
    """``"1,234.50"``, ``"¥1234.5"``, ``"-20"``, ``"(20.00)"`` → Decimal; blank → 0; else None."""
    text = value.strip().replace(",", "").replace("¥", "").replace("￥", "").replace(" ", "")
    if not text or text == "-":
        return ZERO
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1]
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")) or abs(amount) > inv.MAX_MONEY:
        return None
    return -amount if negative else amount


def line_hash(
    *,
    bank_account_id: int,
    day: Date,
    amount: Decimal,
    partner_name: str,
    reference: str,
    description: str,
    balance: Decimal | None,
) -> str:
    """SHA-256 identifying one bank transaction of one account (the same row imported twice has the same)."""
    parts = [str(bank_account_id), day.isoformat(), f"{amount:.2f}", partner_name, reference, description]
    parts.append("" if balance is None else f"{balance:.2f}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _mapping_of(preset: str, mapping: dict | None) -> dict[str, str]:
    if mapping:
        clean = {key: value for key, value in mapping.items() if value}
        unknown = set(clean) - {"date", "amount", "credit", "debit", *OPTIONAL_COLUMNS}
        if unknown:
            raise ValidationError({"mapping": [_("Unknown fields: %(f)s.") % {"f": ", ".join(sorted(unknown))}]})
        return clean
    if preset not in PRESETS:
        raise ValidationError({"preset": [_("Choose one of: %(p)s.") % {"p": ", ".join(PRESETS)}]})
    return PRESETS[preset]


def _header_row(rows: list[list[str]], mapping: dict[str, str]) -> int:
    """Chinese bank exports put a title and account details above the header: find the row holding the date
    column."""
    for index, row in enumerate(rows[:30]):
        if mapping["date"] in [cell.strip() for cell in row]:
            return index
    raise ValidationError({"file": [_("No header row with the column %(c)s.") % {"c": mapping["date"]}]})


@transaction.atomic
def statement_import(
    *,
    bank_account: BankAccount,
    data: bytes | str,
    preset: str = "cn_bank",
    mapping: dict | None = None,
    name: str = "",
    file_name: str = "",
    by: User | None = None,
) -> BankStatement:
    """Import a CSV bank statement (module docstring). Returns the statement with ``line_count``,
    ``duplicate_count`` and ``import_errors`` (``[{"row": n, "errors": {field: [message]}}]``, n counting the
    file's lines from 1). A file that cannot be read at all (wrong encoding, no header, too big) is a field
    error and nothing is written."""
    if len(data) > MAX_FILE_BYTES:
        raise ValidationError({"file": [_("The file is larger than 5 MB.")]})
    mapping = _mapping_of(preset, mapping)
    if "date" not in mapping or not ("amount" in mapping or ("credit" in mapping and "debit" in mapping)):
        raise ValidationError({"mapping": [_("Map the date and either the amount or the credit and debit columns.")]})
    rows = list(csv.reader(io.StringIO(decode_text(data))))
    if len(rows) > MAX_ROWS:
        raise ValidationError({"file": [_("At most %(n)d rows per file.") % {"n": MAX_ROWS}]})
    header_index = _header_row(rows, mapping)
    header = [cell.strip() for cell in rows[header_index]]
    missing = [column for column in mapping.values() if column not in header]
    required = {mapping["date"], mapping.get("amount"), mapping.get("credit"), mapping.get("debit")} - {None}
    if required & set(missing):
        raise ValidationError({"mapping": [_("Columns not in the file: %(c)s.") % {"c": ", ".join(missing)}]})
    position = {key: header.index(column) for key, column in mapping.items() if column in header}
    statement = BankStatement.objects.create(
        company_id=bank_account.company_id,
        bank_account=bank_account,
        name=(name or file_name or _("Statement")).strip()[:200],
        file_name=file_name[:255],
        preset="" if mapping is not PRESETS.get(preset) else preset,
    )
    partners = {
        p.name: p for p in Partner.objects.filter(company_id=bank_account.company_id, is_active=True).only("pk", "name")
    }
    errors, new_lines, seen = [], [], set()
    duplicates = 0
    for offset, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        if not any(cell.strip() for cell in row):
            continue

        def cell(key: str, row=row) -> str:
            index = position.get(key)
            return row[index].strip() if index is not None and index < len(row) else ""

        if cell("date").startswith(("合计", "总计", "Total")):
            continue
        row_errors: dict[str, list] = {}
        day = _parse_date(cell("date"))
        if day is None:
            row_errors["date"] = [_("Not a date: %(v)s") % {"v": cell("date") or "—"}]
        if "amount" in position:
            amount = _parse_amount(cell("amount"))
            if amount is None:
                row_errors["amount"] = [_("Not an amount: %(v)s") % {"v": cell("amount")}]
        else:
            credit, debit = _parse_amount(cell("credit")), _parse_amount(cell("debit"))
            if credit is None:
                row_errors["credit"] = [_("Not an amount: %(v)s") % {"v": cell("credit")}]
            if debit is None:
                row_errors["debit"] = [_("Not an amount: %(v)s") % {"v": cell("debit")}]
            amount = None if credit is None or debit is None else abs(credit) - abs(debit)
        if amount is not None and amount == 0 and not row_errors:
            row_errors["amount"] = [_("The row moves no money.")]
        balance = None
        if "balance" in position and cell("balance"):
            balance = _parse_amount(cell("balance"))
            if balance is None:
                row_errors["balance"] = [_("Not an amount: %(v)s") % {"v": cell("balance")}]
        if row_errors:
            errors.append({"row": offset, "errors": {k: [str(m) for m in v] for k, v in row_errors.items()}})
            continue
        limits = (("description", 255), ("partner_name", 200), ("counterparty_account", 50), ("reference", 100))
        texts = {key: cell(key)[:limit] for key, limit in limits}
        digest = line_hash(
            bank_account_id=bank_account.pk,
            day=day,
            amount=amount,
            partner_name=texts["partner_name"],
            reference=texts["reference"],
            description=texts["description"],
            balance=balance,
        )
        if digest in seen:
            duplicates += 1
            continue
        seen.add(digest)
        partner = partners.get(texts["partner_name"])
        new_lines.append(
            BankStatementLine(
                company_id=bank_account.company_id,
                statement=statement,
                bank_account=bank_account,
                date=day,
                amount=amount,
                balance=balance,
                line_hash=digest,
                partner=partner,
                **texts,
            )
        )
    existing = set(
        BankStatementLine.objects.filter(bank_account=bank_account, line_hash__in=seen).values_list(
            "line_hash", flat=True
        )
    )
    fresh = [line for line in new_lines if line.line_hash not in existing]
    duplicates += len(new_lines) - len(fresh)
    BankStatementLine.objects.bulk_create(fresh, ignore_conflicts=True)
    written = BankStatementLine.objects.filter(statement=statement).count()
    statement.line_count = written
    statement.duplicate_count = duplicates + len(fresh) - written
    statement.import_errors = errors
    statement.save(update_fields=["line_count", "duplicate_count", "import_errors", "updated_at"])
    return statement


# ---------------------------------------------------------------- reconciliation


def lock_line(pk: int) -> BankStatementLine:
    return BankStatementLine.objects.select_for_update(of=("self",)).select_related("bank_account").get(pk=pk)


def _payment_amount_signed(payment: Payment) -> Decimal:
    return payment.amount if payment.payment_type == PaymentType.INBOUND else -payment.amount


@transaction.atomic
def statement_line_reconcile(*, line: BankStatementLine, payment: Payment, by: User | None = None) -> BankStatementLine:
    """Match a statement line with a payment of the same bank journal, the same signed amount and not yet
    matched. Locks the line; a second reconciliation of either side is a 409."""
    line = lock_line(line.pk)
    payment = Payment.objects.select_for_update(of=("self",)).get(pk=payment.pk)
    if line.state == StatementLineState.RECONCILED:
        raise LedgerConflict("line_reconciled", _("The statement line is already reconciled."))
    errors: dict[str, list] = {}
    if payment.company_id != line.company_id or payment.journal_id != line.bank_account.journal_id:
        errors["payment"] = [_("Choose a payment of this bank account's journal.")]
    elif _payment_amount_signed(payment) != line.amount:
        errors["payment"] = [
            _("The payment (%(p)s) does not match the line (%(l)s).")
            % {"p": _payment_amount_signed(payment), "l": line.amount}
        ]
    elif BankStatementLine.objects.filter(payment=payment).exists():
        errors["payment"] = [_("The payment is already matched with another statement line.")]
    if errors:
        raise ValidationError(errors)
    line.payment = payment
    line.partner_id = line.partner_id or payment.partner_id
    line.state = StatementLineState.RECONCILED
    try:
        with transaction.atomic():
            line.save(update_fields=["payment", "partner", "state", "updated_at"])
    except IntegrityError:
        raise LedgerConflict("payment_matched", _("The payment is already matched.")) from None
    return line


@transaction.atomic
def statement_line_unreconcile(*, line: BankStatementLine, by: User | None = None) -> BankStatementLine:
    """Undo a match (the payment stays posted and can be matched again). Idempotent."""
    line = lock_line(line.pk)
    if line.state == StatementLineState.OPEN:
        return line
    line.payment = None
    line.state = StatementLineState.OPEN
    line.save(update_fields=["payment", "state", "updated_at"])
    return line


@transaction.atomic
def statement_line_create_payment(
    *,
    line: BankStatementLine,
    partner: Partner | None = None,
    invoices: list[Invoice] | None = None,
    partner_type: str | None = None,
    by: User | None = None,
) -> BankStatementLine:
    """Record the payment a statement line shows — money in from a customer (or out to a supplier) on the bank
    account's journal, dated and referenced like the line — allocate it to ``invoices`` (each up to what is
    open, in order) or to the partner's oldest open documents, and reconcile the line with it."""
    line = lock_line(line.pk)
    if line.state == StatementLineState.RECONCILED:
        raise LedgerConflict("line_reconciled", _("The statement line is already reconciled."))
    partner = partner or line.partner
    if partner is None:
        raise ValidationError({"partner": [_("Choose the partner who paid or was paid.")]})
    amount = abs(line.amount)
    allocations = None
    if invoices:
        allocations, left = [], amount
        for invoice in invoices:
            share = min(left, invoice.amount_residual)
            if share > 0:
                allocations.append({"invoice": invoice, "amount": share})
                left -= share
    payment = inv.payment_create(
        company=line.bank_account.company,
        payment_type=PaymentType.INBOUND if line.amount > 0 else PaymentType.OUTBOUND,
        partner_type=partner_type,
        partner=partner,
        amount=amount,
        journal=line.bank_account.journal,
        date=line.date,
        currency=line.bank_account.currency,
        reference=(line.reference or line.description)[:100],
        memo=line.description[:255],
        allocations=allocations,
        by=by,
    )
    if line.partner_id is None:
        line.partner = partner
        line.save(update_fields=["partner", "updated_at"])
    return statement_line_reconcile(line=line, payment=payment, by=by)
