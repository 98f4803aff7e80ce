"""The CPL exchange format (docs/cpl-exchange-format.md): reading, validating and writing.

Reading is one streaming pass: `read_exchange_file` yields validated rows as plain tuples and
collects a per-row report (row number, column, reason); the import stages the rows, adds the
rules across rows and raises `ExchangeFileRejected` with the whole report, all or nothing.
Row numbers are spreadsheet rows: the header is row 1, the first device model row 2.
"""

import codecs
import csv
import datetime
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from .models import DLMS_DEVICE_TYPES, DeviceType, SmetsGeneration
from .policies import SMETS1_HAS_NO_CPA

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
# Added later, so optional in a header: a file without them is read as SMETS2 rows with no GBCS
# version or image hash. Every export writes them.
SMETS_COLUMNS = ["SMETS Generation", "GBCS Version", "Manufacturer Image Hash"]
# Added later still, as optional: a lifetime CPA certificate's periodic renewal date. A file
# without the column leaves the stored renewal dates as they are; an empty cell clears one.
RENEWAL_COLUMNS = ["CPA Renewal Date"]
OPTIONAL_COLUMNS = [*SMETS_COLUMNS, *RENEWAL_COLUMNS]
FORMAT_COLUMNS = [*COLUMNS, *OPTIONAL_COLUMNS]
# Written by our exports; accepted and ignored on import (status changes only by transitions).
STATUS_COLUMN = "CPL Status"
# "Yes" for a SMETS1 emergency entry awaiting or past its fast-track PPCT (cpl.emergency); like
# the status, written by exports and ignored on import (only a request makes an emergency entry).
EMERGENCY_COLUMN = "Emergency Entry"
EXPORT_COLUMNS = [*FORMAT_COLUMNS, STATUS_COLUMN, EMERGENCY_COLUMN]

