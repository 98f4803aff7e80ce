"""Regression tests from an attack on, and a walk through, issue 11's record: representations,
summaries for Parties, ballots, plan reviews, referrals. Each failed when it was written."""

import datetime
import hashlib
import io
import re

import pytest
from django.utils import timezone

from cpl.inventory import inventory_import
from governance import plans, record, referrals, representations, services
from governance.models import Case, PlanRequirement

from ..helpers import cpa_case, decided_case, party_summary_approved, pdf_upload

pytestmark = pytest.mark.django_db

SSC_ONLY_VIEW = "Our margin on these meters is negative"


def removal_decided_with_an_ssc_only_representation(committee) -> Case:
    """A removal decision, issued, on a case where supplier_a put an ssc-only view."""
    case = cpa_case(committee, models=1, addressed=("supplier_a",))
    model = "/".join(case.device_models.get().identity)
    inventory_import(
        actor=committee["secretariat"],
        binary=io.BytesIO(
            (
                f"Device Model,Supplier Party ID,Device Count,As Of\n{model},SUPA,1200,2026-11-01\n"
            ).encode()
        ),
        file_name="inventory.csv",
        file_sha256="0" * 64,
    )
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    representations.representation_submit(
        actor=committee["supplier_a"], case=case, text=SSC_ONLY_VIEW, classification="ssc-only"
    )
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
        reasons="SSC-only reasons",
        security_factors="Local access",
        operational_impact="Large",
        party_summary="Reasons for Parties",
    )
    case.refresh_from_db()
    return case


def test_a_member_conflicted_after_the_decision_cannot_download_the_referral_pack(
    committee, client_for
):
    """Item 5: a conflicted member sees only what a Party would. The pack's
    decision_snapshot.json holds the case's SSC-only reason, summary and severity, each vote with
    its reason; summary.pdf the ssc-only representations and the decision's SSC-only reasons.
    With no ssc-only evidence disclosed, check_download_pack lets any SSC user have it, the
    conflicted included (the case page and the referral page already hide all this from them)."""
    case = removal_decided_with_an_ssc_only_representation(committee)
    referral = referrals.referral_lodge(
        actor=committee["supplier_a"], case=case, kind="remove", grounds="Disproportionate"
    )
    referrals.referral_send_pack(actor=committee["secretariat"], referral=referral, disclosed=[])
    services.conflict_declare(
        actor=committee["member3"], case=case, has_conflict=True, reason="Now advising SUPA"
    )

    response = client_for(committee["member3"]).get(f"/referrals/{referral.pk}/packs/1/")

    assert response.status_code in (403, 404)


def test_the_chair_approves_only_the_summary_for_parties_they_read(committee, client_for):
    """Item 8: the approve button posts nothing that says which text the chair read, so a
    revision made between reading and approving is approved unread and goes to every Party.
    The approval must carry the text it approves (here its SHA-256, field
    `party_summary_sha256`) and be refused (409) when the text changed meanwhile."""
    case = cpa_case(committee, addressed=("supplier_a",))
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    read = "The CPA certificate expired; the SSC is assessing the risk."
    record.case_party_summary_write(actor=committee["secretariat"], case=case, party_summary=read)
    chair = client_for("chair")
    assert read in chair.get(f"/cases/{case.pk}/").content.decode()
    record.case_party_summary_write(
        actor=committee["secretariat"],
        case=case,
        party_summary="Severity high: key extractable with two minutes of physical access.",
    )

    response = chair.post(
        f"/cases/{case.pk}/party-summary/approve/",
        {"party_summary_sha256": hashlib.sha256(read.encode()).hexdigest()},
    )

    assert response.status_code == 409
    case.refresh_from_db()
    assert case.party_summary_approved_at is None


def test_under_the_two_reviewer_rule_the_chair_does_not_settle_a_disagreement_they_are_party_to(
    committee, client_for, settings
):
    """Item 6: "two non-conflicted reviewers who agree; a disagreement goes to the chair". When
    the chair is one of the two reviewers, the disagreement goes back to the chair, whose second
    review approves the plan: one person's view (counted twice) against one refusal. The chair's
    second review must be refused (409) and the plan stay under review until someone who has not
    reviewed it settles it (or the rule says otherwise in DESIGN.md and this test changes)."""
    settings.PLAN_APPROVAL_RULE = "two"
    case = decided_case(committee)
    requirement = PlanRequirement.objects.get(case=case, supplier__party_id="SUPA")
    plans.plan_submit(
        actor=committee["supplier_a"],
        requirement=requirement,
        summary="Firmware 2.1 on every meter",
        upload=pdf_upload(),
        milestones=[
            {
                "description": "Firmware 2.1",
                "target_date": datetime.date(2027, 3, 1),
                "devices_covered": 1,
            }
        ],
    )
    url = f"/plans/{requirement.pk}/"
    approve = {"action": "review", "version": "1", "decision": "approve"}
    assert client_for("chair").post(url, approve).status_code == 302
    refuse = {**approve, "decision": "not_approve", "comments": "Milestones too late"}
    assert client_for("member").post(url, refuse).status_code == 302

    response = client_for("chair").post(url, approve)

    assert response.status_code == 409
    requirement.refresh_from_db()
    assert requirement.state != "approved"


def test_the_case_form_prefills_the_event_date_as_a_date_input_reads_it(committee, client_for):
    """The event date shows in the day, month and year boxes: a browser date input dropped
    "25/11/2026" and the form then failed with "This field is required"."""
    from .test_idempotency import expired_certificate

    certificate = expired_certificate()
    page = client_for("secretariat").get(f"/cases/open/{certificate.pk}/").content.decode()
    on = certificate.status_date
    for part, value in (("day", on.day), ("month", on.month), ("year", on.year)):
        box = re.search(rf'<input[^>]*name="event_date-{part}"[^>]*>', page).group(0)
        assert f'value="{value}"' in box
