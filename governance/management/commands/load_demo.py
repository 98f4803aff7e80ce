"""`make run`'s demo data. It spans every app (users, the CPL, inventory and a case), so it lives
in the top layer; portal.demo keeps the organisations, users and sample files."""

import io

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cpl.combinations import combinations_import
from cpl.exchange import ExchangeFileRejected
from cpl.inventory import inventory_import, model_keys
from cpl.models import AssuranceCertificate, InventorySnapshot, ProductCombination
from cpl.services import cpl_import_path
from governance.models import Case
from governance.services import case_open, case_transition
from portal.demo import (
    DEMO_PASSWORD,
    SAMPLE_COMBINATIONS,
    SAMPLE_CPL,
    SAMPLE_SMETS1_CPL,
    load_demo_users,
)


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
            cpl_import_path(actor=secretariat, path=SAMPLE_SMETS1_CPL)
            if not ProductCombination.objects.exists():
                with SAMPLE_COMBINATIONS.open("rb") as binary:
                    combinations_import(
                        actor=secretariat,
                        binary=binary,
                        size=SAMPLE_COMBINATIONS.stat().st_size,
                        file_name=SAMPLE_COMBINATIONS.name,
                    )
        except ExchangeFileRejected as exc:
            raise CommandError(f"A sample file was rejected: {exc.message}") from None
        self._demo_inventory()
        case = self._demo_case(users)
        if case is not None:
            self.stdout.write(f"Demo case {case.reference} is in assessment, ready for a ballot.")
        self.stdout.write(
            f"Sample CPL: {summary.created} device models added, {summary.unchanged} unchanged."
        )
        self.stdout.write(self.style.SUCCESS(f"\nDemo users (password: {DEMO_PASSWORD})"))
        self.stdout.write(f"{'username':<12} {'role':<18} TOTP secret (base32)")
        for user, secret in users:
            self.stdout.write(f"{user.username:<12} {', '.join(user.role_labels):<18} {secret}")

    def _demo_case(self, users):
        """One CPA case in assessment, so the ballot journey can be tried at once (idempotent)."""
        by_name = {user.username: user for user, _ in users}
        certificate = (
            AssuranceCertificate.objects.filter(
                kind="cpa", status="expired", device_models__status="listed"
            )
            .order_by("number")
            .first()
        )
        if certificate is None or Case.objects.filter(certificate=certificate).exists():
            return None
        case = case_open(
            actor=by_name["secretariat"],
            certificate=certificate,
            device_models=certificate.device_models.filter(status="listed"),
            event="expired",
            event_date=certificate.expiry,
            reason="Not renewed: re-evaluation found a weakness in key storage.",
            severity="medium",
            summary="Demo case: the manufacturer's "
            "re-evaluation is delayed; the NCSC rates the weakness medium.",
            addressed_to=[by_name["supplier_a"].organisation, by_name["supplier_b"].organisation],
        )
        case_transition(actor=by_name["secretariat"], case=case, name="start_assessment")
        return case

    def _demo_inventory(self):
        """An aggregated DCC extract: both demo suppliers hold devices of every model."""
        if InventorySnapshot.objects.exists():
            return
        rows = ["Device Model,Supplier Party ID,Device Count,As Of"]
        for index, key in enumerate(sorted(model_keys())):
            rows.append(f"{key},NLEN01,{1000 + 137 * index},2026-11-01")
            if index % 3:  # Brightside gained some of these meters on change of supplier
                rows.append(f"{key},BRSP01,{150 + 41 * index},2026-11-01")
        data = ("\n".join(rows) + "\n").encode()
        inventory_import(
            actor=None, binary=io.BytesIO(data), file_name="demo-inventory.csv", file_sha256="demo"
        )
