"""Imports of accounts, contacts and leads from CSV (UTF-8, UTF-8 with BOM, GB18030) and XLSX files.

The steps: ``import_job_create`` checks the upload (content, size, encoding), reads the header row and guesses
the column mapping from Chinese and English headers; ``import_preview`` shows the first rows with each cell
validated; ``import_job_start`` fixes the mapping and the duplicate policy and queues the job;
``import_job_run`` (the Celery task's body, and the benchmark's) streams the file in chunks.

Every row is normalised and validated by the same code as a form or the API (``crm.services.customers`` /
``crm.services.leads``), checked for duplicates by the same rules as ``customer_duplicates_find`` (against
the CRM and within the file), and written with the other rows of its chunk in bulk, in one transaction that
also moves the job's checkpoint. A bad row is reported and never aborts the others; a crash loses at most the
chunk in flight, and ``import_job_resume`` continues after the last committed chunk. The audit trail records
every imported row (database triggers see bulk writes too) with source ``import`` and the job id.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import islice
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import pghistory
import psycopg
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.models import (
    Account,
    CompanySize,
    Contact,
    DuplicatePolicy,
    Gender,
    ImportFileFormat,
    ImportJob,
    ImportRowIssue,
    ImportRowIssueKind,
    ImportStatus,
    ImportTarget,
    Industry,
    Lead,
    LeadScoringRule,
    LeadStatus,
    LifecycleStage,
    Source,
)
from crm.selectors import DuplicateFacts, custom_schema_of, duplicates_find_many, import_issues_of
from crm.services import customers as customer_services
from crm.services import leads as lead_services
from crm.services.custom_fields import custom_filter_value, custom_values_merge
from crm.services.lead_alerts import imported_leads_tell_owners
from suite import policy
from suite.models import Company
from suite.uploads import CSV as CSV_KIND
from suite.uploads import XLSX as XLSX_KIND
from suite.uploads import validate_upload

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1000
PREVIEW_ROWS = 10
STALE_AFTER = dt.timedelta(minutes=15)
_LOCK_CLASS = 73_015  # pg advisory lock namespace of import runs (the job id is the second key)
MAX_COLUMNS = 200

TARGET_MODELS = {ImportTarget.ACCOUNT: Account, ImportTarget.CONTACT: Contact, ImportTarget.LEAD: Lead}
_COMMON = ["name", "name_en", "phone", "email", "wechat_id", "province", "city", "district", "address", "source"]
IMPORT_FIELDS: dict[str, list[str]] = {
    ImportTarget.ACCOUNT: [
        *_COMMON,
        "lifecycle_stage",
        "industry",
        "size",
        "website",
        "tax_id",
        "credit_limit",
        "parent",  # the group's name (an account already in the CRM)
    ],
    ImportTarget.CONTACT: [
        *_COMMON,
        "lifecycle_stage",
        "gender",
        "title",
        "department",
        "birthday",
        "unionid",
        "credit_limit",
    ],
    ImportTarget.LEAD: [*_COMMON, "company_name", "title", "unionid", "industry", "notes"],
}
_CHOICES = {
    "source": Source.choices,
    "lifecycle_stage": LifecycleStage.choices,
    "industry": Industry.choices,
    "size": CompanySize.choices,
    "gender": Gender.choices,
}
_EXTRA_CHOICE_WORDS = {
    "gender": {"男": "male", "女": "female", "m": "male", "f": "female"},
    "lifecycle_stage": {"线索": "lead", "潜在客户": "prospect", "客户": "customer", "成交客户": "customer"},
}

# Header words (normalised: NFKC, lower case, no spaces or marks) → field, per target.
_HEADER_WORDS: dict[str, list[str]] = {
    "name_en": ["英文名", "英文名称", "拼音", "latinname", "englishname", "nameen"],
    "phone": [
        "手机",
        "手机号",
        "手机号码",
        "电话",
        "联系电话",
        "电话号码",
        "mobile",
        "phone",
        "tel",
        "telephone",
        "cell",
    ],
    "email": ["邮箱", "电子邮箱", "电子邮件", "邮件", "email", "e-mail", "mail"],
    "wechat_id": ["微信", "微信号", "wechat", "wechatid", "weixin"],
    "province": ["省", "省份", "所在省份", "province", "state"],
    "city": ["城市", "市", "所在城市", "city"],
    "district": ["区", "区县", "县区", "district", "county"],
    "address": ["地址", "详细地址", "联系地址", "address", "street"],
    "source": ["来源", "客户来源", "线索来源", "source", "leadsource"],
    "lifecycle_stage": ["阶段", "生命周期", "客户阶段", "stage", "lifecyclestage", "lifecycle"],
    "industry": ["行业", "所属行业", "industry"],
    "size": ["规模", "公司规模", "人员规模", "size", "companysize", "employees"],
    "website": ["网站", "网址", "官网", "website", "web", "url"],
    "tax_id": ["统一社会信用代码", "信用代码", "税号", "taxid", "creditcode", "uscc"],
    "credit_limit": ["信用额度", "额度", "creditlimit"],
    "parent": ["上级客户", "所属集团", "集团", "总公司", "母公司", "parent", "parentaccount", "parentcompany", "group"],
    "gender": ["性别", "gender", "sex"],
    "title": ["职位", "职务", "title", "jobtitle", "position"],
    "department": ["部门", "department", "dept"],
    "birthday": ["生日", "出生日期", "birthday", "dateofbirth", "birthdate"],
    "unionid": ["unionid", "微信unionid"],
    "notes": ["备注", "说明", "notes", "note", "remark", "remarks", "comment"],
}
_NAME_WORDS = {
    ImportTarget.ACCOUNT: [
        "公司名称",
        "客户名称",
        "名称",
        "公司",
        "客户",
        "企业名称",
        "name",
        "company",
        "companyname",
        "account",
        "accountname",
        "customer",
        "customername",
    ],
    ImportTarget.CONTACT: [
        "姓名",
        "联系人",
        "联系人姓名",
        "名字",
        "客户姓名",
        "name",
        "fullname",
        "contact",
        "contactname",
    ],
    ImportTarget.LEAD: ["姓名", "联系人", "联系人姓名", "名字", "name", "fullname", "contact", "contactname"],
}
_LEAD_COMPANY_WORDS = [
    "公司名称",
    "公司",
    "单位",
    "企业名称",
    "客户名称",
    "company",
    "companyname",
    "organisation",
    "organization",
]
_HEADER_NOISE = re.compile(r"[\s*:：()（）\[\]【】_\-./]|必填|required|optional|选填")


@dataclass(frozen=True)
class PreviewCell:
    value: str
    field: str
    error: str = ""


@dataclass(frozen=True)
class PreviewRow:
    row_number: int
    cells: list[PreviewCell]
    errors: list[str]
    duplicate: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors and not self.duplicate and not any(cell.error for cell in self.cells)


@dataclass
class ChunkResult:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    error_rows: int = 0
    issues: list[ImportRowIssue] = field(default_factory=list)


# ---------------------------------------------------------------- reading files


def import_max_bytes() -> int:
    """Import files may be larger than attachments (100k rows of customers are ~10 MB of CSV):
    ``TROIKA_IMPORT_MAX_BYTES``, 50 MB by default."""
    return getattr(settings, "TROIKA_IMPORT_MAX_BYTES", 50 * 1024 * 1024)


def _detect_encoding(fileobj) -> str:
    """``utf-8-sig`` for a BOM, else the first of UTF-8 and GB18030 that decodes the whole file (streamed)."""
    fileobj.seek(0)
    head = fileobj.read(3)
    candidates = ["utf-8-sig"] if head == codecs.BOM_UTF8 else ["utf-8", "gb18030"]
    for encoding in candidates:
        fileobj.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            while block := fileobj.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        finally:
            fileobj.seek(0)
        return encoding
    raise ValidationError(
        {"file": [_("The file is neither UTF-8 nor GB18030 text. Save it from Excel as “CSV UTF-8” and upload again.")]}
    )


def _csv_rows(fileobj, encoding: str) -> Iterator[list]:
    fileobj.seek(0)
    text = io.TextIOWrapper(fileobj, encoding=encoding, newline="")
    head = text.read(8192)
    text.seek(0)
    try:
        dialect = csv.Sniffer().sniff(head, delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    try:
        yield from csv.reader(text, delimiter=delimiter)
    finally:
        text.detach()


def _xlsx_rows(fileobj) -> Iterator[list]:
    from openpyxl import load_workbook

    fileobj.seek(0)
    workbook = load_workbook(fileobj, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield list(row)
    finally:
        workbook.close()


def _file_rows(job: ImportJob) -> Iterator[list]:
    """Every row of the job's file, the header first, read lazily (memory stays flat)."""
    with job.file.open("rb") as fileobj:
        if job.file_format == ImportFileFormat.XLSX:
            yield from _xlsx_rows(fileobj)
        else:
            yield from _csv_rows(fileobj, job.encoding)


