import sys

from django.core.management.base import BaseCommand

from portal.audit import audit_verify_chain


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain and every signed checkpoint of it "
        "(PORTAL_AUDIT_ANCHOR_DIR); exit non-zero naming the first bad event."
    )

    def handle(self, *args, **options):
        report = audit_verify_chain()
        if not report.ok:
            self.stderr.write(
                f"{report.error}." if report.unanchored else f"Audit chain broken: {report.error}."
            )
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {report.checked} events."))
        if not report.checkpoints:
            self.stdout.write(
                self.style.WARNING(
                    "No signed checkpoint found: nothing outside the database vouches for the "
                    "chain yet (run `manage.py audit_checkpoint`, or the periodic task)."
                )
            )
            return
        self.stdout.write(
            f"{report.checkpoints} signed checkpoint(s) match it, the latest at "
            f"#{report.anchored_seq}."
        )
        first, last = report.anchored_seq + 1, report.checked
        if last > first:
            self.stdout.write(f"Events #{first}–#{last} are not anchored yet.")
        elif last == first:
            self.stdout.write(f"Event #{last} is not anchored yet.")
