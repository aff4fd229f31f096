"""Imports of accounts, contacts and leads from CSV/XLSX files: the job (file, column mapping, duplicate policy,
progress and counts) and the per-row report of what was refused or skipped.

A job is worked through in chunks by ``crm.services.imports.import_job_run``; each chunk's records and the
job's checkpoint (``rows_done``) commit in one transaction, so a crashed job resumes after its last whole
chunk and never leaves half a chunk behind.
"""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import OwnedModel


class ImportTarget(models.TextChoices):
    ACCOUNT = "account", _("Accounts")
    CONTACT = "contact", _("Contacts")
    LEAD = "lead", _("Leads")


class DuplicatePolicy(models.TextChoices):
    SKIP = "skip", _("Skip the row")
    UPDATE = "update", _("Update the existing record")
    CREATE = "create", _("Create a new record anyway")


class ImportStatus(models.TextChoices):
    DRAFT = "draft", _("Waiting for the column mapping")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ImportFileFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"


def import_file_path(instance: ImportJob, filename: str) -> str:
    """Stored under a random name; the user's file name is kept in ``original_name`` only."""
    suffix = PurePosixPath(filename).suffix.lower()[:10]
    now = timezone.now()
    return f"imports/{instance.company_id}/{now:%Y/%m}/{uuid.uuid4().hex}{suffix}"


@audited
class ImportJob(OwnedModel):
    """One uploaded file being imported into accounts, contacts or leads (the owner is who uploaded it)."""

    target = models.CharField(_("import into"), max_length=20, choices=ImportTarget.choices)
    file = models.FileField(_("file"), upload_to=import_file_path, max_length=300)
    original_name = models.CharField(_("file name"), max_length=255)
    file_format = models.CharField(_("file type"), max_length=10, choices=ImportFileFormat.choices)
    encoding = models.CharField(_("text encoding"), max_length=20, blank=True)
    headers = models.JSONField(_("column headers"), default=list, blank=True)
    mapping = models.JSONField(
        _("column mapping"), default=list, blank=True, help_text=_("per column: the field it fills, or '' to ignore")
    )
    duplicate_policy = models.CharField(
        _("when a row duplicates a customer"),
        max_length=10,
        choices=DuplicatePolicy.choices,
        default=DuplicatePolicy.SKIP,
    )
    status = models.CharField(_("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.DRAFT)
    rows_total = models.PositiveIntegerField(_("rows in the file"), default=0)
    rows_done = models.PositiveIntegerField(_("rows processed"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    skipped_count = models.PositiveIntegerField(_("skipped as duplicates"), default=0)
    error_count = models.PositiveIntegerField(_("rows with errors"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last progress at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    failure = models.TextField(_("why it failed"), blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(target__in=ImportTarget.values), name="crm_importjob_target_valid"),
            models.CheckConstraint(condition=Q(status__in=ImportStatus.values), name="crm_importjob_status_valid"),
            models.CheckConstraint(
                condition=Q(duplicate_policy__in=DuplicatePolicy.values), name="crm_importjob_policy_valid"
            ),
            models.CheckConstraint(
                condition=Q(created_count__lte=F("rows_done"))
                & Q(skipped_count__lte=F("rows_done"))
                & Q(error_count__lte=F("rows_done")),
                name="crm_importjob_counts_within_rows_done",
            ),
        ]
        indexes = [models.Index(fields=["company", "owner", "-created_at"], name="crm_importjob_company_owner")]

    def __str__(self) -> str:
        return f"{self.original_name} → {self.get_target_display()}"

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(100, self.rows_done * 100 // self.rows_total)

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)


class ImportRowIssueKind(models.TextChoices):
    ERROR = "error", _("Error")
    SKIPPED = "skipped", _("Skipped")


class ImportRowIssue(models.Model):
    """One line of a job's per-row report: a refused value, or a row skipped as a duplicate.

    Derived from the file and written with the chunk it belongs to (not audited: the job is, and the report can
    be recomputed by running the file again)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="issues", verbose_name=_("import"))
    row_number = models.PositiveIntegerField(_("row"), help_text=_("line of the file, the header being line 1"))
    column = models.CharField(_("column"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=ImportRowIssueKind.choices)
    message = models.TextField(_("message"))

    class Meta:
        verbose_name = _("import row issue")
        verbose_name_plural = _("import row issues")
        ordering = ["job", "row_number", "id"]
        indexes = [models.Index(fields=["job", "row_number"], name="crm_importrowissue_job_row")]

    def __str__(self) -> str:
        return f"{self.row_number}: {self.message}"
