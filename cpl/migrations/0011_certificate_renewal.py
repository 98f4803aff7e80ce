# Placeholder in the migration chain; its owner fills the operations.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("cpl", "0010_emergency_entries")]

    operations = []
