"""Issue 11 items 5, 6 and 12: plan approval as an SSC decision (PLAN_APPROVAL_RULE), conflicts
for the whole life of a case, and plan expiry."""

import datetime
import importlib

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from governance import plans, policies, services
from governance.models import Case, DecisionRecord, PlanRequirement, PlanReview
from governance.tasks import plans_lapse_expired
from portal.models import Notice
from portal.policies import ActionNotNow
from portal.working_days import add_working_days

from ..helpers import cpa_case, decided_case, pdf_upload

pytestmark = pytest.mark.django_db
MILESTONES = [
    {"description": "Firmware 2.1", "target_date": datetime.date(2027, 3, 1), "devices_covered": 1}
]


@pytest.fixture
def two_reviewers(settings):
    settings.PLAN_APPROVAL_RULE = "two"


def requirement_of(case, party="SUPA") -> PlanRequirement:
    return PlanRequirement.objects.get(case=case, supplier__party_id=party)


def submitted(committee, party="SUPA"):
    case = decided_case(committee)
    requirement = requirement_of(case, party)
    key = {"SUPA": "supplier_a", "SUPB": "supplier_b"}[party]
    plans.plan_submit(
        actor=committee[key],
        requirement=requirement,
        summary="Firmware",
        upload=pdf_upload(),
        milestones=MILESTONES,
    )
    return case, requirement_of(case, party)


def review(committee, key, requirement, approve=True, comments="", **extra):
    return plans.plan_review(
        actor=committee[key],
        requirement=requirement,
        version=requirement.plans.order_by("-version").first().version,
        approve=approve,
        comments=comments or ("" if approve else f"Refused by {key}"),
        **extra,
    )


def in_assessment(committee):
    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    return case


def delivered_to(notice) -> list[str]:
    return sorted(d.recipient.username for d in notice.deliveries.all())


def state(requirement) -> str:
    return PlanRequirement.objects.get(pk=requirement.pk).state


def test_two_reviewers_is_the_default_rule():
    # The production default, whatever the test settings choose.
    assert importlib.import_module("portal.settings").PLAN_APPROVAL_RULE == "two"


def test_one_approval_alone_does_not_approve_two_agreeing_do(committee, two_reviewers):
    _, requirement = submitted(committee)
    review(committee, "member", requirement)
    assert state(requirement) == "submitted"
    # The same reviewer cannot supply the second review.
    with pytest.raises(ActionNotNow, match="second"):
        review(committee, "member", requirement)
    assert not Notice.objects.filter(kind="plan_review", subject__contains="was approved").exists()
    review(committee, "member2", requirement)
    assert state(requirement) == "approved"
    plan = requirement.plans.get()
    assert plan.review == "approved" and plan.reviewed_by == committee["member2"]
    assert [(r.reviewer.username, r.decision) for r in plan.reviews.all()] == [
        ("member", "approve"),
        ("member2", "approve"),
    ]
    assert Notice.objects.filter(kind="plan_review", subject__contains="was approved").count() == 1


def test_two_agreeing_refusals_refuse_with_both_reasons(committee, two_reviewers):
    _, requirement = submitted(committee)
    review(committee, "member", requirement, approve=False, comments="Too slow")
    assert state(requirement) == "submitted"
    review(committee, "member2", requirement, approve=False, comments="No milestones for IHDs")
    assert state(requirement) == "not_approved"
    notice = Notice.objects.filter(kind="plan_review", subject__contains="not approved").get()
    assert "Too slow" in notice.body and "No milestones for IHDs" in notice.body


def test_a_disagreement_goes_to_the_chair(committee, two_reviewers, client_for):
    _, requirement = submitted(committee)
    review(committee, "member", requirement)
    review(committee, "member2", requirement, approve=False, comments="Too slow")
    assert state(requirement) == "submitted"
    # Only the case's chair decides now; a third member is not asked.
    assert policies.plan_requirements.reviewers(requirement) == [committee["chair"]]
    with pytest.raises(ActionNotNow, match="chair"):
        review(committee, "member3", requirement)
    asked = Notice.objects.filter(kind="plan_review", subject__startswith="Reviewers disagree")
    assert delivered_to(asked.get()) == ["chair"]
    review(committee, "chair", requirement, approve=False, comments="Milestones too slow")
    assert state(requirement) == "not_approved"
    deciding = PlanReview.objects.get(reviewer=committee["chair"])
    assert deciding.deciding
    # The page says who reviewed and how.
    page = client_for(committee["member3"]).get(f"/plans/{requirement.pk}/").content.decode()
    assert "Reviews of version 1" in page
    for text in ("member", "member2", "chair", "Approve", "Do not approve", "Chair’s decision"):
        assert text in page


