from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("portal", "0008_notice_kind_sign_in_alert")]

    operations = [
        migrations.AddField(
            model_name="user",
            name="access_version",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
    ]
