# A case's state after a removal decision reads as the SEC says: the device model is removed
# from the CPL and its devices' SMI status becomes Suspended. The value stays "suspension".
import django_fsm
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("governance", "0016_decision_labels")]

    operations = [
        migrations.AlterField(
            model_name="case",
            name="state",
            field=django_fsm.FSMField(
                choices=[
                    ("opened", "Opened"),
                    ("assessment", "Assessment"),
                    ("voting", "Voting"),
                    ("decided", "Decided"),
                    ("remediation", "Remediation"),
                    ("suspension", "Removed from the CPL (devices suspended)"),
                    ("closed", "Closed"),
                ],
                db_index=True,
                default="opened",
                max_length=16,
                protected=True,
            ),
        ),
    ]
