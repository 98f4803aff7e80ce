from django.db import migrations

from portal.role_grants import grant_role_permissions

# No notice permission: nothing checked it, and the Notice model has moved to portal (the tests
# run this grant against the current models, where governance.Notice no longer exists).
GRANTS = {
    "SSC Secretariat": [
        "governance.view_case",
        "governance.open_case",
        "governance.add_evidencedocument",
        "governance.view_securitycharacteristics",
        "governance.upload_securitycharacteristics",
    ],
    "SSC Chair": [
        "governance.view_case",
        "governance.view_securitycharacteristics",
    ],
    "SSC Member": ["governance.view_case", "governance.view_securitycharacteristics"],
    "Technical Expert": ["governance.view_case"],
    "Supplier": ["governance.view_case", "governance.view_securitycharacteristics"],
    "Other Party": ["governance.view_case", "governance.view_securitycharacteristics"],
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial"), ("portal", "0003_roles")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