def _data_rows(job: ImportJob, *, start: int = 0) -> Iterator[tuple[int, list]]:
    """``(row number, cells)`` of the data rows after the first ``start`` (the header is row 1)."""
    rows = _file_rows(job)
    next(rows, None)
    for index, cells in enumerate(islice(rows, start, None), start=start):
        yield index + 2, cells


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores 13812345678 as a number
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return unicodedata.normalize("NFKC", str(value)).strip() if not isinstance(value, str) else value.strip()


def _header_key(text: str) -> str:
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", text or "").lower())


def mapping_guess(target: str, headers: list[str]) -> list[str]:
    """The field each header most likely means (``''`` when unsure), each field used once."""
    words: dict[str, str] = {}
    for name, synonyms in _HEADER_WORDS.items():
        for word in synonyms:
            words.setdefault(_header_key(word), name)
    for word in _NAME_WORDS[target]:
        words[_header_key(word)] = "name"
    if target == ImportTarget.LEAD:
        for word in _LEAD_COMPANY_WORDS:
            words[_header_key(word)] = "company_name"
    allowed = set(IMPORT_FIELDS[target])
    labels = {_header_key(str(label)): name for name, label in field_choices(target)}
    used: set[str] = set()
    mapping = []
    for header in headers:
        key = _header_key(header)
        guess = words.get(key) or labels.get(key) or (key if key in allowed else "")
        if guess.startswith("custom."):
            pass
        elif guess not in allowed or guess in used:
            guess = ""
        if guess:
            used.add(guess)
        mapping.append(guess)
    return mapping


def field_choices(target: str, *, company_id: int | None = None) -> list[tuple[str, str]]:
    """The fields a column can fill for ``target`` as (name, label), custom fields as ``custom.<key>``."""
    model = TARGET_MODELS[target]
    choices = [(name, str(model._meta.get_field(name).verbose_name)) for name in IMPORT_FIELDS[target]]
    if target == ImportTarget.LEAD:
        choices = [(n, str(label)) if n != "name" else (n, gettext("contact name")) for n, label in choices]
    if company_id is not None:
        schema = custom_schema_of(company_id=company_id, target=target) or {}
        for key, spec in (schema.get("properties") or {}).items():
            choices.append((f"custom.{key}", str(spec.get("title") or key)))
    return choices


# ---------------------------------------------------------------- create, preview, start


