"""SSC decisions and Authority determinations on the CPL (issue 11, items 2 and 4): an SSC
decision to remove takes the models off the published CPL into the removed-entries register; a
determination overturning it re-lists them (and only the removal it overturns); a determination
overturning a decision not to remove removes them; a cancelled CPA certificate opens a case."""

import datetime

import pytest
from django.utils import timezone

from cpl.models import AssuranceCertificate, CPLChangeNotice, CPLRemoval
from cpl.services import certificate_record_event, cpl_version_publish
from governance import referrals, services
from governance.models import Case
from portal.models import Notice

from ..helpers import (
    cpa_case,
    cpl_csv,
    cpl_row,
    import_bytes,
    party_summary_approved,
    referral_pack_sent,
)

pytestmark = pytest.mark.django_db
TODAY = datetime.date.today()


def determine(committee, referral, outcome="overturned"):
    referrals.referral_determine(
        actor=committee["authority"],
        referral=referral,
        outcome=outcome,
        reasons="Considered",
        effective_date=TODAY,
    )


def decide_to_remove(committee, case):
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    ballot = services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(days=1)
    )
    for member in committee["members"]:
        services.conflict_declare(actor=member, case=case, has_conflict=False, reason="")
        services.vote_cast(actor=member, ballot=ballot, choice="suspend")
    services.ballot_close(actor=committee["chair"], ballot=ballot)
    party_summary_approved(committee, case)
    services.decision_issue(
        actor=committee["chair"],
        case=case,
        reasons="r",
        security_factors="s",
        operational_impact="o",
    )


def test_an_ssc_removal_leaves_the_next_version_and_is_registered_with_its_case(committee):
    import_bytes(cpl_csv([cpl_row(1)]))
    case = cpa_case(committee)
    cpl_version_publish(actor=committee["secretariat"])
    decide_to_remove(committee, case)
    models = list(case.device_models.all())
    assert {m.status for m in models} == {"removed"}
    assert {m.removal_basis for m in models} == {"ssc_decision"}
    removals = CPLRemoval.objects.filter(device_model__in=models, relisted_at__isnull=True)
    assert {(r.basis, r.reference) for r in removals} == {("ssc_decision", case.reference)}

    version = cpl_version_publish(actor=committee["secretariat"])
    identities = {r["identity"] for r in version.diff["removed"]}
    assert identities == {"/".join(m.identity) for m in models}
    assert {r["Firmware Version"] for r in version.rows} == {"00000001"}


def test_an_overturned_removal_relists_by_determination_with_a_notice(committee):
    case, referral, _ = referral_pack_sent(committee, kind="remove", decision="suspend")
    determine(committee, referral)
    models = list(case.device_models.all())
    assert {m.status for m in models} == {"listed"}
    removals = CPLRemoval.objects.filter(device_model__in=models)
    assert {(r.relisting_basis, r.relisting_reference) for r in removals} == {
        ("authority_determination", referral.reference)
    }
    relisted = CPLChangeNotice.objects.filter(device_model__in=models, to_status="listed")
    assert relisted.count() == len(models)
    assert all(referral.reference in n.reason for n in relisted)
    assert Notice.objects.filter(
        kind=Notice.Kind.CPL_CHANGE, body__contains=referral.reference
    ).exists()


def test_a_determination_relists_only_the_removal_it_overturns(committee):
    """A model of the case removed before the decision for a lapsed ZigBee certificate stays
    removed when the Authority overturns the SSC's removal of the others."""
    case = cpa_case(committee)
    first, second = case.device_models.order_by("pk")
    certificate_record_event(
        actor=committee["secretariat"],
        certificate=second.certificates.get(kind="zigbee"),
        event="withdraw",
        on=TODAY,
        reason="Interoperability failure",
    )
    decide_to_remove(committee, case)
    referral = referrals.referral_lodge(
        actor=committee["supplier_a"], case=case, kind="remove", grounds="Disproportionate"
    )
    referrals.referral_send_pack(actor=committee["secretariat"], referral=referral)
    determine(committee, referral)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("listed", "removed")
    assert second.removals.get().basis == "certificate"


def test_an_overturned_decision_not_to_remove_removes_by_determination(committee):
    case, referral, _ = referral_pack_sent(committee, kind="not_remove", decision="remedial_plan")
    assert {m.status for m in case.device_models.all()} == {"listed"}
    determine(committee, referral)
    models = list(case.device_models.all())
    assert {(m.status, m.removal_basis) for m in models} == {("removed", "authority_determination")}
    assert {r.reference for r in CPLRemoval.objects.filter(device_model__in=models)} == {
        referral.reference
    }


def test_an_upheld_removal_keeps_the_models_removed(committee):
    case, referral, _ = referral_pack_sent(committee, kind="remove", decision="suspend")
    determine(committee, referral, outcome="upheld")
    assert {m.status for m in case.device_models.all()} == {"removed"}
    assert not CPLRemoval.objects.filter(relisted_at__isnull=False).exists()


# --- item 4: a cancelled CPA certificate takes the withdrawn one's route ----------------------


def test_a_cancelled_cpa_certificate_opens_a_case(committee, client_for):
    import_bytes(cpl_csv([cpl_row(1), cpl_row(2)]))
    cpa = AssuranceCertificate.objects.get(number="CPA-T-1")
    result = certificate_record_event(
        actor=committee["secretariat"],
        certificate=cpa,
        event="cancel",
        on=TODAY,
        reason="Cancelled by NCSC",
    )
    assert result.removed == 0  # CPA: the SSC decides, nothing is removed automatically
    client = client_for("secretariat")
    page = client.get(f"/cpl/certificates/{cpa.pk}/").content.decode()
    assert f'href="/cases/open/{cpa.pk}/"' in page
    form = client.get(f"/cases/open/{cpa.pk}/")
    assert form.status_code == 200
    assert form.context["form"]["event"].initial == "cancelled"
    response = client.post(
        f"/cases/open/{cpa.pk}/",
        {
            "device_models": [m.pk for m in cpa.device_models.all()],
            "event": "cancelled",
            "event_date": TODAY.isoformat(),
            "reason": "Cancelled by NCSC",
            "severity": "high",
            "summary": "Certificate cancelled",
        },
    )
    assert response.status_code == 302
    case = Case.objects.get(certificate=cpa)
    assert (case.event, case.get_event_display()) == ("cancelled", "CPA certificate cancelled")


def test_a_cancelled_cpa_certificate_is_flagged_on_the_dashboard_with_open_a_case(
    committee, client_for
):
    import_bytes(cpl_csv([cpl_row(1)]))
    cpa = AssuranceCertificate.objects.get(number="CPA-T-1")
    certificate_record_event(
        actor=committee["secretariat"], certificate=cpa, event="cancel", on=TODAY, reason="r"
    )
    body = client_for("secretariat").get("/").content.decode()
    assert f'href="/cases/open/{cpa.pk}/"' in body
