"""DCC inventory extracts: who is responsible for how many devices of each model.

Two formats, CSV (UTF-8), optionally gzip-compressed:
- aggregated: Device Model, Supplier Party ID, Device Count, As Of
- device-level: Device ID, Device Model, Supplier Party ID, SMI Status
A device model key is `ManufacturerID/ModelID/HardwareVersion/FirmwareVersion`
(e.g. `1A2B/7513/0200/0001C5C7`). Device-level rows are counted while streaming: memory
depends on the number of (model, supplier) pairs, never on the number of rows.
All or nothing, with a per-row report, like the CPL import.
"""

import csv
import datetime
import gzip
import io
import zlib
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from portal.audit import audit_record
from portal.models import Organisation

from .exchange import ExchangeFileRejected, RowError, normalise_header
from .models import DeviceModel, InventoryCount, InventorySnapshot
from .policies import INVENTORY

AGGREGATED = ["Device Model", "Supplier Party ID", "Device Count", "As Of"]
DEVICE_LEVEL = ["Device ID", "Device Model", "Supplier Party ID", "SMI Status"]
SMI_STATUSES = {
    "pending",
    "whitelisted",
    "installed not commissioned",
    "commissioned",
    "suspended",
    "recovery",
    "recovered",
    "decommissioned",
    "withdrawn",
}
# Devices no longer in service belong to nobody's remedial plan.
OUT_OF_SERVICE = {"decommissioned", "withdrawn"}
SUPPLIER_TYPES = (Organisation.PartyType.LARGE_SUPPLIER, Organisation.PartyType.SMALL_SUPPLIER)
# Far above any real count (GB has some 30 million smart meters), far below a bigint even
# summed over millions of rows: a larger count is a broken extract, not a database error.
MAX_DEVICE_COUNT = 10**9


@dataclass
class InventorySummary:
    snapshot_id: int
    format: str
    as_of: datetime.date
    rows: int
    devices: int
    pairs: int


def model_keys() -> dict[str, int]:
    return {
        f"{mid}/{model}/{hw}/{fw}": pk
        for pk, mid, model, hw, fw in DeviceModel.objects.values_list(
            "pk",
            "manufacturer__manufacturer_id",
            "model_id",
            "hardware_version",
            "firmware_version",
        )
    }


class _Unpacked(io.RawIOBase):
    """The extract's bytes as decompressed, refused past `limit`: a few megabytes of gzip can
    unpack to gigabytes."""

    def __init__(self, raw, limit: int):
        self._raw, self._limit, self._read = raw, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(len(buffer))
        self._read += len(data)
        if self._read > self._limit:
            raise ExchangeFileRejected(
                f"The extract unpacks to more than {self._limit / 1048576:,.0f} MB, the most "
                "accepted. Split it, or ask for an aggregated extract."
            )
        buffer[: len(data)] = data
        return len(data)


def _text_stream(binary, max_unpacked: int):
    head = binary.read(2)
    binary.seek(0)
    raw = gzip.GzipFile(fileobj=binary) if head == b"\x1f\x8b" else binary
    unpacked = io.BufferedReader(_Unpacked(raw, max_unpacked), 256 * 1024)
    return io.TextIOWrapper(unpacked, encoding="utf-8-sig", errors="strict", newline="")


def _lines(stream, max_chars: int):
    """The stream's lines, each read at most `max_chars` at a time: a file without line breaks
    is refused at its first line instead of gathered in memory."""
    number = 0
    while line := stream.readline(max_chars + 1):
        number += 1
        if len(line) > max_chars:
            raise ExchangeFileRejected(
                f"Line {number:,} is longer than {max_chars:,} characters: an inventory line is "
                "far shorter. Is this a CSV file with line breaks?"
            )
        yield line


def _header(cells: list[str]) -> tuple[str, dict[str, int]]:
    names = [normalise_header(c) for c in cells]
    for fmt, columns in (
        (InventorySnapshot.Format.AGGREGATED, AGGREGATED),
        (InventorySnapshot.Format.DEVICE_LEVEL, DEVICE_LEVEL),
    ):
        wanted = {normalise_header(c): c for c in columns}
        if set(names) == set(wanted) and len(names) == len(wanted):
            return fmt, {wanted[n]: i for i, n in enumerate(names)}
    raise ExchangeFileRejected(
        "The header row matches neither inventory format: expected the columns "
        f"{', '.join(AGGREGATED)} (aggregated) or {', '.join(DEVICE_LEVEL)} (device-level).",
        [RowError(1, ", ".join(cells)[:200], "unrecognised header")],
    )


