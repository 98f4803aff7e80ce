from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    # Cases, ballots, plans, notices and referrals arrive with the next issues.
    name = "governance"
    verbose_name = "Governance"
