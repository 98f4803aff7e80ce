"""Used by data migrations to give roles their model permissions. Keep it stable: migrations
import it, so it must work with the historical app registry they pass in."""

from django.contrib.auth.management import create_permissions


def grant_role_permissions(apps, grants: dict[str, list[str]]) -> None:
    """Create each role group if needed and add the "app_label.codename" permissions."""
    # Permissions are normally created after all migrations; make sure they exist now.
    for app_config in apps.get_app_configs():
        original = getattr(app_config, "models_module", None)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = original
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in grants.items():
        group, _ = Group.objects.get_or_create(name=role)
        for name in names:
            app_label, codename = name.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
