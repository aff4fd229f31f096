"""The finance dashboard (issue #7) on a small known set of books: cash position, AR/AP aging, P&L per month,
budget variance — exact figures, roles, module off, isolation, drill links, constant query counts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from erp.services.budgets import budget_create, budget_line_set
from erp.tests.invoicing_support import make_books
from suite import dashboards
from suite.models import Role
from suite.testing import api_client_for, make_member

D = Decimal
PERIOD = {"date_from": "2025-03-01", "date_to": "2025-04-30"}


@pytest.fixture
def finance_books(db):
    books = make_books()
    ledger = books.ledger
    books.invoice(("Widget", "1", "100.00"), day=date(2025, 3, 1))  # 113.00, due 31 Mar: 30 days overdue
    books.invoice(("Widget", "2", "100.00"), day=date(2025, 4, 20))  # 226.00, due 20 May: current
    ledger.sale(date(2025, 3, 10), "1130.00")  # bank +1130, income 1000
    ledger.post(date(2025, 4, 5), ("6602", "300.00", 0), ("1002", 0, "300.00"))  # expense 300 paid from the bank
    budget = budget_create(company=books.company, name="管理费用预算", fiscal_year=ledger.year)
    budget_line_set(budget=budget, account=ledger.account("6602"), period=ledger.period(4), amount="500.00")
    books.budget = budget
    return books


def _get(membership, **params):
    return api_client_for(membership).get("/api/v1/dashboards/finance/", {**PERIOD, **params})


def _widgets(response) -> dict:
    assert response.status_code == 200, response.content
    return {w["key"]: w for w in response.json()["widgets"]}


def test_finance_figures_are_exact(finance_books, english):
    finance = make_member(finance_books.company, Role.FINANCE)
    widgets = _widgets(_get(finance))
    assert widgets["cash"]["value"] == "830.00"
    assert widgets["cash_accounts"]["rows"] == [["1002", widgets["cash_accounts"]["rows"][0][1], "830.00"]]
    assert widgets["receivables"]["value"] == "339.00"
    assert widgets["overdue"]["value"] == "113.00"
    aging = widgets["aging"]
    assert aging["labels"] == ["0", "1–30", "31–60", "61–90", ">90"]
    assert aging["series"][0]["data"] == ["226.00", "113.00", "0.00", "0.00", "0.00"]
    assert aging["series"][0]["drill_urls"][1].startswith("/erp/invoices/aged/?side=receivable")
    pnl = widgets["pnl"]
    assert pnl["labels"] == ["2025-03", "2025-04"]
    income, expenses, net = (s["data"] for s in pnl["series"])
    assert income == ["1100.00", "200.00"]
    assert expenses == ["0.00", "300.00"]
    assert net == ["1100.00", "-100.00"]
    assert widgets["net_profit"]["value"] == "1000.00"
    assert widgets["budget_variance"]["rows"] == [["管理费用预算", "500.00", "300.00", "200.00", "60.0"]]
    top = widgets["top_receivables"]
    assert top["rows"][0][0] == finance_books.customer.name and top["rows"][0][-1] == "339.00"
    assert "/erp/invoices/?kind=out_invoice" in top["row_urls"][0]


def test_finance_roles_modules_and_isolation(finance_books, other_company, english):
    company = finance_books.company
    assert _get(make_member(company, Role.SALES)).status_code == 404
    assert _get(make_member(company, Role.MANAGER)).status_code == 200
    outsider = make_member(other_company, Role.ADMIN)
    widgets = _widgets(_get(outsider))
    assert widgets["cash"]["value"] == "0.00" and widgets["receivables"]["value"] == "0.00"
    assert widgets["budget_variance"]["rows"] == []
    company.enabled_modules = ["crm", "erp_supply"]
    company.save(update_fields=["enabled_modules"])
    admin = make_member(company, Role.ADMIN)
    assert _get(admin).status_code == 404
    assert "finance" not in [d["key"] for d in api_client_for(admin).get("/api/v1/dashboards/").json()]


def test_finance_page_shows_aging(finance_books, english, client):
    admin = make_member(finance_books.company, Role.ADMIN)
    client.force_login(admin.user)
    page = client.get("/dashboards/finance/", PERIOD)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="chart-table-aging"' in html and 'data-chart="aging"' in html
    assert client.get("/erp/invoices/aged/", {"side": "receivable", "as_of": "2025-04-30"}).status_code == 200


def test_finance_query_count_is_constant(finance_books, english):
    admin = make_member(finance_books.company, Role.ADMIN)
    finance = dashboards.get("finance")

    def run():
        from suite.dashboards.forms import FilterForm
        from suite.policy import Actor

        form = FilterForm(PERIOD, actor=Actor(admin), dashboard=finance)
        assert form.is_valid()
        finance.build(form.filters())

    run()
    with CaptureQueriesContext(connection) as before:
        run()
    for day in (3, 4, 5):
        finance_books.invoice(("Widget", "1", "10.00"), day=date(2025, 4, day))
        finance_books.ledger.sale(date(2025, 3, day), "113.00")
    with CaptureQueriesContext(connection) as after:
        run()
    assert len(after) == len(before)
