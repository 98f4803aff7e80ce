"""Benchmark: generate a CPL exchange file and import it in a child process, twice, on PostgreSQL.

Prints, for a first import into an empty register and a re-import of the same file (which changes
nothing): the import's time and rows per second, the process's wall time and peak resident
memory. In the same run it measures the ceiling: PostgreSQL's COPY of exactly the rows the first
import wrote (every table it added rows to) into empty copies of those tables (same columns,
indexes and foreign keys; also without the foreign keys), and prints the ratio import ÷ ceiling.

With a PostgreSQL DATABASE_URL the database is created afresh (dropped first) and dropped at the
end unless --keep-database; it is reached through `template1` for that, never `postgres`.
"""

import argparse
import csv
import datetime
import io
import random
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from cpl.exchange import COLUMNS
from portal.benchmarks import measured

TYPES = ["ESME", "GSME", "CHF", "GPF", "PPMID", "HCALCS"]
# Every table an import may add rows to (the ceiling copies the rows it added to each).
WRITTEN_TABLES = [
    "cpl_manufacturer",
    "cpl_devicemodel",
    "cpl_assurancecertificate",
    "cpl_assurancecertificate_device_models",
    "cpl_importchange",
    "portal_auditevent",
    "cpl_cplchangenotice",
]
CEILING_RUNS = 3


def generate(path: Path, rows: int, seed: int = 2026) -> None:
    rng = random.Random(seed)  # nosec B311  # test data, not secrets
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


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _recreate_database(drop_only: bool = False) -> None:
    """Drop (and create) the benchmark's own database, from a connection to template1."""
    import psycopg

    db = settings.DATABASES["default"]
    connection.close()
    with psycopg.connect(
        dbname="template1",
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        autocommit=True,
    ) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {_quote(db['NAME'])} WITH (FORCE)")
        if not drop_only:
            admin.execute(f"CREATE DATABASE {_quote(db['NAME'])} TEMPLATE template0")


def _high_water_ids() -> dict[str, int]:
    with connection.cursor() as cursor:
        marks = {}
        for table in WRITTEN_TABLES:
            cursor.execute("SELECT to_regclass(%s)", [table])
            if cursor.fetchone()[0] is None:
                continue  # an older schema (the bench also measures earlier versions)
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # nosec B608
            marks[table] = cursor.fetchone()[0]
    return marks


def _written_rows(since: dict[str, int]) -> tuple[dict[str, bytes], dict[str, int]]:
    """The rows written since `since`, per table, in COPY's text format."""
    data, counts = {}, {}
    with connection.cursor() as cursor:
        for table in since:
            buffer = io.BytesIO()
            with cursor.cursor.copy(
                f"COPY (SELECT * FROM {table} WHERE id > {int(since[table])}) TO STDOUT"  # nosec B608  # table names from the models
            ) as copy:
                for chunk in copy:
                    buffer.write(chunk)
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE id > %s", [since[table]])  # nosec B608  # table names from the models
            counts[table] = cursor.fetchone()[0]
            if counts[table]:
                data[table] = buffer.getvalue()
    return data, counts


def _foreign_keys(cursor, tables) -> list[str]:
    """The copies' foreign keys: each table's own, pointing at the copy where there is one."""
    statements = []
    for table in tables:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f'",
            [table],
        )
        for name, original in cursor.fetchall():
            definition = original
            for parent in tables:
                definition = definition.replace(
                    f"REFERENCES {parent}(", f"REFERENCES bench_ceiling_{parent}("
                )
            statements.append(
                f"ALTER TABLE bench_ceiling_{table} ADD CONSTRAINT bench_{name} {definition}"
            )
    return statements


