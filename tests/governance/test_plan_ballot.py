"""Issue 11 item 6: PLAN_APPROVAL_RULE "ballot" — the SSC decides on each plan version by a
sealed ballot on a frozen electorate, with quorum, a majority of the votes cast, and the
chair deciding a tie."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from governance import plans, policies, services
from governance.models import Case, PlanBallot, PlanRequirement
from portal.models import AuditEvent, Notice
from portal.policies import ActionNotNow

from ..helpers import make_user, pdf_upload
from .test_plan_reviews import MILESTONES, delivered_to, review, state, submitted

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def by_ballot(settings):
    settings.PLAN_APPROVAL_RULE = "ballot"


def ballot_of(requirement, version=None) -> PlanBallot:
    plan = requirement.plans.order_by("-version").first()
    if version is not None:
        plan = requirement.plans.get(version=version)
    return PlanBallot.objects.get(plan=plan)


def fresh(requirement) -> PlanRequirement:
    return PlanRequirement.objects.get(pk=requirement.pk)


def test_a_submission_opens_a_ballot_on_the_frozen_electorate(committee):
    _, requirement = submitted(committee)
    ballot = ballot_of(requirement)
    assert ballot.state == "open"
    assert sorted(e["username"] for e in ballot.electorate) == ["member", "member2", "member3"]
    assert ballot.quorum_required == 2
    asked = Notice.objects.filter(kind="plan_review", subject__startswith="Remedial plan v1").get()
    assert delivered_to(asked) == ["member", "member2", "member3"]
    assert "ballot" in asked.body and "sealed" in asked.body
    # A member who joins the SSC afterwards has no vote in it.
    late = make_user("member", "member_late")
    with pytest.raises(PermissionDenied, match="not an SSC voting member when this ballot"):
        plans.plan_review(actor=late, requirement=requirement, version=1, approve=True, comments="")


def test_votes_are_sealed_for_every_role_until_the_count(committee, client_for):
    _, requirement = submitted(committee)
    review(committee, "member", requirement, approve=False, comments="Milestones too slow")
    assert state(requirement) == "submitted"
    for key in ("member2", "chair", "secretariat"):
        page = client_for(committee[key]).get(f"/plans/{requirement.pk}/").content.decode()
        assert "Voted (1)" in page and "Not voted yet (2)" in page
        assert "Milestones too slow" not in page and "Do not approve</td>" not in page
    own = client_for(committee["member"]).get(f"/plans/{requirement.pk}/").content.decode()
    assert "Your vote" in own and "Milestones too slow" in own
    # The audit log says who voted, not how.
    vote = AuditEvent.objects.filter(action="plan.reviewed").get()
    assert "review" not in vote.after and "comments" not in vote.after
    # A vote is final.
    with pytest.raises(ActionNotNow, match="final"):
        review(committee, "member", requirement)


def test_the_ballot_counts_itself_when_every_elector_has_voted(committee):
    _, requirement = submitted(committee)
    review(committee, "member", requirement)
    review(committee, "member2", requirement, approve=False)
    assert state(requirement) == "submitted"
    review(committee, "member3", requirement, comments="Credible")
    assert state(requirement) == "approved"
    ballot = ballot_of(requirement)
    assert (ballot.state, ballot.result) == ("closed", "approve")
    assert ballot.tallies == {"approve": 2, "not_approve": 1}
    tallied = AuditEvent.objects.get(action="plan_ballot.tallied")
    assert len(tallied.after["votes"]) == 3
    told = Notice.objects.filter(kind="plan_review", subject__contains="was approved").get()
    assert delivered_to(told) == ["supplier_a"]
    assert "member" not in told.body  # the supplier's notice names no voter


def test_the_chair_closes_early_a_tie_goes_to_the_chair(committee, client_for):
    _, requirement = submitted(committee)
    review(committee, "member", requirement)
    review(committee, "member2", requirement, approve=False)
    member = client_for(committee["member3"])
    refused = member.post(f"/plans/{requirement.pk}/", {"action": "close_ballot"})
    assert refused.status_code == 403
    chair = client_for(committee["chair"])
    page = chair.get(f"/plans/{requirement.pk}/").content.decode()
    assert "Close the ballot now" in page
    # Asked first: nothing is counted until the chair confirms.
    asked = chair.post(f"/plans/{requirement.pk}/", {"action": "close_ballot"})
    assert "members who have not voted lose their vote" in asked.content.decode()
    assert ballot_of(requirement).state == "open"
    response = chair.post(
        f"/plans/{requirement.pk}/", {"action": "close_ballot", "confirmed": "yes"}, follow=True
    )
    assert "The ballot tied" in response.content.decode()
    assert ballot_of(requirement).state == "tied"
    # Votes are final; the member who did not vote lost their vote; the chair decides.
    with pytest.raises(ActionNotNow, match="chair"):
        review(committee, "member3", requirement)
    assert policies.plan_requirements.reviewers(fresh(requirement)) == [committee["chair"]]
    review(committee, "chair", requirement, approve=False, comments="Too slow for IHDs")
    assert state(requirement) == "not_approved"
    ballot = ballot_of(requirement)
    assert (ballot.state, ballot.result) == ("closed", "not_approve")
    page = chair.get(f"/plans/{requirement.pk}/").content.decode()
    assert "1 to approve, 1 not to approve" in page and "Chair’s decision" in page


def test_no_quorum_fails_the_ballot_and_the_chair_opens_it_again(committee, client_for):
    _, requirement = submitted(committee)
    review(committee, "member", requirement)
    plans.plan_ballot_close(actor=committee["chair"], requirement=requirement)
    assert ballot_of(requirement).state == "failed"
    assert state(requirement) == "submitted"
    asked = Notice.objects.filter(subject__startswith="No quorum on a remedial plan").get()
    assert delivered_to(asked) == ["chair"]
    with pytest.raises(ActionNotNow, match="No ballot is open"):
        review(committee, "member2", requirement)
    with pytest.raises(PermissionDenied):
        plans.plan_ballot_open(actor=committee["member"], requirement=requirement)
    chair = client_for(committee["chair"])
    response = chair.post(f"/plans/{requirement.pk}/", {"action": "open_ballot"}, follow=True)
    assert "The ballot is open until" in response.content.decode()
    assert ballot_of(requirement).state == "open"
    # The vote already cast stays cast: one more approval is a majority of a quorum.
    review(committee, "member2", requirement)
    plans.plan_ballot_close(actor=committee["chair"], requirement=requirement)
    assert state(requirement) == "approved"


def test_a_conflict_declared_during_the_ballot_withdraws_the_vote(committee):
    case, requirement = submitted(committee)
    review(committee, "member", requirement, approve=False)
    services.conflict_declare(
        actor=committee["member"],
        case=Case.objects.get(pk=case.pk),
        has_conflict=True,
        reason="Joined SUPA",
    )
    review(committee, "member2", requirement)
    review(committee, "member3", requirement)
    # Every eligible member has voted: counted without the withdrawn vote, 2 of 2.
    ballot = ballot_of(requirement)
    assert ballot.tallies == {"approve": 2, "not_approve": 0}
    assert ballot.eligible_count == 2
    assert state(requirement) == "approved"


def test_a_newer_version_supersedes_the_open_ballot(committee):
    _, requirement = submitted(committee)
    review(committee, "member", requirement)
    plans.plan_submit(
        actor=committee["supplier_a"],
        requirement=fresh(requirement),
        summary="Firmware, faster",
        upload=pdf_upload(),
        milestones=MILESTONES,
    )
    assert ballot_of(requirement, version=1).state == "superseded"
    assert ballot_of(requirement, version=2).state == "open"
    # The vote on version 1 does not carry over.
    review(committee, "member", requirement)


def test_the_beat_task_counts_ballots_whose_time_ran_out(committee):
    _, requirement = submitted(committee)
    review(committee, "member", requirement)
    review(committee, "member2", requirement)
    assert plans.plan_ballots_close_due() == 0
    later = ballot_of(requirement).closes_at + datetime.timedelta(minutes=1)
    assert plans.plan_ballots_close_due(now=later) == 1
    assert state(requirement) == "approved"
    assert ballot_of(requirement).closed_by is None
    assert plans.plan_ballots_close_due(now=later) == 0


def test_the_plan_page_states_the_rule(committee, client_for):
    _, requirement = submitted(committee)
    page = client_for(committee["member"]).get(f"/plans/{requirement.pk}/").content.decode()
    assert "a sealed ballot" in page and "Cast your vote" in page
    assert (
        timezone.localtime(ballot_of(requirement).closes_at).strftime("%d %B %Y").lstrip("0")
        in page
    )
