import datetime
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cpl.exchange import ExchangeFileRejected
from cpl.inventory import inventory_import
from cpl.services import file_sha256


class Command(BaseCommand):
    help = (
        "Import a DCC inventory extract (aggregated counts or device-level rows, CSV, "
        "optionally gzip-compressed). All or nothing; exits 1 with a per-row report."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument(
            "--as-of",
            type=datetime.date.fromisoformat,
            help="date of a device-level extract (default: today)",
        )

    def handle(self, *args, file, as_of=None, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        with open(path, "rb") as binary:
            sha = file_sha256(binary)
            try:
                summary = inventory_import(
                    actor=None, binary=binary, file_name=path.name, file_sha256=sha, as_of=as_of
                )
            except ExchangeFileRejected as rejected:
                self.stderr.write(f"{path.name} was not imported: {rejected.message}")
                for error in rejected.errors:
                    self.stderr.write(f"{error.row}\t{error.column}\t{error.reason}")
                if rejected.error_count > len(rejected.errors):
                    self.stderr.write(f"… and {rejected.error_count - len(rejected.errors)} more")
                sys.exit(1)
        self.stdout.write(
            f"Imported {path.name}: {summary.rows} rows, {summary.devices} devices "
            f"in {summary.pairs} (device model, supplier) pairs as of "
            f"{summary.as_of}."
        )
