"""Certificate facts and their consequences: automatic removal for non-CPA certificates only."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django_fsm import TransitionNotAllowed, has_transition_perm

from cpl.models import AssuranceCertificate, CPLChangeNotice, DeviceModel
from cpl.services import certificate_add, certificate_record_event, certificates_check
from cpl.tasks import certificates_check as certificates_check_task
from portal.models import AuditEvent

from ..helpers import cpl_csv, cpl_row, import_bytes

pytestmark = pytest.mark.django_db
TODAY = datetime.date.today()


def model(index=1) -> DeviceModel:
    return DeviceModel.objects.get(firmware_version=f"{index:08X}")


def certificate(index, kind) -> AssuranceCertificate:
    return model(index).certificates.get(kind=kind)


def test_expired_zigbee_certificate_removes_the_device_model_with_notice_and_audit():
    import_bytes(cpl_csv([cpl_row(1), cpl_row(2)]))
    later = TODAY + datetime.timedelta(days=6 * 366)
    result = certificates_check(today=later)
    assert result.removed == 2
    dm = model(1)
    assert (dm.status, dm.removal_basis) == ("removed", "certificate")
    notice = CPLChangeNotice.objects.get(device_model=dm)
    assert (notice.from_status, notice.to_status, notice.smi_status) == (
        "listed",
        "removed",
        "Suspended",
    )
    assert AuditEvent.objects.filter(action="devicemodel.remove", object_id=str(dm.pk)).exists()
    assert AuditEvent.objects.filter(action="certificate.expired").count() == 2


def test_expired_cpa_certificate_is_flagged_not_removed():
    import_bytes(
        cpl_csv(
            [
                cpl_row(
                    1,
                    **{
                        "CPA Expiry Date": (TODAY - datetime.timedelta(days=1)).isoformat(),
                        "CPA Issue Date": "2020-01-01",
                    },
                )
            ]
        )
    )
    cpa = certificate(1, "cpa")
    assert cpa.status == "expired"
    assert model(1).status == "listed"
    assert not CPLChangeNotice.objects.exists()
    assert AuditEvent.objects.filter(
        action="certificate.flagged_for_ssc", object_id=str(cpa.pk)
    ).exists()


def test_a_certificate_is_valid_through_its_expiry_date():
    import_bytes(cpl_csv([cpl_row(1, **{"ZigBee Expiry Date": TODAY.isoformat()})]))
    assert certificate(1, "zigbee").status == "valid"
    assert certificates_check(today=TODAY + datetime.timedelta(days=1)).removed == 1


def test_withdrawn_dlms_certificate_removes_and_a_new_certificate_does_not_relist(users):
    import_bytes(cpl_csv([cpl_row(1, device_type="ESME")]))
    dlms = certificate(1, "dlms")
    certificate_record_event(
        actor=users["secretariat"],
        certificate=dlms,
        event="withdraw",
        on=TODAY,
        reason="Test house withdrew it",
    )
    assert model(1).status == "removed"
    certificate_add(
        actor=users["secretariat"],
        device_model=model(1),
        kind="dlms",
        number="DLMS-NEW",
        issued=TODAY,
        expiry=TODAY + datetime.timedelta(days=900),
    )
    assert (model(1).status, model(1).removal_basis) == ("removed", "certificate")
    assert list(CPLChangeNotice.objects.values_list("to_status", flat=True)) == ["removed"]


def test_ssc_removal_is_not_undone_by_a_new_certificate(users):
    import_bytes(cpl_csv([cpl_row(1)]))
    dm = model(1)
    dm.remove(basis=DeviceModel.RemovalBasis.SSC_DECISION)
    dm.save()
    certificate_add(
        actor=users["secretariat"],
        device_model=dm,
        kind="zigbee",
        number="ZB-2",
        issued=None,
        expiry=TODAY + datetime.timedelta(days=900),
    )
    assert model(1).status == "removed"


def test_withdrawn_cpa_certificate_leaves_the_model_listed(users):
    import_bytes(cpl_csv([cpl_row(1)]))
    result = certificate_record_event(
        actor=users["secretariat"],
        certificate=certificate(1, "cpa"),
        event="withdraw",
        on=TODAY,
        reason="NCSC withdrawal",
    )
    assert result.removed == 0 and model(1).status == "listed"
    assert certificate(1, "cpa").status == "withdrawn"


@pytest.mark.parametrize(
    "role, allowed",
    [
        ("secretariat", True),
        ("chair", False),
        ("member", False),
        ("expert", False),
        ("supplier_a", False),
        ("dcc", False),
        ("authority", False),
    ],
)
@pytest.mark.parametrize(
    "state, event",
    [
        ("valid", "withdraw"),
        ("valid", "cancel"),
        ("expired", "withdraw"),
        ("withdrawn", "cancel"),
        ("cancelled", "withdraw"),
    ],
)
def test_certificate_state_machine(users, role, allowed, state, event):
    """State × role → allowed or refused, for each event a user may record."""
    import_bytes(cpl_csv([cpl_row(1)]))
    cert = certificate(1, "zigbee")
    if state == "expired":
        certificates_check(today=TODAY + datetime.timedelta(days=6 * 366))
    elif state != "valid":
        certificate_record_event(
            actor=users["secretariat"],
            certificate=cert,
            event={"withdrawn": "withdraw", "cancelled": "cancel"}[state],
            on=TODAY,
            reason="setup",
        )
    cert = certificate(1, "zigbee")
    possible = state == "valid"
    if allowed and possible:
        certificate_record_event(
            actor=users[role], certificate=cert, event=event, on=TODAY, reason="r"
        )
        assert (
            certificate(1, "zigbee").status
            == {"withdraw": "withdrawn", "cancel": "cancelled"}[event]
        )
    else:
        with pytest.raises((PermissionDenied, TransitionNotAllowed)):
            certificate_record_event(
                actor=users[role], certificate=cert, event=event, on=TODAY, reason="r"
            )
        assert certificate(1, "zigbee").status == state


@pytest.mark.parametrize("role", ["secretariat", "chair", "member", "supplier_a", "dcc"])
def test_device_model_status_follows_facts_and_decisions_only(users, role):
    """Nobody removes a model by hand: the certificate check, an issued SSC decision or an
    Authority determination does, as the system (cpl.policies). Re-listing by the secretariat is
    tests/cpl/test_removal.py's."""
    import_bytes(cpl_csv([cpl_row(1)]))
    dm = model(1)
    assert has_transition_perm(dm.remove, users[role]) is False
    assert has_transition_perm(dm.remove, None) is True
    assert has_transition_perm(dm.relist_on_determination, users[role]) is False


def test_device_model_state_machine_refuses_impossible_moves():
    import_bytes(cpl_csv([cpl_row(1)]))
    dm = model(1)
    for move in (dm.relist, dm.relist_on_determination):
        with pytest.raises(TransitionNotAllowed):
            move()
    with pytest.raises(AttributeError):
        dm.status = "removed"  # protected: only transitions change it


def test_periodic_task_and_command_run_the_same_check(capsys):
    import_bytes(cpl_csv([cpl_row(1, **{"ZigBee Expiry Date": "2020-01-01"})]))
    assert model(1).status == "removed"
    import_bytes(cpl_csv([cpl_row(2)]))
    assert certificates_check_task.delay().get() == {
        "expired": 0,
        "removed": 0,
        "cpa_flagged": 0,
    }
    call_command("check_certificates")
    assert "0 device models removed from the CPL" in capsys.readouterr().out
