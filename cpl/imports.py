"""Imports uploaded through the browser: stored privately, run by a Celery task, with progress."""

import datetime
import logging
import uuid
from dataclasses import asdict
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from portal.celery import app as celery_app
from portal.documents import remove_on_rollback
from portal.transitions import run_transition

from .exchange import ExchangeFileRejected
from .models import CPLImport
from .policies import IMPORTS
from .services import cpl_import, file_sha256

logger = logging.getLogger(__name__)

# Sent by name: the tasks module imports this one, never the other way round.
CPL_IMPORT_RUN_TASK = "cpl.tasks.cpl_import_run"


def _import_dir() -> Path:
    path = Path(settings.PRIVATE_STORAGE_ROOT) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cpl_import_dispatch(import_id: int) -> bool:
    """Hand the import to a worker. With the broker down the job stays queued, and the
    periodic `cpl_imports_resume` hands it over when the broker is back."""
    task = celery_app.tasks[CPL_IMPORT_RUN_TASK]  # registered by CplConfig.ready
    try:
        # Fail fast, as portal.notices.notice_dispatch does: no retries, no result subscription.
        task.apply_async((import_id,), retry=False, ignore_result=True)
    except Exception:  # kombu raises several kinds of connection error
        logger.warning(
            "CPL import %s stays queued: the task broker is unreachable", import_id, exc_info=True
        )
        return False
    return True


def cpl_imports_resume(*, older_than: datetime.timedelta = datetime.timedelta(minutes=2)) -> int:
    """Dispatch imports still queued: their first dispatch failed or its message was lost."""
    stale = CPLImport.objects.filter(
        status=CPLImport.Status.QUEUED, created_at__lt=timezone.now() - older_than
    )
    return sum(cpl_import_dispatch(pk) for pk in stale.values_list("pk", flat=True))


