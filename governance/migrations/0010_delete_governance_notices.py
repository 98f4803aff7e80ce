# The rows were copied to portal by 0009; a separate migration (and transaction) drops the tables.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("governance", "0009_notices_to_portal")]

    operations = [
        migrations.DeleteModel(name="NoticeDelivery"),
        migrations.DeleteModel(name="Notice"),
    ]
