"""The set-based CPL import (staged rows, merged in SQL): all or nothing however late the bad row,
one audit event per import with the per-row changes kept under it, histories that still show
them, the same outcome on SQLite and PostgreSQL, and a re-import that changes nothing."""

import hashlib

import pytest
from django.core.management import call_command

from cpl.exchange import ExchangeFileRejected
from cpl.models import AssuranceCertificate, DeviceModel, ImportChange
from portal.audit import audit_verify_chain
from portal.models import AuditEvent

from ..helpers import cpl_csv, cpl_row, import_bytes
from .test_import import register_state

pytestmark = pytest.mark.django_db

MANY = 3000  # more than one staging batch would hold at 2,000; the bad row comes last


def test_a_bad_row_late_in_a_large_file_leaves_nothing_written():
    import_bytes(cpl_csv([cpl_row(i) for i in range(10)]))
    before = register_state()
    events, changes = AuditEvent.objects.count(), ImportChange.objects.count()
    rows = [cpl_row(i, **{"SMETS CHTS Version": "changed"}) for i in range(MANY)]
    rows.append(cpl_row(MANY, **{"Date Added": "last week"}))
    with pytest.raises(ExchangeFileRejected) as rejected:
        import_bytes(cpl_csv(rows))
    assert [(e.row, e.column) for e in rejected.value.errors] == [(MANY + 2, "Date Added")]
    assert register_state() == before
    assert (AuditEvent.objects.count(), ImportChange.objects.count()) == (events, changes)


def test_a_rule_across_rows_broken_on_the_last_row_leaves_nothing_written():
    rows = [cpl_row(i) for i in range(MANY)]
    # The last row gives the first row's ZigBee certificate other dates.
    rows.append(cpl_row(MANY, **{"ZigBee Certificate Number": "ZB-T-0"}))
    rows[-1]["ZigBee Expiry Date"] = "2099-01-01"
    with pytest.raises(ExchangeFileRejected) as rejected:
        import_bytes(cpl_csv(rows))
    (error,) = rejected.value.errors
    assert (error.row, error.column) == (MANY + 2, "ZigBee Expiry Date")
    assert "ZB-T-0 has different dates on row 2" in error.reason
    assert not DeviceModel.objects.exists() and not AssuranceCertificate.objects.exists()
    assert not AuditEvent.objects.filter(action="cpl.imported").exists()


def test_row_problems_and_rules_across_rows_are_reported_together_in_row_order(settings):
    settings.CPL_IMPORT_MAX_REPORTED_ERRORS = 4
    rows = [cpl_row(i) for i in range(8)]
    rows[1]["Device Type"] = "KETTLE"  # row 3
    rows[2] = cpl_row(0)  # row 4: the same device model as row 2
    rows[4]["Manufacturer Name"] = "Other Name Ltd"  # row 6
    rows[5]["Date Added"] = "soon"  # row 7
    rows[6] = cpl_row(0)  # row 8: a duplicate again, beyond the four shown
    with pytest.raises(ExchangeFileRejected) as rejected:
        import_bytes(cpl_csv(rows))
    assert rejected.value.error_count == 5
    assert [(e.row, e.column) for e in rejected.value.errors] == [
        (3, "Device Type"),
        (4, "Firmware Version"),
        (6, "Manufacturer Name"),
        (7, "Date Added"),
    ]
    assert "5 problems found" in rejected.value.message


