"""The seams issue 9 found between copies of one rule, each pinned through the public surface:
services, views and dashboards asking the same policy."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from governance import plans, policies, referrals, selectors, services
from governance.models import (
    Ballot,
    Case,
    DecisionRecord,
    EvidenceDocument,
    PlanRequirement,
    Vote,
)
from portal.models import AuditEvent
from portal.policies import ActionNotNow

from ..helpers import cpa_case, decided_case, party_summary_approved, pdf_upload

pytestmark = pytest.mark.django_db


def in_assessment(committee):
    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    return case


def open_ballot(committee, case, actor=None):
    return services.ballot_open(
        actor=actor or committee["chair"],
        case=case,
        closes_at=timezone.now() + datetime.timedelta(days=1),
    )


def declare(user, case, conflict, reason="Works for Supplier A"):
    services.conflict_declare(
        actor=user, case=case, has_conflict=conflict, reason=reason if conflict else ""
    )


def test_one_members_conflict_leaves_the_ballot_on_every_other_members_dashboard(
    committee, client_for
):
    case = in_assessment(committee)
    declare(committee["member3"], case, conflict=True)
    ballot = open_ballot(committee, case)
    for key in ("member", "member2"):
        assert [b.pk for b in selectors.ballots_to_vote(committee[key])] == [ballot.pk]
        assert f"Vote on {case.reference}" in client_for(committee[key]).get("/").content.decode()
    assert selectors.ballots_to_vote(committee["member3"]) == []
    assert (
        f"Vote on {case.reference}"
        not in client_for(committee["member3"]).get("/").content.decode()
    )


def test_a_conflict_cannot_be_withdrawn_once_a_ballot_opened(committee):
    case = in_assessment(committee)
    declare(committee["member3"], case, conflict=True)
    secret = services.evidence_upload(
        actor=committee["secretariat"],
        case=case,
        title="Exploit",
        classification="ssc-only",
        upload=pdf_upload(),
    )
    ballot = open_ballot(committee, case)
    with pytest.raises(ActionNotNow, match="stands: a ballot has opened"):
        declare(committee["member3"], case, conflict=False)
    with pytest.raises(PermissionDenied, match="recused"):
        services.vote_cast(actor=committee["member3"], ballot=ballot, choice="suspend")
    assert not policies.evidence.can(committee["member3"], "view", secret)
    assert secret not in policies.evidence.visible(committee["member3"])


def test_a_conflicted_chair_gives_way_to_the_acting_chair(committee, client_for):
    chair, acting = committee["chair"], committee["member2"]
    case = in_assessment(committee)
    declare(chair, case, conflict=True, reason="Shares in the manufacturer")
    with pytest.raises(PermissionDenied, match="acting chair"):
        open_ballot(committee, case)
    # Only the secretariat designates, and only a non-conflicted member.
    with pytest.raises(PermissionDenied):
        services.case_designate_acting_chair(actor=committee["member"], case=case, member=acting)
    with pytest.raises(ValidationError):
        services.case_designate_acting_chair(
            actor=committee["secretariat"], case=case, member=chair
        )
    page = client_for("secretariat").get(f"/cases/{case.pk}/").content.decode()
    assert "Designate an acting chair" in page
    response = client_for("secretariat").post(
        f"/cases/{case.pk}/acting-chair/", {"member": acting.pk}
    )
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="case.acting_chair_designated").exists()

    case.refresh_from_db()
    ballot = open_ballot(committee, case, actor=acting)
    assert acting not in policies.eligible_voters(case)
    declare(committee["member"], case, conflict=False)
    declare(committee["member3"], case, conflict=False)
    services.vote_cast(actor=committee["member"], ballot=ballot, choice="suspend")
    services.vote_cast(actor=committee["member3"], ballot=ballot, choice="remedial_plan")
    with pytest.raises(PermissionDenied):
        services.ballot_close(actor=chair, ballot=ballot)
    # A conflicted chair sees no ballot on the case (only what a Party would): 404.
    assert client_for("chair").post(f"/ballots/{ballot.pk}/close/").status_code == 404
    services.ballot_close(actor=acting, ballot=ballot)
    ballot.refresh_from_db()
    assert ballot.state == Ballot.State.AWAITING_CASTING_VOTE
    with pytest.raises(PermissionDenied):
        services.ballot_cast_deciding_vote(actor=chair, ballot=ballot, choice="suspend")
    services.ballot_cast_deciding_vote(actor=acting, ballot=ballot, choice="remedial_plan")
    case = party_summary_approved(committee, case, chair=acting)
    with pytest.raises(PermissionDenied):
        services.decision_issue(
            actor=chair, case=case, reasons="r", security_factors="s", operational_impact="o"
        )
    services.decision_issue(
        actor=acting,
        case=case,
        reasons="r",
        security_factors="s",
        operational_impact="o",
        no_devices_reason="The models without inventory coverage have no devices (test data).",
    )
    record = DecisionRecord.objects.get(case=case)
    assert record.casting_vote and record.issued_by == acting
    assert [c["member"] for c in record.conflicts] == ["chair"]


def test_a_conflicted_member_is_neither_offered_nor_allowed_plan_review_or_completion(
    committee, client_for
):
    case = decided_case(committee)
    requirement = PlanRequirement.objects.get(case=case, supplier__party_id="SUPA")
    plans.plan_submit(
        actor=committee["supplier_a"],
        requirement=requirement,
        summary="Firmware",
        upload=pdf_upload(),
        milestones=[
            {"description": "OTA", "target_date": datetime.date(2027, 3, 1), "devices_covered": 1}
        ],
    )
    # A conflict that arises during plan review (declared before the decision in this test).
    from governance.models import ConflictDeclaration

    ConflictDeclaration.objects.filter(case=case, member=committee["member3"]).update(
        has_conflict=True, reason="Joined Supplier A"
    )
    conflicted = client_for(committee["member3"])
    assert requirement not in selectors.plans_to_review(committee["member3"])
    # A conflicted member sees no supplier's plan (only what a Party would): 404.
    assert conflicted.get(f"/plans/{requirement.pk}/").status_code == 404
    refused = conflicted.post(
        f"/plans/{requirement.pk}/",
        {"action": "review", "version": 1, "decision": "approve", "comments": ""},
    )
    assert refused.status_code == 404
    plans.plan_review(
        actor=committee["member"], requirement=requirement, version=1, approve=True, comments=""
    )
    completed = conflicted.post(f"/plans/{requirement.pk}/", {"action": "complete"})
    assert completed.status_code == 404
    assert PlanRequirement.objects.get(pk=requirement.pk).state == "approved"


def test_a_review_names_the_version_it_was_taken_on(committee, client_for):
    case = decided_case(committee)
    requirement = PlanRequirement.objects.get(case=case, supplier__party_id="SUPA")

    def submit(summary):
        return plans.plan_submit(
            actor=committee["supplier_a"],
            requirement=requirement,
            summary=summary,
            upload=pdf_upload(),
            milestones=[
                {
                    "description": "OTA",
                    "target_date": datetime.date(2027, 3, 1),
                    "devices_covered": 1,
                }
            ],
        )

    submit("Version one")
    reviewer = client_for("member")
    assert 'value="1"' in reviewer.get(f"/plans/{requirement.pk}/").content.decode()
    submit("Do nothing")  # version 2 arrives while the member reads version 1
    response = reviewer.post(
        f"/plans/{requirement.pk}/",
        {"action": "review", "version": 1, "decision": "approve", "comments": "Looks fine"},
    )
    body = response.content.decode()
    assert response.status_code == 409 and "version 2" in body and "Looks fine" in body
    assert PlanRequirement.objects.get(pk=requirement.pk).state == "submitted"
    assert not requirement.plans.exclude(review="").exists()


def test_close_is_offered_only_when_the_case_may_close(committee, client_for):
    case = decided_case(committee, decision="suspend")
    page = client_for("secretariat").get(f"/cases/{case.pk}/").content.decode()
    assert "Close case" not in page  # the referral window is open
    assert client_for("secretariat").post(f"/cases/{case.pk}/actions/close/").status_code == 409
    DecisionRecord.objects.filter(case=case).update(
        issued_at=timezone.now() - datetime.timedelta(days=60)
    )
    assert "Close case" in client_for("secretariat").get(f"/cases/{case.pk}/").content.decode()
    asked = client_for("secretariat").post(f"/cases/{case.pk}/actions/close/")
    assert "cannot be reopened" in asked.content.decode()
    assert Case.objects.get(pk=case.pk).state != "closed"
    client_for("secretariat").post(f"/cases/{case.pk}/actions/close/", {"confirmed": "yes"})
    page = client_for("secretariat").get(f"/cases/{case.pk}/").content.decode()
    assert "Invite an expert" not in page and "Upload evidence" not in page


def test_an_invited_experts_case_page_links_nothing_it_cannot_open(committee, client_for):
    case = in_assessment(committee)
    services.expert_invite(
        actor=committee["secretariat"],
        case=case,
        expert=committee["expert"],
        expires_at=timezone.now() + datetime.timedelta(days=5),
    )
    expert = client_for("expert")
    page = expert.get(f"/cases/{case.pk}/").content.decode()
    model = case.device_models.first()
    assert str(model) in page
    assert f"/cpl/models/{model.pk}/" not in page
    assert expert.get(f"/cpl/models/{model.pk}/").status_code == 403
    for url in ("/cpl/", f"/cases/{case.pk}/experts/new/", f"/cases/{case.pk}/evidence/new/"):
        assert expert.get(url).status_code in (403, 404)


def test_a_user_who_leaves_the_ssc_loses_ssc_only_evidence_of_closed_cases(committee):
    from django.contrib.auth.models import Group

    case = decided_case(committee, decision="suspend")
    secret = services.evidence_upload(
        actor=committee["secretariat"],
        case=case,
        title="Exploit",
        classification="ssc-only",
        upload=pdf_upload(),
    )
    leaver = committee["member2"]
    DecisionRecord.objects.filter(case=case).update(
        issued_at=timezone.now() - datetime.timedelta(days=60)
    )
    services.case_transition(actor=committee["secretariat"], case=case, name="close")
    leaver.groups.set([Group.objects.get(name="Supplier")])
    leaver = type(leaver).objects.get(pk=leaver.pk)
    assert not policies.evidence.can(leaver, "view", secret)  # the rule, at once
    services.evidence_sync_all()
    assert not leaver.has_perm("governance.view_evidencedocument", secret)  # and the grant


def test_the_dcc_is_not_offered_another_suppliers_refused_plan(committee, client_for):
    case = decided_case(committee)
    requirement = PlanRequirement.objects.get(case=case, supplier__party_id="SUPA")
    plans.plan_submit(
        actor=committee["supplier_a"],
        requirement=requirement,
        summary="Plan",
        upload=pdf_upload(),
        milestones=[
            {"description": "OTA", "target_date": datetime.date(2027, 3, 1), "devices_covered": 1}
        ],
    )
    plans.plan_review(
        actor=committee["member"], requirement=requirement, version=1, approve=False, comments="No"
    )
    form = client_for("dcc").get(f"/referrals/new/{case.pk}/").content.decode()
    assert "Supplier A Energy" not in form and "plan_not_approved" not in form
    with pytest.raises(PermissionDenied):
        referrals.referral_lodge(
            actor=committee["dcc"],
            case=case,
            kind="plan_not_approved",
            grounds="x",
            requirement=requirement,
        )
    own = client_for("supplier_a").get(f"/referrals/new/{case.pk}/").content.decode()
    assert "plan_not_approved" in own


def test_packs_follow_the_evidence_policy(committee, client_for):
    case = decided_case(committee, decision="suspend")
    declare_late = committee["member3"]
    from governance.models import ConflictDeclaration

    ConflictDeclaration.objects.filter(case=case, member=declare_late).update(
        has_conflict=True, reason="Joined the manufacturer"
    )
    ssc_only = services.evidence_upload(
        actor=committee["secretariat"],
        case=case,
        title="Exploit",
        classification="ssc-only",
        upload=pdf_upload(),
    )
    named = services.evidence_upload(
        actor=committee["secretariat"],
        case=case,
        title="Lab report",
        classification="named-recipients",
        upload=pdf_upload(),
    )
    referral = referrals.referral_lodge(
        actor=committee["supplier_a"], case=case, kind="remove", grounds="Disproportionate"
    )
    # The sender may disclose only what it may see; the secretariat named itself on upload.
    referrals.referral_send_pack(
        actor=committee["secretariat"], referral=referral, disclosed=[ssc_only, named]
    )
    url = f"/referrals/{referral.pk}/packs/1/"
    assert client_for("authority").get(url).status_code == 200
    assert client_for("secretariat").get(url).status_code == 200
    assert client_for(committee["member3"]).get(url).status_code == 403  # conflicted: no ssc-only
    assert client_for("member").get(url).status_code == 403  # not a named recipient
    services.evidence_grant(
        actor=committee["secretariat"], document=named, users=[committee["member"]]
    )
    assert client_for("member").get(url).status_code == 200
    assert client_for("supplier_a").get(url).status_code == 403
    assert EvidenceDocument.objects.count() == 2
    assert Vote.objects.filter(ballot__case=case).count() == 3


def test_a_member_who_voted_in_a_tied_ballot_cannot_become_acting_chair(committee, client_for):
    chair, first_acting = committee["chair"], committee["member"]
    case = in_assessment(committee)
    declare(chair, case, conflict=True, reason="Shares in the manufacturer")
    services.case_designate_acting_chair(
        actor=committee["secretariat"], case=case, member=first_acting
    )
    case.refresh_from_db()
    ballot = open_ballot(committee, case, actor=first_acting)
    services.vote_cast(
        actor=committee["member2"], ballot=ballot, choice="suspend", no_conflict=True
    )
    services.vote_cast(
        actor=committee["member3"], ballot=ballot, choice="remedial_plan", no_conflict=True
    )
    services.ballot_close(actor=first_acting, ballot=ballot)
    before = AuditEvent.objects.count()
    response = client_for("secretariat").post(
        f"/cases/{case.pk}/acting-chair/", {"member": committee["member2"].pk}
    )
    assert response.status_code == 400 and "cannot chair" in response.content.decode()
    case.refresh_from_db()
    assert case.acting_chair == first_acting and AuditEvent.objects.count() == before


def test_withdrawing_the_chairs_conflict_before_a_ballot_ends_the_acting_chair(committee):
    case = in_assessment(committee)
    declare(committee["chair"], case, conflict=True)
    services.case_designate_acting_chair(
        actor=committee["secretariat"], case=case, member=committee["member"]
    )
    declare(committee["chair"], case, conflict=False)
    case.refresh_from_db()
    assert case.acting_chair is None
    assert open_ballot(committee, case).opened_by == committee["chair"]


def test_only_a_ticked_box_confirms_no_conflict(committee, client_for):
    case = in_assessment(committee)
    ballot = open_ballot(committee, case)
    client = client_for(committee["member2"])
    for value in ("0", "false", "yes", "<b>"):
        response = client.post(
            f"/ballots/{ballot.pk}/vote/",
            {"choice": "suspend", "no_conflict": value},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 400
    assert not Vote.objects.exists()
    assert not policies.declaration_for(committee["member2"], Case.objects.get(pk=case.pk))
    ok = client.post(
        f"/ballots/{ballot.pk}/vote/",
        {"choice": "suspend", "no_conflict": "on"},
        HTTP_HX_REQUEST="true",
    )
    assert ok.status_code == 200 and Vote.objects.get().member == committee["member2"]


@pytest.mark.parametrize("field", ["device_models", "addressed_to"])
def test_huge_or_malformed_ids_in_object_choices_are_form_errors(committee, client_for, field):
    case = cpa_case(committee)
    before = AuditEvent.objects.count()
    for bad in ("1" + "0" * 30, "-1", "x", "1\x00"):
        response = client_for("secretariat").post(
            f"/cases/open/{case.certificate_id}/",
            {
                "device_models": [m.pk for m in case.device_models.all()],
                "event": "expired",
                "event_date": "2026-11-01",
                "reason": "r",
                "severity": "high",
                "summary": "s",
                field: [bad],
            },
        )
        assert response.status_code == 400
    assert AuditEvent.objects.count() == before


def test_a_pack_leaves_out_undisclosed_evidence_even_from_its_audit_log(committee):
    import json

    from governance.packs import pack_zip

    case = decided_case(committee, decision="suspend")
    services.evidence_upload(
        actor=committee["secretariat"],
        case=case,
        title="Undisclosed exploit write-up",
        classification="ssc-only",
        upload=pdf_upload(),
    )
    shown = services.evidence_upload(
        actor=committee["secretariat"],
        case=case,
        title="Disclosed advice",
        classification="parties",
        upload=pdf_upload(),
    )
    referral = referrals.referral_lodge(
        actor=committee["supplier_a"], case=case, kind="remove", grounds="Disproportionate"
    )
    pack = referrals.referral_send_pack(
        actor=committee["secretariat"], referral=referral, disclosed=[shown]
    )
    import io
    import zipfile

    archive = zipfile.ZipFile(io.BytesIO(b"".join(pack_zip(pack))))
    audit = archive.read("audit.json").decode()
    assert "Disclosed advice" in audit
    leaks = [e for e in json.loads(audit) if "Undisclosed exploit" in json.dumps(e)]
    assert not leaks, leaks
    assert all(e["about"] for e in json.loads(audit))


def test_a_conflicted_chair_brings_the_secretariat_and_the_acting_chair_in(committee, client_for):
    from portal.models import NoticeDelivery

    case = in_assessment(committee)
    declare(committee["chair"], case, conflict=True)
    asked = NoticeDelivery.objects.get(notice__subject__startswith="Acting chair needed")
    assert asked.recipient == committee["secretariat"]
    secretariat = client_for("secretariat").get("/").content.decode()
    assert "Cases needing an acting chair" in secretariat and case.reference in secretariat
    services.case_designate_acting_chair(
        actor=committee["secretariat"], case=case, member=committee["member2"]
    )
    told = NoticeDelivery.objects.get(notice__subject__startswith="You are acting chair")
    assert told.recipient == committee["member2"]
    acting = client_for(committee["member2"]).get("/").content.decode()
    assert "Cases ready for a ballot" in acting and case.reference in acting
    assert "Cases ready for a ballot" not in client_for("chair").get("/").content.decode()


def test_plans_leave_everyones_work_once_the_case_is_suspended(committee, client_for):
    case = decided_case(committee)
    requirement = PlanRequirement.objects.get(case=case, supplier__party_id="SUPA")
    assert selectors.plans_to_submit(committee["supplier_a"]) == [requirement]
    Case.objects.filter(pk=case.pk).update(state="suspension")  # as an overturn leaves it
    assert selectors.plans_to_submit(committee["supplier_a"]) == []
    response = client_for("supplier_a").post(
        f"/plans/{requirement.pk}/", {"action": "submit", "summary": "late"}
    )
    assert response.status_code == 409 and "no longer in remediation" in response.content.decode()
    DecisionRecord.objects.filter(case=case).update(
        issued_at=timezone.now() - datetime.timedelta(days=60)
    )
    # The moot plans no longer hold the case open.
    assert "close" in policies.cases.actions(committee["secretariat"], Case.objects.get(pk=case.pk))


def test_a_case_leaves_the_acting_chair_panel_once_one_can_act(committee, client_for):
    case = in_assessment(committee)
    declare(committee["chair"], case, conflict=True)
    assert selectors.cases_needing_an_acting_chair(committee["secretariat"]) == [case]
    services.case_designate_acting_chair(
        actor=committee["secretariat"], case=case, member=committee["member2"]
    )
    assert selectors.cases_needing_an_acting_chair(committee["secretariat"]) == []
    # The secretariat may still change the acting chair: offered on the case page.
    page = client_for("secretariat").get(f"/cases/{case.pk}/").content.decode()
    assert "Change the acting chair" in page
    declare(committee["member2"], Case.objects.get(pk=case.pk), conflict=True)
    assert [c.pk for c in selectors.cases_needing_an_acting_chair(committee["secretariat"])] == [
        case.pk
    ]


def test_a_link_that_no_longer_applies_says_so(committee, client_for):
    case = in_assessment(committee)
    response = client_for("secretariat").get(f"/cases/{case.pk}/acting-chair/")
    body = response.content.decode()
    assert response.status_code == 409 and "This is no longer possible" in body
    assert "The chair has no conflict on this case." in body and "nothing you sent" not in body


@pytest.mark.parametrize("chaired_first", [True, False])
def test_the_acting_chair_panel_limit_counts_only_cases_needing_one(committee, chaired_first):
    """The panel's page holds cases with no chair able to act, whatever comes first."""
    cases = [in_assessment(committee), in_assessment(committee)]
    for case in cases:
        declare(committee["chair"], case, conflict=True, reason="Shares in the manufacturer")
    chaired, unchaired = cases if chaired_first else cases[::-1]
    services.case_designate_acting_chair(
        actor=committee["secretariat"], case=chaired, member=committee["member2"]
    )
    found = selectors.cases_needing_an_acting_chair(committee["secretariat"], limit=1)
    assert [case.pk for case in found] == [unchaired.pk]