@transaction.atomic
def import_job_create(*, company: Company, by: User, target: str, upload) -> ImportJob:
    """Store an uploaded CSV/XLSX file as a draft import into ``target`` (account / contact / lead).

    The file is checked by content and size (``suite.uploads``; a renamed non-CSV is refused), a CSV must
    decode as UTF-8 or GB18030 as a whole; the header row is read, data rows counted and the mapping guessed.
    Raises ``ValidationError`` (``file`` / ``target``) for anything unreadable. Publishes nothing.
    """
    if target not in TARGET_MODELS:
        raise ValidationError({"target": [_("Choose accounts, contacts or leads.")]})
    try:
        checked = validate_upload(upload, max_bytes=import_max_bytes())
    except ValidationError as exc:
        raise ValidationError({"file": exc.messages}) from None
    if checked.mime not in (CSV_KIND.mime, XLSX_KIND.mime):
        raise ValidationError({"file": [_("Upload a CSV or an Excel (.xlsx) file.")]})
    file_format = ImportFileFormat.XLSX if checked.mime == XLSX_KIND.mime else ImportFileFormat.CSV
    upload.seek(0)
    encoding = _detect_encoding(upload) if file_format == ImportFileFormat.CSV else ""
    job = ImportJob(
        company=company,
        owner=by,
        team=customer_services.default_team(company.pk, by),
        target=target,
        original_name=PurePosixPath((upload.name or "import").replace("\\", "/")).name[-255:],
        file_format=file_format,
        encoding=encoding,
    )
    upload.seek(0)
    job.file.save(f"import.{file_format}", upload, save=False)
    try:
        headers, total = _scan(job)
    except ValidationError:
        job.file.delete(save=False)
        raise
    except Exception:  # a damaged workbook or CSV: openpyxl / csv raise many kinds of errors
        job.file.delete(save=False)
        logger.info("unreadable import file", exc_info=True)
        raise ValidationError({"file": [_("The file could not be read as a table.")]}) from None
    job.headers = headers
    job.rows_total = total
    job.mapping = mapping_guess(target, headers)
    try:
        job.save()
    except Exception:
        job.file.delete(save=False)
        raise
    return job


def _scan(job: ImportJob) -> tuple[list[str], int]:
    rows = _file_rows(job)
    header = next(rows, None)
    headers = [_cell_text(value) for value in (header or [])]
    while headers and not headers[-1]:
        headers.pop()
    if not any(headers):
        raise ValidationError({"file": [_("The first row must name the columns; this file has no header row.")]})
    if len(headers) > MAX_COLUMNS:
        raise ValidationError({"file": [_("The file has too many columns.")]})
    headers = [h or gettext("Column %(n)s") % {"n": i + 1} for i, h in enumerate(headers)]
    total = sum(1 for _ in rows)
    if total == 0:
        raise ValidationError({"file": [_("The file has a header row but no data rows.")]})
    return headers, total


def mapping_validate(job: ImportJob, mapping: list[str]) -> list[str]:
    """The mapping cleaned (one entry per column) or ``ValidationError`` on ``mapping``: unknown fields, a
    field mapped twice, or the required name column missing."""
    if not isinstance(mapping, list | tuple) or len(mapping) != len(job.headers):
        raise ValidationError({"mapping": [_("Give one field (or nothing) for every column of the file.")]})
    allowed = {name for name, _label in field_choices(job.target, company_id=job.company_id)}
    errors = []
    seen: set[str] = set()
    cleaned = []
    for header, name in zip(job.headers, mapping, strict=True):
        name = (name or "").strip() if isinstance(name, str) else ""
        if name and name not in allowed:
            errors.append(gettext("Column “%(column)s”: unknown field %(field)s.") % {"column": header, "field": name})
        elif name and name in seen:
            errors.append(gettext("The field %(field)s is mapped to more than one column.") % {"field": name})
        seen.add(name)
        cleaned.append(name)
    if job.target == ImportTarget.LEAD:
        if not ({"name", "company_name"} & seen):
            errors.append(gettext("Map a column to the contact name or the company name."))
    elif "name" not in seen:
        errors.append(gettext("Map a column to the name: it is required."))
    if errors:
        raise ValidationError({"mapping": errors})
    return cleaned


@transaction.atomic
def import_job_start(
    *, job: ImportJob, by: User | None, mapping: list[str], duplicate_policy: str = DuplicatePolicy.SKIP
) -> ImportJob:
    """Fix the mapping and the duplicate policy of a draft job and queue it (the Celery task runs it after
    commit). Locks the job row; refuses a job that is not a draft. ``update`` needs the "change" permission
    on the target. Publishes nothing."""
    job = ImportJob.objects.select_for_update(of=("self",)).get(pk=job.pk)
    if job.status != ImportStatus.DRAFT:
        raise ValidationError({"status": [_("This import has been started already.")]})
    if duplicate_policy not in DuplicatePolicy.values:
        raise ValidationError({"duplicate_policy": [_("Choose skip, update or create.")]})
    job.mapping = mapping_validate(job, mapping)
    actor = policy.actor_for(job.owner, job.company_id) if job.owner_id else None
    model = TARGET_MODELS[job.target]
    if duplicate_policy == DuplicatePolicy.UPDATE and not policy.can(actor, "change", model):
        raise ValidationError({"duplicate_policy": [_("Your role may not change existing records.")]})
    job.duplicate_policy = duplicate_policy
    job.status = ImportStatus.QUEUED
    job.save(update_fields=["mapping", "duplicate_policy", "status", "updated_at"])
    _enqueue(job.pk)
    return job


def _enqueue(job_id: int) -> None:
    from crm.tasks import import_job_run as task

    transaction.on_commit(lambda: task.delay(job_id))


