"""Bank: statement import (presets, mapping, per-row errors, duplicates), suggestions, reconciliation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from erp.models import BankStatementLine, Payment
from erp.selectors.bank import reconcile_suggestions
from erp.services import bank as bank_services
from erp.services import invoicing as inv
from erp.services.finance import LedgerConflict

D = Decimal

CN_EXPORT = """中国工商银行 账户明细
账号,6222020200000000001
交易日期,摘要,收入金额,支出金额,余额,对方户名,对方账号,流水号
2025-04-01,货款 INV/2025/00001,113.00,,10113.00,上海星辰贸易有限公司,3100000001,T001
2025/04/02,办公用品,,"1,130.00",8983.00,苏州精工零件厂,3200000002,T002
2025-04-03,手续费,,abc,8978.00,工商银行,,T003
04-2025-31,利息,5.00,,8983.00,工商银行,,T004
2025-04-05,冲正,,,8983.00,工商银行,,T005
合计,,118.00,1135.00,,,,
"""


@pytest.fixture
def bank_account(books):
    return bank_services.bank_account_create(
        company=books.company, name="工行基本户", bank_name="中国工商银行", account_number="6222020200000000001"
    )


def test_import_a_chinese_bank_export_reports_bad_rows_and_ignores_duplicates(bank_account):
    statement = bank_services.statement_import(
        bank_account=bank_account, data=CN_EXPORT.encode("gb18030"), preset="cn_bank", file_name="icbc.csv"
    )
    assert statement.line_count == 2
    assert [(e["row"], sorted(e["errors"])) for e in statement.import_errors] == [
        (6, ["debit"]),
        (7, ["date"]),
        (8, ["amount"]),
    ]
    lines = list(statement.lines.order_by("date"))
    assert [(line.date, line.amount, line.partner_name) for line in lines] == [
        (date(2025, 4, 1), D("113.00"), "上海星辰贸易有限公司"),
        (date(2025, 4, 2), D("-1130.00"), "苏州精工零件厂"),
    ]
    assert lines[0].partner is not None and lines[0].partner.name == "上海星辰贸易有限公司"
    again = bank_services.statement_import(bank_account=bank_account, data=CN_EXPORT, preset="cn_bank")
    assert (again.line_count, again.duplicate_count) == (0, 2)
    assert BankStatementLine.objects.filter(bank_account=bank_account).count() == 2


def test_import_with_an_explicit_mapping_and_a_signed_amount(bank_account):
    data = "Date,Text,Value,Who\n2025-04-01,Payment,-20.50,Acme\n2025-04-02,Refund,(3.00),Acme\n"
    statement = bank_services.statement_import(
        bank_account=bank_account,
        data=data,
        mapping={"date": "Date", "description": "Text", "amount": "Value", "partner_name": "Who"},
    )
    assert sorted(statement.lines.values_list("amount", flat=True)) == [D("-20.50"), D("-3.00")]


def test_unreadable_file_is_a_field_error_and_writes_nothing(bank_account):
    with pytest.raises(ValidationError) as error:
        bank_services.statement_import(bank_account=bank_account, data="foo,bar\n1,2\n", preset="cn_bank")
    assert "file" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        bank_services.statement_import(bank_account=bank_account, data=b"\xff\xfe\x00garbage\x81", preset="cn_bank")
    assert "file" in error.value.message_dict
    assert not bank_account.statements.exists()


def test_suggestions_rank_the_matching_payment_and_invoice(books, bank_account):
    invoice = books.invoice(("Widget", "1", "100.00"))  # INV/2025/00001, 113.00
    other = books.invoice(("Widget", "1", "100.00"), partner=books.customer)  # same amount, no reference
    statement = bank_services.statement_import(bank_account=bank_account, data=CN_EXPORT, preset="cn_bank")
    line = statement.lines.get(amount=D("113.00"))
    suggestions = reconcile_suggestions(line)
    assert suggestions[0].kind == "invoice" and suggestions[0].object_id == invoice.pk
    assert "reference" in suggestions[0].reasons and "counterparty name" in suggestions[0].reasons
    assert suggestions[0].score > next(s.score for s in suggestions if s.object_id == other.pk)
    payment = inv.payment_create(
        company=books.company,
        payment_type="inbound",
        partner=books.customer,
        amount=D("113.00"),
        journal=bank_account.journal,
        date=date(2025, 4, 1),
        allocations=[{"invoice": invoice}],
    )
    top = reconcile_suggestions(line)[0]
    assert (top.kind, top.object_id) == ("payment", payment.pk)


def test_reconcile_create_payment_and_unreconcile(books, bank_account):
    invoice = books.invoice(("Widget", "1", "100.00"))
    statement = bank_services.statement_import(bank_account=bank_account, data=CN_EXPORT, preset="cn_bank")
    line = statement.lines.get(amount=D("113.00"))
    line = bank_services.statement_line_create_payment(line=line, invoices=[invoice])
    invoice.refresh_from_db()
    assert line.state == "reconciled" and invoice.payment_state == "paid"
    payment = line.payment
    assert payment.journal_id == bank_account.journal_id and payment.date == date(2025, 4, 1)
    with pytest.raises(LedgerConflict):
        bank_services.statement_line_reconcile(line=line, payment=payment)
    line = bank_services.statement_line_unreconcile(line=line)
    assert line.state == "open" and Payment.objects.filter(pk=payment.pk).exists()
    line = bank_services.statement_line_reconcile(line=line, payment=payment)
    assert line.payment_id == payment.pk


def test_reconcile_refuses_a_payment_of_another_amount(books, bank_account):
    books.invoice(("Widget", "1", "100.00"))
    payment = inv.payment_create(
        company=books.company,
        payment_type="inbound",
        partner=books.customer,
        amount=D("50.00"),
        journal=bank_account.journal,
        date=date(2025, 4, 1),
    )
    statement = bank_services.statement_import(bank_account=bank_account, data=CN_EXPORT, preset="cn_bank")
    with pytest.raises(ValidationError) as error:
        bank_services.statement_line_reconcile(line=statement.lines.get(amount=D("113.00")), payment=payment)
    assert "payment" in error.value.message_dict
