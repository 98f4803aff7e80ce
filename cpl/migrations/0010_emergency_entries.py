# Emergency CPL entries for SMETS1 (cpl.emergency): the request, its evidence, and the
# emergency entry flag and removal basis on device models.
import django.db.models.deletion
import django_fsm
from django.conf import settings
from django.db import migrations, models

import cpl.models

REMOVAL_BASES = [
    ("", "Not removed"),
    ("certificate", "Non-CPA Assurance Certificate not valid (automatic removal)"),
    ("ssc_decision", "SSC decision"),
    ("authority_determination", "Authority determination"),
    ("emergency_withdrawn", "Emergency entry withdrawn"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("cpl", "0009_product_combinations"),
        ("portal", "0010_notice_kinds_representation_case_closed"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="devicemodel",
            name="emergency_entry",
            field=models.BooleanField(default=False),
        ),
        migrations.AlterField(
            model_name="devicemodel",
            name="removal_basis",
            field=models.CharField(blank=True, choices=REMOVAL_BASES, default="", max_length=32),
        ),
        migrations.AlterField(
            model_name="cplremoval",
            name="basis",
            field=models.CharField(choices=REMOVAL_BASES, max_length=32),
        ),
        migrations.CreateModel(
            name="EmergencyEntryRequest",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("new_firmware_version", models.CharField(max_length=8)),
                (
                    "new_image_hash",
                    models.CharField(
                        blank=True,
                        default="",
                        max_length=64,
                        validators=[cpl.models.validate_image_hash],
                        verbose_name="New Manufacturer Image hash",
                    ),
                ),
                ("vulnerability_summary", models.TextField()),
                (
                    "summary_classification",
                    models.CharField(
                        choices=[("ssc-only", "SSC only"), ("parties", "Parties")], max_length=20
                    ),
                ),
                (
                    "state",
                    django_fsm.FSMField(
                        choices=[
                            ("submitted", "Submitted"),
                            ("accepted", "Accepted"),
                            ("rejected", "Rejected"),
                            ("listed", "Listed on the CPL"),
                            ("fast_track_ppct", "Fast-track PPCT due"),
                            ("confirmed", "Confirmed"),
                            ("withdrawn", "Withdrawn"),
                        ],
                        db_index=True,
                        default="submitted",
                        max_length=20,
                        protected=True,
                    ),
                ),
                ("rejection_reason", models.TextField(blank=True)),
                (
                    "ppct_due",
                    models.DateField(
                        blank=True, db_index=True, null=True, verbose_name="Fast-track PPCT due"
                    ),
                ),
                (
                    "ppct_outcome",
                    models.CharField(
                        blank=True,
                        choices=[("", "Not recorded"), ("passed", "Passed"), ("failed", "Failed")],
                        default="",
                        max_length=8,
                    ),
                ),
                ("ppct_recorded_at", models.DateTimeField(blank=True, null=True)),
                ("outcome_notes", models.TextField(blank=True)),
                ("deadline_alerted_at", models.DateTimeField(blank=True, null=True)),
                ("submitted_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "combinations",
                    models.ManyToManyField(
                        related_name="emergency_requests", to="cpl.productcombination"
                    ),
                ),
                (
                    "device_model",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="emergency_requests",
                        to="cpl.devicemodel",
                    ),
                ),
                (
                    "emergency_device_model",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="emergency_request",
                        to="cpl.devicemodel",
                    ),
                ),
                (
                    "organisation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="emergency_requests",
                        to="portal.organisation",
                    ),
                ),
                (
                    "requester",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["-submitted_at", "-id"]},
        ),
        migrations.AddConstraint(
            model_name="emergencyentryrequest",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("state__in", ["submitted", "accepted", "listed", "fast_track_ppct"])
                ),
                fields=("device_model", "new_firmware_version"),
                name="one_open_emergency_request_per_firmware",
            ),
        ),
        migrations.CreateModel(
            name="EmergencyEvidence",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("original_name", models.CharField(max_length=255)),
                ("stored_name", models.CharField(max_length=64, unique=True)),
                ("content_type", models.CharField(max_length=100)),
                ("size", models.PositiveBigIntegerField()),
                ("sha256", models.CharField(max_length=64)),
                ("uploaded_at", models.DateTimeField(auto_now_add=True)),
                (
                    "request",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="evidence",
                        to="cpl.emergencyentryrequest",
                    ),
                ),
                (
                    "uploaded_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["uploaded_at", "id"]},
        ),
    ]