@transaction.atomic
def import_job_resume(*, job: ImportJob, by: User | None) -> ImportJob:
    """Queue a failed job, or one whose worker stopped (no progress for ``STALE_AFTER``), again: it continues
    after its last committed chunk. Locks the job row. Publishes nothing."""
    job = ImportJob.objects.select_for_update(of=("self",)).get(pk=job.pk)
    stale = job.status in (ImportStatus.RUNNING, ImportStatus.QUEUED) and (
        (job.heartbeat_at or job.updated_at) < timezone.now() - STALE_AFTER
    )
    if job.status != ImportStatus.FAILED and not stale:
        raise ValidationError({"status": [_("Only a failed or stalled import can be resumed.")]})
    job.status = ImportStatus.QUEUED
    job.failure = ""
    job.heartbeat_at = timezone.now()
    job.save(update_fields=["status", "failure", "heartbeat_at", "updated_at"])
    _enqueue(job.pk)
    return job


def import_jobs_fail_stalled(*, now: dt.datetime | None = None) -> int:
    """Mark running jobs without progress for ``STALE_AFTER`` as failed (their worker died); they can be
    resumed. Returns how many. (Beat.)"""
    now = now or timezone.now()
    return ImportJob.objects.filter(status=ImportStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER).update(
        status=ImportStatus.FAILED,
        failure=gettext("The import stopped without finishing (worker lost); resume it to continue."),
        updated_at=now,
    )


# ---------------------------------------------------------------- rows


class _RowContext:
    """What every row of a job needs, computed once: field of each column, choice tables, lead rules."""

    def __init__(self, job: ImportJob, actor: policy.Actor | None, *, mapping: list[str] | None = None):
        self.job = job
        self.actor = actor
        self.model = TARGET_MODELS[job.target]
        self.columns = [(i, name) for i, name in enumerate(job.mapping if mapping is None else mapping) if name]
        self.header_of = {name: job.headers[i] for i, name in self.columns}
        self.choice_tables = {name: _choice_table(name) for name in _CHOICES}
        self.owner = job.owner
        self.team = job.team if job.team_id else customer_services.default_team(job.company_id, job.owner)
        schema = custom_schema_of(company_id=job.company_id, target=job.target)
        self.schema = schema
        self.custom_required = bool(schema and schema.get("required"))
        self.uses_custom = any(name.startswith("custom.") for _i, name in self.columns)
        self.scoring_rules = (
            list(LeadScoringRule.objects.filter(company_id=job.company_id, is_active=True).order_by("id"))
            if job.target == ImportTarget.LEAD
            else []
        )
        self.parents: dict[str, Account | None] = {}  # a group's name → the account, looked up once per job

    def parent_account(self, text: str) -> Account:
        """The live account named ``text`` (Chinese or Latin name) the importer may see: a group must be in the
        CRM before its companies are imported (an earlier file, or an earlier chunk of this one)."""
        key = " ".join(text.split())
        if self.parents.get(key) is None:
            accounts = policy.scope(self.actor, Account.objects.filter(company_id=self.job.company_id))
            self.parents[key] = (
                accounts.filter(Q(name=key) | Q(name_en__iexact=key), merged_into__isnull=True).order_by("pk").first()
            )
        if self.parents[key] is None:
            raise ValidationError(
                gettext("No account named “%(name)s”: import or create the group first.") % {"name": key}
            )
        return self.parents[key]

    def column(self, field_name: str) -> str:
        if field_name.startswith("custom.") and field_name not in self.header_of:
            return field_name
        return self.header_of.get(field_name, "")

    def values(self, cells: list) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, str]]]:
        """The row's field values (converted; blanks left out), custom values, and conversion errors."""
        fields: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        errors: list[tuple[str, str]] = []
        for index, name in self.columns:
            text = _cell_text(cells[index] if index < len(cells) else None)
            if not text:
                continue
            try:
                if name.startswith("custom."):
                    custom[name[7:]] = custom_filter_value(schema=self.schema, name=name[7:], raw=text)
                else:
                    fields[name] = self.convert(name, text)
            except ValidationError as exc:
                errors.extend((self.column(name), message) for message in exc.messages)
        return fields, custom, errors

    def convert(self, name: str, text: str) -> Any:
        if name in self.choice_tables:
            value = self.choice_tables[name].get(text.casefold())
            if value is None:
                raise ValidationError(
                    gettext("Unknown value “%(value)s”; use one of: %(choices)s.")
                    % {"value": text, "choices": ", ".join(str(label) for _v, label in _CHOICES[name])}
                )
            return value
        if name == "credit_limit":
            cleaned = re.sub(r"[,，¥￥\s]|元$", "", text)
            try:
                return Decimal(cleaned)
            except InvalidOperation:
                raise ValidationError(gettext("Enter a number.")) from None
        if name == "birthday":
            return _parse_date(text)
        if name == "parent":
            return self.parent_account(text)
        return text

    def build(self, cells: list) -> tuple[Any, dict[str, Any], list[tuple[str, str]]]:
        """An unsaved record for the row (validated exactly as the services do), its raw field values, and the
        errors as (column, message)."""
        fields, custom, errors = self.values(cells)
        if self.job.target != ImportTarget.LEAD and "name" not in fields:
            errors.append((self.column("name"), gettext("The name is required.")))
        if self.job.target == ImportTarget.LEAD:
            record = Lead(company_id=self.job.company_id, status=LeadStatus.NEW, owner=self.owner, team=self.team)
            fields.setdefault("source", Source.IMPORT)
            apply = lead_services._apply
            call = lambda: apply(record, fields)  # noqa: E731
        else:
            record = self.model(company_id=self.job.company_id, owner=self.owner, team=self.team)
            fields.setdefault("source", Source.IMPORT)
            allowed = customer_services.ACCOUNT_FIELDS if self.model is Account else customer_services.CONTACT_FIELDS
            call = lambda: customer_services._apply(record, fields, allowed)  # noqa: E731
        try:
            call()
        except ValidationError as exc:
            errors.extend(_field_errors(exc, self.column))
        if self.uses_custom or self.custom_required:
            try:
                record.custom = custom_values_merge(
                    company_id=self.job.company_id, target=self.job.target, current={}, changes=custom
                )
            except ValidationError as exc:
                errors.extend(_field_errors(exc, self.column))
        if not errors:
            record.search_text = _search_text(record)
            if isinstance(record, Lead):
                record.score, record.score_explanation = lead_services.lead_score_compute(
                    lead=record, rules=self.scoring_rules
                )
                record.assigned_at = timezone.now() if record.owner_id else None
        return record, {**fields, **({"custom": custom} if custom else {})}, errors


