# Issue 11 items 7, 8, 10 (helper `record`): representations, Party-facing texts, recommendations.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def party_reasons_from_issued(apps, schema_editor):
    """Issued decisions already sent their reasons to the Parties: those stay what they read."""
    DecisionRecord = apps.get_model("governance", "DecisionRecord")
    DecisionRecord.objects.filter(issued_at__isnull=False, party_summary="").update(
        party_summary=models.F("reasons")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0014_plan_reviews"),
        ("portal", "0009_user_access_version"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="party_summary",
            field=models.TextField(blank=True, verbose_name="Summary for Parties"),
        ),
        migrations.AddField(
            model_name="case",
            name="party_summary_approved_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="case",
            name="party_summary_approved_by",
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
            name="party_summary",
            field=models.TextField(blank=True, verbose_name="Reasons for Parties"),
        ),
        migrations.AddField(
            model_name="decisionrecord",
            name="recommendations",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="decisionrecord",
            name="representations",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.CreateModel(
            name="Representation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("text", models.TextField()),
                (
                    "classification",
                    models.CharField(
                        choices=[("ssc-only", "SSC only"), ("parties", "Parties")], max_length=20
                    ),
                ),
                ("submitted_at", models.DateTimeField(auto_now_add=True)),
                (
                    "case",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="representations",
                        to="governance.case",
                    ),
                ),
                (
                    "organisation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="portal.organisation",
                    ),
                ),
                (
                    "submitted_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["submitted_at", "id"],
            },
        ),
        migrations.CreateModel(
            name="RepresentationDocument",
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
                (
                    "representation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="documents",
                        to="governance.representation",
                    ),
                ),
            ],
            options={
                "abstract": False,
            },
        ),
        migrations.CreateModel(
            name="Recommendation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "recommendation",
                    models.CharField(
                        choices=[
                            ("suspend", "Remove the device models from the CPL"),
                            ("remedial_plan", "Require CPA Certificate Remedial Plans"),
                        ],
                        max_length=16,
                    ),
                ),
                ("reasons", models.TextField()),
                ("recorded_at", models.DateTimeField(auto_now=True)),
                (
                    "author",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "case",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="recommendations",
                        to="governance.case",
                    ),
                ),
            ],
            options={
                "ordering": ["recorded_at", "id"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("case", "author"), name="one_recommendation_per_author_per_case"
                    )
                ],
            },
        ),
        migrations.RunPython(party_reasons_from_issued, migrations.RunPython.noop),
    ]
