from django.core.management.base import BaseCommand

from cpl.services import certificates_check


class Command(BaseCommand):
    help = (
        "Expire certificates past their date; suspend device models whose non-CPA "
        "certificates are no longer valid (reinstate them when they are); flag CPA "
        "non-compliance for the SSC. The same work as the periodic Celery beat task."
    )

    def handle(self, *args, **options):
        result = certificates_check(actor=None)
        self.stdout.write(
            f"{result.expired} certificates expired "
            f"({result.cpa_flagged} CPA, flagged for the SSC); "
            f"{result.suspended} device models suspended; "
            f"{result.reinstated} reinstated."
        )
