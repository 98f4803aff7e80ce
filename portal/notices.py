"""The notice outbox, below both apps so `cpl` and `governance` send notices the same way.

A notice is written in the caller's transaction with one delivery row per recipient; after
commit a Celery task e-mails each undelivered row exactly once. When the broker or SMTP is down
the rows wait (with the error) and the periodic `notices_redispatch` hands them over again.
Recipients acknowledge in the inbox; unacknowledged formal notices get one chaser, itself a
notice in the outbox, so an SMTP failure cannot lose it.
"""

import datetime
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from .audit import audit_record
from .celery import app as celery_app
from .models import Notice, NoticeDelivery, Organisation, User, absolute_url
from .notice_policy import NOTICE_DELIVERIES
from .working_days import add_working_days

logger = logging.getLogger(__name__)

# Sent by name: the tasks module imports this one, never the other way round.
NOTICE_DELIVER_TASK = "portal.tasks.notice_deliver"


def notice_send(
    *,
    actor,
    kind: str,
    subject: str,
    body: str,
    organisations: Iterable[Organisation] = (),
    users: Iterable[User] = (),
    about=None,
    link: str = "",
    action_link: str = "",
    action_label: str = "",
    action: str = "",
) -> Notice:
    """Write a notice and its deliveries (each organisation's notice contacts, and `users`
    directly); delivery starts when the caller's transaction commits. `link` is the path of the
    page of what the notice is `about`; `action_link`/`action_label` the recipient's next step;
    `action` the policy action on `about` that step is, when taking it answers the notice
    (`notices_settle`)."""
    organisations = list(dict.fromkeys(organisations))
    users = list(dict.fromkeys(users))
    with transaction.atomic():
        notice = Notice.objects.create(
            kind=kind,
            subject=subject[:200],
            body=body,
            content_type=ContentType.objects.get_for_model(about) if about is not None else None,
            object_id=about.pk if about is not None else None,
            reference=str(getattr(about, "reference", "") or about or "")[:200],
            link=link,
            action_link=action_link,
            action_label=action_label,
            action=action,
        )
        notice.recipients.set(organisations)
        rows = [
            NoticeDelivery(notice=notice, recipient=user, organisation=organisation)
            for organisation in organisations
            for user in organisation.notice_contacts()
        ]
        rows += [
            NoticeDelivery(notice=notice, recipient=user, organisation_id=user.organisation_id)
            for user in users
        ]
        # A user reached twice (directly and through an organisation) gets one delivery.
        NoticeDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        audit_record(
            actor=actor,
            action="notice.written",
            obj=notice,
            after={
                "kind": kind,
                "recipients": [o.name for o in organisations],
                "users": [u.username for u in users],
                "about": notice.reference,
            },
        )
        transaction.on_commit(lambda: notice_dispatch(notice.pk))
    return notice


def notice_dispatch(notice_id: int) -> bool:
    """Hand delivery to a worker; with the broker down the notice waits in the outbox and the
    periodic `notices_redispatch` hands it over later."""
    task = celery_app.tasks[NOTICE_DELIVER_TASK]  # registered by PortalConfig.ready
    try:
        # Fail fast (settings bound the connect; no retries here) and subscribe to no result:
        # the result store's reconnect loop alone blocked ~19 s with Redis down.
        task.apply_async((notice_id,), retry=False, ignore_result=True)
    except Exception:  # kombu raises several kinds of connection error
        logger.warning(
            "Notice %s waits in the outbox: the task broker is unreachable",
            notice_id,
            exc_info=True,
        )
        return False
    return True


def email_body(delivery: NoticeDelivery) -> str:
    notice = delivery.notice
    inbox = absolute_url(reverse("inbox-detail", args=[delivery.pk]))
    lines = [notice.body, ""]
    if notice.link:
        lines.append(f"{notice.reference or 'Details'}: {notice.link_url}")
    if notice.action_link:
        lines.append(f"{notice.action_label or 'Next step'}: {notice.action_url}")
    lines.append(f"Acknowledge this notice in the SSC portal: {inbox}")
    return "\n".join(lines) + "\n"


def delivery_message_id(delivery: NoticeDelivery) -> str:
    """The same for every attempt: a worker killed after the mail server accepted a message
    but before its commit sends it again, and mail systems see it is the same message."""
    host = urlsplit(settings.PORTAL_BASE_URL).hostname or "ssc-portal"
    return f"<notice-delivery-{delivery.pk}@{host}>"


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
                EmailMessage(
                    delivery.notice.subject,
                    email_body(delivery),
                    to=[delivery.recipient.email],
                    headers={"Message-ID": delivery_message_id(delivery)},
                ).send()
            except Exception as exc:  # noqa: BLE001  any failed send stays undelivered, retried
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
        .order_by()  # the model's ordering would make DISTINCT per delivery, not per notice
        .values_list("notice_id", flat=True)
        .distinct()
    )
    return sum(notice_dispatch(notice_id) for notice_id in stale)


