"""The roles of DESIGN.md section 2 as groups with model permissions.

Later migrations add the permissions their own models need; this one is frozen as written.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

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
    # Permissions are normally created after all migrations; make sure they exist now.
    for app_config in apps.get_app_configs():
        original = getattr(app_config, "models_module", None)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = original
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for name in names:
            app_label, codename = name.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


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
