import sys

from django.core.management.base import BaseCommand

from portal.audit import audit_verify_chain


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; exit non-zero naming the first bad event."

    def handle(self, *args, **options):
        report = audit_verify_chain()
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {report.checked} events."))
            return
        self.stderr.write(f"Audit chain broken: {report.error}.")
        sys.exit(1)
