"""Removal as the SEC says (issue 11, item 2): a device model is listed or removed from the CPL.

A removed model leaves the published CPL and its exports, is listed as removed in the next
version's diff, and is kept in the removed-entries register (date, basis, reference, and the SMI
status Suspended the DCC gives its devices). Nothing re-lists it automatically: the secretariat
re-lists it, with valid certificates and a reason, or an Authority determination does."""

import csv
import datetime
import io

import pytest
from django.core.exceptions import PermissionDenied

from cpl.models import AssuranceCertificate, CPLChangeNotice, CPLRemoval, DeviceModel
from cpl.services import (
    certificate_add,
    certificate_record_event,
    certificates_check,
    cpl_version_publish,
    device_model_relist,
)
from portal.models import AuditEvent, Notice
from portal.policies import ActionNotNow

from ..helpers import cpl_csv, cpl_row, import_bytes

pytestmark = pytest.mark.django_db
TODAY = datetime.date.today()


def model(index=1) -> DeviceModel:
    return DeviceModel.objects.get(firmware_version=f"{index:08X}")


def withdraw(users, index, kind="zigbee"):
    return certificate_record_event(
        actor=users["secretariat"],
        certificate=model(index).certificates.get(kind=kind),
        event="withdraw",
        on=TODAY,
        reason="Test house withdrew it",
    )


def renew(users, index, kind="zigbee", number="ZB-RENEWED"):
    return certificate_add(
        actor=users["secretariat"],
        device_model=model(index),
        kind=kind,
        number=number,
        issued=TODAY,
        expiry=TODAY + datetime.timedelta(days=900),
    )


def test_a_removed_model_is_absent_from_the_next_version_and_listed_as_removed_in_its_diff(users):
    import_bytes(cpl_csv([cpl_row(1), cpl_row(2)]))
    first = cpl_version_publish(actor=users["secretariat"])
    assert first.row_count == 2

    assert withdraw(users, 2).removed == 1

    second = cpl_version_publish(actor=users["secretariat"])
    assert second.row_count == 1
    assert [r["Firmware Version"] for r in second.rows] == ["00000001"]
    assert [r["identity"] for r in second.diff["removed"]] == ["1A2B/0000/0100/00000002"]
    assert second.diff["status_changed"] == []


def test_a_removed_model_leaves_the_exports(users, client_for):
    import_bytes(cpl_csv([cpl_row(1), cpl_row(2)]))
    withdraw(users, 2)
    client = client_for("dcc")
    body = b"".join(client.get("/cpl/export/csv/").streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["Firmware Version"] for r in rows] == ["00000001"]
    assert {r["CPL Status"] for r in rows} == {"Listed"}


def test_automatic_removal_enters_the_removed_entries_register(users):
    import_bytes(cpl_csv([cpl_row(1, device_type="ESME")]))
    withdraw(users, 1, kind="dlms")
    dm = model(1)
    assert (dm.status, dm.removal_basis) == ("removed", "certificate")
    removal = CPLRemoval.objects.get(device_model=dm)
    assert (removal.basis, removal.reference, removal.relisted_at) == (
        "certificate",
        "DLMS/COSEM DLMS-T-1",
        None,
    )
    assert removal.smi_status == "Suspended"
    notice = CPLChangeNotice.objects.get(device_model=dm)
    assert (notice.from_status, notice.to_status, notice.smi_status) == (
        "listed",
        "removed",
        "Suspended",
    )
    assert AuditEvent.objects.filter(action="devicemodel.remove", object_id=str(dm.pk)).exists()
    dcc_notice = Notice.objects.get(kind=Notice.Kind.CPL_CHANGE)
    assert "Listed → Removed (devices' SMI status: Suspended)" in dcc_notice.body


def test_a_renewed_non_cpa_certificate_does_not_relist(users):
    import_bytes(cpl_csv([cpl_row(1)]))
    withdraw(users, 1)
    renew(users, 1)
    assert model(1).status == "removed"
    assert certificates_check().removed == 0
    assert model(1).status == "removed"
    assert CPLRemoval.objects.get(device_model=model(1)).relisted_at is None
    assert not CPLChangeNotice.objects.filter(to_status="listed").exists()


def test_the_secretariat_relists_with_valid_certificates_and_a_reason(users):
    import_bytes(cpl_csv([cpl_row(1)]))
    withdraw(users, 1)
    renew(users, 1)
    notices_before = Notice.objects.filter(kind=Notice.Kind.CPL_CHANGE).count()

    device_model_relist(actor=users["secretariat"], model=model(1), reason="ZigBee renewed")

    dm = model(1)
    assert (dm.status, dm.removal_basis) == ("listed", "")
    removal = CPLRemoval.objects.get(device_model=dm)
    assert removal.relisted_by == users["secretariat"]
    assert removal.relisting_basis == CPLRemoval.RelistingBasis.SECRETARIAT
    assert "ZigBee renewed" in removal.relisting_reason
    event = AuditEvent.objects.get(action="devicemodel.relist", object_id=str(dm.pk))
    assert event.actor_id == users["secretariat"].pk and "ZigBee renewed" in event.after["reason"]
    change = CPLChangeNotice.objects.filter(device_model=dm).first()
    assert (change.from_status, change.to_status) == ("removed", "listed")
    assert Notice.objects.filter(kind=Notice.Kind.CPL_CHANGE).count() == notices_before + 1
    # Back in the next published version, as a listed row.
    version = cpl_version_publish(actor=users["secretariat"])
    assert [r["CPL Status"] for r in version.rows] == ["Listed"]


