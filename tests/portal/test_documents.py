"""The one stored-document pipeline: detection once, in the form field; no file outlives a
rolled-back transaction."""

from pathlib import Path

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction

from governance import services
from governance.models import EvidenceDocument
from portal import documents
from portal.documents import stored_documents
from portal.forms import DocumentField
from portal.models import Organisation

from ..helpers import cpa_case, pdf_upload

pytestmark = pytest.mark.django_db


class UploadForm(forms.Form):
    file = DocumentField(label="Document")


def stored_files(settings, folder: str) -> set[Path]:
    root = Path(settings.PRIVATE_STORAGE_ROOT, folder)
    return set(root.iterdir()) if root.is_dir() else set()


def test_the_field_refuses_a_disallowed_type_with_a_clear_message():
    exe = SimpleUploadedFile("advice.pdf", b"MZ\x90\x00\x03" + b"\x00" * 200)
    form = UploadForm(files={"file": exe})
    assert not form.is_valid()
    [message] = form.errors["file"]
    assert "not an allowed document type" in message and "Upload a PDF, DOCX" in message


def test_the_field_detects_the_type_once_for_the_service_that_stores_it(
    users, settings, monkeypatch
):
    calls = []
    detect = documents._detect
    monkeypatch.setattr(documents, "_detect", lambda upload: calls.append(1) or detect(upload))
    form = UploadForm(files={"file": pdf_upload()})
    assert form.is_valid()
    upload = form.cleaned_data["file"]
    assert upload.content_type_detected == "application/pdf"

    document = services.evidence_upload(
        actor=users["secretariat"],
        case=cpa_case(users),
        title="NCSC advice",
        classification="ssc-only",
        upload=upload,
    )
    assert document.content_type == "application/pdf" and len(calls) == 1


def test_a_rolled_back_transaction_leaves_no_stored_file(settings):
    before = stored_files(settings, "evidence")
    with (
        pytest.raises(IntegrityError),
        stored_documents(folder="evidence") as store,
        transaction.atomic(),
    ):
        stored = store(pdf_upload())
        assert stored.path.is_file()
        Organisation.objects.create(name="SSC", party_type="ssc")
        Organisation.objects.create(name="SSC", party_type="ssc")  # names are unique
    assert not stored.path.exists()
    assert stored_files(settings, "evidence") == before


def test_a_service_whose_transaction_fails_after_storing_removes_the_file(
    users, settings, monkeypatch
):
    case = cpa_case(users)
    before = stored_files(settings, "evidence")

    def fail(**kwargs):
        raise IntegrityError("forced after the document row was written")

    monkeypatch.setattr(services, "audit_record", fail)
    with pytest.raises(IntegrityError):
        services.evidence_upload(
            actor=users["secretariat"],
            case=case,
            title="NCSC advice",
            classification="ssc-only",
            upload=pdf_upload(),
        )
    assert not EvidenceDocument.objects.exists()
    assert stored_files(settings, "evidence") == before


def test_every_file_of_a_failed_block_is_removed(settings):
    before = stored_files(settings, "referrals")
    with (
        pytest.raises(IntegrityError),
        stored_documents(folder="referrals") as store,
        transaction.atomic(),
    ):
        store(pdf_upload("one.pdf"))
        store(pdf_upload("two.pdf"))
        raise IntegrityError("forced")
    assert stored_files(settings, "referrals") == before
