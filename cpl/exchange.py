"""The CPL exchange format (../shared/samples/README.md): reading, validating and writing.

Reading is streaming and all-or-nothing: `read_exchange_file` returns validated rows
or raises `ExchangeFileRejected` with a per-row report (row number, column, reason).
Row numbers are spreadsheet rows: the header is row 1, the first device model row 2.
"""

import codecs
import csv
import datetime
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .models import DLMS_DEVICE_TYPES, DeviceType

COLUMNS = [
    "Device Type",
    "Manufacturer ID",
    "Manufacturer Name",
    "Model ID",
    "Hardware Version",
    "Firmware Version",
    "SMETS CHTS Version",
    "Date Added",
    "CPA Certificate Number",
    "CPA Issue Date",
    "CPA Expiry Date",
    "ZigBee Certificate Number",
    "ZigBee Expiry Date",
    "DLMS Certificate Number",
    "DLMS Expiry Date",
]
# Written by our exports; accepted and ignored on import (status changes only by transitions).
STATUS_COLUMN = "CPL Status"
EXPORT_COLUMNS = [*COLUMNS, STATUS_COLUMN]

HEX_LENGTHS = {"Manufacturer ID": 4, "Model ID": 4, "Hardware Version": 4, "Firmware Version": 8}
TEXT_LIMITS = {
    "Manufacturer Name": 200,
    "SMETS CHTS Version": 50,
    "CPA Certificate Number": 100,
    "ZigBee Certificate Number": 100,
    "DLMS Certificate Number": 100,
}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BINARY_SIGNATURES = (
    b"%PDF",
    b"MZ",
    b"\x7fELF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"\x1f\x8b",
    b"Rar!",
    b"7z\xbc\xaf",
    b"\xd0\xcf\x11\xe0",
)
XLSX_SIGNATURE = b"PK\x03\x04"

_HEX = re.compile(r"^[0-9A-Fa-f]+$")


def normalise_header(name: str) -> str:
    return re.sub(r"[\s/_\-]", "", str(name or "")).lower()


_KNOWN_HEADERS = {normalise_header(column): column for column in EXPORT_COLUMNS}


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    reason: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "reason": self.reason}


class ExchangeFileRejected(Exception):
    def __init__(self, message: str, errors: list[RowError] | None = None, error_count: int = 0):
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        self.error_count = error_count or len(self.errors)


@dataclass(slots=True)
class CertificateFact:
    kind: str
    number: str
    issued: datetime.date | None
    expiry: datetime.date


@dataclass(slots=True)
class DeviceModelRow:
    row: int
    device_type: str
    manufacturer_id: str
    manufacturer_name: str
    model_id: str
    hardware_version: str
    firmware_version: str
    smets_chts_version: str
    date_added: datetime.date
    certificates: list[CertificateFact] = field(default_factory=list)

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.manufacturer_id, self.model_id, self.hardware_version, self.firmware_version)