def test_one_audit_event_per_import_with_the_file_hash_and_counts_and_the_chain_verifies():
    data = cpl_csv([cpl_row(i, device_type="ESME" if i % 2 else "CHF") for i in range(30)])
    events = AuditEvent.objects.count()
    summary = import_bytes(data, name="register.csv")
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.latest("seq")
    assert (event.action, event.object_repr) == ("cpl.imported", "register.csv")
    assert event.after["file_sha256"] == hashlib.sha256(data).hexdigest()
    assert {k: event.after[k] for k in ("rows", "created", "updated", "unchanged")} == {
        "rows": 30,
        "created": 30,
        "updated": 0,
        "unchanged": 0,
    }
    assert event.after["certificates_created"] == summary.certificates_created == 75
    # The per-row changes are kept under that one event: 30 device models, 1 manufacturer.
    changes = ImportChange.objects.filter(event=event)
    assert changes.filter(action="devicemodel.created").count() == 30
    assert list(changes.exclude(action="devicemodel.created").values_list("action", "after")) == [
        ("manufacturer.created", {"name": "Northfield Metering"})
    ]
    assert audit_verify_chain().ok
    call_command("verify_audit")  # exits non-zero on a broken chain


def test_the_device_model_page_shows_what_each_import_changed(client_for):
    import_bytes(cpl_csv([cpl_row(1), cpl_row(2)]), name="first.csv")
    changed = cpl_row(1, **{"SMETS CHTS Version": "CHTS v1.3"})
    import_bytes(cpl_csv([changed, cpl_row(2)]), name="second.csv")
    model = DeviceModel.objects.get(firmware_version="00000001")
    page = client_for("secretariat").get(f"/cpl/models/{model.pk}/").content.decode()
    history = page[page.index("History") :]
    assert history.index("CPL entry updated") < history.index("Added to the CPL")
    assert "(import of second.csv)" in history and "(import of first.csv)" in history
    assert "CHTS v1.3" in history and "SMETS2 v5.0" in history
    assert "ZigBee ZB-T-1" in history  # what the first import listed it with


def test_the_certificate_page_shows_an_import_that_moved_its_dates(client_for):
    import_bytes(cpl_csv([cpl_row(1)]))
    import_bytes(cpl_csv([cpl_row(1, **{"ZigBee Expiry Date": "2031-05-06"})]), name="moved.csv")
    zigbee = AssuranceCertificate.objects.get(kind="zigbee")
    page = client_for("secretariat").get(f"/cpl/certificates/{zigbee.pk}/").content.decode()
    assert "Certificate dates changed" in page and "(import of moved.csv)" in page
    assert "6 May 2031" in page


def _outcome():
    """The register and change list without ids or times: what must be equal on every database."""
    models = {
        pk: "/".join(identity)
        for pk, *identity in DeviceModel.objects.values_list(
            "pk",
            "manufacturer__manufacturer_id",
            "model_id",
            "hardware_version",
            "firmware_version",
        )
    }
    certificates = {
        pk: f"{kind}:{number}"
        for pk, kind, number in AssuranceCertificate.objects.values_list("pk", "kind", "number")
    }
    names = {"cpl.devicemodel": models, "cpl.assurancecertificate": certificates}
    changes = sorted(
        (
            action,
            names.get(object_type, {}).get(int(object_id), object_type),
            before,
            after,
        )
        for action, object_type, object_id, before, after in ImportChange.objects.values_list(
            "action", "object_type", "object_id", "before", "after"
        )
    )
    return changes


