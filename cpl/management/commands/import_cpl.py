import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cpl.exchange import ExchangeFileRejected
from cpl.services import cpl_import_path
from portal.models import User


class Command(BaseCommand):
    help = (
        "Import the CPL register from a CSV or XLSX file in the CPL exchange format. "
        "All or nothing: any bad row rejects the whole file and exits non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the CSV or XLSX file")
        parser.add_argument("--user", help="username recorded as the importer in the audit log")

    def handle(self, *args, file, user=None, **options):
        actor = None
        if user:
            actor = User.objects.filter(username=user, is_active=True).first()
            if actor is None:
                raise CommandError(f"No active user called {user!r}.")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")

        def progress(rows, percent):
            if options["verbosity"] > 1:
                self.stderr.write(f"  {rows} rows checked ({percent}%)")

        try:
            summary = cpl_import_path(actor=actor, path=path, progress=progress)
        except ExchangeFileRejected as rejected:
            self.stderr.write(f"{path.name} was not imported: {rejected.message}")
            if rejected.errors:
                self.stderr.write("row\tcolumn\tproblem")
                for error in rejected.errors:
                    self.stderr.write(f"{error.row}\t{error.column}\t{error.reason}")
                if rejected.error_count > len(rejected.errors):
                    self.stderr.write(f"… and {rejected.error_count - len(rejected.errors)} more")
            sys.exit(1)
        self.stdout.write(
            f"Imported {path.name}: {summary.rows} rows, {summary.created} added, "
            f"{summary.updated} updated, {summary.unchanged} unchanged; "
            f"{summary.certificates_created} certificates added, "
            f"{summary.certificates_updated} updated; {summary.removed} device models removed "
            f"from the CPL automatically."
        )
