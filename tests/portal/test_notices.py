"""The notice outbox (portal.notices): written with the change that causes it, delivered after
commit exactly once, acknowledged in the inbox, chased when ignored, never lost when the broker
or SMTP is down, and linking absolutely to its object and to the next action."""

import datetime
import socket

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from cpl.models import CPLChangeNotice, DeviceModel
from cpl.services import certificate_record_event
from governance import services
from portal.celery import app as celery_app
from portal.models import Notice, NoticeDelivery
from portal.notices import notice_deliver, notice_send, notices_chase
from portal.tasks import notice_deliver as notice_deliver_task
from portal.tasks import notices_redispatch

from ..helpers import cpa_case, cpl_csv, cpl_row, decided_case, import_bytes, make_user

pytestmark = pytest.mark.django_db
BASE = "https://portal.example.org"


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.PORTAL_BASE_URL = BASE


def dead_smtp(settings):
    """SMTP that refuses connections: a port with nothing listening."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2


def smtp_back(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def age_notices():
    """The periodic re-dispatch leaves notices younger than a minute to their first dispatch."""
    Notice.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=5))


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
            # Reached both directly and through the organisation: still one delivery.
            users=[second],
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


def test_the_task_names_of_the_governance_outbox_are_still_served():
    """Messages queued under the old names before a deploy are still consumed."""
    for name in ("notice_deliver", "notices_redispatch", "notices_chase"):
        assert f"portal.tasks.{name}" in celery_app.tasks
        assert f"governance.tasks.{name}" in celery_app.tasks


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


def test_email_links_absolutely_and_the_inbox_relatively_to_the_object_and_the_next_action(
    users, client_for, django_capture_on_commit_callbacks
):
    case = cpa_case(users)
    with django_capture_on_commit_callbacks(execute=True):
        notice = notice_send(
            actor=users["secretariat"],
            kind="referral",  # a kind whose step the page does not ask the case's policy about
            subject="Decision Z",
            body="Read me",
            organisations=[users["supplier_a"].organisation],
            about=case,
            link=f"/cases/{case.pk}/",
            action_link=f"/referrals/new/{case.pk}/",
            action_label="Refer the decision to the Authority",
        )
    assert (notice.about, notice.reference) == (case, case.reference)
    delivery = NoticeDelivery.objects.get(notice=notice)
    [message] = mail.outbox
    assert f"{case.reference}: {BASE}/cases/{case.pk}/" in message.body
    assert f"Refer the decision to the Authority: {BASE}/referrals/new/{case.pk}/" in message.body
    assert f"{BASE}/inbox/{delivery.pk}/" in message.body
    links = [word for word in message.body.split() if "://" in word]
    assert len(links) == 3 and all(link.startswith(f"{BASE}/") for link in links)
    page = client_for("supplier_a").get(f"/inbox/{delivery.pk}/").content.decode()
    # In the portal, links stay on the host the reader is on.
    assert f'href="/cases/{case.pk}/"' in page
    assert f'href="/referrals/new/{case.pk}/" role="button"' in page
    assert "Refer the decision to the Authority" in page


def test_decision_commits_with_the_broker_down_and_is_delivered_when_it_returns(
    committee, django_capture_on_commit_callbacks
):
    keys = (
        "task_always_eager",
        "broker_url",
        "broker_connection_retry",
        "broker_transport_options",
        "task_publish_retry",
    )
    saved = {key: celery_app.conf[key] for key in keys}
    # Really unreachable: a port with nothing listening.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    celery_app.conf.update(
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
        celery_app.conf.update(saved)
        celery_app.close()
    assert case.state == "remediation"
    undelivered = NoticeDelivery.objects.filter(delivered_at__isnull=True)
    assert undelivered.exists() and not mail.outbox
    age_notices()
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
        # A chaser is not chased in turn.
        assert notices_chase(today=datetime.date(2027, 3, 1)) == 0
    assert [m.subject for m in mail.outbox] == ["Please acknowledge: Decision Y"]


def test_a_chaser_survives_an_smtp_failure_and_is_sent_once(
    users, client_for, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        original = notice_send(
            actor=None,
            kind="decision",
            subject="Decision W",
            body="B",
            organisations=[users["supplier_a"].organisation],
        )
    first = NoticeDelivery.objects.get(notice=original)
    NoticeDelivery.objects.update(delivered_at=timezone.now() - datetime.timedelta(days=30))
    mail.outbox.clear()

    dead_smtp(settings)
    with django_capture_on_commit_callbacks(execute=True):
        assert notices_chase() == 1
    chaser = NoticeDelivery.objects.get(notice__kind="chaser")
    assert chaser.delivered_at is None and chaser.attempts == 1 and chaser.last_error
    assert chaser.recipient == users["supplier_a"] and chaser.notice.about == original
    with django_capture_on_commit_callbacks(execute=True):
        assert notices_chase() == 0  # the original is marked chased with the chaser written

    smtp_back(settings)
    age_notices()
    assert notices_redispatch.delay().get() == 1
    assert notices_redispatch.delay().get() == 0
    [message] = mail.outbox
    assert message.subject == "Please acknowledge: Decision W"
    assert f"Acknowledge the notice: {BASE}/inbox/{first.pk}/" in message.body
    # Acknowledging the notice answers its chaser too.
    client_for("supplier_a").post(f"/inbox/{first.pk}/")
    chaser.refresh_from_db()
    assert chaser.acknowledged_at is not None


def test_ballot_opened_reaches_each_eligible_member_once_not_the_conflicted_one(
    committee, client_for, django_capture_on_commit_callbacks
):
    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    services.conflict_declare(
        actor=committee["member3"], case=case, has_conflict=True, reason="Works for supplier A"
    )
    with django_capture_on_commit_callbacks(execute=True):
        ballot = services.ballot_open(
            actor=committee["chair"],
            case=case,
            closes_at=timezone.now() + datetime.timedelta(days=2),
        )
    deliveries = NoticeDelivery.objects.filter(notice__kind="ballot_opened")
    assert sorted(d.recipient.username for d in deliveries) == ["member", "member2"]
    notice = Notice.objects.get(kind="ballot_opened")
    # The notice leads to the case (still readable by a member recused later); its action to
    # the vote.
    assert notice.about == ballot and notice.link == f"/cases/{case.pk}/"
    assert notice.action_link.startswith(f"/ballots/{ballot.pk}/")
    assert notice.action_label == "Vote in the ballot"
    assert sorted(m.to[0] for m in mail.outbox) == ["member2@example.org", "member@example.org"]
    for message in mail.outbox:
        assert f"{BASE}/ballots/{ballot.pk}/" in message.body
    delivery = deliveries.get(recipient=committee["member"])
    page = client_for("member").get(f"/inbox/{delivery.pk}/").content.decode()
    assert f'href="/ballots/{ballot.pk}/#vote-panel"' in page


def test_a_ballot_reminder_survives_an_smtp_failure_and_is_sent_once(
    committee, settings, django_capture_on_commit_callbacks
):
    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    ballot = services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(hours=5)
    )
    for member in committee["members"][:2]:
        services.conflict_declare(actor=member, case=case, has_conflict=False, reason="")
        services.vote_cast(actor=member, ballot=ballot, choice="suspend")

    dead_smtp(settings)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.ballots_send_reminders() == 1
    reminder = NoticeDelivery.objects.get(notice__kind="ballot_reminder")
    assert reminder.recipient == committee["member3"]
    assert reminder.delivered_at is None and reminder.attempts == 1 and reminder.last_error
    with django_capture_on_commit_callbacks(execute=True):
        assert services.ballots_send_reminders() == 0  # the ballot is marked reminded

    smtp_back(settings)
    age_notices()
    NoticeDelivery.objects.exclude(pk=reminder.pk).update(delivered_at=timezone.now())
    assert notices_redispatch.delay().get() == 1
    assert notices_redispatch.delay().get() == 0
    [message] = mail.outbox
    assert message.to == ["member3@example.org"] and case.reference in message.subject
    assert f"Vote in the ballot: {BASE}/ballots/{ballot.pk}/#vote-panel" in message.body


def test_an_invited_expert_gets_a_notice_linking_to_the_case(
    users, django_capture_on_commit_callbacks
):
    case = cpa_case(users)
    with django_capture_on_commit_callbacks(execute=True):
        services.expert_invite(
            actor=users["chair"],
            case=case,
            expert=users["expert"],
            expires_at=timezone.now() + datetime.timedelta(days=7),
        )
    delivery = NoticeDelivery.objects.get(notice__kind="expert_invitation")
    assert delivery.recipient == users["expert"] and delivery.notice.about == case
    [message] = mail.outbox
    assert message.to == ["expert@example.org"]
    assert f"Read the case: {BASE}/cases/{case.pk}/" in message.body


def test_a_cpl_change_notice_reaches_the_dcc(users, client_for, django_capture_on_commit_callbacks):
    import_bytes(cpl_csv([cpl_row(1)]))
    model = DeviceModel.objects.get()
    zigbee = model.certificates.get(kind="zigbee")
    with django_capture_on_commit_callbacks(execute=True):
        certificate_record_event(
            actor=users["secretariat"],
            certificate=zigbee,
            event="withdraw",
            on=datetime.date.today(),
            reason="Test house withdrew it",
        )
    model.refresh_from_db()
    assert model.status == "removed"
    change = CPLChangeNotice.objects.get(device_model=model)
    notice = Notice.objects.get(kind="cpl_change")
    assert notice.about == change and notice.link == f"/cpl/models/{model.pk}/"
    assert [o.name for o in notice.recipients.all()] == ["DCC"]
    assert [d.recipient for d in notice.deliveries.all()] == [users["dcc"]]
    [message] = mail.outbox
    assert message.to == ["dcc@example.org"]
    assert "Suspended" in message.body
    assert f"{BASE}/cpl/models/{model.pk}/" in message.body
    assert f"Review the CPL changes: {BASE}/cpl/changes/" in message.body
    delivery = notice.deliveries.get()
    page = client_for("dcc").get(f"/inbox/{delivery.pk}/").content.decode()
    assert "Review the CPL changes" in page


def test_a_certificate_check_tells_the_dcc_once_for_all_its_changes(users):
    import_bytes(cpl_csv([cpl_row(1), cpl_row(2), cpl_row(3)]))
    from cpl.services import certificates_check

    certificates_check(today=datetime.date.today() + datetime.timedelta(days=6 * 366))
    assert CPLChangeNotice.objects.count() == 3
    notice = Notice.objects.get(kind="cpl_change")
    assert notice.subject == "CPL changes: 3 device models"
    assert notice.body.count("→ Removed (devices' SMI status: Suspended)") == 3


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
    assert "Subject: Over SMTP" in received[0][1] and f"{BASE}/inbox/" in received[0][1]
    assert NoticeDelivery.objects.get().delivered_at is not None


def test_smtp_failure_leaves_the_notice_waiting(
    users, settings, django_capture_on_commit_callbacks
):
    dead_smtp(settings)
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
