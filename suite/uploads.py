"""What an uploaded file really is: checked by its content (magic bytes), its size and its declared name.

A file is accepted only when its first bytes prove one of the allowed kinds and its extension is one that kind
is known by, so a renamed program (``setup.exe`` → ``invoice.pdf``) or an HTML page named ``photo.png`` is
refused. Text files (CSV, TXT) must decode as UTF-8 or GB18030 and must not look like markup a browser would
render (HTML, SVG, XML). The checked content type — never the one the browser sent — is stored and served.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

SNIFF_BYTES = 8192


@dataclass(frozen=True)
class FileKind:
    mime: str
    extensions: frozenset[str]


PDF = FileKind("application/pdf", frozenset({".pdf"}))
PNG = FileKind("image/png", frozenset({".png"}))
JPEG = FileKind("image/jpeg", frozenset({".jpg", ".jpeg"}))
GIF = FileKind("image/gif", frozenset({".gif"}))
WEBP = FileKind("image/webp", frozenset({".webp"}))
XLSX = FileKind("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", frozenset({".xlsx"}))
DOCX = FileKind("application/vnd.openxmlformats-officedocument.wordprocessingml.document", frozenset({".docx"}))
CSV = FileKind("text/csv", frozenset({".csv"}))
TEXT = FileKind("text/plain", frozenset({".txt"}))

ALLOWED_EXTENSIONS = sorted(
    ext for kind in (PDF, PNG, JPEG, GIF, WEBP, XLSX, DOCX, CSV, TEXT) for ext in kind.extensions
)

# What browsers sniff as markup (WHATWG MIME sniffing, "HTML" and "XML" patterns), checked on text uploads.
_MARKUP = re.compile(
    rb"^\s*<(?:!doctype\s+html|html|head|body|script|iframe|svg|\?xml|title|style|img|a\s|div|table|br|p\b|h1|font|b\b|!--)",
    re.IGNORECASE,
)
_MARKUP_ANYWHERE = re.compile(rb"<\s*(?:script|svg|iframe|object|embed)\b|javascript:", re.IGNORECASE)


@dataclass(frozen=True)
class CheckedFile:
    mime: str
    size: int
    extension: str


def _extension(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


def _office_kind(upload) -> FileKind | None:
    """XLSX/DOCX are ZIP packages: tell them apart by their parts, without extracting anything."""
    upload.seek(0)
    try:
        with zipfile.ZipFile(upload) as package:
            names = set(package.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    finally:
        upload.seek(0)
    if "[Content_Types].xml" not in names:
        return None
    if any(name.startswith("xl/") for name in names):
        return XLSX
    if any(name.startswith("word/") for name in names):
        return DOCX
    return None


def _decodes_as_text(head: bytes) -> bool:
    for encoding in ("utf-8", "gb18030"):
        try:
            head.decode(encoding)
        except UnicodeDecodeError as exc:
            # A multi-byte character may be cut at the end of the sniffed head; that is not binary content.
            if len(head) == SNIFF_BYTES and exc.start >= len(head) - 4:
                return True
        else:
            return True
    return False


def _text_kind(head: bytes, extension: str) -> FileKind | None:
    if b"\x00" in head or not _decodes_as_text(head):
        return None
    body = head.removeprefix(b"\xef\xbb\xbf")
    if _MARKUP.match(body) or _MARKUP_ANYWHERE.search(body):
        return None
    return CSV if extension == ".csv" else TEXT


def sniff(upload, extension: str) -> FileKind | None:
    """The kind the file's content proves, or ``None`` for anything not allowed."""
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"PK\x03\x04"):
        return _office_kind(upload)
    if extension in (CSV.extensions | TEXT.extensions):
        return _text_kind(head, extension)
    return None


def validate_upload(upload, *, max_bytes: int | None = None) -> CheckedFile:
    """Check an uploaded file (a Django ``UploadedFile`` or any file object with ``name`` and ``size``).

    Raises ``ValidationError`` (code ``too_large``, ``empty``, ``extension`` or ``content``) with a message
    for the user; returns the checked content type and size otherwise.
    """
    limit = settings.TROIKA_UPLOAD_MAX_BYTES if max_bytes is None else max_bytes
    size = upload.size
    if size is None:
        upload.seek(0, 2)
        size = upload.tell()
        upload.seek(0)
    if size > limit:
        raise ValidationError(
            _("The file is too large (%(size)s); the limit is %(limit)s."),
            code="too_large",
            params={"size": filesizeformat(size), "limit": filesizeformat(limit)},
        )
    if size == 0:
        raise ValidationError(_("The file is empty."), code="empty")
    name = upload.name or ""
    extension = _extension(name)
    if extension not in ALLOWED_EXTENSIONS:
        raise ValidationError(
            _("Files of this type are not accepted. Allowed: %(allowed)s."),
            code="extension",
            params={"allowed": ", ".join(ALLOWED_EXTENSIONS)},
        )
    kind = sniff(upload, extension)
    if kind is None or extension not in kind.extensions:
        raise ValidationError(
            _("The file's content does not match its name %(name)s; it was not accepted."),
            code="content",
            params={"name": PurePosixPath(name).name},
        )
    return CheckedFile(mime=kind.mime, size=size, extension=extension)


def decode_text(data: bytes | str, *, field: str = "file") -> str:
    """A text file's content as ``str``: UTF-8 (with or without Excel's BOM), else GB18030 — what Chinese
    Excel and time clocks save CSV as. Anything else is a ``ValidationError`` on ``field``."""
    if isinstance(data, str):
        return data
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError({field: [_("The file is neither UTF-8 nor GB18030 text.")]})