def test_relisting_needs_every_certificate_valid(users):
    import_bytes(cpl_csv([cpl_row(1)]))
    withdraw(users, 1)
    with pytest.raises(ActionNotNow, match="no valid ZigBee certificate"):
        device_model_relist(actor=users["secretariat"], model=model(1), reason="Please")
    # A valid ZigBee certificate is not enough when the CPA certificate is no longer valid.
    renew(users, 1)
    withdraw(users, 1, kind="cpa")
    with pytest.raises(ActionNotNow, match="no valid CPA certificate"):
        device_model_relist(actor=users["secretariat"], model=model(1), reason="Please")
    assert model(1).status == "removed"


def test_relisting_needs_a_reason(users):
    import_bytes(cpl_csv([cpl_row(1)]))
    withdraw(users, 1)
    renew(users, 1)
    with pytest.raises(ValueError, match="reason"):
        device_model_relist(actor=users["secretariat"], model=model(1), reason="  ")
    assert model(1).status == "removed"


@pytest.mark.parametrize(
    "role", ["chair", "member", "expert", "supplier_a", "dcc", "network", "authority"]
)
def test_only_the_secretariat_relists(users, role):
    import_bytes(cpl_csv([cpl_row(1)]))
    withdraw(users, 1)
    renew(users, 1)
    with pytest.raises(PermissionDenied):
        device_model_relist(actor=users[role], model=model(1), reason="Renewed")
    assert model(1).status == "removed"


def test_a_listed_model_cannot_be_relisted(users):
    import_bytes(cpl_csv([cpl_row(1)]))
    with pytest.raises(ActionNotNow, match="not removed"):
        device_model_relist(actor=users["secretariat"], model=model(1), reason="Renewed")


# --- pages -----------------------------------------------------------------------------------


def test_relisting_in_the_browser_asks_for_confirmation_and_a_reason(users, client_for):
    import_bytes(cpl_csv([cpl_row(1)]))
    withdraw(users, 1)
    client = client_for("secretariat")
    page = client.get(f"/cpl/models/{model(1).pk}/").content.decode()
    assert "Re-list on the CPL" not in page and "no valid ZigBee certificate" in page
    renew(users, 1)
    page = client.get(f"/cpl/models/{model(1).pk}/").content.decode()
    assert f'href="/cpl/models/{model(1).pk}/relist/"' in page

    confirm = client.get(f"/cpl/models/{model(1).pk}/relist/")
    assert confirm.status_code == 200
    assert "Are you sure you want to re-list this device model" in confirm.content.decode()
    assert model(1).status == "removed"  # the page alone changes nothing

    empty = client.post(f"/cpl/models/{model(1).pk}/relist/", {"reason": ""})
    assert empty.status_code == 400
    assert "Enter why the device model is re-listed" in empty.content.decode()

    done = client.post(f"/cpl/models/{model(1).pk}/relist/", {"reason": "ZigBee renewed"})
    assert done.status_code == 302 and done["Location"] == f"/cpl/models/{model(1).pk}/"
    assert model(1).status == "listed"


def test_the_relist_page_answers_409_without_valid_certificates(users, client_for):
    import_bytes(cpl_csv([cpl_row(1)]))
    withdraw(users, 1)
    client = client_for("secretariat")
    assert client.get(f"/cpl/models/{model(1).pk}/relist/").status_code == 409
    response = client.post(f"/cpl/models/{model(1).pk}/relist/", {"reason": "r"})
    assert response.status_code == 409 and model(1).status == "removed"


@pytest.mark.parametrize("role", ["chair", "member", "supplier_a", "dcc"])
def test_the_relist_page_is_refused_to_others(users, client_for, role):
    import_bytes(cpl_csv([cpl_row(1)]))
    withdraw(users, 1)
    renew(users, 1)
    client = client_for(role)
    assert client.get(f"/cpl/models/{model(1).pk}/relist/").status_code == 403
    assert client.post(f"/cpl/models/{model(1).pk}/relist/", {"reason": "r"}).status_code == 403
    assert model(1).status == "removed"


@pytest.mark.parametrize(
    "role, status",
    [
        ("secretariat", 200),
        ("chair", 200),
        ("member", 200),
        ("supplier_a", 200),
        ("dcc", 200),
        ("network", 200),
        ("expert", 403),
        ("authority", 403),
    ],
)
def test_the_removed_entries_register_is_for_those_who_read_the_cpl(
    users, client_for, role, status
):
    import_bytes(cpl_csv([cpl_row(1), cpl_row(2)]))
    withdraw(users, 2)
    response = client_for(role).get("/cpl/removed/")
    assert response.status_code == status
    if status == 200:
        body = response.content.decode()
        assert str(model(2)) in body and str(model(1)) not in body
        assert "Non-CPA Assurance Certificate not valid (automatic removal)" in body
        assert "ZigBee ZB-T-2" in body and "Suspended" in body
        assert TODAY.strftime("%-d %B %Y") in body


def test_the_removed_entries_register_keeps_relisted_removals_on_request(users, client_for):
    import_bytes(cpl_csv([cpl_row(1)]))
    withdraw(users, 1)
    renew(users, 1)
    device_model_relist(actor=users["secretariat"], model=model(1), reason="Renewed")
    client = client_for("dcc")
    assert str(model(1)) not in client.get("/cpl/removed/").content.decode()
    everything = client.get("/cpl/removed/?show=all").content.decode()
    assert str(model(1)) in everything
    assert "Re-listed by the SSC Secretariat (valid certificates)" in everything


def test_certificate_kinds_a_model_must_hold():
    import_bytes(cpl_csv([cpl_row(1, device_type="ESME"), cpl_row(2)]))
    assert model(1).missing_certificates() == [] == model(2).missing_certificates()
    AssuranceCertificate.objects.filter(number="DLMS-T-1").update(status="expired")
    assert model(1).missing_certificates() == ["DLMS/COSEM"]
