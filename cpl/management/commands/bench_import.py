"""Benchmark: generate a CPL exchange file and import it in a child process, twice.

Prints rows per second and the peak resident memory of the importing process, for a first
import into an empty register and for a re-import of the same file (which changes nothing).
"""

import csv
import datetime
import random
import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from cpl.exchange import COLUMNS
from portal.benchmarks import measured

TYPES = ["ESME", "GSME", "CHF", "GPF", "PPMID", "HCALCS"]


def generate(path: Path, rows: int, seed: int = 2026) -> None:
    rng = random.Random(seed)
    manufacturers = [
        (f"{i:04X}", f"Manufacturer {i:04X} Metering Ltd") for i in range(0x100, 0x140)
    ]
    today = datetime.date.today()
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for index in range(rows):
            device_type = TYPES[index % len(TYPES)]
            mid, name = manufacturers[index % len(manufacturers)]
            issued = today - datetime.timedelta(days=rng.randint(30, 2000))
            expiry = issued + datetime.timedelta(days=6 * 365)
            zigbee = today + datetime.timedelta(days=rng.randint(30, 3000))
            dlms = device_type in ("ESME", "GSME")
            writer.writerow(
                [
                    device_type,
                    mid,
                    name,
                    f"{index // 4096:04X}",
                    f"{rng.choice([0x100, 0x200]):04X}",
                    f"{index:08X}",
                    "CHTS v1.2" if device_type in ("CHF", "GPF") else "SMETS2 v5.0",
                    issued.isoformat(),
                    f"CPA-{device_type}-{index // 3:07d}",
                    issued.isoformat(),
                    expiry.isoformat(),
                    f"ZB-{index:07d}",
                    zigbee.isoformat(),
                    f"DLMS-{index:07d}" if dlms else "",
                    zigbee.isoformat() if dlms else "",
                ]
            )


class Command(BaseCommand):
    help = "Generate a CPL of N device models and time its import (rows/s, peak memory)."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=50000)
        parser.add_argument("--workdir", default="bench")

    def _import(self, path: Path) -> tuple[float, float]:
        """Run `import_cpl` in a fresh process and measure that process alone."""
        seconds, peak, out = measured([sys.executable, "manage.py", "import_cpl", str(path)])
        self.stdout.write(f"  {out}")
        return seconds, peak

    def handle(self, *args, rows, workdir, **options):
        from django.conf import settings

        directory = Path(workdir)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"cpl-{rows}.csv"
        generate(path, rows)
        size_mb = path.stat().st_size / 1048576
        engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        self.stdout.write(
            f"bench-import: {rows} device models, {size_mb:.1f} MB CSV, database {engine}"
        )
        seconds, peak = self._import(path)
        self.stdout.write(
            f"first import:  {seconds:.2f} s, {rows / seconds:,.0f} rows/s, "
            f"peak memory {peak:.0f} MB"
        )
        seconds2, peak2 = self._import(path)
        self.stdout.write(
            f"re-import (no change): {seconds2:.2f} s, {rows / seconds2:,.0f} rows/s, "
            f"peak memory {peak2:.0f} MB"
        )
