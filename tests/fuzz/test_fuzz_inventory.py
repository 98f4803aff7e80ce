"""Fuzzing the DCC inventory import: mutated aggregated and device-level extracts, plain and
gzipped, through `inventory_import`. Each is imported whole (one snapshot whose counts add up)
or rejected with a message and no snapshot; never another exception."""

import io

import pytest
from django.db.models import Sum
from hypothesis import event, given, settings
from hypothesis import strategies as st

from cpl.exchange import ExchangeFileRejected
from cpl.inventory import inventory_import
from cpl.models import DeviceModel, InventoryCount, InventorySnapshot

from ..helpers import cpl_csv, cpl_row, import_bytes
from .conftest import crashers, examples, memory_bound, rolled_back
from .mutants import (
    benign_variants,
    byte_edits,
    cell_edits,
    csv_text,
    gzip_bombs,
    gzip_edits,
    reencoded,
)

pytestmark = pytest.mark.django_db

AGGREGATED = ["Device Model", "Supplier Party ID", "Device Count", "As Of"]
DEVICE_LEVEL = ["Device ID", "Device Model", "Supplier Party ID", "SMI Status"]
# The register the extracts name (1A2B/0000/0100/0000000n, see tests.helpers.cpl_row).
MODELS = [f"1A2B/0000/0100/{i:08X}" for i in (1, 2, 3)]
AGGREGATED_ROWS = [AGGREGATED] + [
    [model, party, str(count), "2026-11-01"]
    for model, party, count in [
        (MODELS[0], "SUPA", 1200),
        (MODELS[0], "SUPB", 300),
        (MODELS[1], "SUPB", 45),
        (MODELS[2], "SUPA", 7),
    ]
]
DEVICE_ROWS = [DEVICE_LEVEL] + [
    [f"D{i}", MODELS[i % 3], "SUPA" if i % 2 else "SUPB", status]
    for i, status in enumerate(["Commissioned", "Installed Not Commissioned", "Decommissioned"] * 3)
]
SEEDS = [csv_text(AGGREGATED_ROWS), csv_text(DEVICE_ROWS)]


@pytest.fixture
def register(users):
    import_bytes(cpl_csv([cpl_row(i) for i in (1, 2, 3)]))
    assert DeviceModel.objects.count() == 3
    return users


def assert_clean_outcome(actor, data: bytes, name: str = "inventory.csv") -> str:
    snapshots, counts = InventorySnapshot.objects.count(), InventoryCount.objects.count()
    try:
        summary = inventory_import(
            actor=actor, binary=io.BytesIO(data), file_name=name, file_sha256="0" * 64
        )
    except ExchangeFileRejected as rejected:
        assert rejected.message.strip(), "a rejection says why"
        assert InventorySnapshot.objects.count() == snapshots, "a rejected extract was stored"
        assert InventoryCount.objects.count() == counts, "a rejected extract left counts"
        return "rejected"
    snapshot = InventorySnapshot.objects.get(pk=summary.snapshot_id)
    assert InventorySnapshot.objects.count() == snapshots + 1
    stored = snapshot.counts.aggregate(total=Sum("device_count"))["total"] or 0
    assert stored == snapshot.device_count == summary.devices
    assert all(0 <= c <= 2**63 - 1 for c in snapshot.counts.values_list("device_count", flat=True))
    return "imported"


plain_extracts = st.one_of(
    benign_variants(AGGREGATED_ROWS),
    benign_variants(DEVICE_ROWS),
    st.sampled_from(SEEDS).flatmap(byte_edits),
    st.sampled_from(SEEDS).flatmap(reencoded),
    cell_edits(AGGREGATED_ROWS).map(csv_text),
    cell_edits(DEVICE_ROWS).map(csv_text),
    st.binary(max_size=2048),
)


@settings(max_examples=examples(60))
@given(data=plain_extracts)
def test_mutated_extracts_are_imported_or_rejected_cleanly(register, data):
    with rolled_back():
        event(assert_clean_outcome(register["secretariat"], data))


gzipped_extracts = st.one_of(
    st.sampled_from(SEEDS).flatmap(gzip_edits),
    benign_variants(DEVICE_ROWS).flatmap(gzip_edits),
    cell_edits(AGGREGATED_ROWS).map(csv_text).flatmap(gzip_edits),
)


@settings(max_examples=examples(40))
@given(data=gzipped_extracts)
def test_mutated_gzip_extracts_are_imported_or_rejected_cleanly(register, data):
    with rolled_back(), memory_bound():
        event(assert_clean_outcome(register["secretariat"], data, name="inventory.csv.gz"))


@pytest.mark.parametrize("bomb", ["one-long-line", "blank-lines", "header-then-blank-lines"])
def test_gzip_bombs_are_refused_within_bounded_memory(register, bomb):
    data = gzip_bombs()[bomb]
    with memory_bound():
        assert assert_clean_outcome(register["secretariat"], data, name="bomb.csv.gz") == "rejected"


@pytest.mark.parametrize("path", crashers("inventory"), ids=lambda p: p.name)
def test_saved_crashers_are_handled_cleanly(register, path):
    assert_clean_outcome(register["secretariat"], path.read_bytes(), name=path.name)
