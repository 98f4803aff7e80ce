"""The roles of DESIGN.md section 2 as groups with model permissions.

Later migrations add the permissions their own models need; this one is frozen as written.
"""

from django.db import migrations

from portal.role_grants import grant_role_permissions

REGISTER_READ = [
    "cpl.view_devicemodel",
    "cpl.view_assurancecertificate",
    "cpl.view_cplversion",
    "cpl.view_manufacturer",
]
ROLE_PERMISSIONS = {
    "SSC Secretariat": [
        *REGISTER_READ,
        "cpl.view_cplchangenotice",
        "cpl.import_cpl",
        "cpl.view_cplimport",
        "cpl.change_cpl_status",
        "cpl.record_certificate_event",
        "cpl.publish_cplversion",
        "portal.view_audit_log",
    ],
    "SSC Chair": [*REGISTER_READ, "cpl.view_cplchangenotice", "portal.view_audit_log"],
    "SSC Member": [*REGISTER_READ, "cpl.view_cplchangenotice"],
    "Technical Expert": [],
    "Supplier": [*REGISTER_READ],
    "Other Party": [*REGISTER_READ, "cpl.view_cplchangenotice"],
    "Authority": [],
}


def create_roles(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0002_audit_chain_head"),
        ("cpl", "0002_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_roles, remove_roles)]
