from django.core.management.base import BaseCommand

from cpl.services import cpl_import_path
from portal.demo import SAMPLE_CPL
from portal.models import Organisation


class Command(BaseCommand):
    help = "Benchmark fixture: the sample CPL and twenty Supplier Parties (scratch database only)."

    def handle(self, *args, **options):
        cpl_import_path(actor=None, path=SAMPLE_CPL)
        for index in range(20):
            Organisation.objects.get_or_create(
                name=f"Bench Supplier {index:02d}",
                defaults={
                    "party_type": "large_supplier" if index < 6 else "small_supplier",
                    "party_id": f"BSUP{index:02d}",
                },
            )
        self.stdout.write("bench fixture ready")
