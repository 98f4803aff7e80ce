"""Benchmark: a device-level DCC extract of N rows, imported by the portal and counted by awk.

Prints rows per second and peak memory of each, measured on the same file in the same run,
and their ratio. Each side runs in its own child process.
"""

import random
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cpl.inventory import model_keys
from portal.benchmarks import measured
from portal.models import Organisation

CHILD = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django
django.setup()
from django.core.management import call_command
call_command("import_inventory", sys.argv[1], "--as-of", "2026-11-01")
"""
AWK = (
    'NR > 1 && $4 != "Decommissioned" && $4 != "Withdrawn" { n[$2 "," $3]++ } '
    'END { for (k in n) { p++; t += n[k] } print p " pairs, " t " devices" }'
)


class Command(BaseCommand):
    help = "Generate a device-level inventory extract and time its import against awk."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=10_000_000)
        parser.add_argument("--workdir", default="bench")

    def handle(self, *args, rows, workdir, **options):
        keys = list(model_keys())
        parties = list(
            Organisation.objects.filter(party_type__in=["large_supplier", "small_supplier"])
            .exclude(party_id=None)
            .values_list("party_id", flat=True)
        )
        if not keys or not parties:
            raise CommandError("Load a CPL and supplier organisations first (the Makefile does).")
        path = Path(workdir) / f"inventory-{rows}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = random.Random(7)  # nosec B311  # reproducible benchmark data, not a secret
        statuses = ["Commissioned"] * 17 + [
            "Installed Not Commissioned",
            "Suspended",
            "Decommissioned",
        ]
        started = time.perf_counter()
        with open(path, "w", encoding="utf-8") as out:
            out.write("Device ID,Device Model,Supplier Party ID,SMI Status\n")
            batch = []
            for index in range(rows):
                batch.append(
                    f"00-DB-12-{index:012X},{rng.choice(keys)},{rng.choice(parties)},"
                    f"{rng.choice(statuses)}\n"
                )
                if len(batch) == 100_000:
                    out.writelines(batch)
                    batch.clear()
            out.writelines(batch)
        size = path.stat().st_size / 1048576
        self.stdout.write(
            f"bench-inventory: {rows:,} device rows, {size:,.0f} MB, "
            f"{len(keys)} device models × {len(parties)} suppliers "
            f"(generated in {time.perf_counter() - started:.0f} s)"
        )
        portal_s, portal_mb, portal_out = measured([sys.executable, "-c", CHILD, str(path)])
        awk_s, awk_mb, awk_out = measured(["awk", "-F,", AWK, str(path)])
        self.stdout.write(f"  portal: {portal_out}")
        self.stdout.write(f"  awk:    {awk_out}")
        self.stdout.write(
            f"portal import_inventory: {portal_s:.1f} s, {rows / portal_s:,.0f} rows/s, "
            f"peak memory {portal_mb:.0f} MB"
        )
        self.stdout.write(
            f"awk count:               {awk_s:.1f} s, {rows / awk_s:,.0f} rows/s, "
            f"peak memory {awk_mb:.0f} MB"
        )
        self.stdout.write(
            f"ratio portal/awk: {portal_s / awk_s:.2f}× the time, "
            f"{portal_mb / max(awk_mb, 1):.1f}× the memory"
        )
