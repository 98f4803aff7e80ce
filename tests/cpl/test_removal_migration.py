"""cpl 0007: suspended entries become removed, each with its removed-entries register row read
from its latest CPL change notice; pending ones become listed."""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("cpl", "0006_cplimport_started_at")]
AFTER = [("cpl", "0007_removal")]


@pytest.mark.django_db(transaction=True)
def test_suspended_entries_migrate_to_removed_with_their_register_row():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    maker = old.get_model("cpl", "Manufacturer").objects.create(manufacturer_id="ABCD", name="M")
    DeviceModel = old.get_model("cpl", "DeviceModel")

    def model(model_id, status, basis=""):
        return DeviceModel.objects.create(
            device_type="ESME",
            manufacturer=maker,
            model_id=model_id,
            hardware_version="0001",
            firmware_version="0001",
            smets_chts_version="SMETS2 v4.0",
            date_added=datetime.date(2024, 1, 1),
            status=status,
            suspension_basis=basis,
        )

    by_decision = model("0001", "suspended", "ssc_decision")
    by_certificate = model("0002", "suspended", "certificate")
    pending = model("0003", "pending")
    listed = model("0004", "listed")
    old.get_model("cpl", "CPLChangeNotice").objects.create(
        device_model=by_decision,
        from_status="listed",
        to_status="suspended",
        reason="SSC decision on case SSC-2026-0007: removed from the CPL.",
    )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    models = new.get_model("cpl", "DeviceModel").objects
    assert {m.pk: m.status for m in models.all()} == {
        by_decision.pk: "removed",
        by_certificate.pk: "removed",
        pending.pk: "listed",
        listed.pk: "listed",
    }
    removals = {r.device_model_id: r for r in new.get_model("cpl", "CPLRemoval").objects.all()}
    assert set(removals) == {by_decision.pk, by_certificate.pk}
    assert removals[by_decision.pk].basis == "ssc_decision"
    assert removals[by_decision.pk].reference == "SSC-2026-0007"
    assert removals[by_certificate.pk].basis == "certificate"
    notice = new.get_model("cpl", "CPLChangeNotice").objects.get()
    assert notice.to_status == "removed"
    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