def _field_errors(exc: ValidationError, column_of) -> list[tuple[str, str]]:
    if hasattr(exc, "error_dict"):
        return [
            (column_of(name) if name != "__all__" else "", message)
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    return [("", message) for message in exc.messages]


def _choice_table(name: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for value, label in _CHOICES[name]:
        table[value.casefold()] = value
        for language in ("en", "zh-hans"):
            with translation.override(language):
                table[str(label).casefold()] = value
    for word, value in _EXTRA_CHOICE_WORDS.get(name, {}).items():
        table.setdefault(word.casefold(), value)
    return table


def _parse_date(text: str) -> dt.date:
    cleaned = text.strip().replace("年", "-").replace("月", "-").replace("日", "").replace("/", "-").replace(".", "-")
    try:
        return dt.date.fromisoformat("-".join(part.zfill(2) for part in cleaned.split("-")[:3]))
    except ValueError:
        raise ValidationError(gettext("Enter a date such as 1990-05-17.")) from None


def _search_text(record) -> str:
    if isinstance(record, Lead):
        return lead_services.lead_search_text(record)
    if isinstance(record, Account):
        return customer_services.account_search_text(record)
    return customer_services.contact_search_text(record)


def _facts(record) -> DuplicateFacts:
    return DuplicateFacts(
        phone=record.phone,
        email=record.email,
        unionid=getattr(record, "unionid", ""),
        tax_id=getattr(record, "tax_id", ""),
        name=record.name,
        city=record.city,
    )


def _identity_keys(model, record) -> dict[str, str]:
    """The in-file duplicate keys of a record: the same facts ``customer_duplicates_find`` compares."""
    keys = {}
    if record.phone:
        keys["phone"] = "p:" + record.phone
    if record.email:
        keys["email"] = "e:" + record.email
    if getattr(record, "unionid", "") and model is not Account:
        keys["unionid"] = "u:" + record.unionid
    if getattr(record, "tax_id", "") and model is Account:
        keys["tax_id"] = "t:" + record.tax_id
    name = " ".join((record.name or "").split()).casefold()
    city = (record.city or "").strip().removesuffix("市")
    if name and (model is Account or city):
        keys["name_city"] = f"n:{name}\x00{city}"
    return keys


_MATCH_WORDS = {
    "phone": _("phone"),
    "email": _("email"),
    "unionid": _("WeChat unionid"),
    "tax_id": _("unified social credit code"),
    "name_city": _("name and city"),
}


def _matched_text(matched) -> str:
    return ", ".join(str(_MATCH_WORDS.get(m, m)) for m in matched)


def _match_column(ctx: _RowContext, matched) -> str:
    first = matched[0] if matched else ""
    return ctx.column("name" if first == "name_city" else first)


# ---------------------------------------------------------------- chunks


def _process_chunk(ctx: _RowContext, rows: list[tuple[int, list]]) -> ChunkResult:
    """Validate, dedupe and write one chunk of rows (inside the caller's transaction)."""
    job, model = ctx.job, ctx.model
    result = ChunkResult()

    def issue(row_number: int, column: str, message: str, kind: str = ImportRowIssueKind.ERROR) -> None:
        result.issues.append(
            ImportRowIssue(job=job, row_number=row_number, column=column[:200], kind=kind, message=str(message))
        )

    prepared = []
    for row_number, cells in rows:
        if not any(_cell_text(value) for value in cells):
            continue  # a blank line
        try:
            record, values, errors = ctx.build(cells)
        except Exception as exc:  # a row must never abort the others
            logger.warning("import %s row %s could not be read", job.pk, row_number, exc_info=True)
            record, values, errors = None, {}, [("", gettext("The row could not be read: %(error)s") % {"error": exc})]
        if errors:
            result.error_rows += 1
            for column, message in errors:
                issue(row_number, column, message)
            continue
        prepared.append((row_number, record, values))

    found = duplicates_find_many(model=model, company_id=job.company_id, facts=[_facts(r) for _n, r, _v in prepared])
    editable: set[int] = set()
    if job.duplicate_policy == DuplicatePolicy.UPDATE:
        pks = {c.customer.pk for candidates in found for c in candidates}
        if pks and ctx.actor is not None and policy.can(ctx.actor, "change", model):
            editable = set(policy.scope(ctx.actor, model.objects.filter(pk__in=pks)).values_list("pk", flat=True))

    seen: dict[str, tuple[int, Any]] = {}
    to_create: list[tuple[int, Any]] = []
    to_update: dict[int, tuple[int, Any, set[str]]] = {}
    for (row_number, record, values), candidates in zip(prepared, found, strict=True):
        keys = _identity_keys(model, record)
        earlier = next(((kind, seen[key]) for kind, key in keys.items() if key in seen), None)
        if candidates and job.duplicate_policy != DuplicatePolicy.CREATE:
            existing = candidates[0]
            label = f"{existing.customer} (#{existing.customer.pk})"
            if job.duplicate_policy == DuplicatePolicy.SKIP:
                result.skipped += 1
                issue(
                    row_number,
                    _match_column(ctx, existing.matched_on),
                    gettext("Skipped: the same %(facts)s as the existing record %(record)s.")
                    % {"facts": _matched_text(existing.matched_on), "record": label},
                    ImportRowIssueKind.SKIPPED,
                )
                continue
            if existing.customer.pk not in editable:
                result.skipped += 1
                issue(
                    row_number,
                    _match_column(ctx, existing.matched_on),
                    gettext("Skipped: it matches %(record)s, which you may not change.") % {"record": label},
                    ImportRowIssueKind.SKIPPED,
                )
                continue
            target_row, target, changed = to_update.get(existing.customer.pk, (row_number, existing.customer, set()))
            error = _merge_values(ctx, target, values, changed)
            if error:
                result.error_rows += 1
                issue(row_number, "", error)
                continue
            to_update[target.pk] = (target_row, target, changed)
            result.updated += 1
            continue
        if earlier is not None and job.duplicate_policy != DuplicatePolicy.CREATE:
            kind, (first_row, first_record) = earlier
            if job.duplicate_policy == DuplicatePolicy.SKIP:
                result.skipped += 1
                issue(
                    row_number,
                    _match_column(ctx, (kind,)),
                    gettext("Skipped: the same %(facts)s as row %(row)s of this file.")
                    % {"facts": _matched_text((kind,)), "row": first_row},
                    ImportRowIssueKind.SKIPPED,
                )
                continue
            error = _merge_values(ctx, first_record, values, set())
            if error:
                result.error_rows += 1
                issue(row_number, "", error)
            else:
                result.skipped += 1
                issue(
                    row_number,
                    _match_column(ctx, (kind,)),
                    gettext("Merged into row %(row)s of this file (the same %(facts)s).")
                    % {"row": first_row, "facts": _matched_text((kind,))},
                    ImportRowIssueKind.SKIPPED,
                )
            continue
        for key in keys.values():
            seen.setdefault(key, (row_number, record))
        to_create.append((row_number, record))

    lead_services.leads_assign_bulk(company_id=ctx.job.company_id, leads=[r for _n, r in to_create if model is Lead])
    result.created, failed = _write_created(model, to_create)
    for row_number, message in failed:
        result.error_rows += 1
        issue(row_number, "", message)
    if model is Lead:  # those the rules gave leads to hear of it (the importer knows what they imported)
        refused = {row_number for row_number, _message in failed}
        imported_leads_tell_owners(
            company_id=ctx.job.company_id,
            leads=[r for n, r in to_create if n not in refused and r.owner_id != ctx.job.owner_id],
            job_id=ctx.job.pk,
            file_name=ctx.job.original_name,
        )
    update_failed = _write_updated(model, list(to_update.values()))
    for row_number, message in update_failed:
        result.updated -= 1
        result.error_rows += 1
        issue(row_number, "", message)
    return result


def _merge_values(ctx: _RowContext, target, values: dict, changed: set[str]) -> str:
    """Set the row's non-blank values on ``target`` (an existing record, or an earlier row's); '' or an
    error message."""
    values = dict(values)
    custom = values.pop("custom", None)
    values.pop("source", None)  # an existing record keeps where it came from
    try:
        if isinstance(target, Lead):
            names = lead_services._apply(target, values)
        else:
            allowed = (
                customer_services.ACCOUNT_FIELDS if isinstance(target, Account) else customer_services.CONTACT_FIELDS
            )
            names = customer_services._apply(target, values, allowed)
        if custom:
            target.custom = custom_values_merge(
                company_id=target.company_id, target=ctx.job.target, current=target.custom, changes=custom
            )
            names.append("custom")
    except ValidationError as exc:
        return "; ".join(message for _column, message in _field_errors(exc, ctx.column))
    changed.update(names)
    target.search_text = _search_text(target)
    return ""


_CONSTRAINT_MESSAGES = {
    "unionid_unique_live": _("This WeChat unionid already belongs to another contact."),
    "tax_id_unique_live": _("Another account has this unified social credit code."),
}


def _integrity_message(exc: DatabaseError) -> str:
    text = str(exc)
    for name, message in _CONSTRAINT_MESSAGES.items():
        if name in text:
            return str(message)
    return gettext("The database refused the row: %(error)s") % {"error": text.splitlines()[0][:200]}


@dataclass(frozen=True)
class _CopyPlan:
    fields: list  # every concrete field, the primary key first
    insert_trigger: str  # pghistory's row trigger writing the ``insert`` audit event
    events_table: str
    event_columns: list[str]  # the tracked columns of the event table (as in the model's table)


def _copy_plan(model) -> _CopyPlan | None:
    """How ``_copy_insert`` writes ``model``, or ``None`` (then ``bulk_create``) when it has a field COPY cannot fill
    as Django would (a database default, a generated column), no auto primary key, or no pghistory insert
    trigger to stand in for."""
    import pgtrigger
    from django.db.models import NOT_PROVIDED, GeneratedField
    from django.db.models.fields import AutoFieldMixin

    fields = list(model._meta.concrete_fields)
    if not isinstance(model._meta.pk, AutoFieldMixin) or fields[0] is not model._meta.pk:
        return None
    if any(isinstance(f, GeneratedField) or f.db_default is not NOT_PROVIDED for f in fields):
        return None
    triggers = [t.get_pgid(m) for m, t in pgtrigger.registered() if m is model and t.name == "insert_insert"]
    events = getattr(model, "pgh_event_model", None)
    if len(triggers) != 1 or events is None:
        return None
    columns = [f.column for f in events._meta.concrete_fields if not f.column.startswith("pgh_")]
    return _CopyPlan(fields, triggers[0], events._meta.db_table, columns)


def _identity_types(field) -> tuple[type, ...]:
    """The value types ``field.get_db_prep_save`` returns unchanged (exact field classes only: a subclass may
    convert); () when every value goes through the field."""
    from django.db import models

    kind = type(field)
    if kind is models.ForeignKey:
        kind = type(field.target_field)
    if kind in (models.CharField, models.TextField, models.EmailField, models.URLField, models.SlugField):
        return (str, type(None))
    if kind in (models.BigAutoField, models.AutoField, models.BigIntegerField, models.IntegerField):
        return (int, type(None))
    if kind is models.BooleanField:
        return (bool, type(None))
    return ()


def _copy_rows(fields: list, records: list) -> list[tuple]:
    """What ``bulk_create`` would bind for each record — ``field.get_db_prep_save(field.pre_save(record, True))``
    — with the calls skipped where they return the value unchanged (a ``str`` of a plain text field, an ``int``
    of an integer field or key, ``None``): per row ~27 fields × 2 calls were ~15 % of an import's Python time."""
    from django.db.models import Field

    plan = [(f, f.attname, type(f).pre_save is Field.pre_save, _identity_types(f)) for f in fields]
    rows = []
    for record in records:
        row = []
        for model_field, attname, plain, same in plan:
            value = getattr(record, attname) if plain else model_field.pre_save(record, True)
            row.append(value if type(value) in same else model_field.get_db_prep_save(value, connection))
        rows.append(tuple(row))
    return rows


def _copy_insert(model, records: list, plan: _CopyPlan) -> None:
    """Write ``records`` with one ``COPY … FROM STDIN`` and their audit events with one ``INSERT … SELECT``.

    ``bulk_create`` builds one INSERT of an array per column (building and binding it was half of the write time
    in Python) and pghistory's row trigger then writes one audit event per row, each attaching the context again
    (half of the time in PostgreSQL): docs/performance.md, "CRM import". Here the ids are drawn from the table's
    identity sequence in one query, the values are what ``bulk_create`` writes (each field's ``pre_save`` and
    ``get_db_prep_save``), the database checks every constraint and foreign key as for an INSERT, and the
    ``insert`` events are what the trigger writes — the row's tracked columns, ``pgh_obj_id``, ``NOW()``, the
    job's context (source ``import``, job id, user; set for the transaction by a statement pghistory annotates,
    since COPY does not pass through Django's cursor) — with the trigger skipped for these rows only
    (``pgtrigger.ignore``, transaction-local). Update and delete events are untouched."""
    quote = connection.ops.quote_name
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL troika.import_copy = 'on'")  # pghistory prepends its set_config(...) here
        cursor.execute("SELECT _pgh_attach_context()")
        context_id = cursor.fetchone()[0]
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [quote(table), model._meta.pk.column, len(records)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + plan.insert_trigger + "}"])
    for record, pk in zip(records, ids, strict=True):
        record.pk = pk
    rows = _copy_rows(plan.fields, records)
    columns = ", ".join(quote(f.column) for f in plan.fields)
    with connection.connection.cursor() as raw:
        with raw.copy(f"COPY {quote(table)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.execute("SELECT set_config('pgtrigger.ignore', '{}', true)")
    tracked = ", ".join(quote(c) for c in plan.event_columns)
    selected = ", ".join(f"t.{quote(c)}" for c in plan.event_columns)
    pk = quote(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(plan.events_table)} ({tracked}, pgh_context_id, pgh_created_at, pgh_label, "
            f"pgh_obj_id) SELECT {selected}, %s::uuid, NOW(), 'insert', t.{pk} FROM {quote(table)} t "
            f"WHERE t.{pk} = ANY(%s) ORDER BY t.{pk}",
            [context_id, ids],
        )
    for record in records:
        record._state.adding = False
        record._state.db = connection.alias


def _write_created(model, rows: list[tuple[int, Any]]) -> tuple[int, list[tuple[int, str]]]:
    """Bulk insert (COPY); if the database refuses the batch, insert row by row so only the bad rows fail."""
    if not rows:
        return 0, []
    plan = _copy_plan(model)
    try:
        with transaction.atomic():
            if plan is None:
                model.objects.bulk_create([record for _n, record in rows], batch_size=CHUNK_SIZE)
            else:
                _copy_insert(model, [record for _n, record in rows], plan)
        return len(rows), []
    except (DatabaseError, psycopg.Error):  # COPY raises psycopg's own errors (not through Django's cursor)
        pass
    created, failed = 0, []
    for row_number, record in rows:
        record.pk = None
        record._state.adding = True
        try:
            with transaction.atomic():
                record.save(force_insert=True)
            created += 1
        except DatabaseError as exc:
            failed.append((row_number, _integrity_message(exc)))
    return created, failed


def _write_updated(model, rows: list[tuple[int, Any, set[str]]]) -> list[tuple[int, str]]:
    rows = [row for row in rows if row[2]]
    if not rows:
        return []
    now = timezone.now()
    for _n, record, _changed in rows:
        record.updated_at = now
    names = sorted({name for _n, _r, changed in rows for name in changed} | {"search_text", "updated_at"})
    try:
        with transaction.atomic():
            model.objects.bulk_update([record for _n, record, _c in rows], names, batch_size=CHUNK_SIZE)
        return []
    except DatabaseError:
        pass
    failed = []
    for row_number, record, changed in rows:
        try:
            with transaction.atomic():
                record.save(update_fields=[*sorted(changed), "search_text", "updated_at"])
        except DatabaseError as exc:
            failed.append((row_number, _integrity_message(exc)))
    return failed


# ---------------------------------------------------------------- running


def _try_lock(job_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, job_id])
        return bool(cursor.fetchone()[0])


def _unlock(job_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, job_id])


