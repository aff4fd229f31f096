"""Uploads are checked by content and size; downloads check the parent record's policy and are never inline."""

import io
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from suite.models import Attachment, Role
from suite.services.uploads import attachment_add
from suite.testing import TeamFactory
from suite.uploads import validate_upload

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 40
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 200
    + b"This program cannot be run in DOS mode"
)
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


def office_file(kind: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        package.writestr(f"{kind}/document.xml", "<doc/>")
    return buffer.getvalue()


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


# ---------------------------------------------------------------- validation by content


@pytest.mark.parametrize(
    "name,content,mime",
    [
        ("合同.pdf", PDF, "application/pdf"),
        ("logo.PNG", PNG, "image/png"),
        ("photo.jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 20, "image/jpeg"),
        ("anim.gif", b"GIF89a" + b"\x00" * 20, "image/gif"),
        ("pic.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "image/webp"),
        ("报表.xlsx", office_file("xl"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("memo.docx", office_file("word"), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("客户.csv", "名称,城市\n华东机械,上海\n".encode("gb18030"), "text/csv"),
        ("notes.txt", "备注：a < b and c > d\n".encode(), "text/plain"),
    ],
)
def test_allowed_files_pass_with_the_type_their_content_proves(name, content, mime):
    checked = validate_upload(upload(name, content))

    assert checked.mime == mime
    assert checked.size == len(content)


@pytest.mark.parametrize(
    "name,content,code",
    [
        ("invoice.pdf", EXE, "content"),  # a program renamed to .pdf
        ("setup.exe", EXE, "extension"),
        ("photo.png", HTML, "content"),  # an HTML page disguised as an image
        ("page.html", HTML, "extension"),
        ("readme.txt", HTML, "content"),  # markup a browser would render, even as "text"
        ("data.csv", b"name\n<svg onload=alert(1)>\n", "content"),
        ("photo.png", PDF, "content"),  # a real PDF, but not what the name says
        ("book.xlsx", office_file("word"), "content"),
        ("archive.xlsx", b"PK\x03\x04garbage", "content"),
        ("binary.txt", b"abc\x00def", "content"),
        ("empty.pdf", b"", "empty"),
        ("noext", PDF, "extension"),
    ],
)
def test_disguised_or_unknown_files_are_refused(name, content, code):
    with pytest.raises(ValidationError) as error:
        validate_upload(upload(name, content))

    assert error.value.code == code


def test_oversized_file_is_refused_before_it_is_read(settings):
    settings.TROIKA_UPLOAD_MAX_BYTES = 1024

    with pytest.raises(ValidationError) as error:
        validate_upload(upload("big.pdf", PDF + b"0" * 2000))

    assert error.value.code == "too_large"
    assert "1.0\xa0KB" in error.value.messages[0]


# ---------------------------------------------------------------- service, upload and download views


def test_service_stores_under_a_random_name_with_the_checked_type(company, member):
    admin = member(company, Role.ADMIN)
    team = TeamFactory(company=company)

    attachment = attachment_add(company=company, record=team, upload=upload("../../etc/合同.pdf", PDF), by=admin.user)

    assert attachment.original_name == "合同.pdf"
    assert attachment.mime == "application/pdf"
    assert attachment.size == len(PDF)
    assert attachment.record == team
    assert "合同" not in attachment.file.name and ".." not in attachment.file.name
    assert attachment.file.name.startswith(f"attachments/{company.pk}/")
    assert Path(attachment.file.path).read_bytes() == PDF


def test_service_refuses_a_record_of_another_company(company, other_company, member):
    admin = member(company, Role.ADMIN)

    with pytest.raises(ValidationError):
        attachment_add(
            company=company, record=TeamFactory(company=other_company), upload=upload("a.pdf", PDF), by=admin.user
        )


def test_upload_and_download_through_the_ui(company, member, media):
    admin = member(company, Role.ADMIN)
    team = TeamFactory(company=company)
    client = Client()
    client.force_login(admin.user)

    response = client.post(
        reverse("attachment-upload", args=["suite.team", team.pk]), {"file": upload("季度报告.pdf", PDF)}
    )
    assert response.status_code == 302
    attachment = Attachment.objects.get()

    download = client.get(reverse("attachment-download", args=[attachment.pk]))
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith("attachment;")
    assert "filename*=utf-8''%E5%AD%A3%E5%BA%A6%E6%8A%A5%E5%91%8A.pdf" in download["Content-Disposition"]
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content) == PDF

    panel = client.get(reverse("attachments", args=["suite.team", team.pk])).content.decode()
    assert "季度报告.pdf" in panel


@pytest.mark.parametrize(
    "name,content",
    [("invoice.pdf", EXE), ("photo.png", HTML), ("big.pdf", PDF + b"0" * 4096)],
)
def test_bad_uploads_get_a_clear_400_and_store_nothing(company, member, media, settings, name, content):
    settings.TROIKA_UPLOAD_MAX_BYTES = 2048
    admin = member(company, Role.ADMIN)
    team = TeamFactory(company=company)
    client = Client()
    client.cookies["django_language"] = "en"
    client.force_login(admin.user)

    response = client.post(reverse("attachment-upload", args=["suite.team", team.pk]), {"file": upload(name, content)})

    assert response.status_code == 400
    html = response.content.decode()
    assert "not accepted" in html or "too large" in html
    assert Attachment.objects.count() == 0
    assert not any(path.is_file() for path in media.rglob("*"))


def test_htmx_upload_error_comes_back_in_the_panel(company, member):
    admin = member(company, Role.ADMIN)
    team = TeamFactory(company=company)
    client = Client()
    client.cookies["django_language"] = "en"
    client.force_login(admin.user)

    response = client.post(
        reverse("attachment-upload", args=["suite.team", team.pk]),
        {"file": upload("photo.png", HTML)},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert "does not match its name photo.png" in response.content.decode()


def test_download_follows_the_parent_records_policy(company, other_company, member):
    admin = member(company, Role.ADMIN)
    team = TeamFactory(company=company)
    attachment = attachment_add(company=company, record=team, upload=upload("a.pdf", PDF), by=admin.user)
    sales = Client()
    sales.force_login(member(company, Role.SALES).user)
    stranger = Client()
    stranger.force_login(member(other_company, Role.ADMIN).user)

    assert sales.get(reverse("attachment-download", args=[attachment.pk])).status_code == 200  # may view the team
    assert (
        sales.post(
            reverse("attachment-upload", args=["suite.team", team.pk]), {"file": upload("b.pdf", PDF)}
        ).status_code
        == 403
    )  # but not change it
    assert sales.post(reverse("attachment-remove", args=[attachment.pk])).status_code == 403
    assert stranger.get(reverse("attachment-download", args=[attachment.pk])).status_code == 404
    assert stranger.get(reverse("attachments", args=["suite.team", team.pk])).status_code == 404
    assert (
        stranger.post(
            reverse("attachment-upload", args=["suite.team", team.pk]), {"file": upload("c.pdf", PDF)}
        ).status_code
        == 404
    )
    assert Attachment.objects.count() == 1


def test_remove_deletes_the_file_after_commit(company, member, django_capture_on_commit_callbacks):
    admin = member(company, Role.ADMIN)
    team = TeamFactory(company=company)
    attachment = attachment_add(company=company, record=team, upload=upload("a.pdf", PDF), by=admin.user)
    path = Path(attachment.file.path)
    client = Client()
    client.force_login(admin.user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("attachment-remove", args=[attachment.pk]), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert Attachment.objects.count() == 0
    assert not path.exists()