def test_rule_one_a_single_review_decides(committee, settings):
    settings.PLAN_APPROVAL_RULE = "one"
    _, requirement = submitted(committee)
    review(committee, "member", requirement)
    assert state(requirement) == "approved"
    assert requirement.plans.get().reviews.get().reviewer == committee["member"]


def test_an_unknown_rule_is_refused_not_guessed(committee, settings):
    settings.PLAN_APPROVAL_RULE = "three"
    _, requirement = submitted(committee)
    with pytest.raises(Exception, match="PLAN_APPROVAL_RULE"):
        review(committee, "member", requirement)
    assert state(requirement) == "submitted"


def test_a_member_conflicted_during_plan_review_drops_out_and_loses_ssc_only_evidence(
    committee, two_reviewers
):
    case, requirement = submitted(committee)
    secret = services.evidence_upload(
        actor=committee["secretariat"],
        case=case,
        title="Exploit detail",
        classification="ssc-only",
        upload=pdf_upload(),
    )
    member = committee["member"]
    assert policies.evidence.can(member, "view", secret)
    review(committee, "member", requirement)
    # The conflict arises during plan review: declared in remediation.
    services.conflict_declare(
        actor=member, case=Case.objects.get(pk=case.pk), has_conflict=True, reason="Joined SUPA"
    )
    member = type(member).objects.get(pk=member.pk)
    assert not member.has_perm("governance.view_evidencedocument", secret)
    assert not policies.evidence.can(member, "view", secret)
    withdrawn = PlanReview.objects.get(reviewer=member)
    assert withdrawn.withdrawn_at is not None
    assert member not in policies.plan_requirements.reviewers(requirement)
    with pytest.raises(PermissionDenied, match="conflict"):
        review(committee, "member", requirement)
    # Their approval no longer counts: one more approval is not two.
    review(committee, "member2", requirement)
    assert state(requirement) == "submitted"
    review(committee, "member3", requirement)
    assert state(requirement) == "approved"


def test_a_conflict_withdraws_a_disagreeing_review(committee, two_reviewers):
    case, requirement = submitted(committee)
    review(committee, "member", requirement)
    review(committee, "member2", requirement, approve=False)
    services.conflict_declare(
        actor=committee["member2"], case=case, has_conflict=True, reason="Family at SUPA"
    )
    # No disagreement left: a second ordinary reviewer, not the chair, completes the pair.
    review(committee, "member3", requirement)
    assert state(requirement) == "approved"


def test_declarations_are_made_and_updated_at_any_stage_until_the_case_closes(committee):
    case = decided_case(committee, decision="suspend")
    member = committee["member"]
    services.conflict_declare(actor=member, case=case, has_conflict=True, reason="Referral work")
    services.conflict_declare(actor=member, case=case, has_conflict=True, reason="Now at SUPA")
    assert case.conflicts.get(member=member).reason == "Now at SUPA"
    DecisionRecord.objects.filter(case=case).update(
        issued_at=timezone.now() - datetime.timedelta(days=60)
    )
    services.case_transition(actor=committee["secretariat"], case=case, name="close")
    with pytest.raises(ActionNotNow, match="closed"):
        services.conflict_declare(
            actor=member, case=Case.objects.get(pk=case.pk), has_conflict=False, reason=""
        )


def test_a_conflicted_member_sees_only_the_party_view_of_the_case(committee, client_for):
    case = decided_case(committee)
    requirement = requirement_of(case)
    services.conflict_declare(
        actor=committee["member2"], case=case, has_conflict=True, reason="Joined SUPA"
    )
    party_only = [
        case.summary,  # the case summary
        case.reason,
        "Affected suppliers",
        "1,200",  # device counts
        "1200",
        "Security factors",
        "Conflicts of interest",
    ]
    clear = client_for("member").get(f"/cases/{case.pk}/").content.decode()
    assert all(text in clear for text in (case.summary, case.reason, "Affected suppliers"))
    page = client_for(committee["member2"]).get(f"/cases/{case.pk}/").content.decode()
    assert case.reference in page
    for text in party_only:
        assert text not in page, text
    assert not policies.cases.can(committee["member2"], "view_deliberation", case)
    assert not policies.cases.can(committee["member2"], "comment", case)
    # No plan page (device counts) either: a Party sees only its own plan.
    assert client_for(committee["member2"]).get(f"/plans/{requirement.pk}/").status_code == 404
    listing = client_for(committee["member2"]).get("/plans/").content.decode()
    assert "Supplier A Energy" not in listing
    ballot = case.ballots.get()
    assert client_for(committee["member2"]).get(f"/ballots/{ballot.pk}/").status_code in (403, 404)


