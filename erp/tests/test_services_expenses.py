"""Expense claims: receipts checked by content and size (ERP acceptance 4), the approval chain by amount,
rejection, posting and reimbursement in the ledger."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from erp.models import ExpenseApproval, ExpenseClaim, ExpenseReceipt, JournalLine
from erp.services import expenses as svc
from erp.tests.expense_support import png
from erp.tests.finance_support import balances_equal_lines, posted_totals
from suite.models import Notification


def _stored_files(tmp_root) -> list:
    return [p for p in tmp_root.rglob("*") if p.is_file()]


# ---------------------------------------------------------------- acceptance 4: bad receipts, nothing written


def test_receipt_that_is_not_an_image_or_pdf_is_refused_and_nothing_is_written(office, settings, tmp_path):
    claim = office.claim("100.00", receipt=False)
    exe = SimpleUploadedFile("fapiao.pdf", b"MZ\x90\x00" + b"\x00" * 200, content_type="application/pdf")
    with pytest.raises(ValidationError) as error:
        svc.expense_receipt_add(claim=claim, upload=exe, by=office.employee)
    assert [e.code for e in error.value.error_dict["file"]] == ["content"]
    assert not ExpenseReceipt.objects.filter(claim=claim).exists()
    assert _stored_files(tmp_path) == []


def test_receipt_of_an_allowed_office_type_is_still_refused(office, tmp_path):
    claim = office.claim("100.00", receipt=False)
    csv = SimpleUploadedFile("fapiao.csv", "日期,金额\n2025-03-10,100\n".encode(), content_type="text/csv")
    with pytest.raises(ValidationError) as error:
        svc.expense_receipt_add(claim=claim, upload=csv, by=office.employee)
    assert [e.code for e in error.value.error_dict["file"]] == ["kind"]
    assert not ExpenseReceipt.objects.exists()
    assert _stored_files(tmp_path) == []


def test_receipt_too_large_is_refused_and_nothing_is_written(office, settings, tmp_path):
    settings.ERP_EXPENSE_RECEIPT_MAX_BYTES = 1024
    claim = office.claim("100.00", receipt=False)
    big = SimpleUploadedFile("scan.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 2000, content_type="image/png")
    with pytest.raises(ValidationError) as error:
        svc.expense_receipt_add(claim=claim, upload=big, by=office.employee)
    assert [e.code for e in error.value.error_dict["file"]] == ["too_large"]
    assert not ExpenseReceipt.objects.exists()
    assert _stored_files(tmp_path) == []


def test_valid_png_and_pdf_receipts_are_stored_with_the_checked_type(office, tmp_path):
    claim = office.claim("100.00", receipt=False)
    from erp.tests.expense_support import pdf

    first = svc.expense_receipt_add(claim=claim, upload=png("出租车.png"), by=office.employee)
    second = svc.expense_receipt_add(claim=claim, upload=pdf(), by=office.employee)
    assert (first.mime, first.original_name) == ("image/png", "出租车.png")
    assert second.mime == "application/pdf"
    assert len(_stored_files(tmp_path)) == 2


def test_bad_lines_write_nothing(office):
    with pytest.raises(ValidationError) as error:
        svc.expense_claim_create(
            company=office.company,
            employee=office.employee,
            title="坏的",
            lines=[
                {"date": date(2025, 3, 1), "category": office.category(), "amount": Decimal("-5")},
                {"date": date(2025, 3, 1), "category": office.category(), "amount": "10", "tax_amount": "10"},
            ],
        )
    assert set(error.value.message_dict) == {"lines.0.amount", "lines.1.tax_amount"}
    assert not ExpenseClaim.objects.exists()


# ---------------------------------------------------------------- approval chain by amount


@pytest.mark.parametrize(
    ("amount", "steps"),
    [("800.00", ["manager"]), ("5000.00", ["manager", "finance"]), ("20000.00", ["manager", "finance", "admin"])],
)
def test_approval_chain_depends_on_the_amount(office, amount, steps):
    claim = office.approve_all(office.claim(amount))
    assert claim.state == "approved"
    approvals = ExpenseApproval.objects.filter(claim=claim).select_related("approver").order_by("id")
    roles = [a.approver.memberships.get(company=office.company).role for a in approvals]
    assert roles == steps


def test_wrong_role_and_own_claim_cannot_approve(office):
    claim = svc.expense_claim_submit(claim=office.claim("5000.00"), by=office.employee)
    with pytest.raises(PermissionDenied):
        svc.expense_claim_approve(claim=claim, by=office.finance)  # step 1 is the manager's
    with pytest.raises(PermissionDenied):
        svc.expense_claim_approve(claim=claim, by=office.employee)
    mine = office.claim("100.00", employee=office.manager)
    mine = svc.expense_claim_submit(claim=mine, by=office.manager)
    with pytest.raises(PermissionDenied):
        svc.expense_claim_approve(claim=mine, by=office.manager)


def test_approvers_are_notified_and_a_claim_needs_a_receipt(office):
    with pytest.raises(ValidationError) as error:
        svc.expense_claim_submit(claim=office.claim("100.00", receipt=False), by=office.employee)
    assert "receipts" in error.value.message_dict
    svc.expense_claim_submit(claim=office.claim("100.00"), by=office.employee)
    assert Notification.objects.filter(recipient=office.manager, company=office.company).count() == 1


def test_reject_needs_a_reason_and_the_employee_can_fix_and_resubmit(office):
    claim = svc.expense_claim_submit(claim=office.claim("800.00"), by=office.employee)
    with pytest.raises(ValidationError):
        svc.expense_claim_reject(claim=claim, by=office.manager, reason=" ")
    claim = svc.expense_claim_reject(claim=claim, by=office.manager, reason="缺少行程单")
    assert (claim.state, claim.rejected_reason) == ("rejected", "缺少行程单")
    claim = svc.expense_claim_update(
        claim=claim,
        by=office.employee,
        lines=[{"date": date(2025, 3, 11), "category": office.category("transport"), "amount": "120.50"}],
    )
    assert claim.total_amount == Decimal("120.50")
    claim = svc.expense_claim_submit(claim=claim, by=office.employee)
    assert (claim.state, claim.rejected_reason, claim.approval_level) == ("submitted", "", 1)


# ---------------------------------------------------------------- posting and reimbursement


def test_post_and_pay_write_balanced_entries_to_expense_vat_payable_and_bank(office):
    ledger = office.ledger
    from erp.services import finance as fin

    centre = fin.dimension_create(company=office.company, kind="cost_centre", code="SALES", name="销售部")
    claim = office.claim("1060.00", tax="60.00", cost_centre=centre)
    claim = office.approve_all(claim)
    claim = svc.expense_claim_post(claim=claim, by=office.finance, date=date(2025, 3, 31))
    assert claim.state == "posted"
    lines = {
        (ln.account.code, ln.debit, ln.credit, ln.cost_centre_id)
        for ln in JournalLine.objects.filter(entry=claim.journal_entry).select_related("account")
    }
    assert lines == {
        ("6602", Decimal("1000.00"), Decimal("0.00"), centre.pk),
        ("22210101", Decimal("60.00"), Decimal("0.00"), None),
        ("2241", Decimal("0.00"), Decimal("1060.00"), None),
    }
    again = svc.expense_claim_post(claim=claim, by=office.finance)
    assert again.journal_entry_id == claim.journal_entry_id
    claim = svc.expense_claim_pay(claim=claim, by=office.finance, date=date(2025, 4, 2))
    pay = {(ln.account.code, ln.debit, ln.credit) for ln in claim.payment_entry.lines.select_related("account")}
    assert pay == {("2241", Decimal("1060.00"), Decimal("0.00")), ("1002", Decimal("0.00"), Decimal("1060.00"))}
    assert claim.state == "paid"
    debit, credit = posted_totals(ledger.company)
    assert debit == credit
    assert balances_equal_lines(ledger.company) == []


def test_cannot_post_before_approval_or_pay_before_posting(office):
    claim = office.claim("100.00")
    with pytest.raises(svc.ExpenseConflict):
        svc.expense_claim_post(claim=claim, by=office.finance)
    claim = office.approve_all(claim)
    with pytest.raises(svc.ExpenseConflict):
        svc.expense_claim_pay(claim=claim, by=office.finance)
