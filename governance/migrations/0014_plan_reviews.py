# Owned by helper `plans` (issue 11 items 5, 6, 12): individual plan reviews and plan expiry.
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def reviews_from_plans(apps, schema_editor):
    """Each plan reviewed before individual reviews were kept: its one reviewer's review."""
    RemedialPlan = apps.get_model("governance", "RemedialPlan")
    PlanReview = apps.get_model("governance", "PlanReview")
    decision = {"approved": "approve", "not_approved": "not_approve"}
    for plan in RemedialPlan.objects.exclude(review="").exclude(reviewed_by=None):
        row = PlanReview.objects.create(
            plan=plan,
            reviewer_id=plan.reviewed_by_id,
            decision=decision[plan.review],
            comments=plan.review_comments,
        )
        PlanReview.objects.filter(pk=row.pk).update(reviewed_at=plan.reviewed_at)


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0013_referrals_clause63"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="remedialplan",
            name="expires_on",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="remedialplan",
            name="expiry_warned_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name="PlanReview",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "decision",
                    models.CharField(
                        choices=[("approve", "Approve"), ("not_approve", "Do not approve")],
                        max_length=16,
                    ),
                ),
                ("comments", models.TextField(blank=True)),
                ("expires_on", models.DateField(blank=True, null=True)),
                ("deciding", models.BooleanField(default=False)),
                ("reviewed_at", models.DateTimeField(auto_now_add=True)),
                ("withdrawn_at", models.DateTimeField(blank=True, null=True)),
                (
                    "plan",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reviews",
                        to="governance.remedialplan",
                    ),
                ),
                (
                    "reviewer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="plan_reviews",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["reviewed_at", "id"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("withdrawn_at__isnull", True)),
                        fields=("plan", "reviewer", "deciding"),
                        name="one_counted_review_per_reviewer_per_plan",
                    )
                ],
            },
        ),
        migrations.RunPython(reviews_from_plans, migrations.RunPython.noop),
    ]
