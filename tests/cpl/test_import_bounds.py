"""Import files that unpack or expand far beyond their size end quickly as a clean file-level
rejection: decompression bombs, empty-row and wide-row sheets, XML entities, endless lines."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from cpl.exchange import COLUMNS, ExchangeFileRejected, write_xlsx
from cpl.models import CPLImport, DeviceModel
from portal.models import AuditEvent

from ..helpers import cpl_csv, cpl_row, import_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    """A storage folder of the test's own: files it leaves on purpose stay out of other tests."""
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    return settings.PRIVATE_STORAGE_ROOT


NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
        'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
        'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
        'worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        f'2006/relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<?xml version="1.0"?><workbook xmlns="{NS}" xmlns:r="{REL}"><sheets>'
        '<sheet name="CPL" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        f'2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}


def text_cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def header_row() -> str:
    return '<row r="1">' + "".join(text_cell(f"{chr(65 + i)}1", c) for i, c in enumerate(COLUMNS))


def workbook(rows_xml: str, *, prolog: str = "", dimension: str = "", extra: dict = ()) -> bytes:
    """A minimal XLSX package around a hand-written sheet."""
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = (
        f'<?xml version="1.0"?>{prolog}<worksheet xmlns="{NS}">{dim}'
        f"<sheetData>{header_row()}</row>{rows_xml}</sheetData></worksheet>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in {**PARTS, "xl/worksheets/sheet1.xml": sheet, **dict(extra)}.items():
            package.writestr(name, data)
    return out.getvalue()


def rejected(data: bytes, name: str = "bomb.xlsx") -> str:
    with pytest.raises(ExchangeFileRejected) as caught:
        import_bytes(data, name=name)
    assert not DeviceModel.objects.exists()
    assert not AuditEvent.objects.filter(action="cpl.imported").exists()
    return caught.value.message


# --- the ZIP package, before anything is unpacked ------------------------------------------------


def test_a_highly_compressed_sheet_is_refused_before_it_is_unpacked():
    same_row = "<row>" + text_cell("A9", "x" * 20) * 15 + "</row>"
    data = workbook(same_row * 8000)  # about 4 MB of XML in a few kilobytes
    assert len(data) < 100_000
    message = rejected(data)
    assert "xl/worksheets/sheet1.xml is compressed" in message and "to 1" in message


def test_a_part_or_a_workbook_unpacking_beyond_the_limits_is_refused(settings):
    data = io.BytesIO()
    write_xlsx([{**cpl_row(i)} for i in range(1, 60)], data)
    settings.CPL_IMPORT_XLSX_MAX_PART_BYTES = 20_000
    assert "unpacks to" in rejected(data.getvalue()) and "at most 0 MB" in rejected(data.getvalue())
    settings.CPL_IMPORT_XLSX_MAX_PART_BYTES = 10**9
    settings.CPL_IMPORT_XLSX_MAX_UNPACKED_BYTES = 30_000
    assert "The workbook unpacks to" in rejected(data.getvalue())


def test_a_workbook_of_many_parts_or_foreign_parts_is_refused(settings):
    many = workbook("", extra={f"xl/media/image{i}.png": b"" for i in range(120)})
    assert "parts; an XLSX workbook of the CPL has at most 100" in rejected(many)
    foreign = workbook("", extra={"payload.exe": b"MZ"})
    assert "holds 'payload.exe', which is not part of an XLSX workbook" in rejected(foreign)


def test_xml_entities_are_refused_xxe_and_billion_laughs(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xxe = workbook(
        f'<row r="2">{text_cell("A2", "&xxe;")}</row>',
        prolog=f'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file://{secret}">]>',
    )
    laughs = "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    billion = workbook(
        f'<row r="2">{text_cell("A2", "&lol9;")}</row>',
        prolog=f'<!DOCTYPE worksheet [<!ENTITY lol0 "lol">{laughs}]>',
    )
    for data in (xxe, billion):
        message = rejected(data)
        assert "XML entity declarations" in message and "TOP-SECRET" not in message


def test_entities_in_the_shared_strings_are_refused_too():
    strings = (
        '<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa">]>'
        f'<sst xmlns="{NS}"><si><t>&a;</t></si></sst>'
    )
    types = PARTS["[Content_Types].xml"].replace(
        "</Types>",
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats'
        '-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    )
    data = workbook("", extra={"xl/sharedStrings.xml": strings, "[Content_Types].xml": types})
    assert "XML entity declarations" in rejected(data)


def test_a_shared_text_table_bigger_than_a_cpl_needs_is_refused_before_it_is_read(settings):
    # openpyxl loads every shared string into memory when it opens the workbook: a table of
    # hundreds of MB of short strings (compressed under the ratio cap) took gigabytes.
    settings.CPL_IMPORT_XLSX_MAX_SHARED_STRINGS_BYTES = 100_000
    strings = f'<?xml version="1.0"?><sst xmlns="{NS}">' + "<si><t>xxx</t></si>" * 12000 + "</sst>"
    for part in ("xl/sharedStrings.xml", "xl/renamed.xml"):  # found as openpyxl finds it
        types = PARTS["[Content_Types].xml"].replace(
            "</Types>",
            f'<Override PartName="/{part}" ContentType="application/vnd.openxmlformats'
            '-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        )
        cell = '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'
        data = workbook(cell, extra={part: strings, "[Content_Types].xml": types})
        message = rejected(data)
        assert "The workbook's shared text table unpacks to 0.2 MB" in message
        assert "more than the 0.1 MB a CPL file needs" in message


# --- rows and columns ---------------------------------------------------------------------------


def test_a_sheet_declaring_a_million_rows_or_columns_is_refused():
    assert "The sheet declares 1,048,576 rows" in rejected(workbook("", dimension="A1:O1048576"))
    assert "The sheet declares 16,384 columns" in rejected(workbook("", dimension="A1:XFD2"))


def test_long_runs_of_empty_rows_stop_the_reading(settings):
    settings.CPL_IMPORT_MAX_EMPTY_ROWS = 50
    explicit = "".join(f'<row r="{r}" ht="15" customHeight="1"/>' for r in range(2, 200))
    assert "Rows 2 to 52 are all empty" in rejected(workbook(explicit))
    # A row far down the sheet: the rows skipped to reach it are empty rows too.
    far = f'<row r="1000000">{text_cell("A1000000", "ESME")}</row>'
    assert "are all empty" in rejected(workbook(far))


def test_rows_beyond_the_limit_are_refused(settings):
    settings.CPL_IMPORT_MAX_ROWS = 3
    data = io.BytesIO()
    write_xlsx([cpl_row(i) for i in range(1, 6)], data)
    assert "more than 3 rows" in rejected(data.getvalue())
    assert "more than 3 rows" in rejected(cpl_csv([cpl_row(i) for i in range(1, 6)]), "a.csv")


def test_a_row_of_too_many_cells_or_a_value_far_to_the_right_is_refused():
    wide = '<row r="2">' + "".join(text_cell(f"A{i}", "x") for i in range(100)) + "</row>"
    assert "Row 2 has more than 64 cells" in rejected(workbook(wide))
    far_right = f'<row r="2">{text_cell("XFD2", "x")}</row>'
    assert "a value in column 16,384" in rejected(workbook(far_right))


def test_empty_rows_are_refused_as_a_run_before_the_row_limit(settings):
    """A sheet of empty rows (styled, or rows of blank cells) ends at the empty-row rule, which
    names the run, rather than at the row limit far below it."""
    settings.CPL_IMPORT_MAX_EMPTY_ROWS = 50
    settings.CPL_IMPORT_MAX_ROWS = 100
    blank_cells = "".join(
        f'<row r="{r}"><c r="A{r}" s="1"/><c r="B{r}" t="s"/></row>' for r in range(2, 400)
    )
    message = rejected(workbook(blank_cells))
    assert "Rows 2 to 52 are all empty" in message, message
    unnumbered = "<row/>" * 400
    message = rejected(workbook(unnumbered))
    assert "Rows 2 to 52 are all empty" in message, message


def test_rows_with_values_do_not_count_as_empty(settings):
    settings.CPL_IMPORT_MAX_EMPTY_ROWS = 3
    data = io.BytesIO()
    write_xlsx([cpl_row(i) for i in range(1, 8)], data)
    assert import_bytes(data.getvalue(), name="ok.xlsx").rows == 7


def test_a_wide_row_in_any_sheet_is_refused_before_the_workbook_is_read():
    """openpyxl reads every sheet up to its rows to find its size, building each row whole:
    every sheet is scanned first."""
    wide = "<row>" + "<c/>" * 100 + "</row>"
    second = (
        f'<?xml version="1.0"?><worksheet xmlns="{NS}"><sheetData>{wide}</sheetData></worksheet>'
    )
    extra = {
        "xl/workbook.xml": PARTS["xl/workbook.xml"].replace(
            "</sheets>", '<sheet name="Notes" sheetId="2" r:id="rId2"/></sheets>'
        ),
        "xl/_rels/workbook.xml.rels": PARTS["xl/_rels/workbook.xml.rels"].replace(
            "</Relationships>",
            f'<Relationship Id="rId2" Type="{REL}/worksheet" Target="worksheets/notes.xml"/>'
            "</Relationships>",
        ),
        "xl/worksheets/notes.xml": second,
    }
    message = rejected(workbook("", extra=extra))
    assert "Notes" in message and "more than 64 cells" in message, message


def test_a_stale_dimension_does_not_hide_rows():
    """openpyxl reads only the declared range; every row the sheet holds is read."""
    data = io.BytesIO()
    write_xlsx([cpl_row(i) for i in range(1, 4)], data)
    package = zipfile.ZipFile(io.BytesIO(data.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as rewritten:
        for part in package.infolist():
            body = package.read(part)
            if part.filename == "xl/worksheets/sheet1.xml":
                assert b"<dimension" not in body
                body = body.replace(b"<sheetData>", b'<dimension ref="A1:P2"/><sheetData>')
            rewritten.writestr(part, body)
    assert import_bytes(out.getvalue(), name="stale.xlsx").rows == 3
    assert DeviceModel.objects.count() == 3


# --- CSV ----------------------------------------------------------------------------------------


def test_a_csv_without_line_breaks_is_refused_at_its_first_line(settings):
    settings.CPL_IMPORT_MAX_LINE_CHARS = 1000
    message = rejected(b"A" * 50_000, "line.csv")
    assert message.startswith("Row 1: the line is longer than 1,000 characters")


def test_a_csv_of_blank_lines_stops_the_reading(settings):
    settings.CPL_IMPORT_MAX_EMPTY_ROWS = 50
    data = cpl_csv([cpl_row(1)]) + b"\n" * 500 + b",,,\n" * 10
    assert "Rows 3 to 53 are all empty" in rejected(data, "blank.csv")


# --- the command and the page ------------------------------------------------------------------


def test_the_command_reports_a_bomb_and_exits_non_zero(tmp_path, capsys):
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(workbook("", dimension="A1:O1048576"))
    with pytest.raises(SystemExit) as exit_:
        call_command("import_cpl", str(path))
    assert exit_.value.code == 1
    assert "declares 1,048,576 rows" in capsys.readouterr().err
    assert not DeviceModel.objects.exists()


def test_an_xlsx_bomb_uploaded_on_the_page_is_a_clean_rejection(
    client_for, django_capture_on_commit_callbacks
):
    same_row = "<row>" + text_cell("A9", "x" * 20) * 15 + "</row>"
    client = client_for("secretariat")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/cpl/import/", {"file": SimpleUploadedFile("cpl.xlsx", workbook(same_row * 8000))}
        )
    assert response.status_code == 302
    job = CPLImport.objects.get()
    assert job.status == "rejected" and "compressed" in job.message
    page = client.get(response["Location"])
    assert page.status_code == 200 and "far more than a spreadsheet is" in page.content.decode()
    assert not DeviceModel.objects.exists()
