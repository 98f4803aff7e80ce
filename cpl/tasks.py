import logging
from dataclasses import asdict

from celery import shared_task
from django.conf import settings

from . import emergency, imports, services

logger = logging.getLogger(__name__)


@shared_task(name="cpl.tasks.certificates_check")
def certificates_check():
    return asdict(services.certificates_check(actor=None))


# Time limits need the prefork pool (the default): the soft one raises in the task, which fails
# the job; the hard one kills the process, and the reaper fails the job it left running.
@shared_task(
    name="cpl.tasks.cpl_import_run",
    bind=True,
    soft_time_limit=settings.CPL_IMPORT_SOFT_TIME_LIMIT,
    time_limit=settings.CPL_IMPORT_TIME_LIMIT,
    max_retries=None,  # retried only while a run may still be live: bounded by the stale limit
)
def cpl_import_run(self, import_id: int):
    try:
        imports.cpl_import_run(import_id=import_id)
    except imports.ImportStillRunning as running:
        if self.request.is_eager:  # in-process: a retry would run at once, again and again
            logger.warning("CPL import %s: %s; the reaper will decide", import_id, running)
            return
        raise self.retry(countdown=running.retry_in) from None


@shared_task(name="cpl.tasks.cpl_imports_resume")
def cpl_imports_resume():
    return imports.cpl_imports_resume()


@shared_task(name="cpl.tasks.cpl_imports_reap")
def cpl_imports_reap():
    return imports.cpl_imports_reap()


@shared_task(name="cpl.tasks.emergency_deadlines_check")
def emergency_deadlines_check():
    return emergency.emergency_deadlines_check()
