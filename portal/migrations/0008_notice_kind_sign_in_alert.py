from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0007_submission_token"),
    ]

    operations = [
        migrations.AlterField(
            model_name="notice",
            name="kind",
            field=models.CharField(
                choices=[
                    ("decision", "Decision notice"),
                    ("plan_obligation", "Remedial plan obligation (CPL Requirements 6.3)"),
                    ("plan_review", "Remedial plan review"),
                    ("reminder", "Reminder"),
                    ("information_request", "Information request"),
                    ("referral", "Referral to the Authority"),
                    ("cpl_change", "CPL change notice"),
                    ("ballot_opened", "Ballot opened"),
                    ("ballot_reminder", "Ballot reminder"),
                    ("expert_invitation", "Technical expert invitation"),
                    ("chaser", "Reminder to acknowledge a notice"),
                    ("chairing", "Chairing a case"),
                    ("sign_in_alert", "Failed sign-ins alert"),
                ],
                max_length=24,
            ),
        ),
    ]