def read_inventory(
    binary,
    *,
    as_of: datetime.date | None = None,
    max_errors: int = 500,
    progress=None,
    max_unpacked: int | None = None,
) -> tuple[str, datetime.date, Counter, int]:
    """Validate and count a whole extract. Returns (format, as of, counts by (model, supplier)
    ids, rows read) or raises ExchangeFileRejected. Bounded whatever the file: at most
    `max_unpacked` bytes once decompressed (INVENTORY_MAX_UNPACKED_BYTES), lines of at most
    INVENTORY_MAX_LINE_CHARS, and reading stops at INVENTORY_MAX_BLANK_LINES blank lines or
    INVENTORY_MAX_ERRORS problems."""
    models = model_keys()
    suppliers = dict(
        Organisation.objects.filter(party_type__in=SUPPLIER_TYPES)
        .exclude(party_id=None)
        .values_list("party_id", "pk")
    )
    counts: Counter = Counter()
    errors: list[RowError] = []
    error_count = 0
    dates: set[datetime.date] = set()
    rows = blank = 0
    max_unpacked = max_unpacked or settings.INVENTORY_MAX_UNPACKED_BYTES

    def fail(row, column, reason):
        nonlocal error_count
        error_count += 1
        if len(errors) < max_errors:
            errors.append(RowError(row, column, reason))
        if error_count >= settings.INVENTORY_MAX_ERRORS:
            raise ExchangeFileRejected(
                f"{error_count:,} problems found by line {row:,}: reading stopped there and "
                "nothing was imported.",
                errors,
                error_count,
            )

    try:
        stream = _text_stream(binary, max_unpacked)
        reader = csv.reader(_lines(stream, settings.INVENTORY_MAX_LINE_CHARS), strict=True)
        header = next(reader, None)
        if header is None:
            raise ExchangeFileRejected("The file is empty.")
        fmt, cols = _header(header)
        c_model, c_party = cols["Device Model"], cols["Supplier Party ID"]
        width = len(cols)
        aggregated = fmt == InventorySnapshot.Format.AGGREGATED
        c_other = cols["Device Count"] if aggregated else cols["SMI Status"]
        c_extra = cols["As Of"] if aggregated else cols["Device ID"]
        for line, cells in enumerate(reader, start=2):
            if len(cells) != width:
                if cells:
                    fail(line, "row", f"has {len(cells)} cells, the header has {width}")
                    continue
                blank += 1
                if blank > settings.INVENTORY_MAX_BLANK_LINES:
                    raise ExchangeFileRejected(
                        f"The file has more than {settings.INVENTORY_MAX_BLANK_LINES:,} blank "
                        f"lines (the last at line {line:,}): it is not an inventory extract."
                    )
                continue
            rows += 1
            model = models.get(cells[c_model].strip().upper())
            if model is None:
                fail(line, "Device Model", f"unknown device model '{cells[c_model][:60]}'")
            supplier = suppliers.get(cells[c_party].strip())
            if supplier is None:
                fail(line, "Supplier Party ID", f"unknown Supplier Party '{cells[c_party][:40]}'")
            if aggregated:
                value = cells[c_other].strip()
                # ASCII digits only: str.isdigit() also accepts '²', which int() refuses.
                digits = value.isascii() and value.isdigit()
                number = int(value) if digits and len(value) <= 12 else -1
                if not 0 <= number <= MAX_DEVICE_COUNT:
                    reason = (
                        f"is more than {MAX_DEVICE_COUNT:,}" if digits else "is not a whole number"
                    )
                    fail(line, "Device Count", f"'{value[:20]}' {reason}")
                    number = -1
                try:
                    dates.add(datetime.date.fromisoformat(cells[c_extra].strip()))
                except ValueError:
                    fail(line, "As Of", f"'{cells[c_extra][:20]}' is not an ISO date")
            else:
                status = cells[c_other].strip().lower()
                if status not in SMI_STATUSES:
                    fail(line, "SMI Status", f"unknown SMI status '{cells[c_other][:30]}'")
                if not cells[c_extra].strip():
                    fail(line, "Device ID", "is required")
                number = 0 if status in OUT_OF_SERVICE else 1
            if model is not None and supplier is not None and number > 0:
                counts[(model, supplier)] += number
            if progress and rows % 100000 == 0:
                progress(rows)
    except UnicodeDecodeError:
        raise ExchangeFileRejected("The file is not UTF-8 text.") from None
    except (csv.Error, EOFError, OSError, zlib.error) as exc:
        raise ExchangeFileRejected(f"The file cannot be read as CSV ({exc}).") from None
    if aggregated and len(dates) > 1:
        fail(1, "As Of", f"the file holds {len(dates)} different dates; one extract, one date")
    if error_count:
        raise ExchangeFileRejected(
            f"{error_count} problem{'s' if error_count != 1 else ''} found; nothing was imported.",
            errors,
            error_count,
        )
    if not rows:
        raise ExchangeFileRejected("The file has a header row but no rows.")
    if aggregated:
        as_of = dates.pop()
    return fmt, as_of or datetime.date.today(), counts, rows


def inventory_import(
    *,
    actor,
    binary,
    file_name: str,
    file_sha256: str,
    as_of: datetime.date | None = None,
    progress=None,
) -> InventorySummary:
    INVENTORY.require(actor, "import", None)
    fmt, as_of, counts, rows = read_inventory(binary, as_of=as_of, progress=progress)
    with transaction.atomic():
        snapshot = InventorySnapshot.objects.create(
            as_of=as_of,
            file_name=file_name,
            file_sha256=file_sha256,
            format=fmt,
            rows_read=rows,
            device_count=sum(counts.values()),
            imported_by=actor if actor is not None and actor.is_authenticated else None,
        )
        InventoryCount.objects.bulk_create(
            [
                InventoryCount(
                    snapshot=snapshot,
                    device_model_id=model,
                    supplier_id=supplier,
                    device_count=count,
                )
                for (model, supplier), count in counts.items()
            ],
            batch_size=5000,
        )
        audit_record(
            actor=actor,
            action="inventory.imported",
            obj=snapshot,
            after={
                "format": fmt,
                "as_of": as_of,
                "rows": rows,
                "devices": snapshot.device_count,
                "pairs": len(counts),
                "sha256": file_sha256,
            },
        )
    return InventorySummary(snapshot.pk, fmt, as_of, rows, snapshot.device_count, len(counts))
