"""Issue 11, items 1 and 3: referrals as SEC F2.7B reads (who is addressed and may refer, the
Authority told at once, the pack deadline, the local-practice window) and CPL Requirements
clause 6.3 never silent (inventory coverage, the clause 6.3 notice, closing on completion)."""

import datetime
import io
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from cpl.inventory import inventory_import
from governance import plans, referrals, services
from governance.clause63 import cases_close_completed
from governance.models import Case, DecisionRecord, PlanRequirement
from portal.models import AuditEvent, Notice

from ..helpers import (
    cpa_case,
    decided_case,
    party_summary_approved,
    pdf_upload,
    vote_unanimously,
)

pytestmark = pytest.mark.django_db
FRIDAY_BEFORE_CHRISTMAS = datetime.datetime(2026, 12, 18, 12, tzinfo=datetime.UTC)


def lodge(committee, case, kind, key="supplier_a", **kwargs):
    return referrals.referral_lodge(
        actor=committee[key], case=case, kind=kind, grounds="Disproportionate", **kwargs
    )


def import_inventory(committee, rows):
    """rows: (device model, party id, devices)."""
    extract = "Device Model,Supplier Party ID,Device Count,As Of\n" + "".join(
        f"{'/'.join(model.identity)},{party},{count},2026-11-01\n" for model, party, count in rows
    )
    inventory_import(
        actor=committee["secretariat"],
        binary=io.BytesIO(extract.encode()),
        file_name="inventory.csv",
        file_sha256="0" * 64,
    )


def voted_case(committee, *, covered: int, decision="remedial_plan"):
    """A two-model case the SSC voted on, not yet issued; the inventory covers its first
    `covered` models (supplier_b has 40 devices of each)."""
    case = cpa_case(committee, models=2)
    models = list(case.device_models.order_by("pk"))
    if covered:
        import_inventory(committee, [(m, "SUPB", 40) for m in models[:covered]])
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    vote_unanimously(committee, case, decision)
    party_summary_approved(committee, case)
    return case, models


def issue(committee, case, **kwargs):
    return services.decision_issue(
        actor=committee["chair"],
        case=case,
        reasons="Proportionate",
        security_factors="Local access",
        operational_impact="Large",
        party_summary="Plans are required.",
        **kwargs,
    )


# --- item 1: referrals as F2.7B reads ---------------------------------------------------------


def test_a_supplier_with_devices_of_a_removed_model_refers_the_removal(committee):
    # The case was opened addressed to supplier_a only; supplier_b has devices of the model.
    case = decided_case(committee, decision="suspend")
    addressed = set(case.addressed_to.values_list("party_id", flat=True))
    assert {"SUPA", "SUPB", "DCC"} <= addressed and "DNO1" not in addressed
    decision = Notice.objects.get(kind=Notice.Kind.DECISION)
    assert {"SUPB", "DCC"} <= set(decision.recipients.values_list("party_id", flat=True))
    referral = lodge(committee, case, "remove", key="supplier_b")
    assert referral.organisation == committee["supplier_b"].organisation
    with pytest.raises(PermissionDenied):  # not addressed: no devices, not added
        lodge(committee, case, "remove", key="network")


def test_any_addressed_party_refers_a_non_removal(committee):
    case = decided_case(committee, decision="remedial_plan")
    for key in ("supplier_b", "dcc"):
        assert lodge(committee, case, "not_remove", key=key).state == "lodged"


def test_the_authority_is_told_and_sees_a_lodged_referral_before_the_pack(committee, client_for):
    case = decided_case(committee, decision="suspend")
    referral = lodge(committee, case, "remove")
    notice = Notice.objects.get(
        kind=Notice.Kind.REFERRAL, subject__contains="referral lodged", recipients__isnull=False
    )
    assert committee["authority"].organisation in notice.recipients.all()
    client = client_for("authority")
    assert referral.reference in client.get("/referrals/").content.decode()
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert referral.reference in page and "Disproportionate" in page
    # The SSC's deliberation comes with the pack, and nothing can be determined before it.
    assert "Security factors" not in page and "Record the determination" not in page
    referrals.referral_send_pack(actor=committee["secretariat"], referral=referral)
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Security factors" in page and "Record the determination" in page