def _chasers_of(*deliveries: NoticeDelivery):
    """The unanswered chasers of these deliveries (at least one): each asked its delivery's
    recipient again about the same notice."""
    asked = Q()
    for delivery in deliveries:
        asked |= Q(recipient_id=delivery.recipient_id, notice__object_id=delivery.notice_id)
    return NoticeDelivery.objects.filter(
        asked,
        notice__kind=Notice.Kind.CHASER,
        notice__content_type=ContentType.objects.get_for_model(Notice),
        acknowledged_at__isnull=True,
    )


def notice_acknowledge(*, actor, delivery: NoticeDelivery) -> NoticeDelivery:
    with transaction.atomic():
        delivery = NoticeDelivery.objects.select_for_update().get(pk=delivery.pk)
        # Twice (a double click, two tabs) is one acknowledgement and a clear 409.
        NOTICE_DELIVERIES.require(actor, "acknowledge", delivery)
        delivery.acknowledged_at = timezone.now()
        delivery.save(update_fields=["acknowledged_at"])
        # The chaser asked for exactly this: it is answered too.
        _chasers_of(delivery).update(acknowledged_at=delivery.acknowledged_at)
        audit_record(
            actor=actor,
            action="notice.acknowledged",
            obj=delivery.notice,
            after={"recipient": actor.username},
        )
    return delivery


def notices_settle(obj, *, taken: str = "", by=None) -> int:
    """Settle the unacknowledged deliveries of notices about `obj` whose next step is done, so
    they no longer ask to be acknowledged (the dashboard lists only what may still be):
    - with `taken`, the notices asking for that action of `by` (a user: their own; an
      organisation: its contacts'; None: everyone's), for steps that change no state (a
      vote, one review) or that stay open to others (one member's vote): one UPDATE;
    - without, every recipient who can no longer take the notice's action (the pack was sent,
      the ballot closed, the plan decided): `run_transition` asks after every state change.
    Chasers of a settled notice are settled with it. Returns how many it settled."""
    if obj is None or obj.pk is None:
        return 0
    about = ContentType.objects.get_for_model(obj)
    if taken:
        asking = Notice.objects.filter(content_type=about, object_id=obj.pk, action=taken)
        if isinstance(by, Organisation):
            whose = Q(organisation_id=by.pk)
        elif by is not None:
            whose = Q(recipient_id=by.pk)
        else:
            whose = Q()
        chasers = Q(
            notice__kind=Notice.Kind.CHASER,
            notice__content_type=ContentType.objects.get_for_model(Notice),
            notice__object_id__in=asking.values("pk"),
        )
        return (
            NoticeDelivery.objects.filter(whose, acknowledged_at__isnull=True)
            .filter(Q(notice__in=asking.values("pk")) | chasers)
            .update(acknowledged_at=timezone.now(), settled=True)
        )
    from .policies import policy_for

    waiting = NoticeDelivery.objects.filter(
        notice__content_type=about, notice__object_id=obj.pk, acknowledged_at__isnull=True
    ).exclude(notice__action="")
    deliveries = list(waiting.select_related("notice", "recipient"))
    if not deliveries:
        return 0
    try:
        policy = policy_for(obj)
    except LookupError:
        return 0
    fresh = policy.prepare(type(obj)._default_manager.filter(pk=obj.pk)).first()
    done = [
        d
        for d in deliveries
        if fresh is None or not policy.can(d.recipient, d.notice.action, fresh)
    ]
    if not done:
        return 0
    now = timezone.now()
    NoticeDelivery.objects.filter(pk__in=[d.pk for d in done], acknowledged_at__isnull=True).update(
        acknowledged_at=now, settled=True
    )
    # Their chasers asked for the same step: answered too.
    _chasers_of(*done).update(acknowledged_at=now, settled=True)
    return len(done)


def notices_chase(*, today: datetime.date | None = None) -> int:
    """Chase, once, recipients who have not acknowledged within NOTICE_CHASE_WORKING_DAYS. The
    chaser is a notice in the outbox, written with the mark that it was sent: it is delivered
    exactly once even when SMTP is down at the time."""
    today = today or timezone.localdate()
    chased = 0
    waiting = (
        NoticeDelivery.objects.filter(
            delivered_at__isnull=False, acknowledged_at__isnull=True, chased_at__isnull=True
        )
        .exclude(notice__kind__in=Notice.NOT_CHASED)
        .select_related("notice", "recipient")
    )
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
            original = delivery.notice
            notice_send(
                actor=None,
                kind=Notice.Kind.CHASER,
                subject=f"Please acknowledge: {original.subject}",
                body=f"You have not yet acknowledged this notice, sent on "
                f"{timezone.localtime(original.created_at):%-d %B %Y}:\n\n{original.body}",
                users=[delivery.recipient],
                about=original,
                link=original.link,
                action_link=reverse("inbox-detail", args=[delivery.pk]),
                action_label="Acknowledge the notice",
            )
            chased += 1
    return chased
