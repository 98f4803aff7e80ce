"""With Redis unreachable, publishing from a request fails fast and leaves delivery to the
outbox's re-dispatch (issue 10: a decision took 57 s and answered 500 with Redis down).

The app keeps its real publishing settings here (only the broker and result store move to a
closed port), so the test proves the settings, not a test-only override."""

import os
import socket
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import transaction

from cpl.imports import cpl_import_dispatch
from cpl.models import CPLImport
from portal.celery import app as celery_app
from portal.models import NoticeDelivery
from portal.notices import notice_send

from ..helpers import SAMPLE_CPL, make_user

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe closes


def _forget_connections():
    """The app caches its connection pool, producer pool and result store: drop them so the
    next publish uses the broker URL configured now."""
    celery_app.close()
    celery_app.amqp._producer_pool = None
    celery_app.__dict__.pop("backend", None)


@pytest.fixture
def redis_down():
    keys = ("task_always_eager", "broker_url", "result_backend")
    saved = {key: celery_app.conf[key] for key in keys}
    dead = f"redis://127.0.0.1:{_closed_port()}/0"
    _forget_connections()
    celery_app.conf.update(task_always_eager=False, broker_url=dead, result_backend=dead)
    try:
        yield
    finally:
        _forget_connections()
        celery_app.conf.update(saved)


def test_publishing_settings_fail_fast():
    assert settings.CELERY_TASK_PUBLISH_RETRY is False
    assert settings.CELERY_BROKER_CONNECTION_TIMEOUT <= 1
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["max_retries"] == 0
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["socket_connect_timeout"] <= 1


def test_notice_send_with_redis_down_commits_and_waits_in_the_outbox(
    redis_down, django_capture_on_commit_callbacks
):
    supplier = make_user("supplier_a")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        notice = notice_send(
            actor=None,
            kind="decision",
            subject="Decision",
            body="B",
            organisations=[supplier.organisation],
        )
    delivery = NoticeDelivery.objects.get(notice=notice)
    assert delivery.delivered_at is None and delivery.attempts == 0  # for notices_redispatch


# A fresh interpreter: no connection or producer pool cached by earlier tests can publish
# elsewhere. Speed is the settings' business (above), not a timed assertion here.
PUBLISH_WITH_REDIS_DOWN = """
import django
django.setup()
from cpl.imports import cpl_import_dispatch
from portal.notices import notice_dispatch
print(notice_dispatch(1), cpl_import_dispatch(1))
"""


def test_publishing_with_redis_down_reports_failure_instead_of_hanging():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0",
        "DATABASE_URL": "sqlite:///:memory:",
    }
    done = subprocess.run(
        [sys.executable, "-c", PUBLISH_WITH_REDIS_DOWN],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=settings.BASE_DIR,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["False", "False"]


def test_a_cpl_import_stays_queued_when_it_cannot_be_dispatched(redis_down):
    secretariat = make_user("secretariat")
    job = CPLImport.objects.create(
        file_name="cpl-sample.csv",
        file_sha256="0" * 64,
        file_size=SAMPLE_CPL.stat().st_size,
        stored_name="never-read",
        uploaded_by=secretariat,
    )
    cpl_import_dispatch(job.pk)
    job.refresh_from_db()
    assert job.status == CPLImport.Status.QUEUED  # for cpl_imports_resume
