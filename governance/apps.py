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
    "evidence.reclassified",
    "expert.invited",
    "ballot.opened",
    "ballot.reminded",
    "ballot.tallied",
    "vote.cast",
    "vote.changed",
    "vote.removed",
    "ballot.eligibility_recomputed",
    "decision.snapshot_recorded",
    "decision.issued",
    "characteristics.uploaded",
    "plan_requirement.created",
    "plan.submitted",
    "plan.reviewed",
    "plan_ballot.opened",
    "plan_ballot.tallied",
    "plan.review_withdrawn",
    "plan.expiry_warned",
    "plan.approved_by_determination",
    "policy.uploaded",
    "referral.lodged",
    "referral.document_added",
    "referral.pack_built",
    "referral.pack_downloaded",
    "referral.document_downloaded",
    "referral.overturn_already_in_effect",
    "decision.no_devices_confirmed",
    "representation.submitted",
    "representation.downloaded",
    "recommendation.recorded",
    "party_summary.written",
    "party_summary.approved",
)


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self):
        from portal.audit import register_audit_actions

        from . import policies  # noqa: F401  (registers the policies)

        register_audit_actions(*AUDIT_ACTIONS)
        # What the register shows of cases, without importing governance (cpl.hooks).
        from cpl import hooks

        from .referrals import readable_references, removal_referrals_pending

        hooks.register(pending_removals=removal_referrals_pending, references=readable_references)
        # The folders under PRIVATE_STORAGE_ROOT and the rows that refer to their files: the
        # documents' own rows, and the referral packs that list them (sweep_private_files).
        from portal.documents import listed_files, register_storage_folder, stored_names

        from . import models

        for folder, model in (
            ("evidence", models.EvidenceDocument),
            ("characteristics", models.SecurityCharacteristics),
            ("plans", models.RemedialPlan),
            ("policies", models.SupplierPolicy),
            ("referrals", models.ReferralDocument),
            ("representations", models.RepresentationDocument),
            ("packs", None),
        ):
            register_storage_folder(
                folder,
                *([stored_names(model)] if model else []),
                listed_files(models.ReferralPack, "files", folder),
            )
