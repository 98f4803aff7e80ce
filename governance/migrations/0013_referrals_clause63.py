# Issue 11, helper `referrals`: the referral pack deadline; clause 6.3 inventory coverage and
# the chair's no-devices confirmation on the decision record.
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def pack_due_dates(apps, schema_editor):
    """Referrals lodged before this change get the deadline they would have had."""
    from django.utils import timezone

    from portal.working_days import add_working_days

    Referral = apps.get_model("governance", "Referral")
    days = getattr(settings, "REFERRAL_PACK_DUE_WORKING_DAYS", 5)
    for referral in Referral.objects.filter(pack_due_date__isnull=True):
        referral.pack_due_date = add_working_days(timezone.localdate(referral.lodged_at), days)
        referral.save(update_fields=["pack_due_date"])


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0012_ballot_record"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="decisionrecord",
            name="inventory_coverage",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="decisionrecord",
            name="no_devices_confirmed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="decisionrecord",
            name="no_devices_confirmed_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="decisionrecord",
            name="no_devices_reason",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="referral",
            name="pack_due_date",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.RunPython(pack_due_dates, migrations.RunPython.noop),
    ]
