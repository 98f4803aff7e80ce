from django.core.management.base import BaseCommand

from governance.services import evidence_sync_all


class Command(BaseCommand):
    help = (
        "Re-apply every evidence document's access rule (ssc-only, parties), e.g. after users "
        "join the SSC or a Party. The same work as the hourly beat task."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"{evidence_sync_all()} case(s) checked.")