def test_the_pack_deadline_is_counted_in_working_days_and_shown(committee, client_for, settings):
    settings.REFERRAL_PACK_DUE_WORKING_DAYS = 5
    settings.REFERRAL_WINDOW_WORKING_DAYS = None
    case = decided_case(committee, decision="suspend")
    with mock.patch("django.utils.timezone.now", return_value=FRIDAY_BEFORE_CHRISTMAS):
        referral = lodge(committee, case, "remove")
    # 21, 22, 23, 24 Dec; 25 Dec, Boxing Day (Saturday) and its substitute Monday 28 Dec off.
    assert referral.pack_due_date == datetime.date(2026, 12, 29)
    notice = Notice.objects.get(
        kind=Notice.Kind.REFERRAL, subject__contains="referral lodged", recipients__isnull=False
    )
    assert "by 29 December 2026 (5 Working Days" in notice.body and "local practice" in notice.body
    dashboard = client_for("secretariat").get("/").content.decode()
    assert referral.reference in dashboard
    assert "pack due to the Authority by <strong>29 Dec 2026</strong>" in dashboard
    listed = client_for("secretariat").get("/referrals/").content.decode()
    assert (
        f'<a class="govuk-link" href="/referrals/{referral.pk}/">{referral.reference}</a>' in listed
    )
    assert "pack due to the Authority by <strong>29 Dec 2026</strong>" in listed
    detail = client_for("secretariat").get(f"/referrals/{referral.pk}/").content.decode()
    assert "29 December 2026" in detail and "local practice" in detail
    type(referral).objects.filter(pk=referral.pk).update(
        pack_due_date=timezone.localdate() - datetime.timedelta(days=1)
    )
    assert "Overdue" in client_for("secretariat").get("/").content.decode()
    assert "Overdue" in client_for("secretariat").get("/referrals/").content.decode()


def test_the_window_is_stated_on_the_notice_and_the_page(committee, client_for, settings):
    settings.REFERRAL_WINDOW_WORKING_DAYS = 20
    case = decided_case(committee, decision="suspend")
    record = case.decision_record
    last = referrals.policies.referral_window(record.issued_at)[1]
    body = Notice.objects.get(kind=Notice.Kind.DECISION).body
    assert f"until {last:%-d %B %Y}: 20 Working Days" in body and "local practice" in body
    page = client_for("supplier_b").get(f"/referrals/new/{case.pk}/").content.decode()
    assert f"until {last:%-d %B %Y}" in page and "local practice" in page


def test_a_window_of_none_sets_no_limit(committee, client_for, settings):
    settings.REFERRAL_WINDOW_WORKING_DAYS = None
    case = decided_case(committee, decision="suspend")
    assert "no time limit" in Notice.objects.get(kind=Notice.Kind.DECISION).body
    DecisionRecord.objects.filter(case=case).update(
        issued_at=timezone.now() - datetime.timedelta(days=400)
    )
    assert lodge(committee, case, "remove").state == "lodged"
    page = client_for("supplier_b").get(f"/referrals/new/{case.pk}/").content.decode()
    assert "no time limit" in page


def test_referral_and_determination_notices_are_filed_as_referral_notices(committee):
    case = decided_case(committee, decision="suspend")
    referral = lodge(committee, case, "remove")
    referrals.referral_send_pack(actor=committee["secretariat"], referral=referral)
    request = referrals.information_request(
        actor=committee["authority"], referral=referral, text="Why?", due_date=timezone.localdate()
    )
    referrals.information_provide(actor=committee["secretariat"], request=request, response="So.")
    referrals.referral_determine(
        actor=committee["authority"],
        referral=referral,
        outcome="upheld",
        reasons="Sound",
        effective_date=timezone.localdate(),
    )
    kinds = {
        n.subject.removeprefix(f"{referral.reference}: "): n.kind
        for n in Notice.objects.filter(subject__startswith=referral.reference)
    }
    assert kinds == {
        "referral lodged": Notice.Kind.REFERRAL,
        "referral pack sent to the Authority": Notice.Kind.REFERRAL,
        "information requested by the Authority": Notice.Kind.INFORMATION_REQUEST,
        "information provided to the Authority": Notice.Kind.INFORMATION_REQUEST,
        "determination: Upheld: the SSC's decision stands": Notice.Kind.REFERRAL,
    }


# --- item 3: clause 6.3 never silent ----------------------------------------------------------


@pytest.mark.parametrize("covered", [0, 1])
def test_a_remedial_plan_decision_without_coverage_is_refused_until_the_chair_confirms(
    committee, covered
):
    case, models = voted_case(committee, covered=covered)
    with pytest.raises(ValidationError, match="no devices of"):
        issue(committee, case)
    case.refresh_from_db()
    assert case.state == Case.State.DECIDED
    assert not Notice.objects.filter(kind=Notice.Kind.DECISION).exists()
    assert not DecisionRecord.objects.get(case=case).issued_at
    record = issue(committee, case, no_devices_reason="Model 2 was never installed (DCC confirms).")
    assert record.no_devices_reason.startswith("Model 2 was never installed")
    assert record.no_devices_confirmed_by == committee["chair"]
    assert [m["devices"] for m in record.inventory_coverage["models"]] == [40] * covered + [0] * (
        2 - covered
    )
    event = AuditEvent.objects.get(action="decision.no_devices_confirmed")
    assert str(models[-1]) in event.after["device_models"]
    assert case.plan_requirements.count() == covered
    body = Notice.objects.get(kind=Notice.Kind.DECISION).body
    assert (
        str(models[-1]) in body and "The chair confirmed that no supplier has such devices" in body
    )


