"""Helpers of the expense, budget and cash-flow tests: a ledger with default categories and members of each
role, valid receipt files, and a claim built through the services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from erp.models import ExpenseCategory, ExpenseClaim
from erp.services import expenses as svc
from erp.tests.finance_support import Ledger, make_ledger
from suite.models import Role
from suite.testing import make_member

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF_BYTES = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def png(name: str = "fapiao.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG_BYTES, content_type="image/png")


def pdf(name: str = "fapiao.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF_BYTES, content_type="application/pdf")


@dataclass
class Office:
    ledger: Ledger
    employee: object
    manager: object
    finance: object
    admin: object

    @property
    def company(self):
        return self.ledger.company

    def category(self, code: str = "travel") -> ExpenseCategory:
        return ExpenseCategory.objects.get(company=self.company, code=code)

    def claim(self, *amounts: str, tax: str = "0", employee=None, receipt: bool = True, **line) -> ExpenseClaim:
        """A draft claim with one line per amount (travel, 2025-03-10), a PNG receipt by default."""
        employee = employee or self.employee
        lines = [
            {
                "date": date(2025, 3, 10),
                "category": self.category(),
                "amount": Decimal(a),
                "tax_amount": Decimal(tax),
                "description": "出差上海",
                **line,
            }
            for a in amounts or ("800.00",)
        ]
        claim = svc.expense_claim_create(
            company=self.company, employee=employee, title="三月差旅", lines=lines, by=employee
        )
        if receipt:
            svc.expense_receipt_add(claim=claim, upload=png(), by=employee)
        return claim

    def approve_all(self, claim: ExpenseClaim) -> ExpenseClaim:
        claim = svc.expense_claim_submit(claim=claim, by=claim.employee)
        by_role = {Role.MANAGER: self.manager, Role.FINANCE: self.finance, Role.ADMIN: self.admin}
        while claim.state == "submitted":
            level = svc._current_level(claim)
            claim = svc.expense_claim_approve(claim=claim, by=by_role[level.approver_role])
        return claim


def make_office(ledger: Ledger | None = None) -> Office:
    ledger = ledger or make_ledger()
    svc.expense_categories_install_defaults(company=ledger.company)
    return Office(
        ledger=ledger,
        employee=make_member(ledger.company, Role.SALES).user,
        manager=make_member(ledger.company, Role.MANAGER).user,
        finance=make_member(ledger.company, Role.FINANCE).user,
        admin=make_member(ledger.company, Role.ADMIN).user,
    )


@pytest.fixture
def office(db, settings, tmp_path) -> Office:
    settings.MEDIA_ROOT = str(tmp_path)
    return make_office()