def test_a_conflict_declared_during_a_ballot_is_audited_as_a_change_and_settles_the_vote_notice(
    committee, client_for
):
    from portal.models import NoticeDelivery

    case = in_assessment(committee)
    declare(committee["member3"], case, conflict=False)
    open_ballot(committee, case)
    own = NoticeDelivery.objects.filter(
        recipient=committee["member3"], notice__action="vote", acknowledged_at__isnull=True
    )
    assert own.count() == 1
    declare(committee["member3"], case, conflict=True)
    event = AuditEvent.objects.filter(action="conflict.declared").latest("pk")
    assert event.before == {"has_conflict": False}
    assert event.after["has_conflict"] is True
    assert own.count() == 0  # no longer asked to vote: not among the notices to acknowledge
    others = NoticeDelivery.objects.filter(
        recipient=committee["member"], notice__action="vote", acknowledged_at__isnull=True
    )
    assert others.count() == 1


def test_a_decision_notice_stops_offering_a_referral_once_the_party_has_referred(
    committee, client_for
):
    from portal.models import NoticeDelivery

    case = decided_case(committee)
    delivery = NoticeDelivery.objects.get(
        recipient=committee["dcc"], notice__kind="decision", notice__object_id=case.pk
    )
    client = client_for("dcc")
    lodge = f"/referrals/new/{case.pk}/"
    assert f'href="{lodge}"' in client.get(f"/inbox/{delivery.pk}/").content.decode()
    referrals.referral_lodge(
        actor=committee["dcc"], case=case, kind="not_remove", grounds="Too lenient"
    )
    page = client.get(f"/inbox/{delivery.pk}/").content.decode()
    assert f'href="{lodge}"' not in page
    assert "This step is no longer open to you" in page
    assert "Acknowledge" in page  # a formal notice: its reader still acknowledges it
