from django.contrib.auth.management import create_permissions
from django.db import migrations

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
    for app_config in apps.get_app_configs():
        original = getattr(app_config, "models_module", None)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = original
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in GRANTS.items():
        group = Group.objects.get(name=role)
        for name in names:
            app_label, codename = name.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0003_plans_and_notices"),
        ("cpl", "0003_inventory"),
        ("portal", "0004_user_is_notice_contact"),
    ]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