def _batched(rows: Iterator[tuple[int, list]], size: int) -> Iterator[list[tuple[int, list]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def import_job_run(*, job_id: int, chunk_size: int = CHUNK_SIZE, stop_after_chunks: int | None = None) -> ImportJob:
    """Work through a queued (or resumed) job from its checkpoint to the end of the file.

    One transaction per chunk holds the chunk's records, its report lines and the job's counters and
    checkpoint, with the job row locked; so a crash loses at most the chunk in flight and a second run
    continues where the first stopped (``stop_after_chunks`` simulates such a stop in tests). Two runs of
    one job never overlap (a session advisory lock; the second returns at once). An unexpected error marks
    the job failed, keeping every committed chunk. Audit context: source ``import``, the job id and its user.
    Publishes nothing (imported records are new data, not business events).
    """
    if not _try_lock(job_id):
        return ImportJob.objects.get(pk=job_id)
    try:
        job = ImportJob.objects.select_related("owner", "team").get(pk=job_id)
        if job.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING):
            return job
        actor = policy.actor_for(job.owner, job.company_id) if job.owner_id else None
        model = TARGET_MODELS[job.target]
        if actor is None or not policy.can(actor, "import", model):
            return _fail(job, gettext("The user who started this import may no longer import these records."))
        now = timezone.now()
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportStatus.RUNNING, started_at=job.started_at or now, heartbeat_at=now, updated_at=now
        )
        job.refresh_from_db()
        try:
            with pghistory.context(source="import", import_job=job.pk, user=job.owner_id):
                ctx = _RowContext(job, actor)
                for done_chunks, chunk in enumerate(_batched(_data_rows(job, start=job.rows_done), chunk_size)):
                    with transaction.atomic():
                        locked = ImportJob.objects.select_for_update(of=("self",)).get(pk=job.pk)
                        if locked.status != ImportStatus.RUNNING or locked.rows_done != job.rows_done:
                            return locked  # failed or taken over meanwhile: leave it as it is
                        result = _process_chunk(ctx, chunk)
                        ImportRowIssue.objects.bulk_create(result.issues, batch_size=CHUNK_SIZE)
                        locked.rows_done += len(chunk)
                        locked.created_count += result.created
                        locked.updated_count += result.updated
                        locked.skipped_count += result.skipped
                        locked.error_count += result.error_rows
                        locked.heartbeat_at = timezone.now()
                        locked.save(
                            update_fields=[
                                "rows_done",
                                "created_count",
                                "updated_count",
                                "skipped_count",
                                "error_count",
                                "heartbeat_at",
                                "updated_at",
                            ]
                        )
                    job = locked
                    ctx.job = job
                    if stop_after_chunks is not None and done_chunks + 1 >= stop_after_chunks:
                        return job
        except Exception as exc:
            logger.exception("import %s failed", job_id)
            return _fail(job, gettext("The import stopped: %(error)s") % {"error": str(exc)[:500]})
        now = timezone.now()
        ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(
            status=ImportStatus.DONE, rows_total=job.rows_done, finished_at=now, heartbeat_at=now, updated_at=now
        )
        job.refresh_from_db()
        return job
    finally:
        _unlock(job_id)


