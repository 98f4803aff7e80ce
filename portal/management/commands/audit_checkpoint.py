from django.core.management.base import BaseCommand

from portal.audit import audit_checkpoint


class Command(BaseCommand):
    help = (
        "Sign the audit chain's head now and append the checkpoint to PORTAL_AUDIT_ANCHOR_DIR "
        "(the periodic task does this every few minutes; run it after rotating the key)."
    )

    def handle(self, *args, **options):
        checkpoint = audit_checkpoint()
        self.stdout.write(
            self.style.SUCCESS(
                f"Checkpoint #{checkpoint['seq']} signed at {checkpoint['at']} "
                f"with key {checkpoint['key'][:16]}…"
            )
        )
