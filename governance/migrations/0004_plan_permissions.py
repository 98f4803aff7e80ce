from django.db import migrations

from portal.role_grants import grant_role_permissions

GRANTS = {
    "SSC Secretariat": [
        "cpl.import_inventory",
        "cpl.view_inventorysnapshot",
        "governance.view_planrequirement",
        "governance.view_supplierpolicy",
    ],
    "SSC Chair": [
        "cpl.view_inventorysnapshot",
        "governance.view_planrequirement",
        "governance.review_remedialplan",
        "governance.view_supplierpolicy",
    ],
    "SSC Member": [
        "cpl.view_inventorysnapshot",
        "governance.view_planrequirement",
        "governance.review_remedialplan",
        "governance.view_supplierpolicy",
    ],
    "Supplier": [
        "governance.view_planrequirement",
        "governance.add_remedialplan",
        "governance.add_supplierpolicy",
    ],
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0003_plans_and_notices"),
        ("cpl", "0003_inventory"),
        ("portal", "0004_user_is_notice_contact"),
    ]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