def neutralise_formula(value):
    """Make a text cell inert in spreadsheets (CSV injection): prefix a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _restore_neutralised(value: str) -> str:
    if value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


# --- reading ---------------------------------------------------------------------------------


class _Progress:
    """Reports rows read and the share of the file consumed, at most every `every` rows."""

    def __init__(self, callback: Callable[[int, int], None] | None, every: int = 2000):
        self.callback, self.every = callback, every

    def __call__(self, rows: int, percent: int, force: bool = False):
        if self.callback and (force or rows % self.every == 0):
            self.callback(rows, percent)


def _csv_records(binary, size: int) -> Iterator[tuple[int, list[str], int]]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    consumed = 0

    def text_chunks():
        nonlocal consumed
        while chunk := binary.read(256 * 1024):
            consumed += len(chunk)
            if b"\x00" in chunk:
                raise ExchangeFileRejected(
                    "The file contains NUL bytes: it is binary, not a CSV text file."
                )
            try:
                yield decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise ExchangeFileRejected(
                    f"The file is not UTF-8 text (invalid byte at offset "
                    f"{consumed - len(chunk) + exc.start}). Save it as CSV UTF-8 and try again."
                ) from None
        yield decoder.decode(b"", final=True)

    lines = _LineSplitter(text_chunks())
    reader = csv.reader(lines, strict=True)
    try:
        for record in reader:
            yield reader.line_num, record, (consumed * 100 // size) if size else 100
    except csv.Error as exc:
        raise ExchangeFileRejected(
            f"Row {reader.line_num}: the CSV is malformed ({exc})."
        ) from None


class _LineSplitter:
    """Iterates lines (keeping their endings) over a stream of decoded text chunks."""

    def __init__(self, chunks: Iterable[str]):
        self._chunks = iter(chunks)
        self._buffer = ""

    def __iter__(self):
        return self

    def __next__(self) -> str:
        while True:
            newline = self._buffer.find("\n")
            if newline >= 0:
                line, self._buffer = self._buffer[: newline + 1], self._buffer[newline + 1 :]
                return line
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                if self._buffer:
                    line, self._buffer = self._buffer, ""
                    return line
                raise


def _xlsx_records(binary) -> Iterator[tuple[int, list[str], int]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(binary, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ExchangeFileRejected(f"The file is not a readable XLSX workbook ({exc}).") from None
    try:
        sheet = workbook.worksheets[0]
        total = sheet.max_row or 0
        for index, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_xlsx_text(v) for v in values]
            while cells and cells[-1] == "":
                cells.pop()
            yield index, cells, (index * 100 // total) if total else 100
    finally:
        workbook.close()


def _xlsx_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _open_records(binary, size: int):
    head = binary.read(8)
    binary.seek(0)
    if head.startswith(XLSX_SIGNATURE):
        return _xlsx_records(binary)
    if head.startswith(BINARY_SIGNATURES):
        raise ExchangeFileRejected(
            "This is a binary file, not a CSV or XLSX file in the CPL exchange format."
        )
    return _csv_records(binary, size)


def _map_header(cells: list[str]) -> dict[str, int]:
    errors, mapping = [], {}
    for position, name in enumerate(cells):
        key = normalise_header(name)
        if not key:
            if any(cells[position:]):
                errors.append(RowError(1, f"column {position + 1}", "column has no header"))
            continue
        column = _KNOWN_HEADERS.get(key)
        if column is None:
            errors.append(RowError(1, str(name), "unknown column"))
        elif column in mapping:
            errors.append(RowError(1, str(name), f"column appears twice (as '{column}')"))
        else:
            mapping[column] = position
    for column in COLUMNS:
        if column not in mapping:
            errors.append(RowError(1, column, "missing column"))
    if errors:
        raise ExchangeFileRejected("The header row does not match the CPL exchange format.", errors)
    return mapping


def _parse_date(value: str, column: str, errors: list, row: int) -> datetime.date | None:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        return datetime.date.fromisoformat(value)
    except ValueError:
        reason = "is required" if not value else f"'{value[:40]}' is not an ISO date (YYYY-MM-DD)"
        errors.append(RowError(row, column, reason))
        return None


def _validate_row(
    row: int, values: dict[str, str], errors: list[RowError]
) -> DeviceModelRow | None:
    start = len(errors)
    for column in COLUMNS:
        if column.startswith("DLMS"):
            continue
        if not values[column]:
            errors.append(RowError(row, column, "is required"))
    device_type = values["Device Type"].upper()
    if values["Device Type"] and device_type not in DeviceType.values:
        errors.append(
            RowError(
                row,
                "Device Type",
                f"unknown device type '{values['Device Type'][:40]}'"
                f" (expected one of {', '.join(DeviceType.values)})",
            )
        )
    for column, length in HEX_LENGTHS.items():
        value = values[column]
        if value and (len(value) != length or not _HEX.match(value)):
            errors.append(
                RowError(row, column, f"'{value[:40]}' is not {length} hexadecimal digits")
            )
    for column, limit in TEXT_LIMITS.items():
        if len(values[column]) > limit:
            errors.append(RowError(row, column, f"is longer than {limit} characters"))
    dates = {}
    for column in ("Date Added", "CPA Issue Date", "CPA Expiry Date", "ZigBee Expiry Date"):
        if values[column]:
            dates[column] = _parse_date(values[column], column, errors, row)
    if (
        dates.get("CPA Issue Date")
        and dates.get("CPA Expiry Date")
        and dates["CPA Expiry Date"] <= dates["CPA Issue Date"]
    ):
        errors.append(
            RowError(
                row, "CPA Expiry Date", "the certificate expires before (or on) its issue date"
            )
        )
    dlms_number, dlms_expiry = values["DLMS Certificate Number"], values["DLMS Expiry Date"]
    if device_type in DLMS_DEVICE_TYPES:
        if not dlms_number:
            errors.append(
                RowError(row, "DLMS Certificate Number", f"is required for {device_type}")
            )
        if not dlms_expiry:
            errors.append(RowError(row, "DLMS Expiry Date", f"is required for {device_type}"))
        elif dlms_expiry:
            dates["DLMS Expiry Date"] = _parse_date(dlms_expiry, "DLMS Expiry Date", errors, row)
    elif device_type in DeviceType.values:
        for column, value in (
            ("DLMS Certificate Number", dlms_number),
            ("DLMS Expiry Date", dlms_expiry),
        ):
            if value:
                errors.append(RowError(row, column, f"must be empty for {device_type}"))
    if len(errors) > start:
        return None
    certificates = [
        CertificateFact(
            "cpa",
            values["CPA Certificate Number"],
            dates["CPA Issue Date"],
            dates["CPA Expiry Date"],
        ),
        CertificateFact(
            "zigbee", values["ZigBee Certificate Number"], None, dates["ZigBee Expiry Date"]
        ),
    ]
    if device_type in DLMS_DEVICE_TYPES:
        certificates.append(CertificateFact("dlms", dlms_number, None, dates["DLMS Expiry Date"]))
    return DeviceModelRow(
        row=row,
        device_type=device_type,
        manufacturer_id=values["Manufacturer ID"].upper(),
        manufacturer_name=values["Manufacturer Name"],
        model_id=values["Model ID"].upper(),
        hardware_version=values["Hardware Version"].upper(),
        firmware_version=values["Firmware Version"].upper(),
        smets_chts_version=values["SMETS CHTS Version"],
        date_added=dates["Date Added"],
        certificates=certificates,
    )


class _CrossRowChecks:
    """Rules that span rows: one identity once, one name per manufacturer, one set of dates per
    certificate."""

    def __init__(self):
        self.identities: dict[tuple, int] = {}
        self.manufacturers: dict[str, tuple[str, int]] = {}
        self.certificates: dict[tuple[str, str], tuple[CertificateFact, int]] = {}

    def check(self, parsed: DeviceModelRow, errors: list[RowError]) -> None:
        first = self.identities.setdefault(parsed.identity, parsed.row)
        if first != parsed.row:
            errors.append(
                RowError(
                    parsed.row,
                    "Firmware Version",
                    f"duplicate device model: the same manufacturer, model, hardware "
                    f"and firmware version as row {first}",
                )
            )
        name, name_row = self.manufacturers.setdefault(
            parsed.manufacturer_id, (parsed.manufacturer_name, parsed.row)
        )
        if name != parsed.manufacturer_name:
            errors.append(
                RowError(
                    parsed.row,
                    "Manufacturer Name",
                    f"manufacturer {parsed.manufacturer_id} is named '{name}' on row {name_row}",
                )
            )
        for fact in parsed.certificates:
            seen, seen_row = self.certificates.setdefault(
                (fact.kind, fact.number), (fact, parsed.row)
            )
            if (seen.issued, seen.expiry) != (fact.issued, fact.expiry):
                label = {"cpa": "CPA", "zigbee": "ZigBee", "dlms": "DLMS"}[fact.kind]
                errors.append(
                    RowError(
                        parsed.row,
                        f"{label} Expiry Date",
                        f"certificate {fact.number} has different dates on row {seen_row}",
                    )
                )


def read_exchange_file(
    binary,
    *,
    size: int,
    max_bytes: int,
    max_errors: int = 500,
    progress: Callable[[int, int], None] | None = None,
) -> list[DeviceModelRow]:
    """Validate a whole CPL exchange file and return its rows, or raise ExchangeFileRejected."""
    if size == 0:
        raise ExchangeFileRejected("The file is empty.")
    if size > max_bytes:
        raise ExchangeFileRejected(
            f"The file is {size / 1048576:.1f} MB; the largest file accepted is "
            f"{max_bytes / 1048576:.0f} MB."
        )
    records = _open_records(binary, size)
    report = _Progress(progress)
    header = None
    errors: list[RowError] = []
    rows: list[DeviceModelRow] = []
    cross = _CrossRowChecks()
    count = 0
    for row, cells, percent in records:
        if header is None:
            if not any(c.strip() for c in cells):
                continue
            header = _map_header(cells)
            width = len(cells)
            continue
        if not any(c.strip() for c in cells):
            continue
        count += 1
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            errors.append(
                RowError(row, f"column {width + 1}", "value outside the header's columns")
            )
            continue
        values = {
            column: _restore_neutralised(cells[pos].strip()) if pos < len(cells) else ""
            for column, pos in header.items()
        }
        parsed = _validate_row(row, values, errors)
        if parsed is not None:
            cross.check(parsed, errors)
            rows.append(parsed)
        report(count, percent)
    report(count, 100, force=True)
    if header is None:
        raise ExchangeFileRejected("The file has no header row: it is empty.")
    if errors:
        shown = errors[:max_errors]
        raise ExchangeFileRejected(
            f"{len(errors)} problem{'s' if len(errors) != 1 else ''} found; nothing was imported.",
            shown,
            len(errors),
        )
    if not rows:
        raise ExchangeFileRejected("The file has a header row but no device models.")
    return rows


# --- writing ---------------------------------------------------------------------------------


def _export_cells(row: dict, neutralise: bool) -> list:
    cells = [row.get(column, "") or "" for column in EXPORT_COLUMNS]
    return [neutralise_formula(c) for c in cells] if neutralise else cells


def write_csv(rows: Iterable[dict]) -> Iterator[str]:
    """CSV text in chunks, suitable for a StreamingHttpResponse."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for count, row in enumerate(rows, start=1):
        writer.writerow(_export_cells(row, neutralise=True))
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_xlsx(rows: Iterable[dict], out) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("CPL")
    sheet.append(EXPORT_COLUMNS)
    for row in rows:
        cells = []
        for value in _export_cells(row, neutralise=True):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # never a formula, whatever the text says
            cells.append(cell)
        sheet.append(cells)
    workbook.save(out)


def write_json(rows: Iterable[dict], meta: dict) -> Iterator[str]:
    import json

    yield json.dumps(meta, ensure_ascii=False)[:-1] + ', "device_models": ['
    for index, row in enumerate(rows):
        yield ("," if index else "") + json.dumps(
            {c: row.get(c, "") for c in EXPORT_COLUMNS}, ensure_ascii=False
        )
    yield "]}"
