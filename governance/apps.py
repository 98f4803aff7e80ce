from django.apps import AppConfig

AUDIT_ACTIONS = (
    "case.opened",
    "case.commented",
    "case.acting_chair_designated",
    "conflict.declared",
    "evidence.uploaded",
    "evidence.downloaded",
    "evidence.access_granted",
    "evidence.access_revoked",
    "expert.invited",
    "ballot.opened",
    "ballot.reminded",
    "ballot.tallied",
    "vote.cast",
    "vote.changed",
    "decision.issued",
    "characteristics.uploaded",
    "plan_requirement.created",
    "plan.submitted",
    "plan.reviewed",
    "plan.approved_by_determination",
    "policy.uploaded",
    "referral.lodged",
    "referral.document_added",
    "referral.pack_built",
    "referral.pack_downloaded",
    "referral.overturn_already_in_effect",
)


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self):
        from portal.audit import register_audit_actions

        from . import policies  # noqa: F401  (registers the policies)

        register_audit_actions(*AUDIT_ACTIONS)
