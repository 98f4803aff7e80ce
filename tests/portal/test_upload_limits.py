"""Uploads: active content is refused by name and by content, and an oversize upload is stopped
while it streams in, with a clear 413 and no file left on disk."""

from pathlib import Path

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import StopUpload
from django.test import RequestFactory

from governance.models import EvidenceDocument
from portal.documents import BoundedUploadHandler
from portal.forms import DocumentField

from ..helpers import PDF_BYTES, cpa_case

pytestmark = pytest.mark.django_db


class UploadForm(forms.Form):
    file = DocumentField(label="Document")


def refusal(name: str, data: bytes) -> str:
    form = UploadForm(files={"file": SimpleUploadedFile(name, data)})
    assert not form.is_valid(), name
    [message] = form.errors["file"]
    return message


@pytest.mark.parametrize(
    "name",
    ["page.html", "PAGE.HTM", "logo.svg", "run.hta", "app.js", "setup.exe", "x.hta.", "a\\b.Hta"],
)
def test_dangerous_names_are_refused_whatever_the_content(name):
    assert "are not accepted" in refusal(name, b"just some words\n")


@pytest.mark.parametrize(
    "name, data",
    [
        ("notes.txt", b"<!-- hi -->\n<HTML><body>x</body></HTML>"),
        ("notes.txt", b"intro\n<ScRiPt>alert(1)</script>"),
        ("notes.csv", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        # A PDF/HTML polyglot: markup first, a PDF signature further on.
        ("advice.pdf", b"<html><script>alert(1)</script>\n" + PDF_BYTES),
        # ... and a PDF whose first KiB carries markup a sniffing browser would render.
        ("advice.pdf", PDF_BYTES[:9] + b"%<html><script>alert(1)</script>\n" + PDF_BYTES[9:]),
    ],
)
def test_content_that_sniffs_as_markup_is_refused(name, data):
    assert "web page markup" in refusal(name, data)


def test_a_pdf_must_start_with_its_signature():
    assert "not a well-formed PDF" in refusal("advice.pdf", b"\xef\xbb\xbf" + PDF_BYTES)


def test_plain_text_needs_a_plain_text_name():
    assert "is plain text but is named .docx" in refusal("report.docx", b"just words\n")


@pytest.mark.parametrize(
    "name, data, detected",
    [
        ("advice.pdf", PDF_BYTES, "application/pdf"),
        ("notes.txt", b"markup is written <b>like this</b> after the first KiB\n", "text/plain"),
        ("counts.csv", b"a,b\n1,2\n", "text/csv"),
        ("README", b"no extension at all\n", "text/plain"),
    ],
)
def test_ordinary_documents_are_still_accepted(name, data, detected):
    form = UploadForm(files={"file": SimpleUploadedFile(name, data)})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["file"].content_type_detected == detected


@pytest.fixture
def tiny_limit(settings, tmp_path):
    """A 64 KiB evidence limit; every upload spooled to disk, in a folder the test can see."""
    settings.EVIDENCE_MAX_BYTES = 64 * 1024
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "spool")
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir()
    return tmp_path


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "size",
    [
        64 * 1024 + 1,  # streamed, stopped at the limit
        3 * 1024 * 1024,  # declared too large: the body is not read at all
    ],
)
def test_an_oversize_upload_is_stopped_with_a_413_and_leaves_no_file(
    users, client_for, tiny_limit, size
):
    case = cpa_case(users)
    response = client_for("secretariat").post(
        f"/cases/{case.pk}/evidence/new/",
        {
            "title": "Huge",
            "classification": "ssc-only",
            "file": SimpleUploadedFile("big.pdf", PDF_BYTES + b"0" * size),
        },
    )
    assert response.status_code == 413
    assert (
        "too large" in response.content.decode()
        and "at most 64.0\xa0KB" in response.content.decode()
    )
    assert not EvidenceDocument.objects.exists()
    assert files_under(tiny_limit) == []


def test_an_upload_within_the_limit_still_works(users, client_for, tiny_limit):
    case = cpa_case(users)
    response = client_for("secretariat").post(
        f"/cases/{case.pk}/evidence/new/",
        {
            "title": "Advice",
            "classification": "ssc-only",
            "file": SimpleUploadedFile("advice.pdf", PDF_BYTES + b"0" * 60000),
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    assert EvidenceDocument.objects.count() == 1
    assert files_under(tiny_limit / "spool") == []


def test_the_handler_stops_reading_at_the_limit_of_the_page(settings):
    settings.EVIDENCE_MAX_BYTES = 1000
    settings.UPLOAD_MAX_BYTES_BY_VIEW = {"cpl:inventory": 5000}
    evidence = BoundedUploadHandler(RequestFactory().post("/cases/1/evidence/new/"))
    inventory = BoundedUploadHandler(RequestFactory().post("/cpl/inventory/"))
    assert (evidence.limit, inventory.limit) == (1000, 5000)
    assert evidence.receive_data_chunk(b"x" * 1000, 0) == b"x" * 1000
    with pytest.raises(StopUpload):
        evidence.receive_data_chunk(b"x", 1000)
    assert evidence.request.upload_refused_limit == 1000


def test_the_import_pages_keep_their_larger_limits():
    from django.conf import settings as live

    for path, limit in (
        ("/cpl/import/", live.CPL_IMPORT_MAX_BYTES),
        ("/cpl/inventory/", live.INVENTORY_UPLOAD_MAX_BYTES),
    ):
        assert BoundedUploadHandler(RequestFactory().post(path)).limit == limit
