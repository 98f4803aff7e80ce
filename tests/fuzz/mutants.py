"""Hypothesis strategies that turn valid files into hostile ones: byte edits, truncation, NULs,
BOMs, other encodings, huge cells, formulas, and rebuilt or damaged ZIP and gzip containers.

Each strategy starts from a valid sample, so most examples get past the first check and reach
the parsers' deeper paths; sizes stay small enough for ~50-100 examples in seconds."""

import csv
import gzip
import io
import warnings
import zipfile
import zlib

from hypothesis import strategies as st

# Bytes that have broken parsers before: NUL, BOMs, lone surrogates' UTF-8 halves, CR without
# LF, quotes and separators, a right-to-left override, digits that are not ASCII.
SPECIAL_BYTES = [
    b"\x00",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\r",
    b"\n",
    b"\r\n",
    b'"',
    b",",
    b";",
    b"\t",
    b"\\",
    b"\xc3",
    b"\x80",
    b"\xed\xa0\x80",
    "\u202e".encode(),
    "²".encode(),
    "١٢٣".encode(),
    b"=cmd|' /C calc'!A0",
    b"+1+1",
    b"@SUM(A1)",
    b"<?xml",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"%PDF-",
    b"9" * 25,
]

# Cell values aimed at the validators: formulas, out-of-range dates and counts, huge text.
NASTY_VALUES = [
    "",
    " ",
    "\x00",
    "=1+1",
    '=HYPERLINK("http://x")',
    "+SUM(1)",
    "-1",
    "@A1",
    "\t=1",
    "0",
    "-0",
    "1e9",
    "99999999999999999999999999",
    "9223372036854775808",
    "²",
    "١٢",
    "0x10",
    " 12 ",
    "NaN",
    "inf",
    "2026-02-30",
    "0000-00-00",
    "9999-12-31",
    "0001-01-01",
    "2026-1-1",
    "01/02/2026",
    "ZZZZ",
    "ffff",
    "ＡＢＣＤ",
    "\u202eFED1",
    "a\r\nb",
    'say "hi"',
    "x" * 300,
]


def nasty_value() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NASTY_VALUES),
        st.text(max_size=40),
        st.integers(min_value=1_000, max_value=120_000).map(lambda n: "A" * n),
    )


@st.composite
def byte_edits(draw, data: bytes, max_edits: int = 4) -> bytes:
    """data with a few random edits: overwrite, insert, delete, truncate, duplicate, huge."""
    out = bytearray(data)
    for _ in range(draw(st.integers(min_value=1, max_value=max_edits))):
        at = draw(st.integers(min_value=0, max_value=len(out)))
        kind = draw(
            st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "huge", "random"])
        )
        if kind == "flip" and out:
            out[min(at, len(out) - 1)] = draw(st.integers(0, 255))
        elif kind == "insert":
            out[at:at] = draw(st.one_of(st.sampled_from(SPECIAL_BYTES), st.binary(max_size=16)))
        elif kind == "delete":
            del out[at : at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del out[at:]
        elif kind == "duplicate":
            out[at:at] = out[at : at + draw(st.integers(1, 200))]
        elif kind == "huge":
            out[at:at] = draw(st.sampled_from([b"A", b"\x00", b",", b"\n", b'"'])) * draw(
                st.integers(1_000, 200_000)
            )
        elif kind == "random":
            out[at:] = draw(st.binary(max_size=64))
    return bytes(out)


ENCODINGS = ["utf-8-sig", "utf-16", "utf-16-be", "utf-32", "latin-1", "cp1252", "cp500"]


@st.composite
def reencoded(draw, data: bytes) -> bytes:
    """The same text in another encoding (with or without a BOM), as spreadsheets save it."""
    text = data.decode("utf-8", errors="replace")
    return text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")


def csv_text(rows: list[list[str]], lineterminator: str = "\n") -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=lineterminator).writerows(rows)
    return out.getvalue().encode("utf-8", errors="surrogatepass")


@st.composite
def cell_edits(draw, rows: list[list[str]], max_edits: int = 3) -> list[list[str]]:
    """rows with a few cells replaced by hostile values, or rows/columns added or dropped."""
    rows = [list(r) for r in rows]
    for _ in range(draw(st.integers(min_value=1, max_value=max_edits))):
        kind = draw(st.sampled_from(["cell", "cell", "cell", "drop_row", "add_column", "ragged"]))
        r = draw(st.integers(0, len(rows) - 1))
        if kind == "cell" and rows[r]:
            rows[r][draw(st.integers(0, len(rows[r]) - 1))] = draw(nasty_value())
        elif kind == "drop_row" and len(rows) > 1:
            del rows[r]
        elif kind == "add_column":
            for row in rows:
                row.append(draw(nasty_value()))
        elif kind == "ragged":
            rows[r] = rows[r][: draw(st.integers(0, len(rows[r])))]
    return rows


# ---- ZIP containers (XLSX, DOCX) ----------------------------------------------------------

XML_ATTACKS = [
    # Billion laughs (kept tiny: the point is that it is refused, not that it is big).
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;">]><x>&c;</x>',
    # External entity.
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    # A sheet claiming the whole grid, with a cell at its far corner.
    b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
    b'2006/main"><dimension ref="A1:XFD1048576"/><sheetData><row r="1048576"><c r="XFD1048576"'
    b' t="inlineStr"><is><t>x</t></is></c></row></sheetData></worksheet>',
    b"",
    b"not xml at all",
]