def _fail(job: ImportJob, message: str) -> ImportJob:
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.FAILED, failure=message, updated_at=now)
    job.refresh_from_db()
    return job


# ---------------------------------------------------------------- preview and report


def import_preview(job: ImportJob, *, mapping: list[str] | None = None, size: int = PREVIEW_ROWS) -> list[PreviewRow]:
    """The first ``size`` data rows as the import would see them with ``mapping``: each mapped cell with its
    error, the row's other errors, and whether it duplicates an existing record. Writes nothing."""
    mapping = mapping_validate(job, mapping if mapping is not None else job.mapping)
    ctx = _RowContext(job, None, mapping=mapping)
    built = []
    for row_number, cells in islice(_data_rows(job), size):
        record, _values, errors = ctx.build(cells)
        built.append((row_number, cells, record, errors))
    valid = [(i, record) for i, (_n, _c, record, errors) in enumerate(built) if not errors]
    found = duplicates_find_many(model=ctx.model, company_id=job.company_id, facts=[_facts(r) for _i, r in valid])
    duplicates = {i: candidates[0] for (i, _r), candidates in zip(valid, found, strict=True) if candidates}
    rows = []
    for i, (row_number, cells, _record, errors) in enumerate(built):
        by_column: dict[str, list[str]] = {}
        other = []
        for column, message in errors:
            (by_column.setdefault(column, []) if column else other).append(message)
        preview_cells = []
        for index, header in enumerate(job.headers):
            name = mapping[index]
            value = _cell_text(cells[index] if index < len(cells) else None)
            preview_cells.append(PreviewCell(value=value, field=name, error="; ".join(by_column.get(header, []))))
        duplicate = ""
        if i in duplicates:
            candidate = duplicates[i]
            duplicate = gettext("Same %(facts)s as %(record)s") % {
                "facts": _matched_text(candidate.matched_on),
                "record": f"{candidate.customer} (#{candidate.customer.pk})",
            }
        rows.append(PreviewRow(row_number=row_number, cells=preview_cells, errors=other, duplicate=duplicate))
    return rows


def _safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (the values come from the uploaded file)."""
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def import_report_lines(job: ImportJob) -> Iterator[list[str]]:
    """The per-row report as CSV rows: a header, then row number, column, kind, message per issue."""
    yield [gettext("row"), gettext("column"), gettext("kind"), gettext("message")]
    labels = dict(ImportRowIssueKind.choices)
    for issue in import_issues_of(job).iterator(chunk_size=2000):
        yield [
            str(issue.row_number),
            _safe(issue.column),
            str(labels.get(issue.kind, issue.kind)),
            _safe(issue.message),
        ]