def test_the_same_files_give_the_same_outcome_on_every_database():
    """Run on SQLite and on PostgreSQL (DATABASE_URL): both must give exactly this."""
    first = [cpl_row(1), cpl_row(2, device_type="ESME", **{"CPA Certificate Number": "CPA-T-1"})]
    import_bytes(cpl_csv(first))
    second = [
        cpl_row(1, **{"SMETS CHTS Version": "CHTS v1.3", "Manufacturer Name": "Northfield Ltd"}),
        cpl_row(
            2,
            device_type="ESME",
            **{
                "CPA Certificate Number": "CPA-T-1",
                "DLMS Certificate Number": "DLMS-NEW",
                "Manufacturer Name": "Northfield Ltd",
            },
        ),
        cpl_row(3, **{"Manufacturer Name": "Northfield Ltd", "Date Added": "2023-02-03"}),
    ]
    second[0]["ZigBee Expiry Date"] = "2030-01-02"
    summary = import_bytes(cpl_csv(second))
    assert (summary.created, summary.updated, summary.unchanged) == (1, 2, 0)
    assert (summary.certificates_created, summary.certificates_updated) == (3, 1)
    zigbee_before = cpl_row(1)["ZigBee Expiry Date"]
    created_3 = {
        "status": "listed",
        "device_type": "CHF",
        "smets_generation": "SMETS2",
        "smets_chts_version": "SMETS2 v5.0",
        "gbcs_version": "",
        "manufacturer_image_hash": "",
        "date_added": "2023-02-03",
        "certificates": ["cpa:CPA-T-3", "zigbee:ZB-T-3"],
    }
    assert _outcome() == sorted(
        [
            (
                "certificate.updated",
                "zigbee:ZB-T-1",
                {"issued": None, "expiry": zigbee_before},
                {"issued": None, "expiry": "2030-01-02"},
            ),
            (
                "devicemodel.created",
                "1A2B/0000/0100/00000001",
                None,
                {
                    "status": "listed",
                    "device_type": "CHF",
                    "smets_generation": "SMETS2",
                    "smets_chts_version": "SMETS2 v5.0",
                    "gbcs_version": "",
                    "manufacturer_image_hash": "",
                    "date_added": "2022-01-10",
                    "certificates": ["cpa:CPA-T-1", "zigbee:ZB-T-1"],
                },
            ),
            (
                "devicemodel.created",
                "1A2B/0000/0100/00000002",
                None,
                {
                    "status": "listed",
                    "device_type": "ESME",
                    "smets_generation": "SMETS2",
                    "smets_chts_version": "SMETS2 v5.0",
                    "gbcs_version": "",
                    "manufacturer_image_hash": "",
                    "date_added": "2022-01-10",
                    "certificates": ["cpa:CPA-T-1", "zigbee:ZB-T-2", "dlms:DLMS-T-2"],
                },
            ),
            ("devicemodel.created", "1A2B/0000/0100/00000003", None, created_3),
            (
                "devicemodel.updated",
                "1A2B/0000/0100/00000001",
                {"smets_chts_version": "SMETS2 v5.0"},
                {"smets_chts_version": "CHTS v1.3"},
            ),
            (
                "devicemodel.updated",
                "1A2B/0000/0100/00000002",
                {},
                {"certificates_added": ["dlms:DLMS-NEW"]},
            ),
            ("manufacturer.created", "cpl.manufacturer", None, {"name": "Northfield Metering"}),
            (
                "manufacturer.renamed",
                "cpl.manufacturer",
                {"name": "Northfield Metering"},
                {"name": "Northfield Ltd"},
            ),
        ]
    )
    model_2 = DeviceModel.objects.get(firmware_version="00000002")
    assert sorted(model_2.certificates.values_list("number", flat=True)) == [
        "CPA-T-1",
        "DLMS-NEW",
        "DLMS-T-2",
        "ZB-T-2",
    ]


def test_reimporting_an_unchanged_file_writes_only_its_audit_event():
    data = cpl_csv([cpl_row(i, device_type="GSME" if i % 3 else "PPMID") for i in range(50)])
    import_bytes(data)
    before = register_state()
    stamps = sorted(DeviceModel.objects.values_list("pk", "updated_at"))
    events, changes = AuditEvent.objects.count(), ImportChange.objects.count()
    summary = import_bytes(data)
    assert (summary.created, summary.updated, summary.unchanged) == (0, 0, 50)
    assert not summary.changed_anything
    assert register_state() == before
    assert sorted(DeviceModel.objects.values_list("pk", "updated_at")) == stamps
    assert ImportChange.objects.count() == changes
    assert AuditEvent.objects.count() == events + 1
    assert AuditEvent.objects.latest("seq").action == "cpl.imported"
