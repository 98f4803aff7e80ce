"""The real background path: a Celery worker consuming tasks from the Redis broker.

Runs when REDIS_URL is set (always in CI, where .ci/run points it at the machine's Redis).
"""

import os
from pathlib import Path

import pytest
from django.conf import settings

from cpl.models import CPLImport, DeviceModel

from .helpers import SAMPLE_CPL, make_user

pytestmark = [
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (a real broker)"),
    # The worker thread has its own connection, so the data must be committed.
    pytest.mark.usefixtures("committed_db"),
]


@pytest.fixture
def real_worker():
    from celery.contrib.testing.worker import start_worker

    from portal.celery import app

    app.conf.task_always_eager = False
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10
        ):
            yield app
    finally:
        app.conf.task_always_eager = True


def test_uploaded_import_runs_on_a_worker_through_redis(real_worker):
    from cpl.tasks import cpl_import_run

    assert real_worker.conf.broker_url.startswith("redis://")
    secretariat = make_user("secretariat")
    stored = Path(settings.PRIVATE_STORAGE_ROOT, "imports")
    stored.mkdir(parents=True, exist_ok=True)
    (stored / "redis-test").write_bytes(SAMPLE_CPL.read_bytes())
    job = CPLImport.objects.create(
        file_name="cpl-sample.csv",
        file_sha256="0" * 64,
        file_size=SAMPLE_CPL.stat().st_size,
        stored_name="redis-test",
        uploaded_by=secretariat,
    )
    result = cpl_import_run.delay(job.pk)
    result.get(timeout=60)
    job.refresh_from_db()
    assert job.status == "succeeded", job.message
    assert DeviceModel.objects.count() == 40
