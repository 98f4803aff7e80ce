"""Trigram indexes for the register's search (cpl.selectors.device_model_list) on PostgreSQL.

Django's `icontains` on PostgreSQL is `UPPER(col::text) LIKE UPPER('%term%')` and `iexact` is
`UPPER(col::text) = UPPER('term')`, so the indexes are on those expressions: without them every
search read the whole register. A no-op on other databases (SQLite reads the table, as before).
"""

from django.db import migrations

TRIGRAM_INDEXES = {
    "cpl_devicemodel_fw_trgm": ("cpl_devicemodel", "firmware_version"),
    "cpl_devicemodel_smets_trgm": ("cpl_devicemodel", "smets_chts_version"),
    "cpl_certificate_number_trgm": ("cpl_assurancecertificate", "number"),
    "cpl_manufacturer_name_trgm": ("cpl_manufacturer", "name"),
}
UPPER_INDEXES = {"cpl_devicemodel_model_id_upper": ("cpl_devicemodel", "model_id")}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (table, column) in TRIGRAM_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
            f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )
    for name, (table, column) in UPPER_INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS {name} ON {table} ((UPPER("{column}"::text)))'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in [*TRIGRAM_INDEXES, *UPPER_INDEXES]:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("cpl", "0004_import_change")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
