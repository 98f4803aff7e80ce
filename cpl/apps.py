from django.apps import AppConfig


class CplConfig(AppConfig):
    name = "cpl"
    verbose_name = "Central Products List"

    def ready(self):
        # policies: registers the register's permission policies (portal.policies.policy_for).
        # tasks: imports are dispatched by task name (cpl.tasks imports cpl.imports, never the
        # other way round), so every process, web included, must have registered them.
        from . import policies, tasks  # noqa: F401
