"""Formal notices: an outbox written in the caller's transaction, delivered by Celery after
commit, each (notice, recipient) at most once, shown in the inbox and acknowledged there."""

import datetime
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from portal.audit import audit_record
from portal.working_days import add_working_days

from .models import Notice, NoticeDelivery

logger = logging.getLogger(__name__)


def notice_send(*, actor, kind: str, subject: str, body: str, organisations, case=None) -> Notice:
    """Write a notice and its deliveries; delivery starts when the caller's transaction commits."""
    organisations = list(dict.fromkeys(organisations))
    with transaction.atomic():
        notice = Notice.objects.create(kind=kind, case=case, subject=subject, body=body)
        notice.recipients.set(organisations)
        NoticeDelivery.objects.bulk_create(
            [
                NoticeDelivery(notice=notice, recipient=user, organisation=organisation)
                for organisation in organisations
                for user in organisation.notice_contacts()
            ],
            ignore_conflicts=True,
        )
        audit_record(
            actor=actor,
            action="notice.written",
            obj=notice,
            after={"kind": kind, "recipients": [o.name for o in organisations]},
        )
        transaction.on_commit(lambda: notice_dispatch(notice.pk))
    return notice


def notice_dispatch(notice_id: int) -> bool:
    """Hand delivery to a worker; with the broker down the notice waits in the outbox and the
    periodic `notices_redispatch` hands it over later."""
    from .tasks import notice_deliver

    try:
        notice_deliver.delay(notice_id)
    except Exception:  # kombu raises several kinds of connection error
        logger.warning(
            "Notice %s waits in the outbox: the task broker is unreachable",
            notice_id,
            exc_info=True,
        )
        return False
    return True


def _email_body(delivery: NoticeDelivery) -> str:
    link = f"{settings.PORTAL_BASE_URL}{reverse('governance:inbox-detail', args=[delivery.pk])}"
    return f"{delivery.notice.body}\n\nAcknowledge this notice in the SSC portal: {link}\n"


def notice_deliver(*, notice_id: int) -> int:
    """E-mail every undelivered recipient of a notice. Safe to run twice, even at once: each
    delivery row is locked and marked in the same transaction as its e-mail is sent."""
    sent = 0
    pending = NoticeDelivery.objects.filter(notice_id=notice_id, delivered_at__isnull=True)
    for delivery_id in pending.values_list("pk", flat=True):
        with transaction.atomic():
            delivery = (
                NoticeDelivery.objects.select_for_update()
                .select_related("notice", "recipient")
                .filter(pk=delivery_id, delivered_at__isnull=True)
                .first()
            )
            if delivery is None:
                continue  # another run delivered it
            delivery.attempts += 1
            try:
                send_mail(
                    delivery.notice.subject, _email_body(delivery), None, [delivery.recipient.email]
                )
            except Exception as exc:  # SMTP down: keep it undelivered, retry later
                delivery.last_error = str(exc)[:500]
                delivery.save(update_fields=["attempts", "last_error"])
                continue
            delivery.delivered_at = timezone.now()
            delivery.save(update_fields=["attempts", "delivered_at"])
            sent += 1
    return sent


def notices_redispatch(*, older_than=datetime.timedelta(minutes=1)) -> int:
    stale = (
        NoticeDelivery.objects.filter(
            delivered_at__isnull=True,
            attempts__lt=20,
            notice__created_at__lt=timezone.now() - older_than,
        )
        .values_list("notice_id", flat=True)
        .distinct()
    )
    return sum(notice_dispatch(notice_id) for notice_id in stale)


def notice_acknowledge(*, actor, delivery: NoticeDelivery) -> NoticeDelivery:
    if delivery.recipient_id != actor.pk:
        raise PermissionDenied("Only the recipient acknowledges a notice.")
    with transaction.atomic():
        delivery = NoticeDelivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.acknowledged_at is None:
            delivery.acknowledged_at = timezone.now()
            delivery.save(update_fields=["acknowledged_at"])
            audit_record(
                actor=actor,
                action="notice.acknowledged",
                obj=delivery.notice,
                after={"recipient": actor.username},
            )
    return delivery


def notices_chase(*, today: datetime.date | None = None) -> int:
    """Remind recipients who have not acknowledged within NOTICE_CHASE_WORKING_DAYS."""
    today = today or timezone.localdate()
    chased = 0
    waiting = NoticeDelivery.objects.filter(
        delivered_at__isnull=False, acknowledged_at__isnull=True, chased_at__isnull=True
    ).select_related("notice", "recipient")
    for delivery in waiting:
        due = add_working_days(
            timezone.localdate(delivery.delivered_at), settings.NOTICE_CHASE_WORKING_DAYS
        )
        if due > today:
            continue
        with transaction.atomic():
            locked = NoticeDelivery.objects.select_for_update().get(pk=delivery.pk)
            if locked.chased_at is not None or locked.acknowledged_at is not None:
                continue
            locked.chased_at = timezone.now()
            locked.save(update_fields=["chased_at"])
            audit_record(
                actor=None,
                action="notice.chased",
                obj=delivery.notice,
                after={"recipient": delivery.recipient.username},
            )
            subject = f"Please acknowledge: {delivery.notice.subject}"
            body, address = _email_body(delivery), delivery.recipient.email
            transaction.on_commit(lambda s=subject, b=body, a=address: send_mail(s, b, None, [a]))
            chased += 1
    return chased
