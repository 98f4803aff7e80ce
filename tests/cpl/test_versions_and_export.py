"""Published CPL versions (immutable, hashed, diffed) and exports in three formats."""

import csv
import io
import json

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from openpyxl import load_workbook

from cpl.exchange import EXPORT_COLUMNS
from cpl.models import CPLVersion, DeviceModel
from cpl.services import NothingToPublish, certificate_record_event, cpl_version_publish
from portal.models import AuditEvent

from ..helpers import cpl_csv, cpl_row, import_bytes, import_sample

pytestmark = pytest.mark.django_db


def test_publish_snapshots_the_register_with_hash_and_diff(users):
    import_bytes(cpl_csv([cpl_row(1), cpl_row(2)]))
    first = cpl_version_publish(actor=users["secretariat"])
    assert (first.number, first.row_count, first.diff_counts) == (
        1,
        2,
        {"added": 2, "removed": 0, "status_changed": 0},
    )
    assert first.content_hash == CPLVersion.hash_rows(first.rows)
    assert AuditEvent.objects.filter(
        action="cplversion.published", object_id=str(first.pk)
    ).exists()

    import_bytes(cpl_csv([cpl_row(3, device_type="ESME")]))
    zigbee = DeviceModel.objects.get(firmware_version="00000001").certificates.get(kind="zigbee")
    certificate_record_event(
        actor=users["secretariat"],
        certificate=zigbee,
        event="withdraw",
        on=zigbee.expiry,
        reason="Interoperability failure",
    )
    second = cpl_version_publish(actor=users["secretariat"])
    assert second.number == 2 and second.previous == first
    # The model whose ZigBee certificate was withdrawn leaves the CPL: removed, not changed.
    assert second.diff_counts == {"added": 1, "removed": 1, "status_changed": 0}
    (removed,) = second.diff["removed"]
    assert removed["identity"] == "1A2B/0000/0100/00000001"


def test_removed_device_models_show_in_the_diff(users):
    import_bytes(cpl_csv([cpl_row(1), cpl_row(2)]))
    cpl_version_publish(actor=users["secretariat"])
    model = DeviceModel.objects.get(firmware_version="00000002")
    model.remove(basis="certificate")
    model.save()
    version = cpl_version_publish(actor=users["secretariat"])
    assert [r["identity"] for r in version.diff["removed"]] == ["1A2B/0000/0100/00000002"]


def test_publishing_an_unchanged_register_is_refused(users):
    import_sample()
    cpl_version_publish(actor=users["secretariat"])
    with pytest.raises(NothingToPublish, match="has not changed since version 1"):
        cpl_version_publish(actor=users["secretariat"])
    assert CPLVersion.objects.count() == 1


def test_only_the_secretariat_publishes(users):
    import_sample()
    for key in ("chair", "member", "supplier_a", "dcc", "authority"):
        with pytest.raises(PermissionDenied):
            cpl_version_publish(actor=users[key])
    assert not CPLVersion.objects.exists()


def test_a_published_version_cannot_be_changed_or_deleted(users):
    import_sample()
    version = cpl_version_publish(actor=users["secretariat"])
    version.row_count = 1
    with pytest.raises(PermissionError):
        version.save()
    with pytest.raises(PermissionError):
        version.delete()


FORMULA_NAME = '=HYPERLINK("http://evil","x")'


def _formula_register():
    import_bytes(
        cpl_csv(
            [
                cpl_row(1, **{"Manufacturer Name": FORMULA_NAME}),
                cpl_row(2, **{"Manufacturer ID": "3C4D", "Manufacturer Name": "+SUM(1)"}),
                cpl_row(3, **{"Manufacturer ID": "5E6F", "Manufacturer Name": "@cmd"}),
                cpl_row(4, **{"Manufacturer ID": "7A8B", "Manufacturer Name": "-2+3"}),
            ]
        )
    )


def test_csv_export_neutralises_formulas_and_reimports_unchanged(tmp_path, capsys):
    _formula_register()
    call_command("export_cpl", "--format", "csv")
    text = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == EXPORT_COLUMNS
    names = {r["Manufacturer Name"] for r in rows}
    assert names == {"'" + FORMULA_NAME, "'+SUM(1)", "'@cmd", "'-2+3"}
    # The export is itself a valid import file: importing it changes nothing.
    summary = import_bytes(text.encode())
    assert (summary.created, summary.updated, summary.unchanged) == (0, 0, 4)


def test_xlsx_export_has_no_formula_cells(tmp_path):
    _formula_register()
    out = tmp_path / "cpl.xlsx"
    call_command("export_cpl", "--format", "xlsx", "-o", str(out))
    sheet = load_workbook(out).active
    values = [cell.value for row in sheet.iter_rows(min_row=2) for cell in row]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert "'" + FORMULA_NAME in values


def test_json_export_of_a_version_carries_its_hash(users, tmp_path):
    import_sample()
    version = cpl_version_publish(actor=users["secretariat"])
    import_bytes(cpl_csv([cpl_row(99)]))  # the register moves on; version 1 does not
    out = tmp_path / "v1.json"
    call_command("export_cpl", "--format", "json", "--version", "1", "-o", str(out))
    document = json.loads(out.read_text())
    assert document["cpl_version"] == 1 and document["content_hash"] == version.content_hash
    # The sample's models removed for lapsed non-CPA certificates are not in the CPL.
    listed = DeviceModel.objects.filter(status="listed").exclude(firmware_version="00000063")
    assert len(document["device_models"]) == version.row_count == listed.count()
    assert CPLVersion.hash_rows(document["device_models"]) == version.content_hash


def test_export_of_an_unknown_version_is_a_clear_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no published CPL version 7"):
        call_command("export_cpl", "--version", "7")


@pytest.mark.parametrize(
    "fmt, content_type",
    [("csv", "text/csv"), ("xlsx", "spreadsheetml"), ("json", "application/json")],
)
def test_version_downloads_in_the_browser(client_for, users, fmt, content_type):
    import_sample()
    cpl_version_publish(actor=users["secretariat"])
    response = client_for("supplier_a").get(f"/cpl/versions/1/download/{fmt}/")
    assert response.status_code == 200
    assert content_type in response["Content-Type"]
    assert response["Content-Disposition"] == f'attachment; filename="cpl-version-1.{fmt}"'
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert len(body) > 1000


def test_unknown_download_format_is_404(client_for):
    assert client_for("secretariat").get("/cpl/export/exe/").status_code == 404
