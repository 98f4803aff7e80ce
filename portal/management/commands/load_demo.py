from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cpl.exchange import ExchangeFileRejected
from cpl.services import cpl_import_path
from portal.demo import DEMO_PASSWORD, SAMPLE_CPL, load_demo_users


class Command(BaseCommand):
    help = "Load demo organisations, one user per role and the sample CPL (DEBUG only; idempotent)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "Demo users are never created when DEBUG is off "
                "(set DJANGO_DEBUG=1 on a development machine)."
            )
        users = load_demo_users()
        secretariat = next(user for user, _ in users if user.username == "secretariat")
        try:
            summary = cpl_import_path(actor=secretariat, path=SAMPLE_CPL)
        except ExchangeFileRejected as exc:
            raise CommandError(f"The sample CPL was rejected: {exc.message}") from None
        self.stdout.write(
            f"Sample CPL: {summary.created} device models added, {summary.unchanged} unchanged."
        )
        self.stdout.write(self.style.SUCCESS(f"\nDemo users (password: {DEMO_PASSWORD})"))
        self.stdout.write(f"{'username':<12} {'role':<18} TOTP secret (base32)")
        for user, secret in users:
            self.stdout.write(f"{user.username:<12} {', '.join(user.role_labels):<18} {secret}")
