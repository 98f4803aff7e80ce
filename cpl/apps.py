from django.apps import AppConfig

AUDIT_ACTIONS = (
    "cpl.imported",
    "manufacturer.created",
    "manufacturer.renamed",
    "devicemodel.created",
    "devicemodel.updated",
    "certificate.recorded",
    "certificate.updated",
    "certificate.expired",
    "certificate.flagged_for_ssc",
    "certificate.superseded",
    "cplversion.published",
    "inventory.imported",
    "productcombination.imported",
    "productcombination.created",
    "productcombination.updated",
    "emergencyentryrequest.submitted",
    "emergencyentryrequest.ppct_failed",
    "emergencyentryrequest.deadline_passed",
)


class CplConfig(AppConfig):
    name = "cpl"
    verbose_name = "Central Products List"

    def ready(self):
        # policies: registers the register's permission policies (portal.policies.policy_for).
        # tasks: imports are dispatched by task name (cpl.tasks imports cpl.imports, never the
        # other way round), so every process, web included, must have registered them.
        from portal.audit import register_audit_actions

        from . import policies, tasks  # noqa: F401

        register_audit_actions(*AUDIT_ACTIONS)
        # The folder under PRIVATE_STORAGE_ROOT whose files import jobs refer to.
        from portal.documents import register_storage_folder, stored_names

        from .models import CPLImport

        register_storage_folder("imports", stored_names(CPLImport))
        from .emergency import EVIDENCE_FOLDER
        from .models import EmergencyEvidence

        register_storage_folder(EVIDENCE_FOLDER, stored_names(EmergencyEvidence))
