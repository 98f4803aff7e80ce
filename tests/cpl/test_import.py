"""The CPL import: all or nothing, per-row error report, idempotent, clear errors for bad files."""

import io
import subprocess
import sys

import pytest
from django.core.management import call_command
from openpyxl import Workbook

from cpl.exchange import ExchangeFileRejected
from cpl.models import DeviceModel, ImportChange
from portal.models import AuditEvent

from ..helpers import (
    CPL_HEADER,
    SAMPLE_CPL,
    cpl_csv,
    cpl_row,
    import_bytes,
    import_sample,
    register_state,
)

pytestmark = pytest.mark.django_db


def test_sample_file_imports_every_device_model_and_acts_on_expired_certificates():
    summary = import_sample()
    assert summary.rows == summary.created == 40
    assert DeviceModel.objects.count() == 40
    # The sample has expired ZigBee/DLMS certificates: those models leave the CPL automatically.
    removed = DeviceModel.objects.filter(status=DeviceModel.Status.REMOVED)
    assert removed.count() == summary.removed > 0
    for model in removed:
        kinds = {c.kind for c in model.certificates.exclude(status="valid")}
        assert kinds & {"zigbee", "dlms"}
    # Expired CPA certificates alone never remove: they wait for the SSC.
    cpa_only = DeviceModel.objects.filter(
        status="listed", certificates__kind="cpa", certificates__status="expired"
    )
    assert cpa_only.exists()


def test_reimporting_the_same_file_changes_nothing():
    import_sample()
    before = register_state()
    events_before = AuditEvent.objects.exclude(action="cpl.imported").count()
    summary = import_sample()
    assert (summary.created, summary.updated, summary.unchanged) == (0, 0, 40)
    assert not summary.changed_anything
    assert register_state() == before
    assert AuditEvent.objects.exclude(action="cpl.imported").count() == events_before


def test_changed_row_updates_the_device_model_and_is_audited():
    import_bytes(cpl_csv([cpl_row(1), cpl_row(2)]))
    summary = import_bytes(cpl_csv([cpl_row(1, **{"SMETS CHTS Version": "CHTS v1.3"}), cpl_row(2)]))
    assert (summary.updated, summary.unchanged) == (1, 1)
    model = DeviceModel.objects.get(firmware_version="00000001")
    assert model.smets_chts_version == "CHTS v1.3"
    # One audit event per import; the row's change is kept under it (ImportChange).
    change = ImportChange.objects.get(action="devicemodel.updated", object_id=str(model.pk))
    assert change.before == {"smets_chts_version": "SMETS2 v5.0"}
    assert change.after == {"smets_chts_version": "CHTS v1.3"}
    assert change.event == AuditEvent.objects.filter(action="cpl.imported").latest("seq")


BAD_ROWS = [
    ("unknown device type", {"Device Type": "TOASTER"}, "Device Type", "unknown device type"),
    ("bad date", {"Date Added": "31/12/2022"}, "Date Added", "not an ISO date"),
    ("impossible date", {"CPA Expiry Date": "2027-02-30"}, "CPA Expiry Date", "not an ISO date"),
    (
        "expiry before issue",
        {"CPA Issue Date": "2025-01-01", "CPA Expiry Date": "2024-01-01"},
        "CPA Expiry Date",
        "expires before",
    ),
    ("missing value", {"Model ID": ""}, "Model ID", "is required"),
    ("bad hex", {"Firmware Version": "XYZ"}, "Firmware Version", "8 hexadecimal digits"),
    (
        "dlms on a CHF",
        {"DLMS Certificate Number": "DLMS-1"},
        "DLMS Certificate Number",
        "must be empty",
    ),
    ("long name", {"Manufacturer Name": "x" * 201}, "Manufacturer Name", "longer than 200"),
]


