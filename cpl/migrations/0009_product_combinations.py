# SMETS1 Eligible and Pending Product Combinations (cpl.combinations).
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cpl", "0008_smets_generation")]

    operations = [
        migrations.CreateModel(
            name="ProductCombination",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "reference",
                    models.CharField(max_length=20, unique=True, verbose_name="Combination ID"),
                ),
                (
                    "csp",
                    models.CharField(
                        db_index=True,
                        max_length=50,
                        verbose_name="Communications service provider (CSP)",
                    ),
                ),
                ("identity_key", models.CharField(editable=False, max_length=255, unique=True)),
                (
                    "on_list",
                    models.CharField(
                        choices=[
                            ("epc", "Eligible Product Combinations (EPC)"),
                            ("ppc", "Pending Product Combinations (PPC)"),
                        ],
                        db_index=True,
                        max_length=3,
                        verbose_name="List",
                    ),
                ),
                (
                    "first_added_to_epc",
                    models.DateField(
                        blank=True, null=True, verbose_name="Date first added to the EPC"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "device_models",
                    models.ManyToManyField(
                        related_name="product_combinations", to="cpl.devicemodel"
                    ),
                ),
                (
                    "subset_of",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="subsets",
                        to="cpl.productcombination",
                    ),
                ),
            ],
            options={
                "ordering": ["reference"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("on_list", "ppc"),
                            ("first_added_to_epc__isnull", False),
                            _connector="OR",
                        ),
                        name="cpl_productcombination_epc_has_first_added",
                    )
                ],
            },
        ),
    ]
