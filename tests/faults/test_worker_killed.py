"""Fault drill: a Celery worker is killed (SIGKILL) in the middle of e-mailing a notice to 50
recipients. A second worker and the re-dispatch task finish the job: every recipient gets the
notice, and gets it once.

A real worker process consumes from the Redis broker (REDIS_URL) and e-mails through SMTP to a
server in this test, which kills the worker at the tenth message:

- while the worker waits for the server to accept it (no 250 yet): for SMTP it was never
  delivered, and each recipient receives exactly one message;
- after the server accepted it, before the worker recorded it (the delivery row's commit):
  no mail transport can make that exactly once. The message is sent again with the same
  Message-ID, so it is one message for the recipient's mail system: each recipient gets
  exactly one distinct message, and only the recipient in flight at the kill sees it twice on
  the wire.
"""

import asyncio
import email
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from portal.celery import app as celery_app
from portal.models import NoticeDelivery
from portal.notices import notice_send, notices_redispatch

from ..helpers import make_user, wait_for
from .stack import real_stack

pytestmark = [pytest.mark.faults, real_stack, pytest.mark.usefixtures("committed_db")]

RECIPIENTS = 50
KILL_AT = 10  # the tenth message
# One process that runs the tasks itself (--pool=solo), so SIGKILL stops the delivery.
WORKER = [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "-l", "WARNING"]
WORKER += ["--without-gossip", "--without-mingle", "--without-heartbeat"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """An SMTP server's handler: the messages it accepted, per recipient, with their
    Message-ID. It kills the sending worker at the KILL_AT-th message, `before` or `after`
    accepting it."""

    def __init__(self):
        self.accepted: list[tuple[str, str]] = []  # (recipient, Message-ID)
        self.received = 0
        self.lock = threading.Lock()
        self.kill = None  # the worker's, while it is the one to kill
        self.kill_point = "before"
        self.kill_on_quit = False

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received += 1
            number = self.received
        if number == KILL_AT and self.kill is not None:
            if self.kill_point == "before":
                self.kill()
                await asyncio.sleep(1)  # the sender is gone: this message is never accepted
                return "451 Sender vanished"
            self.kill_on_quit = True  # accepted below; the sender dies before its commit
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        with self.lock:
            for address in envelope.rcpt_tos:
                self.accepted.append((address, message["Message-ID"]))
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        if self.kill_on_quit and self.kill is not None:
            self.kill_on_quit = False
            self.kill()
            await asyncio.sleep(1)
        return "221 Bye"


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def workers(mailbox, tmp_path):
    """Start real worker processes (production settings) against the test database, the
    broker and the test's SMTP server; all stopped at the end."""
    _box, smtp_port = mailbox
    started: list[subprocess.Popen] = []
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DJANGO_SECRET_KEY": "fault-drill-only-" + "k" * 40,
        "DATABASE_URL": database_url(),
        "REDIS_URL": celery_app.conf.broker_url,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "LOG_LEVEL": "WARNING",
    }

    log = (tmp_path / "workers.log").open("ab")

    def start() -> subprocess.Popen:
        worker = subprocess.Popen(
            WORKER,
            env=env,
            cwd=settings.BASE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
        log.close()
        # Shown with a failure: why a worker did not start or stop.
        sys.stderr.write((tmp_path / "workers.log").read_text(errors="replace")[-3000:])


@pytest.fixture
def publishing_to_redis():
    """Tasks go to the broker (the test settings otherwise run them in-process)."""
    celery_app.conf.task_always_eager = False
    celery_app.control.purge()  # nothing left over from an earlier run
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = True


@pytest.mark.parametrize("kill_point", ["before", "after"], ids=lambda p: f"{p} acceptance")
def test_a_worker_killed_mid_fan_out_leaves_each_recipient_one_message(
    mailbox, workers, publishing_to_redis, kill_point
):
    box, _port = mailbox
    box.kill_point = kill_point
    recipients = [make_user("supplier_a", f"contact{i:02}") for i in range(RECIPIENTS)]
    with transaction.atomic():  # published to the broker on commit
        notice = notice_send(
            actor=None, kind="decision", subject="Decision", body="B", users=recipients
        )
    deliveries = NoticeDelivery.objects.filter(notice=notice)
    assert deliveries.count() == RECIPIENTS

    first = workers()
    box.kill = lambda: os.kill(first.pid, signal.SIGKILL)
    first.wait(120)
    assert first.returncode == -signal.SIGKILL  # killed mid fan-out, not finished
    assert deliveries.filter(delivered_at__isnull=False).count() == KILL_AT - 1
    assert len(box.accepted) == KILL_AT - (1 if kill_point == "before" else 0)

    # A new worker starts; a minute later the beat's re-dispatch hands the notice over again.
    box.kill = None
    workers()
    type(notice).objects.filter(pk=notice.pk).update(
        created_at=timezone.now() - timezone.timedelta(minutes=2)
    )
    assert notices_redispatch() == 1
    assert wait_for(lambda: not deliveries.filter(delivered_at__isnull=True).exists(), 120)
    assert notices_redispatch() == 0  # nothing left waiting

    addresses = sorted(u.email for u in recipients)
    messages = {(address, message_id) for address, message_id in box.accepted}
    assert sorted(address for address, _ in messages) == addresses  # one message each
    on_the_wire = sorted(Counter(address for address, _ in box.accepted).values())
    # Accepted and then sent again: the same message (Message-ID) to the one in flight.
    assert on_the_wire == [1] * (RECIPIENTS - 1) + [1 if kill_point == "before" else 2]
