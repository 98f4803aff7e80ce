import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from cpl import exchange
from cpl.models import CPLVersion
from cpl.selectors import register_rows


class Command(BaseCommand):
    help = "Export a published CPL version, or the current register, as CSV, XLSX or JSON."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version is the CPL version here, not Django's.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["csv", "xlsx", "json"], default="csv")
        parser.add_argument(
            "--version",
            type=int,
            dest="cpl_version",
            help="a published version number (default: the current register)",
        )
        parser.add_argument("-o", "--output", help="file to write (default: standard output)")

    def handle(self, *args, format, cpl_version=None, output=None, **options):
        if cpl_version is not None:
            version = CPLVersion.objects.filter(number=cpl_version).first()
            if version is None:
                raise CommandError(f"There is no published CPL version {cpl_version}.")
            rows = version.rows
            meta = {
                "cpl_version": version.number,
                "published_at": version.published_at.isoformat(),
                "content_hash": version.content_hash,
            }
        else:
            rows = register_rows()
            meta = {"cpl_version": None, "exported_at": timezone.now().isoformat()}
        out = open(output, "wb") if output else sys.stdout.buffer
        try:
            if format == "xlsx":
                exchange.write_xlsx(rows, out)
            else:
                chunks = (
                    exchange.write_csv(rows) if format == "csv" else exchange.write_json(rows, meta)
                )
                for chunk in chunks:
                    out.write(chunk.encode("utf-8"))
            out.flush()
        finally:
            if output:
                out.close()
