"""Import, export and merge pages, and the import API: upload → mapping → preview → start → progress (htmx)
→ report; exports honouring filters and scope (salesperson vs manager); the merge screen's POST; the API."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from crm.models import Account, ImportJob, ImportStatus, Opportunity
from crm.services.activities import activity_create
from crm.services.imports import import_job_run
from crm.services.opportunities import opportunity_create
from crm.tests.factories import AccountFactory, ContactFactory
from suite.models import Module, Role

pytestmark = pytest.mark.django_db

CSV_TEXT = "公司名称,手机,邮箱,城市\n甲公司,13800000001,a@example.com,上海\n乙公司,123,,上海\n"


@pytest.fixture(autouse=True)
def crm_enabled(company, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    company.enabled_modules = [Module.CRM]
    company.save()


@pytest.fixture
def manager(company, member, team):
    return member(company, Role.MANAGER, teams=[team], username="lisi")


def browser(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    client.cookies["django_language"] = "en"
    return client


def upload(text: str = CSV_TEXT, name: str = "customers.csv", encoding: str = "utf-8"):
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def test_upload_mapping_preview_start_progress_and_report(company, manager):
    client = browser(manager)

    response = client.post(reverse("crm:import-list"), {"target": "account", "file": upload()})
    job = ImportJob.objects.get(company=company)
    assert response.status_code == 302 and response["Location"] == reverse("crm:import-mapping", args=[job.pk])

    page = client.get(reverse("crm:import-mapping", args=[job.pk])).content.decode()
    assert '<option value="name" selected>' in page and '<option value="phone" selected>' in page
    assert "Enter a valid phone number" in page  # the preview validates every cell

    mapping = {f"column-{i}": field for i, field in enumerate(job.mapping)}
    response = client.post(
        reverse("crm:import-mapping", args=[job.pk]), {**mapping, "duplicate_policy": "skip", "action": "start"}
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED

    import_job_run(job_id=job.pk)  # what the Celery task does
    partial = client.get(reverse("crm:import-detail", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert '<progress max="100" value="100"' in partial and "hx-trigger" not in partial  # polling stops when done

    report = client.get(reverse("crm:import-report", args=[job.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == ["row", "column", "kind", "message"]
    assert rows[1][:3] == ["3", "手机", "Error"]


def test_progress_partial_polls_while_running(company, manager):
    client = browser(manager)
    client.post(reverse("crm:import-list"), {"target": "account", "file": upload()})
    job = ImportJob.objects.get(company=company)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, rows_done=1)

    partial = client.get(reverse("crm:import-detail", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()

    assert 'hx-trigger="every 2s"' in partial and 'value="50"' in partial


def test_missing_name_column_is_shown_on_the_mapping_form(company, manager):
    client = browser(manager)
    client.post(reverse("crm:import-list"), {"target": "account", "file": upload("手机\n13800000001\n")})
    job = ImportJob.objects.get(company=company)

    page = client.post(
        reverse("crm:import-mapping", args=[job.pk]), {"column-0": "phone", "action": "start"}
    ).content.decode()

    assert "Map a column to the name: it is required." in page
    job.refresh_from_db()
    assert job.status == ImportStatus.DRAFT


def test_a_renamed_file_is_refused_on_the_upload_form(company, manager):
    page = browser(manager).post(
        reverse("crm:import-list"),
        {"target": "account", "file": SimpleUploadedFile("customers.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)},
    )
    assert page.status_code == 200 and "does not match its name" in page.content.decode()
    assert not ImportJob.objects.exists()


def test_a_salesperson_may_not_import(company, sales):
    assert browser(sales).get(reverse("crm:import-list")).status_code == 403


def test_export_scope_salesperson_own_records_manager_team(company, member, team, sales, manager):
    other_sales = member(company, Role.SALES, username="wangwu")  # not in the team
    AccountFactory(company=company, by=sales.user, name="我的客户", city="上海")
    AccountFactory(company=company, by=sales.user, name="我的北京客户", city="北京")
    AccountFactory(company=company, by=other_sales.user, name="别人的客户", city="上海")

    mine = browser(sales).get(reverse("crm:account-list"), {"export": "csv", "city": "上海"})
    team_view = browser(manager).get(reverse("crm:account-list"), {"export": "csv"})

    def names(response):
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
        return sorted(row["name"] for row in rows)

    assert names(mine) == ["我的客户"]  # own records, and the city filter of the list
    assert names(team_view) == ["我的北京客户", "我的客户"]  # the manager's team, not the other salesperson


def test_export_xlsx_of_opportunities_and_activities(company, sales):
    account = AccountFactory(company=company, by=sales.user, name="商机客户")
    opportunity_create(company=company, by=sales.user, name="大单", account=account, amount="1000.00")
    activity_create(company=company, by=sales.user, kind="task", subject="回访", account=account)
    client = browser(sales)

    response = client.get(reverse("crm:opportunity-list"), {"export": "xlsx", "status": "all"})
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][1] == "大单" and Opportunity.objects.count() == 1

    activities = client.get(reverse("crm:activity-export"), {"export": "csv"})
    assert "回访" in b"".join(activities.streaming_content).decode("utf-8-sig")


def test_ticket_export_is_refused_to_a_salesperson(company, sales):
    assert browser(sales).get(reverse("crm:ticket-list"), {"export": "csv"}).status_code == 403


def test_merge_screen_compares_and_merges_with_picked_values(company, manager):
    keep = AccountFactory(company=company, by=manager.user, name="华为", phone="13800000001", city="深圳")
    drop = AccountFactory(
        company=company, by=manager.user, name="华为技术有限公司", phone="13800000001", email="hw@example.com"
    )
    ContactFactory(company=company, by=manager.user, name="联系人甲", account=drop)
    client = browser(manager)

    listing = client.get(reverse("crm:customer-merge", args=["account", keep.pk])).content.decode()
    assert f"?with={drop.pk}" in listing
    compare = client.get(reverse("crm:customer-merge", args=["account", keep.pk]), {"with": drop.pk}).content.decode()
    assert 'name="pick-name"' in compare and 'name="pick-phone"' not in compare  # equal values need no choice

    response = client.post(
        reverse("crm:customer-merge", args=["account", keep.pk]),
        {"survivor": keep.pk, "other": drop.pk, "pick-name": "right"},
    )

    assert response.status_code == 302 and response["Location"] == reverse("crm:account-detail", args=[keep.pk])
    keep.refresh_from_db()
    drop.refresh_from_db()
    assert keep.name == "华为技术有限公司" and keep.email == "hw@example.com"
    assert drop.merged_into_id == keep.pk
    assert keep.contacts.get().name == "联系人甲"


def test_merge_screen_is_refused_to_a_salesperson(company, sales):
    account = AccountFactory(company=company, by=sales.user, name="客户")
    assert browser(sales).get(reverse("crm:customer-merge", args=["account", account.pk])).status_code == 403


# ---------------------------------------------------------------- API


def test_api_create_status_and_errors(company, manager, api_client):
    client = api_client(manager)

    created = client.post(
        "/api/v1/crm/imports/", {"file": upload(), "target": "account", "duplicate_policy": "skip"}, format="multipart"
    )
    assert created.status_code == 201, created.content
    job_id = created.json()["id"]
    assert created.json()["status"] == "queued" and created.json()["mapping"] == ["name", "phone", "email", "city"]

    import_job_run(job_id=job_id)
    status = client.get(f"/api/v1/crm/imports/{job_id}/").json()
    errors = client.get(f"/api/v1/crm/imports/{job_id}/errors/").json()

    assert (status["status"], status["created_count"], status["error_count"], status["percent"]) == ("done", 1, 1, 100)
    assert errors["results"][0]["row_number"] == 3 and errors["results"][0]["column"] == "手机"
    assert Account.objects.filter(company=company).count() == 1


def test_api_bad_input_is_a_400_with_field_messages(company, manager, api_client):
    client = api_client(manager)

    no_name = client.post(
        "/api/v1/crm/imports/",
        {"file": upload("手机\n13800000001\n"), "target": "account", "mapping": '["phone"]'},
        format="multipart",
    )
    bad_encoding = client.post(
        "/api/v1/crm/imports/",
        {"file": SimpleUploadedFile("a.csv", b"name\n" + b"a\n" * 5000 + b"\xff\xfe\xff\n"), "target": "account"},
        format="multipart",
    )

    assert no_name.status_code == 400 and "mapping" in str(no_name.json())
    assert bad_encoding.status_code == 400 and "GB18030" in str(bad_encoding.json())


def test_api_import_is_refused_to_a_salesperson(company, sales, api_client):
    response = api_client(sales).post(
        "/api/v1/crm/imports/", {"file": upload(), "target": "account"}, format="multipart"
    )
    assert response.status_code == 403
