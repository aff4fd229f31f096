"""Attachments: add a checked file to a record, remove it."""

from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils.translation import gettext_lazy as _

from suite.models import Attachment, Company
from suite.uploads import validate_upload


def _clean_name(name: str) -> str:
    """The user's file name without any directory part or control characters (for display and download)."""
    name = PurePosixPath((name or "").replace("\\", "/")).name
    name = "".join(char for char in name if unicodedata.category(char)[0] != "C").strip()
    return (name or "file")[-255:]


def _record_company_id(record: Model) -> int | None:
    if isinstance(record, Company):
        return record.pk
    return getattr(record, "company_id", None)


def attachment_add(*, company: Company, record: Model, upload, by) -> Attachment:
    """Check ``upload`` (content, size, name: ``suite.uploads.validate_upload``) and attach it to ``record``.

    The record must belong to ``company``. The file is stored under a random name; if the row cannot be saved
    the stored file is removed again. No locks. Publishes nothing.
    """
    if record.pk is None or _record_company_id(record) != company.pk:
        raise ValidationError({"record": _("The record does not belong to this company.")})
    checked = validate_upload(upload)
    attachment = Attachment(
        company=company,
        content_type=ContentType.objects.get_for_model(record),
        object_id=str(record.pk),
        original_name=_clean_name(upload.name),
        size=checked.size,
        mime=checked.mime,
        uploaded_by=by,
    )
    upload.seek(0)
    attachment.file.save(f"upload{checked.extension}", upload, save=False)
    try:
        with transaction.atomic():
            attachment.save()
    except Exception:
        attachment.file.delete(save=False)
        raise
    return attachment


@transaction.atomic
def attachment_remove(*, attachment: Attachment, by) -> None:
    """Delete the attachment; its file is removed from storage once the transaction has committed."""
    storage, name = attachment.file.storage, attachment.file.name
    attachment.delete()
    transaction.on_commit(lambda: storage.delete(name))
