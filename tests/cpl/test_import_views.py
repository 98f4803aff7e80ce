"""The secretariat's upload page: file stored privately, imported by a task, progress and report."""

import os
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cpl.models import CPLImport, DeviceModel
from portal.models import AuditEvent

from ..helpers import SAMPLE_CPL, cpl_csv, cpl_row

pytestmark = pytest.mark.django_db


def upload(client, data: bytes, name="cpl.csv", capture=None):
    with capture(execute=True):
        return client.post("/cpl/import/", {"file": SimpleUploadedFile(name, data)})


def test_upload_imports_and_reports(client_for, django_capture_on_commit_callbacks, settings):
    client = client_for("secretariat")
    response = upload(client, SAMPLE_CPL.read_bytes(), capture=django_capture_on_commit_callbacks)
    job = CPLImport.objects.get()
    assert response["Location"] == f"/cpl/import/{job.pk}/"
    assert (job.status, job.summary["created"], job.uploaded_by.username) == (
        "succeeded",
        40,
        "secretariat",
    )
    assert DeviceModel.objects.count() == 40
    page = client.get(response["Location"]).content.decode()
    assert "Import complete" in page and job.file_sha256 in page
    assert "hx-trigger" not in page  # finished: no more polling
    # The uploaded file is removed once imported; nothing was kept under the web root.
    assert not any(Path(settings.PRIVATE_STORAGE_ROOT, "imports").iterdir())
    assert AuditEvent.objects.filter(action="cpl.imported", actor=job.uploaded_by).exists()


def test_rejected_upload_shows_each_bad_row(client_for, django_capture_on_commit_callbacks):
    client = client_for("secretariat")
    data = cpl_csv(
        [
            cpl_row(1),
            cpl_row(2, **{"Date Added": "01/02/2023"}),
            cpl_row(3, **{"Device Type": "KETTLE"}),
        ]
    )
    response = upload(client, data, capture=django_capture_on_commit_callbacks)
    job = CPLImport.objects.get()
    assert job.status == "rejected" and job.error_count == 2
    page = client.get(response["Location"]).content.decode()
    assert "The file was not imported" in page and "The register has not changed" in page
    assert "01/02/2023" in page and "KETTLE" in page
    assert DeviceModel.objects.count() == 0


def test_binary_upload_is_refused_with_a_message(client_for, django_capture_on_commit_callbacks):
    client = client_for("secretariat")
    response = upload(
        client,
        b"\x7fELF\x02\x01\x01" + os.urandom(200),
        name="cpl.csv",
        capture=django_capture_on_commit_callbacks,
    )
    job = CPLImport.objects.get()
    assert job.status == "rejected" and "binary" in job.message
    assert "binary" in client.get(response["Location"]).content.decode()


def test_empty_and_oversized_uploads_are_refused_at_the_form(
    client_for, settings, django_capture_on_commit_callbacks
):
    client = client_for("secretariat")
    empty = upload(client, b"", capture=django_capture_on_commit_callbacks)
    assert empty.status_code == 400 and "The selected file is empty" in empty.content.decode()
    settings.CPL_IMPORT_MAX_BYTES = 100
    big = upload(client, SAMPLE_CPL.read_bytes(), capture=django_capture_on_commit_callbacks)
    assert big.status_code == 400 and "must be smaller than" in big.content.decode()
    assert not CPLImport.objects.exists()


def test_progress_partial_polls_while_running(client_for, users):
    job = CPLImport.objects.create(
        file_name="big.csv",
        file_sha256="0" * 64,
        file_size=10,
        stored_name="x",
        uploaded_by=users["secretariat"],
    )
    job.start()
    job.phase, job.processed_rows, job.progress_percent = "Checking every row", 12000, 40
    job.save()
    client = client_for("secretariat")
    partial = client.get(f"/cpl/import/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('<div id="import-status" hx-get=')
    assert "12,000 rows checked" in partial and 'value="40"' in partial
    assert "<html" not in partial


def test_a_redelivered_task_does_not_import_twice(client_for, django_capture_on_commit_callbacks):
    from cpl.imports import cpl_import_run

    upload(
        client_for("secretariat"),
        SAMPLE_CPL.read_bytes(),
        capture=django_capture_on_commit_callbacks,
    )
    job = CPLImport.objects.get()
    events = AuditEvent.objects.count()
    assert cpl_import_run(import_id=job.pk).status == "succeeded"
    assert AuditEvent.objects.count() == events


def test_upload_while_the_broker_is_down_is_imported_when_it_returns(
    client_for, django_capture_on_commit_callbacks
):
    from portal.celery import app

    client = client_for("secretariat")
    keys = (
        "task_always_eager",
        "broker_url",
        "broker_connection_retry",
        "broker_transport_options",
        "task_publish_retry",
    )
    saved = {key: app.conf[key] for key in keys}
    # A broker nobody listens on: publishing fails the way it does when Redis is down.
    app.conf.update(
        task_always_eager=False,
        broker_url="redis://127.0.0.1:9/0",
        broker_connection_retry=False,
        broker_transport_options={"max_retries": 0},
        task_publish_retry=False,
    )
    try:
        response = upload(
            client, SAMPLE_CPL.read_bytes(), capture=django_capture_on_commit_callbacks
        )
    finally:
        app.conf.update(saved)
        app.close()  # drop connections made to the dead broker
    assert response.status_code == 302
    job = CPLImport.objects.get()
    assert job.status == "queued" and DeviceModel.objects.count() == 0
    page = client.get(response["Location"]).content.decode()
    assert "Waiting to start" in page and "hx-trigger" in page

    from cpl.tasks import cpl_imports_resume

    CPLImport.objects.filter(pk=job.pk).update(created_at=job.created_at.replace(year=2020))
    assert cpl_imports_resume.delay().get() == 1
    job.refresh_from_db()
    assert job.status == "succeeded" and DeviceModel.objects.count() == 40