def test_a_member_conflicted_during_assessment_sees_the_party_view(committee, client_for):
    case = in_assessment(committee)
    services.conflict_declare(
        actor=committee["member3"], case=case, has_conflict=True, reason="Shareholder"
    )
    page = client_for(committee["member3"]).get(f"/cases/{case.pk}/").content.decode()
    assert case.summary not in page and case.reason not in page


# --- plan expiry (item 12) ---------------------------------------------------------------------


def approved_until(committee, settings, expires_on):
    settings.PLAN_APPROVAL_RULE = "one"
    case, requirement = submitted(committee)
    review(committee, "member", requirement, expires_on=expires_on)
    return case, requirement


def test_a_plan_lapses_on_its_expiry_and_warnings_are_sent_once(committee, settings):
    settings.PLAN_EXPIRY_WARNING_WORKING_DAYS = 5
    today = timezone.localdate()
    expiry = add_working_days(today, 30)
    _, requirement = approved_until(committee, settings, expiry)
    assert requirement.plans.get().expires_on == expiry

    def warnings():
        return Notice.objects.filter(kind="reminder", subject__startswith="Remedial plan expires")

    assert plans.plans_lapse_expired(today=today) == 0
    assert not warnings().exists()
    warn_day = add_working_days(expiry, -5)
    plans.plans_lapse_expired(today=warn_day - datetime.timedelta(days=1))
    assert not warnings().exists()
    plans.plans_lapse_expired(today=warn_day)
    sent = list(warnings())
    # The supplier, and the SSC apart (a supplier never learns who at the SSC is told).
    assert len(sent) == 2
    assert {o.party_id for n in sent for o in n.recipients.all()} == {"SUPA"}
    assert any("member" in delivered_to(n) for n in sent)
    plans.plans_lapse_expired(today=add_working_days(warn_day, 1))
    assert warnings().count() == 2  # once only
    assert state(requirement) == "approved"
    assert plans_lapse_expired.delay().get() == 0  # the beat task, today: nothing lapses yet
    assert plans.plans_lapse_expired(today=expiry) == 1
    assert state(requirement) == "overdue"
    assert Notice.objects.filter(kind="reminder", subject__startswith="Lapsed").count() == 1
    assert plans.plans_lapse_expired(today=expiry) == 0
    # The supplier submits a new plan: the requirement is reviewable again.
    plans.plan_submit(
        actor=committee["supplier_a"],
        requirement=requirement,
        summary="Renewed",
        upload=pdf_upload(),
        milestones=MILESTONES,
    )
    assert state(requirement) == "submitted"


def test_a_completed_plan_does_not_lapse(committee, settings):
    expiry = timezone.localdate() + datetime.timedelta(days=40)
    _, requirement = approved_until(committee, settings, expiry)
    plans.plan_complete(actor=committee["member"], requirement=requirement)
    assert plans.plans_lapse_expired(today=expiry + datetime.timedelta(days=1)) == 0
    assert state(requirement) == "completed"


def test_an_expiry_must_be_in_the_future_and_only_on_approval(committee, settings):
    settings.PLAN_APPROVAL_RULE = "one"
    _, requirement = submitted(committee)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="future"):
        review(committee, "member", requirement, expires_on=timezone.localdate())
    with pytest.raises(ValidationError, match="approv"):
        review(
            committee,
            "member",
            requirement,
            approve=False,
            expires_on=timezone.localdate() + datetime.timedelta(days=9),
        )


def test_the_review_form_sets_an_expiry_and_the_page_shows_it(committee, settings, client_for):
    settings.PLAN_APPROVAL_RULE = "one"
    _, requirement = submitted(committee)
    expiry = timezone.localdate() + datetime.timedelta(days=90)
    client = client_for("member")
    assert "Approval expires on" in client.get(f"/plans/{requirement.pk}/").content.decode()
    response = client.post(
        f"/plans/{requirement.pk}/",
        {
            "action": "review",
            "version": 1,
            "decision": "approve",
            "comments": "",
            "expires_on": expiry.isoformat(),
        },
        follow=True,
    )
    assert state(requirement) == "approved"
    assert f"{expiry:%-d %B %Y}" in response.content.decode()


def test_the_supplier_does_not_see_the_reviewers_or_their_split_before_the_ssc_decides(
    committee, two_reviewers, client_for
):
    _, requirement = submitted(committee)
    review(committee, "member", requirement)
    review(committee, "member2", requirement, approve=False, comments="Milestone too late")
    page = client_for("supplier_a").get(f"/plans/{requirement.pk}/").content.decode()
    assert "Milestone too late" not in page
    assert "Reviews of version" not in page and "Do not approve" not in page
