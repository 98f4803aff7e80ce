"""Fixes from the session's browser walk (issues 11 and 12): Parties invited to give views, the
supplier's to-do list, the way to the decision page, no dead notice links, milestones bounded by
the inventory, and the decision page asking only what clause 6.3 needs."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from governance import plans, services
from governance.models import PlanRequirement
from portal.models import Notice, NoticeDelivery

from ..helpers import cpa_case, decided_case, pdf_upload, vote_unanimously

pytestmark = pytest.mark.django_db
MILESTONE = {"description": "Firmware 2.1", "target_date": datetime.date(2027, 3, 1)}


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_addressed_parties_are_invited_to_give_views_when_the_assessment_starts(committee):
    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    notice = Notice.objects.get(kind=Notice.Kind.VIEWS_INVITED)
    told = {d.organisation.party_id for d in NoticeDelivery.objects.filter(notice=notice)}
    assert committee["supplier_a"].organisation.party_id in told
    assert notice.action_link == reverse("governance:representation-submit", args=[case.pk])
    # Only what a Party may read: never the SSC's reason, severity or summary.
    assert case.reason not in notice.body and case.summary not in notice.body
    assert "High" not in notice.body


def test_a_milestone_cannot_cover_more_devices_than_the_supplier_is_responsible_for(committee):
    case = decided_case(committee)  # SUPA: 1,200 devices in the inventory
    requirement = PlanRequirement.objects.get(case=case, supplier__party_id="SUPA")
    with pytest.raises(ValidationError, match="responsible for 1,200 devices"):
        plans.plan_submit(
            actor=committee["supplier_a"],
            requirement=requirement,
            summary="Firmware",
            upload=pdf_upload(),
            milestones=[{**MILESTONE, "devices_covered": 1201}],
        )
    assert not requirement.plans.exists()


def test_the_ballot_page_tells_the_chair_the_decision_waits_for_the_summary_for_parties(
    committee, client_for
):
    # The decision notice is offered only once the summary for Parties is approved (the policy's
    # issue_decision); until then the ballot page says what it waits for.
    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    ballot = vote_unanimously(committee, case, "suspend")
    client = client_for("chair")
    issue = reverse("governance:decision-issue", args=[case.pk])
    html = page(client, reverse("governance:ballot", args=[ballot.pk]))
    assert f'href="{issue}"' not in html and "Waiting for the secretariat&#x27;s summary" in html
    assert "summary for Parties is not approved" in page(client, issue)


def test_a_recused_members_ballot_notice_offers_no_dead_link(committee, client_for):
    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    ballot = services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(days=1)
    )
    delivery = NoticeDelivery.objects.get(
        notice__kind=Notice.Kind.BALLOT_OPENED, recipient=committee["member"]
    )
    client = client_for("member")
    assert "Vote in the ballot" in page(client, f"/inbox/{delivery.pk}/")
    services.conflict_declare(
        actor=committee["member"], case=case, has_conflict=True, reason="Joined SUPA"
    )
    body = page(client, f"/inbox/{delivery.pk}/")
    assert "Vote in the ballot" not in body and f"/ballots/{ballot.pk}/" not in body
    # Settled: the vote it asked for is no longer the member's to cast.
    assert "Nothing more to do" in body and ">Acknowledge</button>" not in body


def test_the_decision_page_asks_for_a_no_devices_reason_only_when_clause_63_needs_it(
    committee, client_for
):
    case = cpa_case(committee, models=1)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    vote_unanimously(committee, case, "remedial_plan")
    issue = reverse("governance:decision-issue", args=[case.pk])
    from ..helpers import party_summary_approved

    party_summary_approved(committee, case)
    # No inventory covers the model: the chair must confirm, with a reason.
    assert "Confirm that no supplier has devices" in page(client_for("chair"), issue)
    # Once an inventory covers it, the page asks nothing more.
    import io

    from cpl.inventory import inventory_import

    model = case.device_models.get()
    extract = (
        "Device Model,Supplier Party ID,Device Count,As Of\n"
        f"{'/'.join(model.identity)},SUPA,5,2026-11-01\n"
    )
    inventory_import(
        actor=committee["secretariat"],
        binary=io.BytesIO(extract.encode()),
        file_name="inventory.csv",
        file_sha256="0" * 64,
    )
    assert "Confirm that no supplier has devices" not in page(client_for("chair"), issue)


def test_the_expert_picker_names_people(committee, client_for):
    case = cpa_case(committee)
    expert = committee["expert"]
    expert.first_name, expert.last_name = "Ada", "Expert"
    expert.save()
    body = page(client_for("chair"), reverse("governance:expert-invite", args=[case.pk]))
    assert "Ada Expert" in body


def test_a_referred_plan_refusal_shows_how_the_ssc_decided_to_the_ssc_only(
    committee, client_for, settings
):
    from governance import referrals

    from .test_plan_reviews import review, submitted

    settings.PLAN_APPROVAL_RULE = "ballot"
    case, requirement = submitted(committee, "SUPB")
    for key in ("member", "member2", "member3"):
        review(committee, key, requirement, approve=False, comments=f"Too slow ({key})")
    assert PlanRequirement.objects.get(pk=requirement.pk).state == "not_approved"
    referral = referrals.referral_lodge(
        actor=committee["supplier_b"],
        case=case,
        kind="plan_not_approved",
        grounds="The plan is proportionate",
        requirement=requirement,
    )
    url = reverse("governance:referral", args=[referral.pk])
    ssc = page(client_for("chair"), url)
    assert "How the SSC decided on the plan" in ssc
    assert "Ballot: 0 to approve, 3 not to approve" in ssc
    assert "Ballot on the case" in ssc
    party = page(client_for("supplier_b"), url)
    assert "How the SSC decided on the plan" not in party and "Too slow (member)" in party
