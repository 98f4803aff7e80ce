# Owned by helper `ballot` (issue 11): frozen electorates, two-thirds majorities, vote reasons
# and history, and the decision snapshot. Operations written by hand.
import django.db.models.deletion
import django_fsm
from django.conf import settings
from django.db import migrations, models


def freeze_unfinished_electorates(apps, schema_editor):
    """Ballots still running get the electorate they have today (members who are not recused);
    finished ones keep none: their record was made before electorates were frozen."""
    Ballot = apps.get_model("governance", "Ballot")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Vote = apps.get_model("governance", "Vote")
    VoteEvent = apps.get_model("governance", "VoteEvent")
    members = list(
        User.objects.filter(is_active=True, groups__name="SSC Member")
        .distinct()
        .order_by("username")
    )
    for ballot in Ballot.objects.filter(state__in=["open", "awaiting_casting_vote"]):
        case = ballot.case
        recused = set(case.conflicts.filter(has_conflict=True).values_list("member_id", flat=True))
        if case.acting_chair_id:
            recused.add(case.acting_chair_id)
        ballot.electorate = [
            {"id": u.pk, "username": u.username, "name": f"{u.first_name} {u.last_name}".strip()}
            for u in members
            if u.pk not in recused
        ]
        ballot.save(update_fields=["electorate"])
    for vote in Vote.objects.all():
        event = VoteEvent.objects.create(
            ballot_id=vote.ballot_id, member_id=vote.member_id, kind="cast", choice=vote.choice
        )
        VoteEvent.objects.filter(pk=event.pk).update(at=vote.changed_at)


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0011_idempotent_submissions"),
        ("portal", "0003_roles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="ballot",
            name="electorate",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="ballot",
            name="majority",
            field=models.CharField(
                choices=[
                    ("simple", "Simple majority (the chair's casting vote on a tie)"),
                    ("two_thirds", "Two-thirds majority of the votes for either option"),
                ],
                default="simple",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="ballot",
            name="state",
            field=django_fsm.FSMField(
                choices=[
                    ("open", "Open"),
                    ("awaiting_casting_vote", "Tied: awaiting the chair's casting vote"),
                    ("closed", "Closed"),
                    ("failed", "Failed: no quorum or no majority"),
                ],
                db_index=True,
                default="open",
                max_length=24,
                protected=True,
            ),
        ),
        migrations.AddField(
            model_name="vote",
            name="reason",
            field=models.TextField(blank=True),
        ),
        migrations.CreateModel(
            name="VoteEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("cast", "Cast"),
                            ("changed", "Changed"),
                            ("removed", "Removed: conflict of interest declared"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "choice",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("suspend", "Remove from the CPL"),
                            ("remedial_plan", "Require CPA Certificate Remedial Plans"),
                            ("abstain", "Abstain"),
                        ],
                        max_length=16,
                    ),
                ),
                ("reason", models.TextField(blank=True)),
                ("at", models.DateTimeField(auto_now_add=True)),
                (
                    "ballot",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="vote_events",
                        to="governance.ballot",
                    ),
                ),
                (
                    "member",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["ballot", "at", "id"]},
        ),
        migrations.AddField(
            model_name="decisionrecord",
            name="snapshot",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="decisionrecord",
            name="snapshot_sha256",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.RunPython(freeze_unfinished_electorates, migrations.RunPython.noop),
    ]
