import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.packs import verify_pack
from portal.signing import SigningKeyError, load_public_keys


class Command(BaseCommand):
    help = (
        "Verify a downloaded referral pack: the manifest's Ed25519 signature (manifest.json.sig) "
        "and every file's SHA-256 against manifest.json. By default the signature is checked "
        "with this portal's keys; --public-key checks it with a published key instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("zip")
        parser.add_argument(
            "--public-key",
            help="a PEM file of the public key(s) to trust, e.g. downloaded from /signing-key/",
        )

    def handle(self, *args, zip, public_key=None, **options):
        keys = None
        if public_key:
            try:
                keys = load_public_keys(Path(public_key).read_bytes(), public_key)
            except (OSError, SigningKeyError) as exc:
                raise CommandError(f"The public key cannot be used: {exc}") from None
        problems = verify_pack(zip, public_keys=keys)
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            self.stderr.write(f"{zip} does NOT verify ({len(problems)} problem(s)).")
            sys.exit(1)
        self.stdout.write(
            self.style.SUCCESS(
                f"{zip} verifies: the manifest is signed by the portal and every file matches it."
            )
        )
