"""DCC inventory extracts: two formats, gzip, streaming counts, all-or-nothing validation."""

import gzip
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from cpl.exchange import ExchangeFileRejected
from cpl.inventory import inventory_import
from cpl.models import DeviceModel, InventoryCount, InventorySnapshot
from cpl.selectors import affected_suppliers

from ..helpers import cpl_csv, cpl_row, import_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def register(users):
    import_bytes(cpl_csv([cpl_row(1), cpl_row(2)]))
    return [f"1A2B/0000/0100/{m.firmware_version}" for m in DeviceModel.objects.order_by("pk")]


def run(data: bytes, as_of=None):
    return inventory_import(
        actor=None, binary=io.BytesIO(data), file_name="x.csv", file_sha256="0" * 64, as_of=as_of
    )


def counts():
    return {
        (c.device_model.firmware_version, c.supplier.party_id): c.device_count
        for c in InventoryCount.objects.select_related("device_model", "supplier")
    }


def test_aggregated_extract(register):
    data = (
        f"Device Model,Supplier Party ID,Device Count,As Of\n"
        f"{register[0]},SUPA,1200,2026-11-01\n{register[0]},SUPB,300,2026-11-01\n"
        f"{register[1]},SUPB,45,2026-11-01\n"
    ).encode()
    summary = run(data)
    assert (summary.format, str(summary.as_of), summary.devices) == (
        "aggregated",
        "2026-11-01",
        1545,
    )
    assert counts() == {
        ("00000001", "SUPA"): 1200,
        ("00000001", "SUPB"): 300,
        ("00000002", "SUPB"): 45,
    }


def test_device_level_gzip_extract_is_counted_while_streaming(register):
    lines = ["device id,device model,supplier party id,smi status"]
    lines += [
        f"D{i},{register[i % 2]},{'SUPA' if i % 3 else 'SUPB'},Commissioned" for i in range(300)
    ]
    lines += [f"X{i},{register[0]},SUPA,Decommissioned" for i in range(7)]
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    import datetime

    summary = run(data, as_of=datetime.date(2026, 10, 31))
    assert (summary.format, summary.rows, summary.devices) == ("device_level", 307, 300)
    assert sum(counts().values()) == 300
    assert counts()[("00000001", "SUPB")] == sum(1 for i in range(300) if i % 2 == 1 and i % 3 == 0)


def test_unknown_models_and_parties_are_reported_by_row_and_nothing_is_imported(register):
    data = (
        f"Device Model,Supplier Party ID,Device Count,As Of\n"
        f"{register[0]},SUPA,10,2026-11-01\n"
        f"FFFF/0000/0100/00000001,SUPA,5,2026-11-01\n"
        f"{register[1]},NOBODY,5,2026-11-01\n"
        f"{register[1]},SUPA,many,2026-11-01\n"
    ).encode()
    with pytest.raises(ExchangeFileRejected) as rejected:
        run(data)
    assert [(e.row, e.column) for e in rejected.value.errors] == [
        (3, "Device Model"),
        (4, "Supplier Party ID"),
        (5, "Device Count"),
    ]
    assert not InventorySnapshot.objects.exists()


def test_the_dcc_is_not_a_supplier(register):
    data = f"Device Model,Supplier Party ID,Device Count,As Of\n{register[0]},DCC,1,2026-11-01\n"
    with pytest.raises(ExchangeFileRejected, match="1 problem"):
        run(data.encode())


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"Model,Count\nA,1\n", "neither inventory format"),
        (
            "Device Model,Supplier Party ID,Device Count,As Of\nCaf\xe9,SUPA,1,2026-11-01\n".encode(
                "latin-1"
            ),
            "not UTF-8",
        ),
        (b"\x1f\x8b\x08\x00broken gzip", "cannot be read"),
        (b"Device ID,Device Model,Supplier Party ID,SMI Status\n", "no rows"),
    ],
)
def test_unreadable_extracts_get_a_clear_error(register, data, message):
    with pytest.raises(ExchangeFileRejected, match=message):
        run(data)


