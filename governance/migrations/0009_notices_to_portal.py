"""The notice outbox moved to `portal` (both apps send notices): copy every notice and delivery,
keeping their ids so links in e-mails already sent (/inbox/<id>/) still work."""

from django.core.management.color import no_style
from django.db import migrations

BATCH = 2000


def copy_notices(apps, schema_editor):
    OldNotice = apps.get_model("governance", "Notice")
    OldDelivery = apps.get_model("governance", "NoticeDelivery")
    Notice = apps.get_model("portal", "Notice")
    NoticeDelivery = apps.get_model("portal", "NoticeDelivery")
    ContentType = apps.get_model("contenttypes", "ContentType")
    case_type, _ = ContentType.objects.get_or_create(app_label="governance", model="case")
    # Keep the original times (this historical model class is private to the migration).
    Notice._meta.get_field("created_at").auto_now_add = False

    old_notices = OldNotice.objects.select_related("case").order_by("pk")
    for start in range(0, old_notices.count(), BATCH):
        batch = list(old_notices[start : start + BATCH])
        Notice.objects.bulk_create(
            [
                Notice(
                    id=old.pk,
                    kind=old.kind,
                    subject=old.subject,
                    body=old.body,
                    created_at=old.created_at,
                    content_type=case_type if old.case_id else None,
                    object_id=old.case_id,
                    reference=old.case.reference if old.case_id else "",
                    # The case page's path when the outbox moved (migrations cannot reverse()).
                    link=f"/cases/{old.case_id}/" if old.case_id else "",
                )
                for old in batch
            ]
        )
        Recipients = Notice.recipients.through
        Recipients.objects.bulk_create(
            [
                Recipients(notice_id=row.notice_id, organisation_id=row.organisation_id)
                for row in OldNotice.recipients.through.objects.filter(
                    notice_id__in=[old.pk for old in batch]
                )
            ]
        )

    deliveries = OldDelivery.objects.order_by("pk")
    for start in range(0, deliveries.count(), BATCH):
        NoticeDelivery.objects.bulk_create(
            [
                NoticeDelivery(
                    id=old.pk,
                    notice_id=old.notice_id,
                    recipient_id=old.recipient_id,
                    organisation_id=old.organisation_id,
                    delivered_at=old.delivered_at,
                    attempts=old.attempts,
                    last_error=old.last_error,
                    acknowledged_at=old.acknowledged_at,
                    chased_at=old.chased_at,
                )
                for old in deliveries[start : start + BATCH]
            ]
        )

    _reset_sequences(schema_editor, [Notice, NoticeDelivery, Notice.recipients.through])


def _reset_sequences(schema_editor, models):
    """Rows were inserted with their ids: move the sequences past them (PostgreSQL)."""
    statements = schema_editor.connection.ops.sequence_reset_sql(no_style(), models)
    with schema_editor.connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def copy_back(apps, schema_editor):
    """Unapplying: notices about a case go back with it; others lose what they were about."""
    Notice = apps.get_model("portal", "Notice")
    NoticeDelivery = apps.get_model("portal", "NoticeDelivery")
    OldNotice = apps.get_model("governance", "Notice")
    OldDelivery = apps.get_model("governance", "NoticeDelivery")
    OldNotice._meta.get_field("created_at").auto_now_add = False
    for notice in Notice.objects.select_related("content_type").order_by("pk").iterator():
        about_case = notice.content_type is not None and (
            notice.content_type.app_label,
            notice.content_type.model,
        ) == ("governance", "case")
        old = OldNotice.objects.create(
            id=notice.pk,
            kind=notice.kind,
            subject=notice.subject,
            body=notice.body,
            created_at=notice.created_at,
            case_id=notice.object_id if about_case else None,
        )
        old.recipients.set(notice.recipients.all())
    for delivery in NoticeDelivery.objects.select_related("recipient").order_by("pk").iterator():
        organisation_id = delivery.organisation_id or delivery.recipient.organisation_id
        if organisation_id is None:
            continue  # the old table needs an organisation
        OldDelivery.objects.create(
            id=delivery.pk,
            notice_id=delivery.notice_id,
            recipient_id=delivery.recipient_id,
            organisation_id=organisation_id,
            delivered_at=delivery.delivered_at,
            attempts=delivery.attempts,
            last_error=delivery.last_error,
            acknowledged_at=delivery.acknowledged_at,
            chased_at=delivery.chased_at,
        )
    _reset_sequences(schema_editor, [OldNotice, OldDelivery, OldNotice.recipients.through])
    NoticeDelivery.objects.all().delete()
    Notice.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0008_case_acting_chair"),
        ("portal", "0005_notices"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(copy_notices, copy_back)]
