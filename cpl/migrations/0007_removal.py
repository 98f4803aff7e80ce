"""CPL statuses as the SEC says (issue 11): a device model is listed or removed.

"Suspended" was the CPL status used for a removal; it is the SMI status of the devices. Suspended
entries become removed, each with an entry in the removed-entries register (CPLRemoval) giving
its date, basis and reference, read from its latest CPL change notice. The `pending` status was
never reached (an import lists what it creates); any such row becomes listed.
"""

import re

import django.db.models.deletion
import django_fsm
from django.conf import settings
from django.db import migrations, models

BASIS_CHOICES = [
    ("", "Not removed"),
    ("certificate", "Non-CPA Assurance Certificate not valid (automatic removal)"),
    ("ssc_decision", "SSC decision"),
    ("authority_determination", "Authority determination"),
]
STATUS_CHOICES = [("listed", "Listed"), ("removed", "Removed")]
REFERENCE = re.compile(r"\b(?:case|referral) (\S+?):")


def _removal_for(apps, model):
    ChangeNotice = apps.get_model("cpl", "CPLChangeNotice")
    notice = (
        ChangeNotice.objects.filter(device_model=model, to_status__in=["suspended", "removed"])
        .order_by("-created_at", "-id")
        .first()
    )
    basis = model.removal_basis
    reason = notice.reason if notice else "Suspended from the CPL before removal was recorded."
    if reason.startswith("Authority determination"):
        basis = "authority_determination"
    match = REFERENCE.search(reason)
    return {
        "device_model": model,
        "basis": basis or "ssc_decision",
        "reference": match.group(1) if match else "",
        "reason": reason,
        "removed_at": notice.created_at if notice else model.updated_at,
        "removed_by_id": notice.created_by_id if notice else None,
    }


def forwards(apps, schema_editor):
    DeviceModel = apps.get_model("cpl", "DeviceModel")
    ChangeNotice = apps.get_model("cpl", "CPLChangeNotice")
    Removal = apps.get_model("cpl", "CPLRemoval")
    DeviceModel.objects.filter(status="pending").update(status="listed")
    off = DeviceModel.objects.filter(status__in=["suspended", "removed"])
    for model in off.iterator():  # the register of removals is new: none is recorded yet
        Removal.objects.create(**_removal_for(apps, model))
    off.update(status="removed")
    for field in ("from_status", "to_status"):
        ChangeNotice.objects.filter(**{field: "suspended"}).update(**{field: "removed"})
        ChangeNotice.objects.filter(**{field: "pending"}).update(**{field: "listed"})


def backwards(apps, schema_editor):
    DeviceModel = apps.get_model("cpl", "DeviceModel")
    ChangeNotice = apps.get_model("cpl", "CPLChangeNotice")
    DeviceModel.objects.filter(status="removed").update(status="suspended")
    for field in ("from_status", "to_status"):
        ChangeNotice.objects.filter(**{field: "removed"}).update(**{field: "suspended"})


class Migration(migrations.Migration):
    dependencies = [
        ("cpl", "0006_cplimport_started_at"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RenameField(
            model_name="devicemodel", old_name="suspension_basis", new_name="removal_basis"
        ),
        migrations.AlterField(
            model_name="devicemodel",
            name="removal_basis",
            field=models.CharField(blank=True, choices=BASIS_CHOICES, default="", max_length=32),
        ),
        migrations.CreateModel(
            name="CPLRemoval",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("basis", models.CharField(choices=BASIS_CHOICES, max_length=32)),
                ("reference", models.CharField(blank=True, max_length=200)),
                ("reason", models.TextField()),
                ("removed_at", models.DateTimeField(db_index=True)),
                ("relisted_at", models.DateTimeField(blank=True, null=True)),
                (
                    "relisting_basis",
                    models.CharField(
                        blank=True,
                        choices=[
                            (
                                "secretariat",
                                "Re-listed by the SSC Secretariat (valid certificates)",
                            ),
                            ("authority_determination", "Authority determination"),
                        ],
                        max_length=32,
                    ),
                ),
                ("relisting_reference", models.CharField(blank=True, max_length=200)),
                ("relisting_reason", models.TextField(blank=True)),
                (
                    "device_model",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="removals",
                        to="cpl.devicemodel",
                    ),
                ),
                (
                    "relisted_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "removed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "CPL removal",
                "ordering": ["-removed_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("relisted_at__isnull", True)),
                        fields=("device_model",),
                        name="one_open_removal_per_device_model",
                    )
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
        migrations.AlterField(
            model_name="cplchangenotice",
            name="from_status",
            field=models.CharField(choices=STATUS_CHOICES, max_length=16),
        ),
        migrations.AlterField(
            model_name="cplchangenotice",
            name="to_status",
            field=models.CharField(choices=STATUS_CHOICES, max_length=16),
        ),
        migrations.AlterField(
            model_name="devicemodel",
            name="status",
            field=django_fsm.FSMField(
                choices=STATUS_CHOICES,
                db_index=True,
                default="listed",
                max_length=16,
                protected=True,
            ),
        ),
    ]