HEX_LENGTHS = {"Manufacturer ID": 4, "Model ID": 4, "Hardware Version": 4, "Firmware Version": 8}
TEXT_LIMITS = {
    "Manufacturer Name": 200,
    "SMETS CHTS Version": 50,
    "GBCS Version": 50,
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


class RowErrors:
    """The per-row report: every problem counted, the first `limit` kept (memory stays bounded
    however many rows are bad)."""

    def __init__(self, limit: int):
        self.limit, self.kept, self.count = limit, [], 0

    def append(self, error: RowError) -> None:
        self.count += 1
        if len(self.kept) < self.limit:
            self.kept.append(error)

    def __len__(self) -> int:
        return self.count

    def reject_if_any(self, more: list[RowError] = (), more_count: int = 0) -> None:
        """Raise with this report merged, in row order, with problems found later (across rows);
        `more` holds at most `limit` of them out of `more_count`."""
        total = self.count + more_count
        if not total:
            return
        shown = sorted([*self.kept, *more], key=lambda e: e.row)[: self.limit]
        raise ExchangeFileRejected(
            f"{total} problem{'s' if total != 1 else ''} found; nothing was imported.",
            shown,
            total,
        )


# A validated row as plain values, in this order: what the import stages, one tuple per row.
STAGED_COLUMNS = (
    "row",
    "device_type",
    "manufacturer_id",
    "manufacturer_name",
    "model_id",
    "hardware_version",
    "firmware_version",
    "smets_chts_version",
    "date_added",
    "cpa_number",
    "cpa_issued",
    "cpa_expiry",
    "zigbee_number",
    "zigbee_expiry",
    "dlms_number",
    "dlms_expiry",
    "smets_generation",
    "gbcs_version",
    "manufacturer_image_hash",
    "cpa_renewal",
)
CERTIFICATE_LABELS = {"cpa": "CPA", "zigbee": "ZigBee", "dlms": "DLMS"}


# Rules that span rows (one identity once, one name per manufacturer, one set of dates per
# certificate) are checked by the import over all the staged rows; their wording lives here.
def duplicate_identity_error(row: int, first_row: int) -> RowError:
    return RowError(
        row,
        "Firmware Version",
        f"duplicate device model: the same manufacturer, model, hardware "
        f"and firmware version as row {first_row}",
    )


def manufacturer_name_error(row: int, manufacturer_id: str, name: str, first_row: int):
    return RowError(
        row,
        "Manufacturer Name",
        f"manufacturer {manufacturer_id} is named '{name}' on row {first_row}",
    )


def certificate_dates_error(row: int, kind: str, number: str, first_row: int) -> RowError:
    return RowError(
        row,
        f"{CERTIFICATE_LABELS[kind]} Expiry Date",
        f"certificate {number} has different dates on row {first_row}",
    )


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


class _RowBounds:
    """Limits every reader applies while it streams: rows, and runs of empty rows (which cost
    time and, in a sheet, memory, but carry nothing)."""

    def __init__(self):
        self.max_rows = settings.CPL_IMPORT_MAX_ROWS
        self.max_empty = settings.CPL_IMPORT_MAX_EMPTY_ROWS
        self.empty_since = 0

    def check(self, row: int, cells: Iterable[str]) -> None:
        if row > self.max_rows + 1:  # the header, then at most max_rows device models
            raise ExchangeFileRejected(
                f"The file has more than {self.max_rows:,} rows; a CPL file holds at most "
                f"{self.max_rows:,} device models."
            )
        if any(c.strip() for c in cells):
            self.empty_since = 0
            return
        self.empty_since = self.empty_since or row
        if row - self.empty_since >= self.max_empty:
            raise ExchangeFileRejected(
                f"Rows {self.empty_since:,} to {row:,} are all empty: a CPL file has no runs of "
                f"more than {self.max_empty:,} empty rows. Delete the empty rows and try again."
            )


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
        try:
            yield decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ExchangeFileRejected(
                "The file is not UTF-8 text (it ends inside a character). Save it as CSV UTF-8 "
                "and try again."
            ) from None

    lines = _LineSplitter(text_chunks(), max_chars=settings.CPL_IMPORT_MAX_LINE_CHARS)
    reader = csv.reader(lines, strict=True)
    bounds = _RowBounds()
    try:
        for record in reader:
            bounds.check(reader.line_num, record)
            yield reader.line_num, record, (consumed * 100 // size) if size else 100
    except csv.Error as exc:
        raise ExchangeFileRejected(
            f"Row {reader.line_num}: the CSV is malformed ({exc})."
        ) from None


class _LineSplitter:
    """Iterates lines (keeping their endings) over a stream of decoded text chunks; a line
    longer than `max_chars` (a file with no line breaks, say) ends the file with an error
    instead of being gathered in memory."""

    def __init__(self, chunks: Iterable[str], max_chars: int):
        self._chunks = iter(chunks)
        self._buffer = ""
        self._start = 0  # consumed lines are skipped by index: slicing each off is quadratic
        self._max_chars = max_chars
        self._lines = 0

    def __iter__(self):
        return self

    def _too_long(self):
        raise ExchangeFileRejected(
            f"Row {self._lines + 1}: the line is longer than {self._max_chars:,} characters. "
            "A CPL row is far shorter: is this a CSV file with line breaks?"
        )

    def __next__(self) -> str:
        while True:
            newline = self._buffer.find("\n", self._start)
            if newline >= 0:
                if newline + 1 - self._start > self._max_chars:
                    self._too_long()
                line, self._start = self._buffer[self._start : newline + 1], newline + 1
                self._lines += 1
                return line
            if len(self._buffer) - self._start > self._max_chars:
                self._too_long()
            try:
                chunk = next(self._chunks)
            except StopIteration:
                line, self._buffer, self._start = self._buffer[self._start :], "", 0
                if line:
                    self._lines += 1
                    return line
                raise
            self._buffer = self._buffer[self._start :] + chunk
            self._start = 0


# Parts an XLSX workbook is made of (ECMA-376 package); anything else is not a workbook.
_XLSX_PART = re.compile(r"\[Content_Types\]\.xml|(?:_rels|docProps|xl|customXml)/[\w\-. \[\]/]+")
_ZIP_END_RECORD = b"PK\x05\x06"
_ENTITIES_REFUSED = (
    "The file contains XML entity declarations (a DTD), which are not allowed in a workbook: "
    "they can read files on the server or expand without end. Save the workbook again from "
    "Excel or LibreOffice and try again."
)


def _zip_declared_parts(binary) -> int | None:
    """The number of parts the ZIP's end record declares, read before `zipfile` builds an
    object for each entry of its directory (a small file can declare millions)."""
    binary.seek(0, io.SEEK_END)
    end = binary.tell()
    binary.seek(max(0, end - (22 + 65535)))  # the end record, then at most a 64 KiB comment
    tail = binary.read()
    binary.seek(0)
    at = tail.rfind(_ZIP_END_RECORD)
    if at < 0 or len(tail) - at < 22:
        return None
    return int.from_bytes(tail[at + 10 : at + 12], "little")  # 0xFFFF: ZIP64, far too many


def _check_xlsx_package(binary) -> None:
    """Refuse a workbook whose parts would unpack to more than an import can hold, or that holds
    anything but workbook parts, before any of it is decompressed."""
    max_parts = settings.CPL_IMPORT_XLSX_MAX_PARTS
    max_part = settings.CPL_IMPORT_XLSX_MAX_PART_BYTES
    max_total = settings.CPL_IMPORT_XLSX_MAX_UNPACKED_BYTES
    max_ratio = settings.CPL_IMPORT_XLSX_MAX_RATIO
    declared = _zip_declared_parts(binary)
    if declared is None:
        raise ExchangeFileRejected("The file is not a readable XLSX workbook (no ZIP directory).")
    if declared > max_parts:
        raise ExchangeFileRejected(
            f"The workbook has {declared:,} parts; an XLSX workbook of the CPL has at most "
            f"{max_parts}."
        )
    try:
        with zipfile.ZipFile(binary) as package:
            parts = package.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ExchangeFileRejected(f"The file is not a readable XLSX workbook ({exc}).") from None
    finally:
        binary.seek(0)
    if len(parts) > max_parts:
        raise ExchangeFileRejected(
            f"The workbook has {len(parts):,} parts; an XLSX workbook of the CPL has at most "
            f"{max_parts}."
        )
    total = 0
    for part in parts:
        name = part.filename
        if not _XLSX_PART.fullmatch(name) or ".." in name:
            raise ExchangeFileRejected(
                f"The file holds '{name[:80]}', which is not part of an XLSX workbook."
            )
        if part.flag_bits & 0x1:
            raise ExchangeFileRejected("The workbook is encrypted: save it without a password.")
        if part.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ExchangeFileRejected(
                f"The workbook's part {name} is compressed in a way XLSX workbooks are not."
            )
        if part.file_size > max_part:
            raise ExchangeFileRejected(
                f"The workbook's part {name} unpacks to {part.file_size / 1048576:,.0f} MB; "
                f"at most {max_part / 1048576:,.0f} MB is accepted."
            )
        # Spreadsheet XML compresses about 10:1; a bomb, hundreds or thousands to one.
        if part.file_size > 1048576 and part.file_size > max_ratio * max(part.compress_size, 1):
            raise ExchangeFileRejected(
                f"The workbook's part {name} is compressed "
                f"{part.file_size // max(part.compress_size, 1):,} to 1, far more than a "
                f"spreadsheet is (at most {max_ratio} to 1): it is not accepted."
            )
        total += part.file_size
    if total > max_total:
        raise ExchangeFileRejected(
            f"The workbook unpacks to {total / 1048576:,.0f} MB; at most "
            f"{max_total / 1048576:,.0f} MB is accepted."
        )


@contextmanager
def _readable_xlsx():
    """What openpyxl raises on a malformed workbook becomes a file-level rejection."""
    from defusedxml import DefusedXmlException

    try:
        yield
    except ExchangeFileRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on malformed parts
        # openpyxl wraps what failed in "could not read worksheets from <path>": report the cause.
        while exc.__cause__ is not None:
            exc = exc.__cause__
        if isinstance(exc, DefusedXmlException):
            raise ExchangeFileRejected(_ENTITIES_REFUSED) from None
        raise ExchangeFileRejected(
            f"The file is not a readable XLSX workbook ({type(exc).__name__}: {str(exc)[:200]})."
        ) from None


class _SheetScan:
    """One streaming pass over a sheet's XML before openpyxl reads any of it: openpyxl builds
    whole elements (each sheet up to its rows, to find its size; then each row before it yields
    it), so a row of millions of cells, a sheet of millions of empty rows, or a jump to row
    1,048,576 (openpyxl yields every row in between) exhausts memory or time. Expat calls back
    on each tag only and builds nothing; a DTD (entities, external references) is refused, as
    defusedxml does for openpyxl's own parsing.

    The first sheet (the one imported) gets every row rule; the others, which openpyxl only
    sizes, the cells-per-row and row-count limits. A row counts as empty here when none of its
    cells holds a value element: lenient (an empty or blank value counts as one), so the exact
    rule is still openpyxl's pass."""

    def __init__(self, bounds: _RowBounds, sheet: str | None = None):
        self.bounds, self.max_cells, self.sheet = bounds, settings.CPL_IMPORT_MAX_COLUMNS, sheet
        self.row = self.cells = 0
        self.has_value = False

    def run(self, source) -> None:
        from xml.parsers import expat

        parser = expat.ParserCreate()
        parser.StartDoctypeDeclHandler = self._refuse_dtd
        parser.EntityDeclHandler = self._refuse_dtd
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartElementHandler = self._start
        try:
            while chunk := source.read(256 * 1024):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
            self._row_read()
        except expat.ExpatError as exc:
            raise ExchangeFileRejected(
                f"The file is not a readable XLSX workbook (its sheet is not well-formed XML: "
                f"{exc})."
            ) from None

    def _refuse_dtd(self, *args):
        raise ExchangeFileRejected(_ENTITIES_REFUSED)

    def _where(self) -> str:
        return f" of the sheet '{self.sheet[:80]}'" if self.sheet is not None else ""

    def _start(self, name: str, attributes: dict):
        tag = name.rpartition(":")[2]
        if tag == "c":
            self.cells += 1
            if self.cells > self.max_cells:
                raise ExchangeFileRejected(
                    f"Row {max(self.row, 1):,}{self._where()} has more than {self.max_cells} "
                    f"cells; a CPL row has {len(EXPORT_COLUMNS)} columns."
                )
        elif tag in ("v", "is"):
            self.has_value = True
        elif tag == "row":
            self._row_read()
            number = attributes.get("r", "")
            following = int(number) if number.isdigit() else self.row + 1
            if self.sheet is None:
                # Rows the sheet skips are empty rows: at most a run's worth are checked.
                last = min(following, self.row + self.bounds.max_empty + 2)
                for empty in range(self.row + 1, last):
                    self.bounds.check(empty, ())
            if following > self.bounds.max_rows + 1:
                raise ExchangeFileRejected(
                    f"The file has more than {self.bounds.max_rows:,} rows{self._where()}; a "
                    f"CPL file holds at most {self.bounds.max_rows:,} device models."
                )
            self.row, self.cells, self.has_value = following, 0, False

    def _row_read(self):
        # Checked when the next row starts (or the sheet ends): an end-tag callback for every
        # element would double the scan's time.
        if self.row and self.sheet is None:
            self.bounds.check(self.row, ("value",) if self.has_value else ())


def _check_shared_strings(reader) -> None:
    """openpyxl loads the whole shared text table into memory when it opens a workbook, even
    read-only: a table far bigger than a CPL needs is refused first. The part is the one the
    manifest names, as openpyxl finds it, whatever it is called."""
    from openpyxl.xml.constants import SHARED_STRINGS

    part = reader.package.find(SHARED_STRINGS)
    if part is None:
        return
    try:
        size = reader.archive.getinfo(part.PartName[1:]).file_size
    except KeyError:
        return  # openpyxl reports the missing part itself
    cap = settings.CPL_IMPORT_XLSX_MAX_SHARED_STRINGS_BYTES
    if size > cap:
        raise ExchangeFileRejected(
            f"The workbook's shared text table unpacks to {_megabytes(size)} MB, more than the "
            f"{_megabytes(cap)} MB a CPL file needs: it is not accepted."
        )


def _megabytes(size: int) -> str:
    return f"{size / 1048576:,.1f}".removesuffix(".0")


def _scan_sheets(binary) -> None:
    """Scan every worksheet of the workbook (see _SheetScan), found as openpyxl finds them, before
    openpyxl opens any."""
    from openpyxl.reader.excel import ExcelReader

    reader = ExcelReader(binary, read_only=True, data_only=True)
    try:
        reader.read_manifest()
        _check_shared_strings(reader)
        reader.read_workbook()
        sheets = [
            (sheet.name, rel.target)
            for sheet, rel in reader.parser.find_sheets()
            if rel.target in reader.valid_files and "chartsheet" not in rel.Type
        ]
        for index, (name, target) in enumerate(sheets):
            with reader.archive.open(target) as source:
                _SheetScan(_RowBounds(), sheet=name if index else None).run(source)
    finally:
        reader.archive.close()
        binary.seek(0)


def _xlsx_records(binary) -> Iterator[tuple[int, list[str], int]]:
    from openpyxl import load_workbook

    _check_xlsx_package(binary)
    with _readable_xlsx():
        _scan_sheets(binary)
        workbook = load_workbook(binary, read_only=True, data_only=True)
    try:
        with _readable_xlsx():
            if not workbook.worksheets:
                raise ExchangeFileRejected("The workbook has no sheet.")
            sheet = workbook.worksheets[0]
            declared_rows, declared_columns = sheet.max_row or 0, sheet.max_column or 0
            if declared_rows > settings.CPL_IMPORT_MAX_ROWS + 1:
                raise ExchangeFileRejected(
                    f"The sheet declares {declared_rows:,} rows; a CPL file holds at most "
                    f"{settings.CPL_IMPORT_MAX_ROWS:,} device models."
                )
            if declared_columns > settings.CPL_IMPORT_MAX_COLUMNS:
                raise ExchangeFileRejected(
                    f"The sheet declares {declared_columns:,} columns; a CPL file has "
                    f"{len(EXPORT_COLUMNS)} (at most {settings.CPL_IMPORT_MAX_COLUMNS} accepted)."
                )
            # Every row the sheet holds from A1, not only its declared range: a stale
            # dimension would silently drop rows.
            sheet.reset_dimensions()
            rows = sheet.iter_rows(min_row=1, min_col=1, values_only=True)
        bounds = _RowBounds()
        total = max(declared_rows, 1)
        index = 0
        while True:
            with _readable_xlsx():
                values = next(rows, None)
            if values is None:
                break
            index += 1
            width = settings.CPL_IMPORT_MAX_COLUMNS
            beyond = next(
                (i for i, v in enumerate(values[width:], width + 1) if v not in (None, "")), None
            )
            if beyond is not None:
                raise ExchangeFileRejected(
                    f"Row {index:,}: a value in column {beyond:,}, beyond the {width} columns a "
                    "CPL file may have."
                )
            cells = [_xlsx_text(v) for v in values[:width]]
            while cells and cells[-1] == "":
                cells.pop()
            bounds.check(index, cells)
            yield index, cells, min(index * 100 // total, 100)
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


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _parse_date(value: str, column: str, errors, row: int) -> datetime.date | None:
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError
        return datetime.date.fromisoformat(value)
    except ValueError:
        reason = "is required" if not value else f"'{value[:40]}' is not an ISO date (YYYY-MM-DD)"
        errors.append(RowError(row, column, reason))
        return None


# Looked up once: a Django choices enum builds its `values` list on every access.
_DEVICE_TYPES = frozenset(DeviceType.values)
_DEVICE_TYPE_LIST = ", ".join(DeviceType.values)
_DLMS_TYPES = frozenset(str(t) for t in DLMS_DEVICE_TYPES)
_SMETS1, _SMETS2 = str(SmetsGeneration.SMETS1), str(SmetsGeneration.SMETS2)
_GENERATIONS = frozenset(SmetsGeneration.values)
# Which columns a row must fill, by SMETS generation (docs/cpl-exchange-format.md): a SMETS1
# entry is on the CPL through an Eligible Product Combination, not a CPA certificate, and its
# SMETS1 sub-version is optional.
_REQUIRED_ALWAYS = [
    "Device Type",
    "Manufacturer ID",
    "Manufacturer Name",
    "Model ID",
    "Hardware Version",
    "Firmware Version",
    "Date Added",
]
_REQUIRED = {
    _SMETS2: [column for column in COLUMNS if not column.startswith("DLMS")],
    _SMETS1: _REQUIRED_ALWAYS,
}
_CPA_COLUMNS = (
    "CPA Certificate Number",
    "CPA Issue Date",
    "CPA Expiry Date",
    "CPA Renewal Date",
)
_HEX_FIELDS = [
    (column, length, re.compile(f"[0-9A-Fa-f]{{{length}}}"))
    for column, length in HEX_LENGTHS.items()
]
_IMAGE_HASH = re.compile("[0-9A-Fa-f]{64}")


def _generation(value: str, errors, row: int) -> str | None:
    """The SMETS generation a cell names (empty: SMETS2, as every file before the column)."""
    if not value:
        return _SMETS2
    generation = re.sub(r"\s", "", value).upper()
    if generation in _GENERATIONS:
        return generation
    errors.append(
        RowError(
            row,
            "SMETS Generation",
            f"'{value[:40]}' is not a SMETS generation (expected SMETS1 or SMETS2)",
        )
    )
    return None


def _optional_certificate(values, number_column, expiry_column, errors, row, dates) -> str | None:
    """A certificate a SMETS1 row may carry: its number and expiry date both, or neither."""
    number, expiry = values[number_column], values[expiry_column]
    if number and not expiry:
        errors.append(RowError(row, expiry_column, f"is required with a {number_column}"))
    elif expiry and not number:
        errors.append(RowError(row, number_column, f"is required with a {expiry_column}"))
    elif expiry:
        dates[expiry_column] = _parse_date(expiry, expiry_column, errors, row)
    return number or None


def _validate_row(row: int, values: dict[str, str], errors: RowErrors) -> tuple | None:
    """The row as a STAGED_COLUMNS tuple, or None with its problems added to `errors`."""
    start = len(errors)
    generation = _generation(values["SMETS Generation"], errors, row)
    for column in _REQUIRED[generation] if generation else _REQUIRED_ALWAYS:
        if not values[column]:
            errors.append(RowError(row, column, "is required"))
    device_type = values["Device Type"].upper()
    if values["Device Type"] and device_type not in _DEVICE_TYPES:
        errors.append(
            RowError(
                row,
                "Device Type",
                f"unknown device type '{values['Device Type'][:40]}'"
                f" (expected one of {_DEVICE_TYPE_LIST})",
            )
        )
    for column, length, pattern in _HEX_FIELDS:
        value = values[column]
        if value and not pattern.fullmatch(value):
            errors.append(
                RowError(row, column, f"'{value[:40]}' is not {length} hexadecimal digits")
            )
    image_hash = values["Manufacturer Image Hash"]
    if image_hash and not _IMAGE_HASH.fullmatch(image_hash):
        errors.append(
            RowError(
                row,
                "Manufacturer Image Hash",
                f"'{image_hash[:40]}' is not a SHA-256 hash (64 hexadecimal digits)",
            )
        )
    for column, limit in TEXT_LIMITS.items():
        if len(values[column]) > limit:
            errors.append(RowError(row, column, f"is longer than {limit} characters"))
    dates = {}
    if values["Date Added"]:
        dates["Date Added"] = _parse_date(values["Date Added"], "Date Added", errors, row)
    dlms_number, dlms_expiry = values["DLMS Certificate Number"], values["DLMS Expiry Date"]
    cpa_number = zigbee_number = None
    if generation == _SMETS1:
        given = next((column for column in _CPA_COLUMNS if values[column]), None)
        if given:
            errors.append(RowError(row, given, SMETS1_HAS_NO_CPA))
        zigbee_number = _optional_certificate(
            values, "ZigBee Certificate Number", "ZigBee Expiry Date", errors, row, dates
        )
        if device_type in _DLMS_TYPES:
            dlms_number = _optional_certificate(
                values, "DLMS Certificate Number", "DLMS Expiry Date", errors, row, dates
            )
    else:
        cpa_number = values["CPA Certificate Number"]
        zigbee_number = values["ZigBee Certificate Number"]
        for column in (
            "CPA Issue Date",
            "CPA Expiry Date",
            "CPA Renewal Date",
            "ZigBee Expiry Date",
        ):
            if values[column]:
                dates[column] = _parse_date(values[column], column, errors, row)
        renewal = dates.get("CPA Renewal Date")
        if renewal and dates.get("CPA Issue Date") and renewal <= dates["CPA Issue Date"]:
            errors.append(
                RowError(row, "CPA Renewal Date", "the renewal falls before (or on) the issue date")
            )
        elif renewal and dates.get("CPA Expiry Date") and renewal > dates["CPA Expiry Date"]:
            errors.append(
                RowError(row, "CPA Renewal Date", "the renewal falls after the expiry date")
            )
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
        if device_type in _DLMS_TYPES:
            if not dlms_number:
                errors.append(
                    RowError(row, "DLMS Certificate Number", f"is required for {device_type}")
                )
            if not dlms_expiry:
                errors.append(RowError(row, "DLMS Expiry Date", f"is required for {device_type}"))
            else:
                dates["DLMS Expiry Date"] = _parse_date(
                    dlms_expiry, "DLMS Expiry Date", errors, row
                )
    if device_type in _DEVICE_TYPES and device_type not in _DLMS_TYPES:
        for column, value in (
            ("DLMS Certificate Number", dlms_number),
            ("DLMS Expiry Date", dlms_expiry),
        ):
            if value:
                errors.append(RowError(row, column, f"must be empty for {device_type}"))
    if len(errors) > start:
        return None
    dlms = device_type in _DLMS_TYPES and bool(dlms_number)
    return (
        row,
        device_type,
        values["Manufacturer ID"].upper(),
        values["Manufacturer Name"],
        values["Model ID"].upper(),
        values["Hardware Version"].upper(),
        values["Firmware Version"].upper(),
        values["SMETS CHTS Version"],
        dates["Date Added"],
        cpa_number,
        dates.get("CPA Issue Date"),
        dates.get("CPA Expiry Date"),
        zigbee_number,
        dates.get("ZigBee Expiry Date"),
        dlms_number if dlms else None,
        dates["DLMS Expiry Date"] if dlms else None,
        generation,
        values["GBCS Version"],
        image_hash.lower(),
        dates.get("CPA Renewal Date"),
    )


# The check of a row that is valid, in a few operations (most rows of most files are).
_HEX_20 = re.compile("[0-9A-Fa-f]{20}")
_ISO_DATES = re.compile("(?:[0-9]{4}-[0-9]{2}-[0-9]{2})+")
_date = datetime.date.fromisoformat


def _validate_valid_row(row: int, cells: list[str]) -> tuple | None:
    """What _validate_row returns for a SMETS2 row it accepts, from the stripped cells in
    FORMAT_COLUMNS order; None for any row it might not accept (or whose cells are neutralised
    formulas, or that is SMETS1), which then takes _validate_row and its report. Never accepts
    what _validate_row would refuse."""
    kind, mid, name, model, hw, fw, smets, added, cpa, cpa_issued, cpa_expiry = cells[:11]
    zigbee, zigbee_expiry, dlms, dlms_expiry, generation, gbcs, image_hash = cells[11:18]
    renewal = cells[18]
    device_type = kind.upper()
    dlms_type = device_type in _DLMS_TYPES
    if (
        device_type not in _DEVICE_TYPES
        or not (name and smets and cpa and zigbee)
        or (generation and generation != _SMETS2)
        or "'" in name[:1] + smets[:1] + cpa[:1] + zigbee[:1] + dlms[:1] + gbcs[:1]
        or len(mid) != 4
        or len(model) != 4
        or len(hw) != 4
        or len(fw) != 8
        or not _HEX_20.fullmatch(mid + model + hw + fw)
        or len(name) > TEXT_LIMITS["Manufacturer Name"]
        or len(smets) > TEXT_LIMITS["SMETS CHTS Version"]
        or len(cpa) > TEXT_LIMITS["CPA Certificate Number"]
        or len(zigbee) > TEXT_LIMITS["ZigBee Certificate Number"]
        or len(dlms) > TEXT_LIMITS["DLMS Certificate Number"]
        or len(gbcs) > TEXT_LIMITS["GBCS Version"]
        or (image_hash and not _IMAGE_HASH.fullmatch(image_hash))
        or bool(dlms) != dlms_type
        or len(dlms_expiry) != (10 if dlms_type else 0)
        # Each exactly 10 characters, so the dates end to end split only one way.
        or not len(added) == len(cpa_issued) == len(cpa_expiry) == len(zigbee_expiry) == 10
        or len(renewal) not in (0, 10)
        or not _ISO_DATES.fullmatch(
            added + cpa_issued + cpa_expiry + zigbee_expiry + dlms_expiry + renewal
        )
    ):
        return None
    try:
        issued, expiry = _date(cpa_issued), _date(cpa_expiry)
        renewal_due = _date(renewal) if renewal else None
        staged = (
            row,
            device_type,
            mid.upper(),
            name,
            model.upper(),
            hw.upper(),
            fw.upper(),
            smets,
            _date(added),
            cpa,
            issued,
            expiry,
            zigbee,
            _date(zigbee_expiry),
            dlms if dlms_type else None,
            _date(dlms_expiry) if dlms_type else None,
            _SMETS2,
            gbcs,
            image_hash.lower(),
            renewal_due,
        )
    except ValueError:  # a day the month does not have
        return None
    if renewal_due and not issued < renewal_due <= expiry:
        return None
    return staged if expiry > issued else None


class ExchangeFileReading:
    """One streaming pass over a CPL exchange file: iterating yields each valid row as a
    STAGED_COLUMNS tuple and collects the per-row problems in `errors`. Nothing is kept per row,
    so memory stays flat in the file's size; the rules across rows are the reader's caller's
    (over everything it staged), and `reject_if_any` ends the import if anything was wrong."""

    def __init__(
        self,
        binary,
        *,
        size: int,
        max_bytes: int,
        max_errors: int = 500,
        progress: Callable[[int, int], None] | None = None,
    ):
        if size == 0:
            raise ExchangeFileRejected("The file is empty.")
        if size > max_bytes:
            raise ExchangeFileRejected(
                f"The file is {size / 1048576:.1f} MB; the largest file accepted is "
                f"{max_bytes / 1048576:.0f} MB."
            )
        self.binary, self.size, self.progress = binary, size, progress
        self.errors = RowErrors(max_errors)
        self.valid_rows = 0
        self.header: dict[str, int] = {}  # the columns the file has, once its header is read

    def __iter__(self) -> Iterator[tuple]:
        records = _open_records(self.binary, self.size)
        report = _Progress(self.progress)
        errors = self.errors
        header = None
        count = 0
        for row, cells, percent in records:
            if header is None:
                if not any(c.strip() for c in cells):
                    continue
                header = self.header = _map_header(cells)
                positions = list(header.items())
                # A column the header lacks (the OPTIONAL_COLUMNS) reads at -1: the
                # empty cell appended to each row below.
                in_order = [header.get(column, -1) for column in FORMAT_COLUMNS]
                reach = max(in_order)
                width = len(cells)
                continue
            if not "".join(cells).strip():
                continue
            count += 1
            if len(cells) > width and any(c.strip() for c in cells[width:]):
                errors.append(
                    RowError(row, f"column {width + 1}", "value outside the header's columns")
                )
                continue
            staged = None
            if len(cells) > reach:
                cells.append("")
                staged = _validate_valid_row(row, [cells[pos].strip() for pos in in_order])
            if staged is None:
                values = dict.fromkeys(OPTIONAL_COLUMNS, "")
                for column, pos in positions:
                    value = cells[pos].strip() if pos < len(cells) else ""
                    values[column] = _restore_neutralised(value) if value[:1] == "'" else value
                staged = _validate_row(row, values, errors)
            if staged is not None:
                self.valid_rows += 1
                yield staged
            report(count, percent)
        report(count, 100, force=True)
        if header is None:
            raise ExchangeFileRejected("The file has no header row: it is empty.")
        if not errors and not self.valid_rows:
            raise ExchangeFileRejected("The file has a header row but no device models.")

    def reject_if_any(self, more: list[RowError] = (), more_count: int = 0) -> None:
        self.errors.reject_if_any(more, more_count)


def read_exchange_file(
    binary,
    *,
    size: int,
    max_bytes: int,
    max_errors: int = 500,
    progress: Callable[[int, int], None] | None = None,
) -> ExchangeFileReading:
    """Start reading a CPL exchange file (see ExchangeFileReading); size limits are checked
    at once."""
    return ExchangeFileReading(
        binary, size=size, max_bytes=max_bytes, max_errors=max_errors, progress=progress
    )


# --- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportLayout:
    """What a written file holds: its columns, the XLSX sheet's name and the JSON list's key.
    The register's by default; the product combination lists (cpl.combinations) have theirs."""

    columns: tuple[str, ...]
    sheet: str = "CPL"
    list_key: str = "device_models"


def _register_layout() -> ExportLayout:
    return ExportLayout(tuple(EXPORT_COLUMNS))


def _export_cells(row: dict, neutralise: bool, columns=None) -> list:
    cells = [row.get(column, "") or "" for column in columns or EXPORT_COLUMNS]
    return [neutralise_formula(c) for c in cells] if neutralise else cells


def write_csv(rows: Iterable[dict], layout: ExportLayout | None = None) -> Iterator[str]:
    """CSV text in chunks, suitable for a StreamingHttpResponse."""
    layout = layout or _register_layout()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(layout.columns)
    for count, row in enumerate(rows, start=1):
        writer.writerow(_export_cells(row, neutralise=True, columns=layout.columns))
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_xlsx(rows: Iterable[dict], out, layout: ExportLayout | None = None) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    layout = layout or _register_layout()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(layout.sheet)
    sheet.append(layout.columns)
    for row in rows:
        cells = []
        for value in _export_cells(row, neutralise=True, columns=layout.columns):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # never a formula, whatever the text says
            cells.append(cell)
        sheet.append(cells)
    workbook.save(out)


def write_json(
    rows: Iterable[dict], meta: dict, layout: ExportLayout | None = None
) -> Iterator[str]:
    import json

    layout = layout or _register_layout()
    yield json.dumps(meta, ensure_ascii=False)[:-1] + f', "{layout.list_key}": ['
    for index, row in enumerate(rows):
        yield ("," if index else "") + json.dumps(
            {c: row.get(c, "") for c in layout.columns}, ensure_ascii=False
        )
    yield "]}"