def test_one_extract_has_one_date(register):
    data = (
        f"Device Model,Supplier Party ID,Device Count,As Of\n{register[0]},SUPA,1,2026-11-01\n"
        f"{register[1]},SUPA,1,2026-11-02\n"
    ).encode()
    with pytest.raises(ExchangeFileRejected) as rejected:
        run(data)
    assert "2 different dates" in rejected.value.errors[0].reason


def test_affected_suppliers_come_from_the_latest_snapshot(register):
    models = list(DeviceModel.objects.order_by("pk"))
    run(
        (
            f"Device Model,Supplier Party ID,Device Count,As Of\n{register[0]},SUPA,9,2026-01-01\n"
        ).encode()
    )
    run(
        f"Device Model,Supplier Party ID,Device Count,As Of\n{register[0]},SUPB,4,2026-11-01\n"
        f"{register[1]},SUPA,6,2026-11-01\n".encode()
    )
    assert [(r["name"], r["devices"]) for r in affected_suppliers([models[0].pk])] == [
        ("Supplier B Power", 4)
    ]
    assert [(r["name"], r["devices"]) for r in affected_suppliers([m.pk for m in models])] == [
        ("Supplier A Energy", 6),
        ("Supplier B Power", 4),
    ]


def test_command_reports_rows_and_exits_non_zero(register, tmp_path, capsys):
    bad = tmp_path / "inv.csv"
    bad.write_text(
        "Device ID,Device Model,Supplier Party ID,SMI Status\nD1,NOPE,SUPA,Commissioned\n"
    )
    with pytest.raises(SystemExit) as exited:
        call_command("import_inventory", str(bad))
    assert exited.value.code == 1
    assert "2\tDevice Model\tunknown device model 'NOPE'" in capsys.readouterr().err
    good = tmp_path / "inv.csv.gz"
    good.write_bytes(
        gzip.compress(
            (
                f"Device ID,Device Model,Supplier Party ID,SMI Status\n"
                f"D1,{register[0]},SUPA,Suspended\n"
            ).encode()
        )
    )
    call_command("import_inventory", str(good), "--as-of", "2026-11-20")
    assert "1 devices" in capsys.readouterr().out


def test_upload_page(register, client_for):
    client = client_for("secretariat")
    response = client.post(
        "/cpl/inventory/",
        {
            "file": SimpleUploadedFile(
                "inv.csv",
                f"Device Model,Supplier Party ID,Device Count,As Of\n{register[0]},SUPA,7,"
                f"2026-11-01\n".encode(),
            )
        },
        follow=True,
    )
    assert "7 devices" in response.content.decode()
    bad = client.post(
        "/cpl/inventory/",
        {
            "file": SimpleUploadedFile(
                "inv.csv",
                b"Device Model,Supplier Party ID,Device Count,As Of\nX,SUPA,7,2026-11-01\n",
            )
        },
    )
    assert bad.status_code == 400 and "unknown device model" in bad.content.decode()
    assert InventorySnapshot.objects.count() == 1
    assert client_for("supplier_a").get("/cpl/inventory/").status_code == 403


def test_memory_stays_flat_whatever_the_row_count(register, tmp_path):
    """Counted while streaming: read_inventory's peak allocation is about the same for 20,000
    and 300,000 rows (measured with tracemalloc, not timed)."""
    import tracemalloc

    from cpl.inventory import read_inventory

    peaks = []
    for rows in (20_000, 300_000):
        path = tmp_path / f"{rows}.csv"
        with open(path, "w") as out:
            out.write("Device ID,Device Model,Supplier Party ID,SMI Status\n")
            out.writelines(f"D{i},{register[i % 2]},SUPA,Commissioned\n" for i in range(rows))
        with open(path, "rb") as binary:
            tracemalloc.start()
            _, _, counted, read = read_inventory(binary)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        assert read == rows and sum(counted.values()) == rows
    assert peaks[1] < peaks[0] * 1.5, peaks
