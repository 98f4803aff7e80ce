"""An import whose worker died (killed, timed out, lost) never stays "running": the reaper and a
redelivered task fail it with a clear message and delete its file; the soft time limit fails it."""

import datetime
from pathlib import Path

import pytest
from celery.exceptions import Retry, SoftTimeLimitExceeded
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cpl import imports
from cpl.models import CPLImport, DeviceModel
from cpl.tasks import cpl_import_run, cpl_imports_reap
from portal.models import AuditEvent

from ..helpers import SAMPLE_CPL

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    """A storage folder of the test's own: files it leaves on purpose stay out of other tests."""
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    return settings.PRIVATE_STORAGE_ROOT


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside: nothing after it runs."""


@pytest.fixture
def queued(client_for, django_capture_on_commit_callbacks):
    """An uploaded file, stored, its job queued (the dispatch not run)."""
    client = client_for("secretariat")
    with django_capture_on_commit_callbacks(execute=False):
        client.post(
            "/cpl/import/", {"file": SimpleUploadedFile("cpl.csv", SAMPLE_CPL.read_bytes())}
        )
    job = CPLImport.objects.get()
    assert job.status == "queued" and stored(job).is_file()
    return job


def stored(job) -> Path:
    return Path(django_settings.PRIVATE_STORAGE_ROOT, "imports", job.stored_name)


def killed_mid_import(job, monkeypatch):
    def die(**kwargs):
        raise WorkerKilled

    monkeypatch.setattr(imports, "cpl_import", die)
    with pytest.raises(WorkerKilled):
        cpl_import_run.delay(job.pk)
    monkeypatch.undo()
    job.refresh_from_db()
    assert job.status == "running" and job.started_at is not None


def age(job, seconds):
    CPLImport.objects.filter(pk=job.pk).update(
        started_at=timezone.now() - datetime.timedelta(seconds=seconds)
    )


def test_the_reaper_fails_a_job_whose_worker_died_and_deletes_its_file(queued, monkeypatch):
    killed_mid_import(queued, monkeypatch)
    assert cpl_imports_reap.delay().get() == 0  # not stale yet: its worker may be alive
    age(queued, django_settings.CPL_IMPORT_STALE_AFTER + 1)
    assert cpl_imports_reap.delay().get() == 1
    queued.refresh_from_db()
    assert queued.status == "failed" and queued.finished_at is not None
    assert queued.message.startswith("The import was interrupted") and "upload the file again" in (
        queued.message
    )
    assert not stored(queued).exists()
    assert not DeviceModel.objects.exists()
    assert AuditEvent.objects.filter(action="cplimport.fail", object_id=str(queued.pk)).exists()
    assert cpl_imports_reap.delay().get() == 0  # once


def test_a_redelivered_task_fails_the_job_its_dead_worker_left_running(queued, monkeypatch):
    killed_mid_import(queued, monkeypatch)
    age(queued, django_settings.CPL_IMPORT_STALE_AFTER + 1)
    cpl_import_run.delay(queued.pk)  # the broker hands the unacknowledged message over again
    queued.refresh_from_db()
    assert queued.status == "failed" and queued.message.startswith("The import was interrupted")
    assert not stored(queued).exists() and not DeviceModel.objects.exists()


def test_a_redelivered_task_for_a_job_that_may_still_run_looks_again_later(queued, monkeypatch):
    killed_mid_import(queued, monkeypatch)
    with pytest.raises(imports.ImportStillRunning) as running:
        imports.cpl_import_run(import_id=queued.pk)
    assert 0 < running.value.retry_in <= django_settings.CPL_IMPORT_STALE_AFTER + 1
    # In a worker the task is retried then (eagerly it leaves the decision to the reaper).
    sent = []
    monkeypatch.setattr(cpl_import_run, "apply_async", lambda *a, **kw: sent.append(kw))
    cpl_import_run.push_request(
        called_directly=False, is_eager=False, id="redelivered", retries=0, args=[queued.pk]
    )
    try:
        with pytest.raises(Retry):
            cpl_import_run.run(queued.pk)
    finally:
        cpl_import_run.pop_request()
    assert 0 < sent[0]["countdown"] <= django_settings.CPL_IMPORT_STALE_AFTER + 1
    queued.refresh_from_db()
    assert queued.status == "running" and stored(queued).is_file()


def test_an_import_past_its_soft_time_limit_fails_and_changes_nothing(queued, monkeypatch):
    def too_slow(**kwargs):
        raise SoftTimeLimitExceeded

    monkeypatch.setattr(imports, "cpl_import", too_slow)
    cpl_import_run.delay(queued.pk)
    queued.refresh_from_db()
    assert queued.status == "failed" and "took longer than 15 minutes" in queued.message
    assert not stored(queued).exists() and not DeviceModel.objects.exists()


def test_a_finished_job_delivered_again_stays_as_it_was(queued):
    cpl_import_run.delay(queued.pk)
    queued.refresh_from_db()
    assert queued.status == "succeeded"
    events = AuditEvent.objects.count()
    cpl_import_run.delay(queued.pk)
    queued.refresh_from_db()
    assert queued.status == "succeeded" and AuditEvent.objects.count() == events


def test_the_import_task_has_time_limits_and_the_reaper_runs_periodically():
    assert cpl_import_run.soft_time_limit == django_settings.CPL_IMPORT_SOFT_TIME_LIMIT
    assert cpl_import_run.time_limit == django_settings.CPL_IMPORT_TIME_LIMIT
    assert django_settings.CPL_IMPORT_TIME_LIMIT < django_settings.CPL_IMPORT_STALE_AFTER
    tasks = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"cpl.tasks.cpl_imports_reap", "portal.tasks.private_files_sweep"} <= tasks
