"""Imports uploaded through the browser: stored privately, run by a Celery task, with progress."""

import datetime
import logging
import uuid
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition

from portal.celery import app as celery_app

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
    with open(_import_dir() / stored_name, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    with open(_import_dir() / stored_name, "rb") as stored:
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
    return job


def cpl_import_run(*, import_id: int) -> CPLImport:
    job = CPLImport.objects.select_related("uploaded_by").get(pk=import_id)
    if job.status != CPLImport.Status.QUEUED:
        return job  # a redelivered task: the import already ran
    job.start()
    job.phase = "Checking every row"
    try:
        job.save()
    except ConcurrentTransition:
        return job  # another worker took it first

    path = _import_dir() / job.stored_name

    def progress(rows: int, percent: int):
        job.processed_rows, job.progress_percent = rows, min(percent, 99)
        CPLImport.objects.filter(pk=job.pk).update(
            processed_rows=rows, progress_percent=job.progress_percent
        )

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
        job.reject(rejected.message, [e.as_dict() for e in rejected.errors], rejected.error_count)
    except FileNotFoundError:
        job.fail("The uploaded file is no longer available; please upload it again.")
    except Exception:
        logger.exception("CPL import %s failed", job.pk)
        job.fail(
            "The import failed unexpectedly. Nothing was changed; please try again or "
            "contact support."
        )
    else:
        job.succeed(asdict(summary))
    job.phase, job.progress_percent, job.finished_at = "", 100, timezone.now()
    job.save()
    path.unlink(missing_ok=True)
    return job
