"""Inventory extracts that decompress or expand far beyond their size end quickly as a clean
file-level rejection, and nothing is imported."""

import io
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cpl.exchange import ExchangeFileRejected
from cpl.inventory import inventory_import
from cpl.models import DeviceModel, InventorySnapshot
from portal.models import AuditEvent

from ..helpers import cpl_csv, cpl_row, import_bytes

pytestmark = pytest.mark.django_db

HEADER = b"Device Model,Supplier Party ID,Device Count,As Of\n"


@pytest.fixture
def register(users):
    import_bytes(cpl_csv([cpl_row(1)]))
    return [f"1A2B/0000/0100/{m.firmware_version}" for m in DeviceModel.objects.all()]


def gzip_of(*pieces: tuple[bytes, int]) -> bytes:
    """A gzip stream of each piece repeated, compressed as it goes (never held whole)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [compressor.compress(piece * times) for piece, times in pieces]
    return b"".join(out) + compressor.flush()


def rejected(data: bytes) -> str:
    with pytest.raises(ExchangeFileRejected) as caught:
        inventory_import(
            actor=None, binary=io.BytesIO(data), file_name="x.csv.gz", file_sha256="0" * 64
        )
    assert not InventorySnapshot.objects.exists()
    assert not AuditEvent.objects.filter(action="inventory.imported").exists()
    return caught.value.message


def test_a_gzip_without_line_breaks_is_refused_at_its_first_line(register):
    data = gzip_of((b"A" * 1024, 20_000))  # 20 MB unpacked, a few kilobytes packed
    assert len(data) < 100_000
    assert rejected(data).startswith("Line 1 is longer than 4,096 characters")


def test_a_gzip_of_blank_lines_stops_the_reading(register):
    data = gzip_of((HEADER, 1), (b"\n", 5_000_000))
    assert rejected(data).startswith("The file has more than 1,000 blank lines")


def test_a_gzip_unpacking_beyond_the_limit_is_refused(register, settings):
    settings.INVENTORY_MAX_UNPACKED_BYTES = 100_000
    row = f"{register[0]},SUPA,1,2026-11-01\n".encode()
    data = gzip_of((HEADER, 1), (row, 10_000))
    assert "unpacks to more than 0 MB" in rejected(data)


def test_reading_stops_after_too_many_bad_lines(register, settings):
    settings.INVENTORY_MAX_ERRORS = 100
    data = gzip_of((HEADER, 1), (b"x,y\n", 1_000_000))
    message = rejected(data)
    assert message.startswith("100 problems found by line 101: reading stopped there")


def test_a_gzip_bomb_on_the_page_is_a_clean_rejection(register, client_for):
    client = client_for("secretariat")
    data = gzip_of((HEADER, 1), (b"\n", 5_000_000))
    response = client.post("/cpl/inventory/", {"file": SimpleUploadedFile("extract.csv.gz", data)})
    assert response.status_code == 400
    assert "more than 1,000 blank lines" in response.content.decode()
    assert not InventorySnapshot.objects.exists()
