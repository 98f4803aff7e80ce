from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "SSC Secretariat": ["governance.view_referral"],
    "SSC Chair": ["governance.view_referral"],
    "SSC Member": ["governance.view_referral"],
    "Supplier": ["governance.view_referral", "governance.add_referral"],
    "Other Party": ["governance.view_referral", "governance.add_referral"],
    "Authority": ["governance.view_referral"],
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
    dependencies = [("governance", "0005_referrals")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
