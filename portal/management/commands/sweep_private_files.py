from django.conf import settings
from django.core.management.base import BaseCommand

from portal.documents import private_files_sweep


class Command(BaseCommand):
    help = (
        "Delete files under PRIVATE_STORAGE_ROOT that no row refers to and that are older than "
        "the grace period (PRIVATE_ORPHAN_GRACE_HOURS): left by a rollback or a killed upload. "
        "Also run every six hours by the beat task portal.tasks.private_files_sweep."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace-hours",
            type=float,
            default=None,
            help=f"keep files younger than this (default {settings.PRIVATE_ORPHAN_GRACE_HOURS})",
        )
        parser.add_argument("--dry-run", action="store_true", help="list them, delete nothing")

    def handle(self, *args, grace_hours=None, dry_run=False, **options):
        swept = private_files_sweep(grace_hours=grace_hours, dry_run=dry_run)
        root = settings.PRIVATE_STORAGE_ROOT
        for path in swept:
            self.stdout.write(
                f"{'would delete' if dry_run else 'deleted'} {path.relative_to(root)}"
            )
        self.stdout.write(
            f"{len(swept)} file{'s' if len(swept) != 1 else ''} no row refers to "
            f"{'found' if dry_run else 'deleted'}."
        )