def test_a_covered_remedial_plan_decision_needs_no_confirmation(committee):
    case, _ = voted_case(committee, covered=2)
    record = issue(committee, case)
    assert record.no_devices_reason == "" and record.no_devices_confirmed_by is None
    assert not AuditEvent.objects.filter(action="decision.no_devices_confirmed").exists()


def test_a_removal_needs_no_inventory_coverage(committee):
    case, _ = voted_case(committee, covered=0, decision="suspend")
    assert issue(committee, case).issued_at is not None


def test_the_issue_page_lists_uncovered_models_and_refuses_without_a_reason(committee, client_for):
    case, models = voted_case(committee, covered=1)
    client = client_for("chair")
    page = client.get(f"/cases/{case.pk}/decision/").content.decode()
    assert "Not covered" in page and str(models[1]) in page
    form = {
        "reasons": "r",
        "security_factors": "s",
        "operational_impact": "o",
        "party_summary": "p",
    }
    response = client.post(f"/cases/{case.pk}/decision/", form)
    assert response.status_code == 400 and "no devices of" in response.content.decode()
    response = client.post(
        f"/cases/{case.pk}/decision/",
        {**form, "no_devices_reason": "Never installed", "confirmed": "yes"},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == Case.State.REMEDIATION


def test_the_clause_63_notice_is_the_sscs_and_says_what_a_plan_covers(committee, settings):
    case, models = voted_case(committee, covered=2)
    issue(committee, case)
    (requirement,) = case.plan_requirements.all()
    notice = Notice.objects.get(kind=Notice.Kind.PLAN_OBLIGATION)
    body = notice.body
    assert "Security Sub-Committee (SSC) notifies you under CPL Requirements Document" in body
    assert "clause 6.3" in notice.subject.lower() or "clause 6.3" in body
    assert all(str(m) in body for m in models)
    assert "80 devices" in body
    assert f"by {requirement.due_date:%-d %B %Y}" in body and "local practice" in body
    assert "What your plan must cover" in body and "milestones" in body
    # Need to know: the SSC's severity and reason never go to the Parties.
    assert case.reason not in body and case.summary not in body and "high" not in body.lower()
    decision = Notice.objects.get(kind=Notice.Kind.DECISION).body
    assert "the SSC notifies each supplier" in decision
    assert "must put a CPA Certificate Remedial Plan in place (CPL" not in decision


def _complete(committee, requirement):
    plans.plan_submit(
        actor=committee[
            {"SUPA": "supplier_a", "SUPB": "supplier_b"}[requirement.supplier.party_id]
        ],
        requirement=requirement,
        summary="Push firmware",
        upload=pdf_upload(),
        milestones=[
            {"description": "m", "target_date": datetime.date(2027, 3, 1), "devices_covered": 1}
        ],
    )
    plans.plan_review(
        actor=committee["member"], requirement=requirement, version=1, approve=True, comments="ok"
    )
    plans.plan_complete(
        actor=committee["member"], requirement=PlanRequirement.objects.get(pk=requirement.pk)
    )


def test_the_case_closes_when_the_last_requirement_completes_and_not_before(committee, settings):
    settings.PLAN_APPROVAL_RULE = "one"
    settings.REFERRAL_WINDOW_WORKING_DAYS = None
    case = decided_case(committee)
    first, second = case.plan_requirements.order_by("pk")
    _complete(committee, first)
    case.refresh_from_db()
    assert case.state == Case.State.REMEDIATION
    _complete(committee, second)
    case.refresh_from_db()
    assert case.state == Case.State.CLOSED
    event = AuditEvent.objects.get(action="case.close")
    assert event.after["consequence_of"] == "plan.complete"


def test_completed_inside_the_window_the_case_closes_once_it_has_passed(committee, settings):
    settings.PLAN_APPROVAL_RULE = "one"
    settings.REFERRAL_WINDOW_WORKING_DAYS = 20
    case = decided_case(committee)
    for requirement in case.plan_requirements.order_by("pk"):
        _complete(committee, requirement)
    case.refresh_from_db()
    assert case.state == Case.State.REMEDIATION  # Parties may still refer the decision
    assert cases_close_completed() == 0
    DecisionRecord.objects.filter(case=case).update(
        issued_at=timezone.now() - datetime.timedelta(days=60)
    )
    assert cases_close_completed() == 1
    case.refresh_from_db()
    assert case.state == Case.State.CLOSED


def test_a_case_without_requirements_never_closes_by_itself(committee, settings):
    settings.REFERRAL_WINDOW_WORKING_DAYS = None
    case, _ = voted_case(committee, covered=0)
    issue(committee, case, no_devices_reason="No devices were ever installed.")
    assert cases_close_completed() == 0
    case.refresh_from_db()
    assert case.state == Case.State.REMEDIATION
    # The chair's recorded confirmation is what lets the secretariat close it by hand.
    services.case_transition(actor=committee["secretariat"], case=case, name="close")
    case.refresh_from_db()
    assert case.state == Case.State.CLOSED
