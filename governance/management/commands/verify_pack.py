import sys

from django.core.management.base import BaseCommand

from governance.packs import verify_pack


class Command(BaseCommand):
    help = "Verify a downloaded referral pack: every file's SHA-256 against its manifest.json."

    def add_arguments(self, parser):
        parser.add_argument("zip")

    def handle(self, *args, zip, **options):
        problems = verify_pack(zip)
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            self.stderr.write(f"{zip} does NOT verify ({len(problems)} problem(s)).")
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"{zip} verifies: every file matches manifest.json."))
