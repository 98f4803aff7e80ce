from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps

AUDIT_ACTIONS = (
    "login.failed",
    "login.suspicious",
    "mfa.enrolled",
    "mfa.failed",
    "password.changed",
    "notice.written",
    "notice.acknowledged",
    "notice.chased",
    # Changes made through the Django admin (users, organisations, roles, devices): the only
    # data the admin may still change, each change on the chain (portal.admin_site).
    "admin.added",
    "admin.changed",
    "admin.deleted",
)


class PortalConfig(AppConfig):
    default = True
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        # Registered in every process: the audit log's permission policy (portal.policies), and
        # the Celery tasks the outbox sends by name.
        from django.apps import apps
        from django.core import checks

        from . import audit_policy, notice_policy, tasks  # noqa: F401
        from .audit import (
            check_audit_anchor_dir,
            register_audit_actions,
            register_transition_actions,
        )
        from .permission_cache import connect_signals
        from .signing import check_signing_key

        checks.register(check_signing_key)
        checks.register(check_audit_anchor_dir, checks.Tags.security, deploy=True)
        connect_signals()

        register_audit_actions(*AUDIT_ACTIONS)
        # Every app's models are loaded before any ready(): all machines are known here.
        register_transition_actions(apps.get_models())


class PortalAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "portal.admin_site.PortalAdminSite"
