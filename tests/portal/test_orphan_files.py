"""No stored file outlives the row that would point at it: a rollback, even of an enclosing
transaction, removes it; whatever a killed process leaves is swept once past the grace period."""

import os
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import DatabaseError, transaction

from cpl.imports import cpl_import_submit
from cpl.models import CPLImport
from portal.documents import stored_documents
from portal.tasks import private_files_sweep

from ..helpers import SAMPLE_CPL, pdf_upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    """A storage folder of the test's own: files it leaves on purpose stay out of other tests."""
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    return settings.PRIVATE_STORAGE_ROOT


class Abandoned(Exception):
    pass


def files_in(settings, folder: str) -> set[str]:
    path = Path(settings.PRIVATE_STORAGE_ROOT, folder)
    return {p.name for p in path.iterdir()} if path.is_dir() else set()


def test_a_rollback_of_the_enclosing_transaction_removes_the_stored_file(settings):
    before = files_in(settings, "evidence")
    with pytest.raises(Abandoned), transaction.atomic():
        with stored_documents(folder="evidence") as store, transaction.atomic():
            stored = store(pdf_upload())
        assert stored.path.is_file()  # the service's own block committed (to a savepoint)
        raise Abandoned  # ... and the request's transaction around it rolls back
    assert not stored.path.exists()
    assert files_in(settings, "evidence") == before


def test_a_commit_keeps_the_stored_file(settings, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True),
        transaction.atomic(),
        stored_documents(folder="evidence") as store,
        transaction.atomic(),
    ):
        stored = store(pdf_upload())
    assert stored.path.is_file()


def test_a_database_failure_after_an_import_file_is_stored_leaves_no_file(
    users, settings, monkeypatch
):
    before = files_in(settings, "imports")

    def database_down(**kwargs):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(CPLImport.objects, "create", database_down)
    upload = SimpleUploadedFile("cpl.csv", SAMPLE_CPL.read_bytes())
    with pytest.raises(DatabaseError):
        cpl_import_submit(actor=users["secretariat"], upload=upload)
    assert files_in(settings, "imports") == before
    monkeypatch.undo()
    with pytest.raises(Abandoned), transaction.atomic():
        cpl_import_submit(actor=users["secretariat"], upload=upload)
        assert len(files_in(settings, "imports") - before) == 1
        raise Abandoned
    assert files_in(settings, "imports") == before and not CPLImport.objects.exists()


def make_file(settings, folder: str, name: str, hours_old: float) -> Path:
    path = Path(settings.PRIVATE_STORAGE_ROOT, folder, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"data")
    stamp = time.time() - hours_old * 3600
    os.utime(path, (stamp, stamp))
    return path


def test_the_sweeper_deletes_old_orphans_and_keeps_referenced_and_recent_files(
    users, settings, capsys
):
    grace = settings.PRIVATE_ORPHAN_GRACE_HOURS
    referenced = make_file(settings, "imports", "a" * 32, grace + 1)
    CPLImport.objects.create(
        file_name="cpl.csv",
        file_sha256="0" * 64,
        file_size=4,
        stored_name=referenced.name,
        uploaded_by=users["secretariat"],
    )
    orphan = make_file(settings, "imports", "b" * 32, grace + 1)
    evidence_orphan = make_file(settings, "evidence", "c" * 32, grace + 1)
    in_progress = make_file(settings, "imports", "d" * 32, grace - 1)  # no row yet
    undeclared = make_file(settings, "elsewhere", "e" * 32, grace + 1)

    call_command("sweep_private_files", "--dry-run")
    assert orphan.exists() and "would delete imports/" + orphan.name in capsys.readouterr().out

    call_command("sweep_private_files")
    assert not orphan.exists() and not evidence_orphan.exists()
    assert referenced.exists() and in_progress.exists() and undeclared.exists()
    assert "2 files no row refers to deleted." in capsys.readouterr().out

    orphan = make_file(settings, "imports", "f" * 32, grace + 1)
    assert private_files_sweep.delay().get() == 1  # the beat task
    assert not orphan.exists() and referenced.exists()
