"""Double submissions: one case per certificate event, one referral per decision per Party."""

from django.db import migrations, models
from django.db.models import Count


def refuse_duplicates(apps, schema_editor):
    """Duplicates made before these constraints are records to resolve by hand (which case or
    referral carries the audit trail is a secretariat decision), not rows to delete silently."""
    Case = apps.get_model("governance", "Case")
    Referral = apps.get_model("governance", "Referral")
    problems = [
        f"cases on certificate {row['certificate']} ({row['event']} {row['event_date']}): "
        f"{row['n']}"
        for row in Case.objects.values("certificate", "event", "event_date")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    ] + [
        f"referrals by organisation {row['organisation']} of case {row['case']} ({row['kind']}, "
        f"plan requirement {row['plan_requirement']}): {row['n']}"
        for row in Referral.objects.values("case", "kind", "plan_requirement", "organisation")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    ]
    if problems:
        raise RuntimeError(
            "Resolve these double submissions before migrating (close or merge the extra "
            "records):\n" + "\n".join(problems)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("cpl", "0003_inventory"),
        ("governance", "0010_delete_governance_notices"),
        ("portal", "0006_notice_kind_chairing"),
    ]

    operations = [
        migrations.RunPython(refuse_duplicates, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="case",
            constraint=models.UniqueConstraint(
                fields=("certificate", "event", "event_date"),
                name="one_case_per_certificate_event",
            ),
        ),
        migrations.AddConstraint(
            model_name="referral",
            constraint=models.UniqueConstraint(
                condition=models.Q(("plan_requirement__isnull", True)),
                fields=("case", "kind", "organisation"),
                name="one_referral_per_decision_per_organisation",
            ),
        ),
        migrations.AddConstraint(
            model_name="referral",
            constraint=models.UniqueConstraint(
                condition=models.Q(("plan_requirement__isnull", False)),
                fields=("case", "kind", "plan_requirement", "organisation"),
                name="one_referral_per_plan_refusal_per_organisation",
            ),
        ),
    ]
