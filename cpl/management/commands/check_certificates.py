from django.core.management.base import BaseCommand

from cpl.services import certificates_check


class Command(BaseCommand):
    help = (
        "Expire certificates past their date; remove from the CPL the device models whose "
        "non-CPA certificates are no longer valid (re-listing is the secretariat's own action); "
        "flag CPA non-compliance for the SSC. The same work as the periodic Celery beat task."
    )

    def handle(self, *args, **options):
        result = certificates_check(actor=None)
        self.stdout.write(
            f"{result.expired} certificates expired "
            f"({result.cpa_flagged} CPA, flagged for the SSC); "
            f"{result.removed} device models removed from the CPL."
        )
