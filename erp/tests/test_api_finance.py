"""The finance API: chart, journals, periods, entries with explicit post/reverse actions, reports, integrity;
roles (finance and admin keep the ledger, managers read it, others see nothing); bad input is a 400 and a
conflict with the ledger's state a 409, with nothing written."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from erp.models import EntryState, JournalEntry
from erp.services import finance as svc
from erp.tests.finance_support import make_ledger
from suite.api.throttling import clear_throttles
from suite.exports import XLSX_MEDIA_TYPE
from suite.models import Role
from suite.testing import make_member

pytestmark = pytest.mark.django_db

BASE = "/api/v1/erp/finance"


@pytest.fixture(autouse=True)
def _no_throttle():
    clear_throttles()


@pytest.fixture
def finance(ledger, api_client):
    return api_client(make_member(ledger.company, Role.FINANCE))


@pytest.fixture
def manager(ledger, api_client):
    return api_client(make_member(ledger.company, Role.MANAGER))


@pytest.fixture
def admin(ledger, api_client):
    return api_client(make_member(ledger.company, Role.ADMIN))


def entry_body(ledger, amount="1130.00", **extra):
    return {
        "journal": ledger.journal.pk,
        "date": "2025-01-15",
        "memo": "销售商品",
        "lines": [
            {"account": ledger.account("1002").pk, "debit": amount},
            {"account": ledger.account("6001").pk, "credit": "1000.00"},
            {"account": ledger.account("22210102").pk, "credit": str(Decimal(amount) - 1000)},
        ],
        **extra,
    }


def errors_of(response) -> dict:
    return {error["field"]: error["code"] for error in response.json()["errors"]}


# ---------------------------------------------------------------- chart and journals


def test_chart_install_create_and_search(api_client):
    company_ledger = make_ledger()
    client = api_client(make_member(company_ledger.company, Role.FINANCE))
    response = client.post(f"{BASE}/accounts/install-template/", {"template": "cas"}, format="json")
    assert response.status_code == 200 and response.json() == {"created": 0}  # make_ledger installed it

    bank = company_ledger.account("1002")
    response = client.post(
        f"{BASE}/accounts/",
        {"code": "100201", "name": "工商银行", "name_en": "ICBC", "account_type": "asset", "parent": bank.pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["parent_code"] == "1002"

    response = client.get(f"{BASE}/accounts/", {"search": "银行"})
    assert {row["code"] for row in response.json()["results"]} >= {"1002", "100201"}

    response = client.post(
        f"{BASE}/accounts/", {"code": "100201", "name": "重复", "account_type": "asset"}, format="json"
    )
    assert response.status_code == 400 and "code" in errors_of(response)


def test_used_account_cannot_be_deleted(ledger, finance):
    ledger.sale(date(2025, 1, 3))
    response = finance.delete(f"{BASE}/accounts/{ledger.account('1002').pk}/")
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "account_in_use"


def test_journals_and_fiscal_years(finance, ledger):
    response = finance.post(f"{BASE}/journals/", {"code": "RCV", "name": "收款凭证", "kind": "bank"}, format="json")
    assert response.status_code == 201
    response = finance.post(f"{BASE}/fiscal-years/", {"start_date": "2026-01-01"}, format="json")
    assert response.status_code == 201 and response.json()["name"] == "2026"
    response = finance.post(f"{BASE}/fiscal-years/", {"start_date": "2026-06-01", "name": "x"}, format="json")
    assert response.status_code == 400 and "start_date" in errors_of(response)
    periods = finance.get(f"{BASE}/periods/", {"fiscal_year": ledger.year.pk}).json()
    assert [p["name"] for p in periods["results"]][:2] == ["2025-01", "2025-02"]


# ---------------------------------------------------------------- entries


def test_create_post_reverse_through_the_api(ledger, finance):
    response = finance.post(f"{BASE}/entries/", entry_body(ledger), format="json")
    assert response.status_code == 201, response.json()
    draft = response.json()
    assert draft["state"] == "draft" and draft["number"] is None and len(draft["lines"]) == 3
    assert draft["total_debit"] == draft["total_credit"] == "1130.00"

    response = finance.post(f"{BASE}/entries/{draft['id']}/post/")
    assert response.status_code == 200, response.json()
    posted = response.json()
    assert posted["state"] == "posted" and posted["number"] == 1 and len(posted["entry_hash"]) == 64
    assert posted["display_number"] == "GEN-2025-000001" and posted["posted_by"]["id"]

    response = finance.post(f"{BASE}/entries/{draft['id']}/reverse/", {}, format="json")
    assert response.status_code == 201
    reversal = response.json()
    assert reversal["reversal_of"] == draft["id"] and reversal["number"] == 2
    assert finance.get(f"{BASE}/entries/{draft['id']}/").json()["reversed_by"] == reversal["id"]

    response = finance.post(f"{BASE}/entries/{draft['id']}/reverse/", {}, format="json")
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "entry_reversed"


def test_posted_entries_cannot_be_edited_or_deleted(ledger, finance):
    entry = ledger.sale(date(2025, 1, 5))
    response = finance.patch(f"{BASE}/entries/{entry.pk}/", {"memo": "改"}, format="json")
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "entry_posted"
    assert finance.delete(f"{BASE}/entries/{entry.pk}/").status_code == 409
    entry.refresh_from_db()
    assert entry.memo == "" and entry.state == EntryState.POSTED


def test_state_number_and_hash_are_never_input(ledger, finance):
    body = entry_body(ledger, state="posted", number=99, entry_hash="f" * 64, chain_position=7, company=123)
    response = finance.post(f"{BASE}/entries/", body, format="json")
    assert response.status_code == 201
    created = response.json()
    assert created["state"] == "draft" and created["number"] is None and created["entry_hash"] == ""
    response = finance.patch(f"{BASE}/entries/{created['id']}/", {"state": "posted", "number": 5}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "draft"


def test_draft_update_replaces_lines_and_delete(ledger, finance):
    draft = finance.post(f"{BASE}/entries/", entry_body(ledger), format="json").json()
    lines = [
        {"account": ledger.account("6602").pk, "debit": "10.00", "description": "办公用品"},
        {"account": ledger.account("1001").pk, "credit": "10.00"},
    ]
    response = finance.patch(f"{BASE}/entries/{draft['id']}/", {"lines": lines, "memo": "报销"}, format="json")
    assert response.status_code == 200
    assert [line["account_code"] for line in response.json()["lines"]] == ["6602", "1001"]
    assert finance.delete(f"{BASE}/entries/{draft['id']}/").status_code == 204
    assert not JournalEntry.objects.filter(pk=draft["id"]).exists()


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([{"debit": "-1.00"}, {"credit": "1.00"}], "lines.0.debit"),
        ([{"debit": "1.001"}, {"credit": "1.00"}], "lines.0.debit"),
        ([{"debit": "1.00", "credit": "1.00"}, {"credit": "1.00"}], "lines.0.debit"),
        ([{"debit": "abc"}, {"credit": "1.00"}], "lines.0.debit"),
        ([{"debit": "1.00", "currency": "usd"}, {"credit": "1.00"}], "lines.0.currency"),
        ([{"debit": "1.00", "exchange_rate": "2"}, {"credit": "2.00"}], "lines.0.exchange_rate"),
        ([{"debit": "1" * 30}, {"credit": "1.00"}], "lines.0.debit"),
    ],
)
def test_bad_lines_are_400_with_the_field_and_nothing_written(ledger, finance, lines, field):
    body = entry_body(ledger)
    body["lines"] = [{"account": ledger.account("1002").pk, **line} for line in lines]
    before = JournalEntry.objects.count()
    response = finance.post(f"{BASE}/entries/", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in errors_of(response), response.json()
    assert JournalEntry.objects.count() == before


def test_unbalanced_draft_cannot_be_posted(ledger, finance):
    body = entry_body(ledger)
    body["lines"][0]["debit"] = "1200.00"
    draft = finance.post(f"{BASE}/entries/", body, format="json").json()
    response = finance.post(f"{BASE}/entries/{draft['id']}/post/")
    assert response.status_code == 400 and "lines" in errors_of(response)
    assert JournalEntry.objects.get(pk=draft["id"]).state == EntryState.DRAFT


def test_another_companys_account_or_journal_is_unknown(ledger, finance):
    other = make_ledger()
    body = entry_body(ledger)
    body["lines"][0]["account"] = other.account("1002").pk
    response = finance.post(f"{BASE}/entries/", body, format="json")
    assert response.status_code == 400 and "lines.0.account" in errors_of(response)
    response = finance.post(f"{BASE}/entries/", entry_body(ledger, journal=other.journal.pk), format="json")
    assert response.status_code == 400 and "journal" in errors_of(response)


def test_entry_list_query_count_does_not_grow(ledger, finance, django_assert_max_num_queries):
    for day in range(1, 11):
        ledger.sale(date(2025, 1, day))
    with django_assert_max_num_queries(12):
        response = finance.get(f"{BASE}/entries/", {"page_size": 50})
    assert response.status_code == 200 and len(response.json()["results"]) == 10
    for day in range(11, 31):
        ledger.sale(date(2025, 1, day))
    with django_assert_max_num_queries(12):
        response = finance.get(f"{BASE}/entries/", {"page_size": 50, "state": "posted", "date__gte": "2025-01-05"})
    assert len(response.json()["results"]) == 26


# ---------------------------------------------------------------- roles


def test_manager_reads_but_does_not_write(ledger, manager):
    entry = ledger.sale(date(2025, 1, 5))
    assert manager.get(f"{BASE}/entries/").status_code == 200
    assert manager.get(f"{BASE}/reports/trial-balance/", {"period_from": ledger.period(1).pk}).status_code == 200
    assert manager.post(f"{BASE}/entries/", entry_body(ledger), format="json").status_code == 403
    assert manager.post(f"{BASE}/entries/{entry.pk}/reverse/", {}, format="json").status_code == 403
    assert manager.post(f"{BASE}/periods/{ledger.period(1).pk}/close/").status_code == 403


def test_sales_and_warehouse_see_nothing(ledger, api_client):
    for role in (Role.SALES, Role.WAREHOUSE):
        client = api_client(make_member(ledger.company, role))
        assert client.get(f"{BASE}/entries/").status_code == 403
        assert client.get(f"{BASE}/accounts/").status_code == 403
        assert client.get(f"{BASE}/reports/balance-sheet/", {"period": ledger.period(1).pk}).status_code == 403


def test_close_and_reopen_periods(ledger, finance, admin):
    january = ledger.period(1)
    response = finance.post(f"{BASE}/periods/{january.pk}/close/")
    assert response.status_code == 200 and response.json()["state"] == "closed"
    response = finance.post(f"{BASE}/entries/", entry_body(ledger), format="json")
    assert response.status_code == 400 and "date" in errors_of(response)

    assert finance.post(f"{BASE}/periods/{january.pk}/reopen/", {"reason": "补记"}, format="json").status_code == 403
    response = admin.post(f"{BASE}/periods/{january.pk}/reopen/", {}, format="json")
    assert response.status_code == 400 and "reason" in errors_of(response)
    response = admin.post(f"{BASE}/periods/{january.pk}/reopen/", {"reason": "补记运费"}, format="json")
    assert response.status_code == 200 and response.json()["reopen_reason"] == "补记运费"
    assert response.json()["reopened_by"]["id"]
    response = admin.post(f"{BASE}/periods/{january.pk}/reopen/", {"reason": "again"}, format="json")
    assert response.status_code == 409


# ---------------------------------------------------------------- reports and integrity


def test_reports(ledger, finance):
    ledger.post(date(2025, 1, 2), ("1002", 1000, 0), ("4001", 0, 1000))
    ledger.sale(date(2025, 2, 3), amount="113.00")
    jan, feb = ledger.period(1).pk, ledger.period(2).pk

    tb = finance.get(f"{BASE}/reports/trial-balance/", {"period_from": jan, "period_to": feb}).json()
    assert tb["is_balanced"] and tb["totals"]["period_debit"] == "1113.00"

    gl = finance.get(
        f"{BASE}/reports/general-ledger/", {"account": ledger.account("1002").pk, "period_from": feb}
    ).json()
    assert gl["opening"] == "1000.00" and gl["closing"] == "1113.00" and gl["lines"][0]["balance"] == "1113.00"

    bs = finance.get(f"{BASE}/reports/balance-sheet/", {"period": feb, "compare_period": jan}).json()
    assert bs["is_balanced"] and bs["assets"]["total"] == "1113.00" and bs["assets"]["compare_total"] == "1000.00"

    income = finance.get(f"{BASE}/reports/income-statement/", {"period_from": feb, "compare_from": jan}).json()
    assert income["net_profit"] == "100.00" and income["compare_net_profit"] == "0.00"

    response = finance.get(f"{BASE}/reports/balance-sheet/", {"period": feb, "format": "xlsx"})
    assert response.status_code == 200 and response["Content-Type"] == XLSX_MEDIA_TYPE
    assert response.content[:2] == b"PK"


def test_report_parameters_are_validated(ledger, finance):
    other = make_ledger()
    response = finance.get(f"{BASE}/reports/trial-balance/", {"period_from": other.period(1).pk})
    assert response.status_code == 400 and "period_from" in errors_of(response)
    response = finance.get(f"{BASE}/reports/trial-balance/", {})
    assert response.status_code == 400
    response = finance.get(
        f"{BASE}/reports/trial-balance/", {"period_from": ledger.period(3).pk, "period_to": ledger.period(1).pk}
    )
    assert response.status_code == 400 and "period_to" in errors_of(response)


def test_ledger_integrity_endpoint_names_the_broken_entry(ledger, finance, manager):
    from django.db import connection

    entries = [ledger.sale(date(2025, 1, day)) for day in (1, 2, 3)]
    response = finance.get(f"{BASE}/ledger-integrity/")
    assert response.json()["ok"] and response.json()["checked_entries"] == 3
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            "UPDATE erp_journalline SET credit = credit - 1 WHERE entry_id = %s AND line_no = 2", [entries[1].pk]
        )
        cursor.execute("SET session_replication_role = DEFAULT")
    body = finance.get(f"{BASE}/ledger-integrity/").json()
    assert not body["ok"] and body["first_broken"]["entry_id"] == entries[1].pk
    assert body["first_broken"]["number"] == 2 and body["first_broken"]["journal_code"] == "GEN"
    assert manager.get(f"{BASE}/ledger-integrity/").status_code == 403


def test_entries_export(ledger, finance):
    ledger.sale(date(2025, 1, 2))
    response = finance.get(f"{BASE}/entries/export/", {"format": "csv"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "GEN" in text and len(text.strip().splitlines()) == 2


def test_posting_through_the_api_and_service_share_numbers(ledger, finance):
    ledger.sale(date(2025, 1, 2))
    draft = finance.post(f"{BASE}/entries/", entry_body(ledger), format="json").json()
    assert finance.post(f"{BASE}/entries/{draft['id']}/post/").json()["number"] == 2
    assert svc.ledger_verify(company=ledger.company).ok
