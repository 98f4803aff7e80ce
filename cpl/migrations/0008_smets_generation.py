# Device models record their SMETS generation, GBCS version and Manufacturer Image hash.
from django.db import migrations, models

import cpl.models


def derive_generation(apps, schema_editor):
    """Every entry so far came through the SMETS2 exchange format; an entry whose SMETS/CHTS
    version names SMETS1 says otherwise."""
    DeviceModel = apps.get_model("cpl", "DeviceModel")
    DeviceModel.objects.filter(smets_chts_version__istartswith="SMETS1").update(
        smets_generation="SMETS1"
    )


class Migration(migrations.Migration):
    dependencies = [("cpl", "0007_removal")]

    operations = [
        migrations.AddField(
            model_name="devicemodel",
            name="gbcs_version",
            field=models.CharField(
                blank=True, default="", max_length=50, verbose_name="GBCS version"
            ),
        ),
        migrations.AddField(
            model_name="devicemodel",
            name="manufacturer_image_hash",
            field=models.CharField(
                blank=True,
                default="",
                max_length=64,
                validators=[cpl.models.validate_image_hash],
                verbose_name="Manufacturer Image hash",
            ),
        ),
        migrations.AddField(
            model_name="devicemodel",
            name="smets_generation",
            field=models.CharField(
                choices=[("SMETS1", "SMETS1"), ("SMETS2", "SMETS2")],
                db_index=True,
                default="SMETS2",
                max_length=8,
                verbose_name="SMETS generation",
            ),
        ),
        migrations.AlterField(
            model_name="devicemodel",
            name="smets_chts_version",
            field=models.CharField(blank=True, max_length=50, verbose_name="SMETS/CHTS version"),
        ),
        migrations.RunPython(derive_generation, migrations.RunPython.noop, elidable=True),
    ]