def zip_entries(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def zip_build(entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w", compression) as archive:
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are on purpose
        for name, content in entries:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = compression  # a ZipInfo does not take the archive's
            archive.writestr(info, content)
    return out.getvalue()


CORE_PROPERTIES = (
    b'<?xml version="1.0"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/'
    b'package/2006/metadata/core-properties"/>'
)


def stable_zip(data: bytes) -> bytes:
    """An Office file without its save time (in the ZIP entries and docProps/core.xml), so the
    same content gives the same bytes: hypothesis replays examples byte for byte."""
    return zip_build(
        [
            (name, CORE_PROPERTIES if name == "docProps/core.xml" else content)
            for name, content in zip_entries(data)
        ]
    )


@st.composite
def zip_edits(draw, data: bytes) -> bytes:
    """A rebuilt archive with entries dropped, damaged, replaced by XML attacks, duplicated or
    added; or the archive's own bytes damaged."""
    if draw(st.integers(0, 4)) == 0:
        return draw(byte_edits(data))
    entries = zip_entries(data)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(entries) - 1))
        name, content = entries[i]
        kind = draw(st.sampled_from(["drop", "damage", "attack", "duplicate", "add", "rename"]))
        if kind == "drop" and len(entries) > 1:
            del entries[i]
        elif kind == "damage":
            entries[i] = (name, draw(byte_edits(content)))
        elif kind == "attack":
            entries[i] = (name, draw(st.sampled_from(XML_ATTACKS)))
        elif kind == "duplicate":
            entries.append((name, draw(byte_edits(content))))
        elif kind == "add":
            entries.append((draw(st.sampled_from(["../evil.xml", "/abs.xml", "x" * 200])), b"x"))
        elif kind == "rename":
            entries[i] = (name.upper(), content)
    compression = draw(st.sampled_from([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED]))
    return zip_build(entries, compression)


# ---- gzip ----------------------------------------------------------------------------------


@st.composite
def gzip_edits(draw, plain: bytes) -> bytes:
    """gzip of (maybe mutated) text, then maybe damaged: truncated stream, bad CRC, two members,
    gzip inside gzip, raw deflate without the gzip header."""
    text = draw(st.one_of(st.just(plain), byte_edits(plain)))
    packed = gzip.compress(text, mtime=0)
    kind = draw(st.sampled_from(["plain", "truncate", "crc", "two_members", "nested", "raw"]))
    if kind == "truncate":
        return packed[: draw(st.integers(2, max(2, len(packed) - 1)))]
    if kind == "crc":
        return packed[:-8] + b"\x00\x00\x00\x00" + packed[-4:]
    if kind == "two_members":
        return packed + gzip.compress(draw(byte_edits(plain)), mtime=0)
    if kind == "nested":
        return gzip.compress(packed, mtime=0)
    if kind == "raw":
        return zlib.compress(text)
    return packed


# ---- variants that must still import ------------------------------------------------------


@st.composite
def benign_variants(draw, rows: list[list[str]]) -> bytes:
    """The same table written as spreadsheets and scripts write it: columns in another order,
    a subset of the rows, every field quoted, CRLF, a BOM, header case and spacing, trailing
    blank lines. A reader must import all of these."""
    header, body = rows[0], rows[1:]
    order = draw(st.permutations(range(len(header))))
    kept = draw(st.lists(st.sampled_from(body), min_size=1, max_size=len(body), unique_by=id))
    header = [
        draw(st.sampled_from([name, name.upper(), name.lower(), f" {name} "])) for name in header
    ]
    table = [[row[i] for i in order] for row in [header, *kept]]
    out = io.StringIO()
    csv.writer(
        out,
        lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
    ).writerows(table)
    text = out.getvalue() + draw(st.sampled_from(["", "\n", "\r\n\r\n"]))
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig"])))


# ---- bombs: small files that unpack to far more than they weigh ----------------------------

BOMB_BYTES = 2**20


def gzip_bombs() -> dict[str, bytes]:
    return {
        "one-long-line": gzip.compress(b"A" * BOMB_BYTES, mtime=0),
        "blank-lines": gzip.compress(b"\n" * BOMB_BYTES, mtime=0),
        "header-then-blank-lines": gzip.compress(
            b"Device Model,Supplier Party ID,Device Count,As Of\n" + b"\n" * BOMB_BYTES, mtime=0
        ),
    }


def xlsx_bombs(valid_xlsx: bytes) -> dict[str, bytes]:
    """valid_xlsx with its sheet replaced by BOMB_BYTES of empty rows or of one row's blank
    cells: deflated (unpacks far beyond its size) and stored (as large unpacked as packed, but
    each few bytes of XML a Python object once parsed)."""
    entries = zip_entries(valid_xlsx)
    sheet = next(name for name, _ in entries if name.startswith("xl/worksheets/"))
    head = b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/' + (
        b'spreadsheetml/2006/main"><sheetData>'
    )
    bodies = {
        "empty-rows": b"".join(b'<row r="%d"/>' % r for r in range(1, BOMB_BYTES // 16)),
        "one-row-of-blank-cells": b'<row r="1">' + b"<c/>" * (BOMB_BYTES // 4) + b"</row>",
    }
    return {
        f"{name}-{packing}": zip_build(
            [
                (n, head + body + b"</sheetData></worksheet>" if n == sheet else c)
                for n, c in entries
            ],
            compression,
        )
        for name, body in bodies.items()
        for packing, compression in (
            ("deflated", zipfile.ZIP_DEFLATED),
            ("stored", zipfile.ZIP_STORED),
        )
    }
