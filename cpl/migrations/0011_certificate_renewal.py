# A CPA certificate's renewal date (lifetime certificates renewed periodically) and its
# re-certification (superseded by a new certificate, kept as history).
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cpl", "0010_emergency_entries")]

    operations = [
        migrations.AddField(
            model_name="assurancecertificate",
            name="renewal_due",
            field=models.DateField(
                blank=True, db_index=True, null=True, verbose_name="Renewal due"
            ),
        ),
        migrations.AddField(
            model_name="assurancecertificate",
            name="superseded_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="supersedes",
                to="cpl.assurancecertificate",
            ),
        ),
    ]
