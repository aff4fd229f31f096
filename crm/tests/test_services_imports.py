"""Imports of accounts, contacts and leads from CSV/XLSX: encodings, mapping guess, per-row validation and
report, dedupe policies (against the CRM and within the file), chunked runs that resume, and the audit trail."""

from __future__ import annotations

import io

import pghistory.models
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from openpyxl import Workbook

from crm.models import (
    Account,
    Contact,
    DuplicatePolicy,
    ImportRowIssue,
    ImportStatus,
    Lead,
)
from crm.selectors import DuplicateFacts, customer_duplicates_find, duplicates_find_many
from crm.services.imports import (
    import_job_create,
    import_job_resume,
    import_job_run,
    import_job_start,
    import_preview,
    import_report_lines,
    mapping_guess,
)
from crm.tests.factories import AccountFactory, ContactFactory
from suite.models import Role

pytestmark = pytest.mark.django_db

HEADER = "公司名称,手机,邮箱,省份,城市,行业\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def manager(company, member, team):
    return member(company, Role.MANAGER, teams=[team], username="lisi")


def csv_upload(text: str, *, encoding: str = "utf-8", name: str = "customers.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def xlsx_upload(rows: list[list], name: str = "customers.xlsx") -> SimpleUploadedFile:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return SimpleUploadedFile(name, buffer.getvalue())


def run_import(company, user, upload, *, target="account", policy=DuplicatePolicy.SKIP, mapping=None, chunk=1000):
    job = import_job_create(company=company, by=user, target=target, upload=upload)
    job = import_job_start(job=job, by=user, mapping=mapping or job.mapping, duplicate_policy=policy)
    return import_job_run(job_id=job.pk, chunk_size=chunk)


def issues(job) -> list[tuple[int, str, str, str]]:
    return list(ImportRowIssue.objects.filter(job=job).values_list("row_number", "column", "kind", "message"))


def test_mapping_is_guessed_from_chinese_and_english_headers():
    assert mapping_guess("account", ["公司名称", "手机", "邮箱", "省份", "城市", "备注列"]) == [
        "name",
        "phone",
        "email",
        "province",
        "city",
        "",
    ]
    assert mapping_guess("contact", ["Name", "Mobile", "E-mail", "City", "Job title"]) == [
        "name",
        "phone",
        "email",
        "city",
        "title",
    ]
    assert mapping_guess("lead", ["姓名", "公司名称", "手机号码*"]) == ["name", "company_name", "phone"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_utf8_bom_and_gb18030_imports_chinese_names(company, manager, encoding):
    text = HEADER + "杭州张伟贸易有限公司,13812345678,ZW@Example.com,浙江省,杭州,制造业\n"

    job = run_import(company, manager.user, csv_upload(text, encoding=encoding))

    assert job.status == ImportStatus.DONE
    assert (job.rows_total, job.rows_done, job.created_count, job.error_count) == (1, 1, 1, 0)
    account = Account.objects.get(company=company)
    assert account.name == "杭州张伟贸易有限公司"
    assert account.phone == "+8613812345678"
    assert account.email == "zw@example.com"
    assert account.industry == "manufacturing"
    assert account.source == "import"
    assert account.owner == manager.user
    assert "zhangwei" not in account.search_text or account.search_text  # the search key is built
    assert "hzzwmyyxgs" in account.search_text


def test_xlsx_imports_numbers_as_phones(company, manager):
    upload = xlsx_upload([["姓名", "手机", "城市", "性别"], ["王芳", 13912345678, "苏州", "女"]])

    job = run_import(company, manager.user, upload, target="contact")

    contact = Contact.objects.get(company=company)
    assert job.created_count == 1
    assert (contact.name, contact.phone, contact.gender) == ("王芳", "+8613912345678", "female")


def test_a_file_in_neither_utf8_nor_gb18030_is_refused(company, manager):
    # The first 8 KB are fine (the upload check passes); the bad bytes come later in the file.
    raw = HEADER.encode() + "好公司,13812345678,,,,\n".encode() * 400 + b"\xff\xfe\xff bad bytes,1,2,3,4,5\n"
    with pytest.raises(ValidationError) as error:
        import_job_create(company=company, by=manager.user, target="account", upload=SimpleUploadedFile("a.csv", raw))
    assert "neither UTF-8 nor GB18030" in str(error.value)


def test_a_program_renamed_to_csv_is_refused(company, manager):
    upload = SimpleUploadedFile("customers.csv", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" * 20)
    with pytest.raises(ValidationError) as error:
        import_job_create(company=company, by=manager.user, target="account", upload=upload)
    assert "file" in error.value.message_dict


def test_a_pdf_is_not_a_table(company, manager):
    upload = SimpleUploadedFile("customers.pdf", b"%PDF-1.4\n%...")
    with pytest.raises(ValidationError) as error:
        import_job_create(company=company, by=manager.user, target="account", upload=upload)
    assert error.value.message_dict["file"] == ["Upload a CSV or an Excel (.xlsx) file."]


def test_missing_required_column_is_refused_at_start(company, manager):
    job = import_job_create(
        company=company, by=manager.user, target="account", upload=csv_upload("手机,城市\n13812345678,上海\n")
    )
    with pytest.raises(ValidationError) as error:
        import_job_start(job=job, by=manager.user, mapping=job.mapping)
    assert error.value.message_dict["mapping"] == ["Map a column to the name: it is required."]
    job.refresh_from_db()
    assert job.status == ImportStatus.DRAFT


def test_bad_rows_are_reported_per_cell_and_never_abort_the_others(company, manager):
    text = (
        HEADER
        + "好公司,13812345678,good@example.com,江苏,南京,制造业\n"
        + "坏电话公司,12345,x@example.com,江苏,南京,制造业\n"
        + ",13912345678,noname@example.com,江苏,南京,\n"
        + "坏邮箱公司,,not-an-email,江苏,南京,不知道\n"
        + "另一家好公司,13712345678,,江苏,苏州,\n"
    )

    job = run_import(company, manager.user, csv_upload(text))

    assert (job.status, job.rows_done, job.created_count, job.error_count) == (ImportStatus.DONE, 5, 2, 3)
    assert set(Account.objects.filter(company=company).values_list("name", flat=True)) == {"好公司", "另一家好公司"}
    report = issues(job)
    assert report[0][:3] == (3, "手机", "error") and "valid phone number" in report[0][3]
    assert report[1] == (4, "公司名称", "error", "The name is required.")
    bad_email = [row for row in report if row[0] == 5]
    assert {row[1] for row in bad_email} == {"邮箱", "行业"}
    lines = list(import_report_lines(job))
    assert lines[0] == ["row", "column", "kind", "message"]
    assert lines[1][:3] == ["3", "手机", "Error"]


def test_duplicates_within_the_file_and_against_the_crm_are_skipped(company, manager):
    existing = AccountFactory(company=company, by=manager.user, name="老客户", phone="13800000001", city="上海")
    text = (
        HEADER
        + "新客户甲,13800000002,a@example.com,,上海,\n"
        + "老客户的新名字,13800000001,,,北京,\n"  # same phone as the existing account
        + "新客户乙,,A@example.com,,广州,\n"  # same email as row 2 of this file
        + "新客户甲,,,,上海市,\n"  # same name and city as row 2
    )

    job = run_import(company, manager.user, csv_upload(text))

    assert (job.created_count, job.skipped_count, job.error_count) == (1, 3, 0)
    report = issues(job)
    assert report[0][:3] == (3, "手机", "skipped")
    assert f"(#{existing.pk})" in report[0][3] and "phone" in report[0][3]
    assert report[1] == (4, "邮箱", "skipped", "Skipped: the same email as row 2 of this file.")
    assert report[2] == (5, "公司名称", "skipped", "Skipped: the same name and city as row 2 of this file.")


def test_duplicates_across_chunks_are_found_in_the_crm(company, manager):
    text = HEADER + "甲公司,13800000002,,,上海,\n" + "乙公司,13800000002,,,上海,\n"

    job = run_import(company, manager.user, csv_upload(text), chunk=1)

    assert (job.created_count, job.skipped_count) == (1, 1)
    assert "the existing record 甲公司" in issues(job)[0][3]


def test_update_policy_updates_the_existing_record(company, manager):
    existing = AccountFactory(company=company, by=manager.user, name="老客户", phone="13800000001", city="上海")
    text = HEADER + "老客户,,boss@example.com,上海,上海,制造业\n"

    job = run_import(company, manager.user, csv_upload(text), policy=DuplicatePolicy.UPDATE)

    existing.refresh_from_db()
    assert (job.created_count, job.updated_count) == (0, 1)
    assert (existing.email, existing.phone, existing.province) == ("boss@example.com", "+8613800000001", "上海")
    assert "boss@example.com" in existing.search_text


def test_update_policy_never_touches_a_record_outside_the_importers_scope(company, member, manager):
    stranger = member(company, Role.SALES, username="outsider")  # not in the manager's team
    theirs = AccountFactory(company=company, by=stranger.user, name="别人的客户", phone="13800000001")
    text = HEADER + "别人的客户,13800000001,hijack@example.com,,,\n"

    job = run_import(company, manager.user, csv_upload(text), policy=DuplicatePolicy.UPDATE)

    theirs.refresh_from_db()
    assert theirs.email == "" and job.updated_count == 0 and job.skipped_count == 1
    assert "you may not change" in issues(job)[0][3]


def test_create_anyway_policy_creates_duplicates(company, manager):
    AccountFactory(company=company, by=manager.user, name="老客户", phone="13800000001", city="上海")
    text = HEADER + "老客户,13800000001,,,上海,\n" + "老客户,13800000001,,,上海,\n"

    job = run_import(company, manager.user, csv_upload(text), policy=DuplicatePolicy.CREATE)

    assert job.created_count == 2
    assert Account.objects.filter(company=company, phone="+8613800000001").count() == 3


def test_leads_import_scores_and_dedupes_open_leads(company, manager):
    text = "姓名,公司名称,手机号码,来源\n张三,三一机械,13800000003,展会\n张三,三一机械,13800000003,Trade show\n"

    job = run_import(company, manager.user, csv_upload(text), target="lead")

    lead = Lead.objects.get(company=company)
    assert (job.created_count, job.skipped_count) == (1, 1)
    assert (lead.name, lead.company_name, lead.phone, lead.owner) == (
        "张三",
        "三一机械",
        "+8613800000003",
        manager.user,
    )


def test_a_stopped_job_resumes_after_its_last_whole_chunk_without_doubling(company, manager):
    rows = "".join(f"客户{i:03d},138000{i:05d},,,上海,\n" for i in range(25))
    job = import_job_create(company=company, by=manager.user, target="account", upload=csv_upload(HEADER + rows))
    job = import_job_start(job=job, by=manager.user, mapping=job.mapping)

    job = import_job_run(job_id=job.pk, chunk_size=10, stop_after_chunks=1)  # the worker "dies" here
    assert (job.status, job.rows_done, Account.objects.filter(company=company).count()) == (
        ImportStatus.RUNNING,
        10,
        10,
    )

    job = import_job_run(job_id=job.pk, chunk_size=10)  # re-delivered task, or import_job_resume
    assert (job.status, job.rows_done, job.created_count) == (ImportStatus.DONE, 25, 25)
    assert Account.objects.filter(company=company).count() == 25

    again = import_job_run(job_id=job.pk, chunk_size=10)  # a duplicate delivery changes nothing
    assert again.created_count == 25 and Account.objects.filter(company=company).count() == 25


def test_a_failed_job_can_be_resumed(company, manager):
    job = import_job_create(company=company, by=manager.user, target="account", upload=csv_upload(HEADER + "甲,,,,,\n"))
    job = import_job_start(job=job, by=manager.user, mapping=job.mapping)
    job.status = ImportStatus.FAILED
    job.save(update_fields=["status"])

    job = import_job_resume(job=job, by=manager.user)
    job = import_job_run(job_id=job.pk)

    assert job.status == ImportStatus.DONE and job.created_count == 1


def test_imported_rows_are_audited_with_source_import(company, manager):
    job = run_import(company, manager.user, csv_upload(HEADER + "审计公司,13800000009,,,,\n"))

    account = Account.objects.get(company=company)
    event = pghistory.models.Events.objects.tracks(account).get(pgh_label="insert")
    assert event.pgh_context["source"] == "import"
    assert event.pgh_context["import_job"] == job.pk
    assert event.pgh_context["user"] == manager.user.pk


def test_preview_validates_each_cell_and_flags_duplicates(company, manager):
    AccountFactory(company=company, by=manager.user, name="老客户", phone="13800000001")
    text = HEADER + "老客户,13800000001,,,,\n坏电话,123,,,,\n"
    job = import_job_create(company=company, by=manager.user, target="account", upload=csv_upload(text))

    first, second = import_preview(job)

    assert first.row_number == 2 and "phone" in first.duplicate and not first.errors
    assert [c.error for c in second.cells][1].startswith("Enter a valid phone number")
    assert second.duplicate == ""


def test_batch_duplicate_rules_agree_with_customer_duplicates_find(company, manager):
    a = ContactFactory(company=company, by=manager.user, name="李雷", phone="13800000011", city="北京市")
    b = ContactFactory(company=company, by=manager.user, name="韩梅梅", email="hmm@example.com")
    probes = [
        DuplicateFacts(phone="+8613800000011"),
        DuplicateFacts(email="HMM@example.com"),
        DuplicateFacts(name="李雷", city="北京"),
        DuplicateFacts(name="李雷"),  # a contact's name without a city says little
    ]

    many = duplicates_find_many(model=Contact, company_id=company.pk, facts=probes)

    for probe, found in zip(probes, many, strict=True):
        one = customer_duplicates_find(model=Contact, company_id=company.pk, **probe.__dict__)
        assert [(c.customer.pk, c.matched_on) for c in found] == [(c.customer.pk, c.matched_on) for c in one]
    assert [c.customer.pk for c in many[0]] == [a.pk] and [c.customer.pk for c in many[1]] == [b.pk]
    assert many[3] == []


def test_a_group_column_puts_each_company_under_its_group(company, manager):
    group = AccountFactory(company=company, by=manager.user, name="广州南方重工集团", name_en="Southern Heavy")
    text = (
        "公司名称,城市,上级客户\n"
        "南方重工（佛山）,佛山,广州南方重工集团\n"
        "南方重工（湛江）,湛江,southern heavy\n"  # the Latin name, any case
        "独立公司,广州,\n"
        "走失的公司,深圳,没有这个集团\n"
    )
    upload = csv_upload(text)

    job = run_import(company, manager.user, upload, chunk=2)

    assert job.mapping == ["name", "city", "parent"]  # the header is recognised
    assert (job.created_count, job.error_count) == (3, 1)
    parents = dict(Account.objects.filter(company=company).values_list("name", "parent__name"))
    assert parents["南方重工（佛山）"] == parents["南方重工（湛江）"] == group.name
    assert parents["独立公司"] is None and "走失的公司" not in parents
    [(row, column, kind, message)] = issues(job)
    assert (row, column, kind) == (5, "上级客户", "error") and "没有这个集团" in message
