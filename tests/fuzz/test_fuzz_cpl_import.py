"""Fuzzing the CPL import: mutated CSV and XLSX exchange files through `cpl_import` and through
the import task. Every file is imported whole or rejected with a message and nothing changed;
never another exception, never a half-written register."""

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import event, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from cpl.exchange import COLUMNS, ExchangeFileRejected
from cpl.imports import cpl_import_run, cpl_import_submit
from cpl.models import CPLImport, DeviceModel
from portal.models import AuditEvent

from .. import helpers
from ..helpers import SAMPLE_CPL, cpl_row, import_bytes
from .conftest import crashers, examples, files_under, memory_bound, rolled_back
from .mutants import (
    benign_variants,
    byte_edits,
    cell_edits,
    csv_text,
    reencoded,
    stable_zip,
    xlsx_bombs,
    zip_edits,
)

pytestmark = pytest.mark.django_db

ROWS = [COLUMNS] + [
    [cpl_row(i, device_type=kind)[c] for c in COLUMNS]
    for i, kind in enumerate(["ESME", "GSME", "CHF", "PPMID", "IHD", "ESME"], start=1)
]
CSV_SEED = csv_text(ROWS)
SAMPLE_SEED = SAMPLE_CPL.read_bytes()


def xlsx_bytes(rows) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("CPL")
    for row in rows:
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", str(v)) for v in row])
    out = io.BytesIO()
    book.save(out)
    return stable_zip(out.getvalue())


XLSX_SEED = xlsx_bytes(ROWS)


def register_state():
    """The register as tests/helpers reads it, and the audit chain's length."""
    return (*helpers.register_state(), AuditEvent.objects.count())


def assert_clean_outcome(data: bytes, name: str = "fuzz.csv") -> str:
    before = register_state()
    try:
        summary = import_bytes(data, name=name)
    except ExchangeFileRejected as rejected:
        assert rejected.message.strip(), "a rejection says why"
        assert register_state() == before, "a rejected file changed the register"
        return "rejected"
    assert summary.rows > 0
    assert summary.created + summary.updated + summary.unchanged == summary.rows
    assert DeviceModel.objects.count() == len(before[0]) + summary.created
    return "imported"


csv_files = st.one_of(
    benign_variants(ROWS),
    st.sampled_from([CSV_SEED, SAMPLE_SEED]).flatmap(byte_edits),
    st.sampled_from([CSV_SEED, SAMPLE_SEED]).flatmap(reencoded),
    cell_edits(ROWS).map(csv_text),
    st.binary(max_size=2048),
)


@settings(max_examples=examples(60))
@given(data=csv_files)
def test_mutated_csv_files_are_imported_or_rejected_cleanly(data):
    with rolled_back():
        event(assert_clean_outcome(data))


xlsx_files = st.one_of(
    st.lists(st.sampled_from(ROWS[1:]), min_size=1, unique_by=tuple).map(
        lambda body: xlsx_bytes([COLUMNS, *body])
    ),
    cell_edits(ROWS).map(xlsx_bytes),
    zip_edits(XLSX_SEED),
    cell_edits(ROWS).map(xlsx_bytes).flatmap(zip_edits),
)


@settings(max_examples=examples(40))
@given(data=xlsx_files)
def test_mutated_xlsx_files_are_imported_or_rejected_cleanly(data):
    with rolled_back(), memory_bound():
        event(assert_clean_outcome(data, name="fuzz.xlsx"))


@settings(max_examples=examples(15))
@given(data=st.one_of(csv_files, xlsx_files))
def test_the_import_task_ends_every_job_imported_or_rejected(users, settings, data):
    """The browser's path: the upload is stored, the task runs it, the job ends `succeeded` or
    `rejected` with a message (never `failed`, never left `running`) and the file is gone."""
    with rolled_back():
        before = register_state()
        upload = SimpleUploadedFile("fuzz.bin", data)
        job = cpl_import_submit(actor=users["secretariat"], upload=upload)
        job = cpl_import_run(import_id=job.pk)
        assert job.status in (CPLImport.Status.SUCCEEDED, CPLImport.Status.REJECTED), job.message
        if job.status == CPLImport.Status.REJECTED:
            assert job.message.strip()
            assert register_state()[:4] == before[:4]
        assert job.stored_name not in files_under(Path(settings.PRIVATE_STORAGE_ROOT) / "imports")


@pytest.mark.parametrize(
    "bomb",
    [
        "empty-rows-deflated",
        "empty-rows-stored",
        "one-row-of-blank-cells-deflated",
        "one-row-of-blank-cells-stored",
    ],
)
def test_xlsx_bombs_are_refused_within_bounded_memory(bomb):
    data = xlsx_bombs(XLSX_SEED)[bomb]
    with memory_bound(16 * 2**20):
        assert assert_clean_outcome(data, name="bomb.xlsx") == "rejected"


@pytest.mark.parametrize("path", crashers("cpl"), ids=lambda p: p.name)
def test_saved_crashers_are_handled_cleanly(path):
    assert_clean_outcome(path.read_bytes(), name=path.name)
