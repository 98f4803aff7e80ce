"""Notices: written with the change that causes them, delivered after commit exactly once,
acknowledged in the inbox, chased when ignored, and never lost when the broker is down."""

import datetime
import socket

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from governance.models import Notice, NoticeDelivery
from governance.notices import notice_deliver, notice_send, notices_chase
from governance.tasks import notice_deliver as notice_deliver_task
from governance.tasks import notices_redispatch

from ..helpers import decided_case, make_user

pytestmark = pytest.mark.django_db


def test_a_notice_rolled_back_with_its_change_never_exists(users):
    with pytest.raises(RuntimeError), transaction.atomic():
        notice_send(
            actor=None,
            kind="decision",
            subject="S",
            body="B",
            organisations=[users["supplier_a"].organisation],
        )
        raise RuntimeError
    assert not Notice.objects.exists() and not mail.outbox


def test_delivery_after_commit_once_per_recipient_even_if_run_twice(
    users, django_capture_on_commit_callbacks
):
    second = make_user("supplier_a", "supplier_a2")
    with django_capture_on_commit_callbacks(execute=True):
        notice = notice_send(
            actor=None,
            kind="decision",
            subject="Decision",
            body="Body",
            organisations=[users["supplier_a"].organisation],
        )
    assert sorted(m.to[0] for m in mail.outbox) == [
        "supplier_a2@example.org",
        "supplier_a@example.org",
    ]
    assert notice_deliver_task.delay(notice.pk).get() == 0
    assert notice_deliver(notice_id=notice.pk) == 0
    assert len(mail.outbox) == 2
    assert all(d.delivered_at for d in NoticeDelivery.objects.filter(notice=notice))
    assert second.notices.count() == 1


def test_named_contacts_receive_the_notices_of_their_organisation(
    users, django_capture_on_commit_callbacks
):
    contact = make_user("supplier_a", "compliance_a")
    contact.is_notice_contact = True
    contact.save()
    with django_capture_on_commit_callbacks(execute=True):
        notice_send(
            actor=None,
            kind="decision",
            subject="S",
            body="B",
            organisations=[users["supplier_a"].organisation],
        )
    assert [m.to for m in mail.outbox] == [["compliance_a@example.org"]]


def test_decision_commits_with_the_broker_down_and_is_delivered_when_it_returns(
    committee, django_capture_on_commit_callbacks
):
    from portal.celery import app

    keys = (
        "task_always_eager",
        "broker_url",
        "broker_connection_retry",
        "broker_transport_options",
        "task_publish_retry",
    )
    saved = {key: app.conf[key] for key in keys}
    # Really unreachable: a port with nothing listening.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    app.conf.update(
        task_always_eager=False,
        broker_url=f"redis://127.0.0.1:{dead_port}/0",
        broker_connection_retry=False,
        broker_transport_options={"max_retries": 0},
        task_publish_retry=False,
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            case = decided_case(committee)
    finally:
        app.conf.update(saved)
        app.close()
    assert case.state == "remediation"
    undelivered = NoticeDelivery.objects.filter(delivered_at__isnull=True)
    assert undelivered.exists() and not mail.outbox
    Notice.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=5))
    assert notices_redispatch.delay().get() > 0
    assert not undelivered.exists()
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert "supplier_a@example.org" in recipients and "supplier_b@example.org" in recipients
    assert len(recipients) == NoticeDelivery.objects.count()
    assert notices_redispatch.delay().get() == 0


def test_recipients_acknowledge_in_the_inbox_and_the_ssc_sees_who(
    users, client_for, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        notice = notice_send(
            actor=users["secretariat"],
            kind="decision",
            subject="Decision X",
            body="Read me",
            organisations=[users["supplier_a"].organisation, users["supplier_b"].organisation],
        )
    delivery = NoticeDelivery.objects.get(recipient=users["supplier_a"])
    client = client_for("supplier_a")
    assert "Decision X" in client.get("/inbox/").content.decode()
    assert client.post(f"/inbox/{delivery.pk}/").status_code == 302
    assert "You acknowledged this notice" in client.get(f"/inbox/{delivery.pk}/").content.decode()
    other = NoticeDelivery.objects.get(recipient=users["supplier_b"])
    assert client.get(f"/inbox/{other.pk}/").status_code == 404
    assert client.post(f"/inbox/{other.pk}/").status_code == 404
    page = client_for("secretariat").get(f"/notices/{notice.pk}/").content.decode()
    assert page.count("Not yet") == 1
    assert client_for("supplier_a").get(f"/notices/{notice.pk}/").status_code == 403


def test_unacknowledged_notices_are_chased_after_working_days(
    users, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        notice_send(
            actor=None,
            kind="decision",
            subject="Decision Y",
            body="B",
            organisations=[users["supplier_a"].organisation],
        )
    # Delivered on Thursday 24 December 2026: five Working Days later is 5 January 2027.
    NoticeDelivery.objects.update(
        delivered_at=datetime.datetime(2026, 12, 24, 10, tzinfo=datetime.UTC)
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert notices_chase(today=datetime.date(2027, 1, 4)) == 0
        assert notices_chase(today=datetime.date(2027, 1, 5)) == 1
        assert notices_chase(today=datetime.date(2027, 1, 6)) == 0
    assert [m.subject for m in mail.outbox] == ["Please acknowledge: Decision Y"]


def test_the_real_smtp_path(users, settings, django_capture_on_commit_callbacks):
    """Through Django's SMTP backend to a local SMTP server the test starts."""
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append((envelope.rcpt_tos, envelope.content.decode()))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        with django_capture_on_commit_callbacks(execute=True):
            notice_send(
                actor=None,
                kind="decision",
                subject="Over SMTP",
                body="Hello",
                organisations=[users["supplier_b"].organisation],
            )
    finally:
        controller.stop()
    assert received and received[0][0] == ["supplier_b@example.org"]
    assert "Subject: Over SMTP" in received[0][1] and "/inbox/" in received[0][1]
    assert NoticeDelivery.objects.get().delivered_at is not None


def test_smtp_failure_leaves_the_notice_waiting(
    users, settings, django_capture_on_commit_callbacks
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    with django_capture_on_commit_callbacks(execute=True):
        notice_send(
            actor=None,
            kind="decision",
            subject="S",
            body="B",
            organisations=[users["supplier_b"].organisation],
        )
    delivery = NoticeDelivery.objects.get()
    assert delivery.delivered_at is None and delivery.attempts == 1 and delivery.last_error
