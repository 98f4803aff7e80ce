"""Fault drill: Redis is unreachable when the chair issues a decision. The decision commits and
the request answers (each notice's publish is one connection attempt, no retry loop); the
notices wait in the outbox and the re-dispatch task delivers each exactly once when Redis is
back. (tests/portal/test_broker_outage.py proves the publishing settings; this is the journey.)"""

import datetime
import socket
from collections import Counter

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from governance.models import Case
from portal.celery import app as celery_app
from portal.models import Notice, NoticeDelivery
from portal.notices import NOTICE_DELIVER_TASK, notices_redispatch

from ..helpers import sign_in, wait_for
from ..portal.test_access_matrix_post import Story
from ..portal.test_broker_outage import _closed_port, _forget_connections
from .stack import real_stack

pytestmark = [pytest.mark.faults, real_stack, pytest.mark.usefixtures("committed_db")]


@pytest.fixture
def broker_connects(monkeypatch):
    """Every TCP connection attempt to the (dead) broker's port, counted."""
    port = int(celery_app.conf.broker_url.rsplit(":", 1)[1].split("/")[0])
    attempts = Counter()
    real_connect = socket.socket.connect

    def connect(sock, address):
        if isinstance(address, tuple) and address[1] == port:
            attempts["broker"] += 1
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


@pytest.fixture
def publishes(monkeypatch):
    task = celery_app.tasks[NOTICE_DELIVER_TASK]
    calls = []
    real = task.apply_async

    def apply_async(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(task, "apply_async", apply_async)
    return calls


def test_a_decision_issued_with_redis_down_completes_and_its_notices_arrive_once_later(
    people, redis_down, broker_connects, publishes
):
    story = Story(people)
    case = story.decided()
    chair = story.chair_of(case)
    client = Client(raise_request_exception=False)
    sign_in(client, chair)
    mail.outbox.clear()
    already = set(Notice.objects.values_list("pk", flat=True))
    publishes.clear()  # building the story published too
    broker_connects.clear()

    response = client.post(
        reverse("governance:decision-issue", args=[case.pk]),
        {
            "reasons": "Proportionate",
            "security_factors": "Local",
            "operational_impact": "Large",
            "party_summary": "Proportionate",
            "no_devices_reason": "No supplier has devices of the other model (test data).",
            "confirmed": "yes",
        },
    )

    assert response.status_code == 302, response.content[:500]
    assert Case.objects.get(pk=case.pk).state == Case.State.REMEDIATION
    new_notices = Notice.objects.exclude(pk__in=already)
    waiting = NoticeDelivery.objects.filter(notice__in=new_notices)
    assert new_notices.exists() and waiting.count() >= 2
    assert not waiting.filter(delivered_at__isnull=False).exists()
    assert mail.outbox == []
    # Each notice was handed over once, without publish retries, and each hand-over tried the
    # broker once: no reconnect loop held the chair's request.
    assert len(publishes) == new_notices.count()
    assert all(call.get("retry") is False for call in publishes)
    assert 1 <= broker_connects["broker"] <= len(publishes)


@pytest.fixture
def real_worker_on(monkeypatch):
    """Redis is back: the broker settings the test run had, and a worker consuming from it."""
    from celery.contrib.testing.worker import start_worker

    def start(broker_url):
        _forget_connections()
        celery_app.conf.update(
            task_always_eager=False, broker_url=broker_url, result_backend=broker_url
        )
        return start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING")

    return start


def test_the_outbox_delivers_each_waiting_notice_once_when_redis_is_back(people, real_worker_on):
    real_broker = celery_app.conf.broker_url
    assert real_broker.startswith("redis://")
    story = Story(people)
    case = story.decided()
    client = Client()
    sign_in(client, story.chair_of(case))
    already = set(Notice.objects.values_list("pk", flat=True))
    dead = f"redis://127.0.0.1:{_closed_port()}/0"
    _forget_connections()
    celery_app.conf.update(task_always_eager=False, broker_url=dead, result_backend=dead)
    try:
        client.post(
            reverse("governance:decision-issue", args=[case.pk]),
            {
                "reasons": "Proportionate",
                "security_factors": "Local",
                "operational_impact": "L",
                "party_summary": "Proportionate",
                "no_devices_reason": "No supplier has devices of the other model (test data).",
                "confirmed": "yes",
            },
        )
    finally:
        _forget_connections()
    waiting = NoticeDelivery.objects.filter(notice__in=Notice.objects.exclude(pk__in=already))
    recipients = sorted(waiting.values_list("recipient__email", flat=True))
    assert recipients and not waiting.filter(delivered_at__isnull=False).exists()

    # Redis is back and a minute passes; the beat runs the re-dispatch, twice.
    Notice.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=2))
    mail.outbox.clear()
    try:
        with real_worker_on(real_broker):
            assert notices_redispatch() == len(set(waiting.values_list("notice", flat=True)))
            wait_for(lambda: not waiting.filter(delivered_at__isnull=True).exists(), 60)
            assert notices_redispatch() == 0  # nothing is waiting any more
    finally:
        _forget_connections()
        celery_app.conf.update(task_always_eager=True)

    delivered = sorted(address for message in mail.outbox for address in message.to)
    assert delivered == recipients  # everyone, once
