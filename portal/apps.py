from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PortalConfig(AppConfig):
    default = True
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        # Registered in every process: the audit log's permission policy (portal.policies), and
        # the Celery tasks the outbox sends by name.
        from . import audit_policy, notice_policy, tasks  # noqa: F401


class PortalAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "portal.admin_site.PortalAdminSite"