def _ceiling(data: dict[str, bytes], *, foreign_keys: bool) -> float:
    """Seconds for PostgreSQL to COPY `data` into empty copies of its tables (LIKE … INCLUDING
    ALL: columns, defaults, indexes; with foreign_keys, their foreign keys too, checked at
    commit as the real ones are). Only loading is timed, in one transaction with its commit, as
    the import's own; the best of CEILING_RUNS."""
    best = None
    connection.ensure_connection()
    pg = connection.connection
    for _ in range(CEILING_RUNS):
        with pg.cursor() as cursor:
            for table in data:
                cursor.execute(f"DROP TABLE IF EXISTS bench_ceiling_{table} CASCADE")
                cursor.execute(f"CREATE TABLE bench_ceiling_{table} (LIKE {table} INCLUDING ALL)")
            if foreign_keys:
                for statement in _foreign_keys(cursor, list(data)):
                    cursor.execute(statement)
            start = time.perf_counter()
            with pg.transaction():
                for table, payload in data.items():
                    with cursor.copy(f"COPY bench_ceiling_{table} FROM STDIN") as copy:
                        for offset in range(0, len(payload), 1 << 20):
                            copy.write(payload[offset : offset + (1 << 20)])
            seconds = time.perf_counter() - start
            for table in data:
                cursor.execute(f"DROP TABLE bench_ceiling_{table} CASCADE")
        best = seconds if best is None else min(best, seconds)
    return best


class Command(BaseCommand):
    help = (
        "Generate a CPL of N device models and time its import on PostgreSQL (rows/s, peak "
        "memory), against the same run's COPY ceiling."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=50000)
        parser.add_argument("--workdir", default="bench")
        parser.add_argument(
            "--keep-database", action="store_true", help="leave the benchmark database"
        )
        # Internal: the child process that imports and times itself.
        parser.add_argument("--child", help=argparse.SUPPRESS)

    def _import(self, path: Path) -> tuple[float, float, float]:
        """Run the import in a fresh process (this command with --child): the import's own
        time as the child measures it, the process's wall time, and its peak memory."""
        wall, peak, out = measured(
            [sys.executable, "manage.py", "bench_import", "--child", str(path)]
        )
        summary, seconds = out.rsplit("\n", 1)
        self.stdout.write(f"  {summary.strip()}")
        return float(seconds), wall, peak

    def _child(self, path: str) -> None:
        from cpl.services import cpl_import_path

        start = time.perf_counter()
        summary = cpl_import_path(actor=None, path=Path(path))
        seconds = time.perf_counter() - start
        self.stdout.write(
            f"imported {summary.rows} rows: {summary.created} added, {summary.updated} "
            f"updated, {summary.unchanged} unchanged; {summary.certificates_created} "
            f"certificates added"
        )
        self.stdout.write(f"{seconds:.6f}")

    def handle(self, *args, rows, workdir, keep_database, child=None, **options):
        if child:
            return self._child(child)
        if connection.vendor != "postgresql":
            raise CommandError(
                "bench_import measures PostgreSQL (its COPY is the ceiling): set DATABASE_URL "
                "(make bench-import sets BENCH_DB=postgres://…/bench_import)."
            )
        _recreate_database()
        call_command("migrate", verbosity=0, interactive=False)
        directory = Path(workdir)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"cpl-{rows}.csv"
        generate(path, rows)
        size_mb = path.stat().st_size / 1048576
        self.stdout.write(f"bench-import: {rows} device models, {size_mb:.1f} MB CSV, PostgreSQL")
        try:
            since = _high_water_ids()
            connection.close()
            seconds, wall, peak = self._import(path)
            self.stdout.write(
                f"first import:  {seconds:.2f} s, {rows / seconds:,.0f} rows/s "
                f"(process {wall:.2f} s with start-up), peak memory {peak:.0f} MB"
            )
            data, counts = _written_rows(since)
            written = ", ".join(f"{table} {count:,}" for table, count in counts.items() if count)
            self.stdout.write(f"  the rows the first import wrote: {written}")
            ceiling = _ceiling(data, foreign_keys=True)
            bare = _ceiling(data, foreign_keys=False)
            del data
            self.stdout.write(
                f"COPY ceiling (same tables: indexes and foreign keys): {ceiling:.2f} s, "
                f"{rows / ceiling:,.0f} rows/s (best of {CEILING_RUNS})"
            )
            self.stdout.write(f"ratio import ÷ COPY ceiling: {ceiling / seconds:.2f}")
            self.stdout.write(
                f"  (COPY without foreign keys: {bare:.2f} s, {rows / bare:,.0f} rows/s; "
                f"ratio {bare / seconds:.2f})"
            )
            connection.close()
            seconds2, wall2, peak2 = self._import(path)
            self.stdout.write(
                f"re-import (no change): {seconds2:.2f} s, {rows / seconds2:,.0f} rows/s "
                f"(process {wall2:.2f} s), peak memory {peak2:.0f} MB"
            )
        finally:
            if not keep_database:
                _recreate_database(drop_only=True)
