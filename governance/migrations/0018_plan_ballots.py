# Issue 11: PLAN_APPROVAL_RULE "ballot", a sealed ballot on each plan version.
import django.db.models.deletion
import django_fsm
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0017_state_labels"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="PlanBallot",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("electorate", models.JSONField(default=list)),
                (
                    "state",
                    django_fsm.FSMField(
                        choices=[
                            ("open", "Open"),
                            ("tied", "Tied: awaiting the chair's decision"),
                            ("closed", "Closed"),
                            ("failed", "Failed: no quorum"),
                            ("superseded", "Superseded: the supplier submitted a newer version"),
                        ],
                        db_index=True,
                        default="open",
                        max_length=16,
                        protected=True,
                    ),
                ),
                ("opened_at", models.DateTimeField(auto_now_add=True)),
                ("closes_at", models.DateTimeField(db_index=True)),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "result",
                    models.CharField(
                        blank=True,
                        choices=[("approve", "Approve"), ("not_approve", "Do not approve")],
                        max_length=16,
                    ),
                ),
                ("tallies", models.JSONField(blank=True, default=dict)),
                ("eligible_count", models.PositiveSmallIntegerField(default=0)),
                ("quorum_required", models.PositiveSmallIntegerField(default=0)),
                (
                    "closed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "plan",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ballot",
                        to="governance.remedialplan",
                    ),
                ),
            ],
            bases=(django_fsm.ConcurrentTransitionMixin, models.Model),
        ),
    ]