def cpl_import_submit(*, actor, upload) -> CPLImport:
    """Store the uploaded file outside the web root and queue its import."""
    IMPORTS.require(actor, "import", None)
    stored_name = uuid.uuid4().hex
    path = _import_dir() / stored_name
    try:
        with open(path, "xb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        with open(path, "rb") as stored:
            sha = file_sha256(stored)
        with transaction.atomic():
            job = CPLImport.objects.create(
                file_name=Path(upload.name).name[:255],
                file_sha256=sha,
                file_size=upload.size,
                stored_name=stored_name,
                uploaded_by=actor,
            )
            transaction.on_commit(lambda: cpl_import_dispatch(job.pk))
    except BaseException:
        path.unlink(missing_ok=True)  # no row will point at it
        raise
    # Inside an enclosing transaction, that one can still roll back; a process killed
    # mid-write leaves the file to `sweep_private_files`.
    remove_on_rollback([path])
    return job


INTERRUPTED = (
    "The import was interrupted before it finished (its worker stopped or ran out of time). "
    "Nothing from this run is kept; upload the file again."
)
TIMED_OUT = (
    "The import took longer than {minutes} minutes and was stopped. Nothing was changed; "
    "upload a smaller file, or ask an administrator to import it with `manage.py import_cpl`."
)


class ImportStillRunning(Exception):
    """A second delivery of the task for a job another worker may still be running: the task
    looks again after `retry_in` seconds, when that worker is either done or certainly dead."""

    def __init__(self, retry_in: float):
        super().__init__(f"the import may still be running; look again in {retry_in:.0f} s")
        self.retry_in = retry_in


def _transition(job: CPLImport, name: str, **kwargs) -> CPLImport:
    """Move the job through run_transition, as the system (the worker or the reaper)."""
    with transaction.atomic():
        return run_transition(actor=None, obj=job, name=name, **kwargs)


def _finish(job: CPLImport) -> None:
    CPLImport.objects.filter(pk=job.pk).update(
        phase="", progress_percent=100, finished_at=timezone.now()
    )
    (_import_dir() / job.stored_name).unlink(missing_ok=True)


def _stale_before() -> datetime.datetime:
    return timezone.now() - datetime.timedelta(seconds=settings.CPL_IMPORT_STALE_AFTER)


def cpl_import_interrupted(job: CPLImport) -> bool:
    """Fail a job whose worker died mid-run, and delete its file. False when it finished (or was
    failed) meanwhile."""
    try:
        _transition(job, "fail", message=INTERRUPTED)
    except (ConcurrentTransition, TransitionNotAllowed):
        return False
    _finish(job)
    logger.warning("CPL import %s was interrupted; failed by the reaper", job.pk)
    return True


def cpl_imports_reap() -> int:
    """Fail the jobs still running after the task's hard time limit and a margin: no worker is
    running them any more (killed, out of memory, machine lost)."""
    stale = CPLImport.objects.filter(
        status=CPLImport.Status.RUNNING, started_at__lt=_stale_before()
    ) | CPLImport.objects.filter(status=CPLImport.Status.RUNNING, started_at=None)
    return sum(cpl_import_interrupted(job) for job in stale)


def cpl_import_run(*, import_id: int) -> CPLImport:
    """Run one import, in the worker (the Celery task; in-process when tasks run eagerly)."""
    job = CPLImport.objects.select_related("uploaded_by").get(pk=import_id)
    if job.status == CPLImport.Status.RUNNING:
        # Delivered again while running: its worker died (the message was redelivered), or
        # another worker holds it (the job was dispatched twice). Only time tells them apart:
        # no run outlives the hard time limit.
        if job.started_at is None or job.started_at < _stale_before():
            cpl_import_interrupted(job)
            job.refresh_from_db()
            return job
        raise ImportStillRunning((job.started_at - _stale_before()).total_seconds() + 1)
    if job.status != CPLImport.Status.QUEUED:
        return job  # finished: a redelivered or duplicate task has nothing left to do
    try:
        job.started_at, job.phase = timezone.now(), "Checking every row"
        _transition(job, "start")
    except (ConcurrentTransition, TransitionNotAllowed):
        return job  # another worker took it first

    path = _import_dir() / job.stored_name

    def progress(rows: int, percent: int):
        job.processed_rows, job.progress_percent = rows, min(percent, 99)
        CPLImport.objects.filter(pk=job.pk).update(
            processed_rows=rows, progress_percent=job.progress_percent
        )

    outcome: dict
    try:
        with open(path, "rb") as binary:
            summary = cpl_import(
                actor=job.uploaded_by,
                binary=binary,
                size=job.file_size,
                file_name=job.file_name,
                progress=progress,
            )
    except ExchangeFileRejected as rejected:
        outcome = {
            "name": "reject",
            "message": rejected.message,
            "errors": [e.as_dict() for e in rejected.errors],
            "error_count": rejected.error_count,
        }
    except FileNotFoundError:
        outcome = {
            "name": "fail",
            "message": "The uploaded file is no longer available; please upload it again.",
        }
    except SoftTimeLimitExceeded:
        minutes = max(1, settings.CPL_IMPORT_SOFT_TIME_LIMIT // 60)
        outcome = {"name": "fail", "message": TIMED_OUT.format(minutes=minutes)}
    except Exception:
        logger.exception("CPL import %s failed", job.pk)
        outcome = {
            "name": "fail",
            "message": "The import failed unexpectedly. Nothing was changed; please try again "
            "or contact support.",
        }
    else:
        outcome = {"name": "succeed", "summary": asdict(summary)}
    job.refresh_from_db()
    try:
        _transition(job, **outcome)
    except (ConcurrentTransition, TransitionNotAllowed):
        # Reaped meanwhile (a run past the stale limit): the job already says so.
        logger.warning("CPL import %s finished after it was failed as interrupted", job.pk)
    _finish(job)
    job.refresh_from_db()
    return job