@pytest.mark.parametrize("case, overrides, column, reason", BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_one_bad_row_rejects_the_whole_file_and_changes_nothing(case, overrides, column, reason):
    import_bytes(cpl_csv([cpl_row(1)]))
    before = register_state()
    rows = [cpl_row(1, **{"SMETS CHTS Version": "changed"}), cpl_row(2), cpl_row(3, **overrides)]
    with pytest.raises(ExchangeFileRejected) as rejected:
        import_bytes(cpl_csv(rows))
    errors = rejected.value.errors
    assert [(e.row, e.column) for e in errors] == [(4, column)]
    assert reason in errors[0].reason
    assert register_state() == before


def test_gsme_without_dlms_certificate_is_rejected():
    row = cpl_row(1, device_type="GSME", **{"DLMS Certificate Number": "", "DLMS Expiry Date": ""})
    with pytest.raises(ExchangeFileRejected) as rejected:
        import_bytes(cpl_csv([row]))
    assert {(e.row, e.column) for e in rejected.value.errors} == {
        (2, "DLMS Certificate Number"),
        (2, "DLMS Expiry Date"),
    }


def test_duplicate_identity_is_reported_against_the_first_row():
    with pytest.raises(ExchangeFileRejected) as rejected:
        import_bytes(
            cpl_csv([cpl_row(1), cpl_row(2), cpl_row(1, **{"CPA Certificate Number": "X"})])
        )
    (error,) = rejected.value.errors
    assert error.row == 4 and "row 2" in error.reason and "duplicate" in error.reason
    assert DeviceModel.objects.count() == 0


def test_every_bad_row_is_reported_not_just_the_first():
    rows = [cpl_row(i, **({"Date Added": "yesterday"} if i % 2 else {})) for i in range(10)]
    with pytest.raises(ExchangeFileRejected) as rejected:
        import_bytes(cpl_csv(rows))
    assert [e.row for e in rejected.value.errors] == [3, 5, 7, 9, 11]


def test_missing_and_unknown_columns_are_reported_on_the_header_row():
    header = [c for c in CPL_HEADER if c != "ZigBee Expiry Date"] + ["Colour"]
    rows = [{k: v for k, v in cpl_row(1).items() if k in header} | {"Colour": "blue"}]
    with pytest.raises(ExchangeFileRejected) as rejected:
        import_bytes(cpl_csv(rows, header=header))
    assert {(e.row, e.column, e.reason) for e in rejected.value.errors} == {
        (1, "Colour", "unknown column"),
        (1, "ZigBee Expiry Date", "missing column"),
    }


def test_header_names_match_ignoring_case_spaces_and_punctuation_in_any_order():
    row = cpl_row(1)
    header = list(reversed(CPL_HEADER))
    odd = {
        c: c.upper().replace(" ", "_") if i % 2 else c.lower().replace(" ", "-")
        for i, c in enumerate(header)
    }
    data = cpl_csv([{odd[k]: v for k, v in row.items()}], header=[odd[c] for c in header])
    assert import_bytes(data).created == 1


def test_xlsx_file_imports_like_csv():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(CPL_HEADER)
    for i in range(3):
        sheet.append([cpl_row(i)[c] for c in CPL_HEADER])
    out = io.BytesIO()
    workbook.save(out)
    assert import_bytes(out.getvalue(), name="cpl.xlsx").created == 3


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "The file is empty."),
        (
            cpl_csv([cpl_row(1, **{"Manufacturer Name": "Caf\xe9"})]).decode().encode("latin-1"),
            "not UTF-8",
        ),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "binary"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "binary"),
        (b"PK\x03\x04 not really a workbook", "not a readable XLSX"),
        (b"Device Type\x00\x00\x00", "NUL bytes"),
        ("\n".join([",".join(CPL_HEADER)]).encode(), "no device models"),
        (b'"unterminated, "quote\n', "malformed"),
    ],
    ids=["empty", "latin-1", "pdf", "exe", "fake-xlsx", "nul", "header-only", "garbage"],
)
def test_unreadable_files_get_a_clear_error(data, message):
    with pytest.raises(ExchangeFileRejected) as rejected:
        import_bytes(data)
    assert message in str(rejected.value) + " ".join(e.reason for e in rejected.value.errors)
    assert DeviceModel.objects.count() == 0


def test_huge_file_is_refused_before_it_is_read(settings):
    settings.CPL_IMPORT_MAX_BYTES = 1000
    data = cpl_csv([cpl_row(i) for i in range(20)])
    with pytest.raises(ExchangeFileRejected, match="largest file accepted"):
        import_bytes(data)


def test_import_command_reports_rows_and_exits_non_zero(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(cpl_csv([cpl_row(1), cpl_row(2, **{"Device Type": "FRIDGE"})]))
    with pytest.raises(SystemExit) as exited:
        call_command("import_cpl", str(bad))
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "3\tDevice Type\tunknown device type 'FRIDGE'" in err
    assert DeviceModel.objects.count() == 0


def test_import_command_imports_the_sample(capsys):
    call_command("import_cpl", str(SAMPLE_CPL))
    assert "40 added" in capsys.readouterr().out


def test_import_command_refuses_a_missing_file_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "import_cpl", str(tmp_path / "nope.csv")],
        capture_output=True,
        text=True,
        env=_subprocess_env(),
    )
    assert result.returncode != 0
    assert "no such file" in result.stderr and "Traceback" not in result.stderr


def _subprocess_env():
    import os

    from django.conf import settings

    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
    name = settings.DATABASES["default"]["NAME"]
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{name}" if name.startswith("/") else "sqlite://:memory:"
    return env
