"""The expenses, budgets and cash-flow API: a bad receipt is a 400 on ``file`` and nothing is stored (ERP
acceptance 4), the claim's life through explicit actions, a wrong role's step is refused, list query counts,
the cash-flow report and its XLSX; and the statement pages render and drill down."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from erp.models import ExpenseClaim, ExpenseReceipt
from erp.tests.expense_support import PNG_BYTES
from suite.testing import api_client_for


def _member(office, user):
    return user.memberships.get(company=office.company)


def _create(client, office, amount="800.00"):
    response = client.post(
        "/api/v1/erp/expenses/claims/",
        {
            "title": "三月差旅",
            "lines": [{"date": "2025-03-10", "category": office.category().pk, "amount": amount, "tax_amount": "0.00"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_receipt_upload_refuses_non_images_and_oversize_files_writing_nothing(office, settings, tmp_path):
    client = api_client_for(_member(office, office.employee))
    claim = _create(client, office)
    url = f"/api/v1/erp/expenses/claims/{claim['id']}/receipts/"
    html = SimpleUploadedFile("fapiao.png", b"<html><script>alert(1)</script></html>", content_type="image/png")
    response = client.post(url, {"file": html}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "file"
    settings.ERP_EXPENSE_RECEIPT_MAX_BYTES = 64
    big = SimpleUploadedFile("scan.png", PNG_BYTES + b"\x00" * 100, content_type="image/png")
    response = client.post(url, {"file": big}, format="multipart")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "file"
    assert not ExpenseReceipt.objects.exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    settings.ERP_EXPENSE_RECEIPT_MAX_BYTES = 5 * 1024 * 1024
    ok = client.post(url, {"file": SimpleUploadedFile("a.png", PNG_BYTES)}, format="multipart")
    assert ok.status_code == 201 and ok.json()["mime"] == "image/png"


def test_claim_life_through_the_api(office):
    employee = api_client_for(_member(office, office.employee))
    manager = api_client_for(_member(office, office.manager))
    finance = api_client_for(_member(office, office.finance))
    claim = _create(employee, office)
    base = f"/api/v1/erp/expenses/claims/{claim['id']}/"
    employee.post(base + "receipts/", {"file": SimpleUploadedFile("a.png", PNG_BYTES)}, format="multipart")
    assert employee.post(base + "submit/").json()["state"] == "submitted"
    assert finance.post(base + "approve/", {}, format="json").status_code == 403  # step 1 is the manager's
    assert finance.post(base + "post/", {}, format="json").status_code == 409  # not approved yet
    assert manager.post(base + "approve/", {}, format="json").json()["state"] == "approved"
    assert [c["id"] for c in finance.get("/api/v1/erp/expenses/claims/inbox/").json()["results"]] == [claim["id"]]
    posted = finance.post(base + "post/", {"date": "2025-03-31"}, format="json").json()
    assert posted["state"] == "posted" and posted["journal_entry"]
    paid = finance.post(base + "pay/", {"date": "2025-04-01"}, format="json").json()
    assert paid["state"] == "paid"


def test_reject_needs_a_reason(office):
    employee = api_client_for(_member(office, office.employee))
    manager = api_client_for(_member(office, office.manager))
    claim = office.claim("100.00")
    from erp.services import expenses as svc

    svc.expense_claim_submit(claim=claim, by=office.employee)
    url = f"/api/v1/erp/expenses/claims/{claim.pk}/reject/"
    response = manager.post(url, {}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "reason"
    assert manager.post(url, {"reason": "发票抬头错误"}, format="json").json()["state"] == "rejected"
    assert employee.get(f"/api/v1/erp/expenses/claims/{claim.pk}/").json()["rejected_reason"] == "发票抬头错误"


def test_employees_see_only_their_own_claims(office):
    other = office.claim("100.00", employee=office.manager)
    mine = office.claim("100.00")
    employee = api_client_for(_member(office, office.employee))
    ids = [c["id"] for c in employee.get("/api/v1/erp/expenses/claims/").json()["results"]]
    assert ids == [mine.pk]
    assert employee.get(f"/api/v1/erp/expenses/claims/{other.pk}/").status_code == 404


def test_claim_list_query_count_does_not_grow(office, django_assert_max_num_queries):
    for _ in range(12):
        office.claim("50.00")
    client = api_client_for(_member(office, office.admin))
    with django_assert_max_num_queries(14):
        response = client.get("/api/v1/erp/expenses/claims/", {"page_size": 50})
    assert response.json()["count"] == 12


def test_cash_flow_api_and_xlsx(office):
    ledger = office.ledger
    ledger.sale(date(2025, 3, 3), "1130.00")
    client = api_client_for(_member(office, office.finance))
    response = client.get("/api/v1/erp/reports/cash-flow/", {"period_from": ledger.period(3).pk})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["is_consistent"] and body["net_increase"] == "1130.00"
    xlsx = client.get("/api/v1/erp/reports/cash-flow/", {"period_from": ledger.period(3).pk, "format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    drill = client.get(
        "/api/v1/erp/reports/cash-flow/drilldown/", {"period_from": ledger.period(3).pk, "line": "op_in_sales"}
    )
    assert drill.json()["count"] == 2
    sales = api_client_for(_member(office, office.employee))
    assert sales.get("/api/v1/erp/reports/cash-flow/", {"period_from": ledger.period(3).pk}).status_code == 403


@pytest.mark.parametrize("page", ["trial-balance", "balance-sheet", "income-statement", "cash-flow"])
def test_statement_pages_render_export_and_drill_down(office, client, page, django_assert_max_num_queries):
    ledger = office.ledger
    ledger.sale(date(2025, 3, 3), "1130.00")
    client.force_login(office.finance)
    params = {"period_from": ledger.period(1).pk, "period_to": ledger.period(3).pk, "compare_from": ledger.period(1).pk}
    with django_assert_max_num_queries(25):
        response = client.get(f"/erp/reports/{page}/", params)
    assert response.status_code == 200
    html = response.content.decode()
    assert ("1,000.00" if page == "income-statement" else "1,130.00") in html
    assert "/erp/reports/general-ledger/?account=" in html or "/erp/reports/cash-flow/drilldown/?line=" in html
    assert client.get(f"/erp/reports/{page}/", {**params, "export": "xlsx"}).content[:2] == b"PK"
    assert client.get(f"/erp/reports/{page}/", {**params, "export": "pdf"}).content[:5] == b"%PDF-"
    assert client.get(f"/erp/reports/{page}/", {**params, "print": "1"}).status_code == 200


def test_general_ledger_drilldown_page_lists_the_entries(office, client):
    ledger = office.ledger
    ledger.sale(date(2025, 3, 3), "1130.00")
    client.force_login(office.finance)
    response = client.get(
        "/erp/reports/general-ledger/",
        {"account": ledger.account("1002").pk, "period_from": ledger.period(3).pk},
    )
    assert response.status_code == 200 and "1,130.00" in response.content.decode()


def test_expense_pages(office, client):
    claim = office.claim("100.00")
    client.force_login(office.employee)
    assert client.get("/erp/expenses/").status_code == 200
    assert client.get(f"/erp/expenses/{claim.pk}/").status_code == 200
    response = client.post(f"/erp/expenses/{claim.pk}/submit/")
    assert response.status_code == 302
    assert ExpenseClaim.objects.get(pk=claim.pk).state == "submitted"
    client.force_login(office.manager)
    assert str(claim.number) in client.get("/erp/expenses/").content.decode()


def test_budget_api_report_and_query_count(office, django_assert_max_num_queries):
    ledger = office.ledger
    client = api_client_for(_member(office, office.finance))
    budget = client.post(
        "/api/v1/erp/budgets/budgets/",
        {"name": "2025 费用", "fiscal_year": ledger.year.pk, "owner": office.manager.pk, "thresholds": [50, 100]},
        format="json",
    )
    assert budget.status_code == 201, budget.content
    budget_id = budget.json()["id"]
    for month in range(1, 7):
        line = client.post(
            "/api/v1/erp/budgets/lines/",
            {
                "budget": budget_id,
                "account": ledger.account("6602").pk,
                "period": ledger.period(month).pk,
                "amount": "1000.00",
            },
            format="json",
        )
        assert line.status_code == 201, line.content
    bad = client.post(
        "/api/v1/erp/budgets/lines/",
        {"budget": budget_id, "account": ledger.account("6602").pk, "period": ledger.period(1).pk, "amount": "-5"},
        format="json",
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "amount"
    ledger.post(date(2025, 3, 5), ("6602", "600.00", 0), ("1002", 0, "600.00"))
    with django_assert_max_num_queries(12):
        report = client.get(f"/api/v1/erp/budgets/budgets/{budget_id}/report/").json()
    march = next(r for r in report["rows"] if r["period_id"] == ledger.period(3).pk)
    assert (march["actual"], march["variance"], march["percent_used"]) == ("600.00", "400.00", "60.0")
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/erp/budgets/lines/", {"budget": budget_id}).json()["count"] == 6
