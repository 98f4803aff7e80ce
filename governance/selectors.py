"""Reads of the case process, filtered through the policies (governance.policies)."""

from django.db.models import Prefetch, Q, QuerySet, Sum

from cpl import selectors as cpl_selectors
from cpl.models import DeviceModel, InventoryCount
from portal.models import NoticeDelivery

from . import policies
from .models import (
    Ballot,
    Case,
    CaseComment,
    ConflictDeclaration,
    EvidenceDocument,
    ExpertInvitation,
    PlanRequirement,
    Referral,
    RemedialPlan,
    Vote,
)


def case_list_for_user(user) -> QuerySet[Case]:
    return (
        policies.cases.visible(user)
        .select_related("certificate")
        # conflicts: whether the reader sees each case's severity (record.sees_ssc_details)
        .prefetch_related("device_models__manufacturer", "conflicts")
    )


def case_list_filtered(user, *, query="", state="", device_type="", severity="") -> QuerySet:
    """The case list with its filters. Severity filters only the cases whose severity the user
    may read: a Party never learns which cases are critical by filtering."""
    cases = case_list_for_user(user)
    if state:
        cases = cases.filter(state=state)
    if device_type:
        cases = cases.filter(device_models__device_type=device_type)
    if severity:
        readable = policies.cases.candidates(user, "view_deliberation")
        cases = cases.filter(severity=severity, pk__in=readable.values("pk"))
    if query:
        cases = cases.filter(
            Q(reference__icontains=query)
            | Q(certificate__number__icontains=query)
            | Q(device_models__manufacturer__name__icontains=query)
            | Q(device_models__model_id__icontains=query)
        )
    return cases.distinct() if device_type or query else cases


def case_for_page(user, pk) -> Case:
    """The case if the user may see it, with everything its page reads; else 404."""
    return policies.cases.get_or_404(
        user,
        pk,
        Case.objects.select_related(
            "certificate",
            "opened_by",
            "acting_chair",
            "decision_record",
            "party_summary_approved_by",
        ).prefetch_related(
            # Each related row with what it names joined in: one query per relation.
            Prefetch("device_models", queryset=DeviceModel.objects.select_related("manufacturer")),
            "addressed_to",
            Prefetch("conflicts", queryset=ConflictDeclaration.objects.select_related("member")),
            Prefetch("experts", queryset=ExpertInvitation.objects.select_related("expert")),
            Prefetch("comments", queryset=CaseComment.objects.select_related("author")),
            Prefetch(
                "plan_requirements", queryset=PlanRequirement.objects.select_related("supplier")
            ),
            "referrals",
            Prefetch(
                "ballots", queryset=Ballot.objects.order_by("number").prefetch_related("votes")
            ),
        ),
    )


def documents_visible(user, case: Case) -> QuerySet[EvidenceDocument]:
    """One query for the whole list: the documents the evidence policy lets the user open."""
    return (
        policies.evidence.visible(user)
        .filter(case=case)
        .select_related("uploaded_by")
        .order_by("uploaded_at", "id")
    )


def ballot_for_page(user, pk) -> Ballot:
    return policies.ballots.get_or_404(
        user,
        pk,
        Ballot.objects.select_related(
            "case__certificate", "case__acting_chair", "opened_by", "closed_by"
        ).prefetch_related(
            Prefetch("votes", queryset=Vote.objects.select_related("member")),
            Prefetch(
                "case__conflicts", queryset=ConflictDeclaration.objects.select_related("member")
            ),
        ),
    )


def open_cases(user) -> QuerySet[Case]:
    return (
        policies.cases.visible(user)
        .exclude(state=Case.State.CLOSED)
        .select_related("certificate")
        .order_by("opened_at")
    )


def _with_not_voted(ballots: list[Ballot]) -> list[Ballot]:
    # The voting members are read once for every ballot (each case's recusals are prefetched).
    members = list(policies.voting_members()) if ballots else []
    for ballot in ballots:
        skip = policies.recused_from_voting(ballot.case) | {v.member_id for v in ballot.votes.all()}
        ballot.not_voted = [u for u in members if u.pk not in skip]  # type: ignore[attr-defined]
    return ballots


def ballots_to_close(user, limit: int | None = None) -> list[Ballot]:
    """Open ballots the user chairs, soonest closing first, each with `.not_voted`."""
    return _with_not_voted(policies.ballots.with_action(user, "close", limit))


def ballots_to_cast(user, limit: int | None = None) -> list[Ballot]:
    """Tied ballots whose casting vote the user gives (the case's chair or acting chair)."""
    return _with_not_voted(policies.ballots.with_action(user, "cast_deciding_vote", limit))


def cases_with_action(user, action: str, limit: int | None = None) -> list[Case]:
    return policies.cases.with_action(user, action, limit)


def summaries_to_write(user, limit: int | None = None) -> list[Case]:
    """Of the cases whose summary for Parties the user may write, those with none written yet
    (a written one waits for the chair's approval in the chair's panel)."""
    # The rule reads only the case's state and the user's role: the page of rows is read
    # without the prefetches the other case rules need (one query for the panel).
    cases = (
        policies.cases.candidates(user, "write_party_summary")
        .filter(party_summary="")
        .select_related("certificate")
    )
    if limit is not None:
        cases = cases[:limit]
    return [case for case in cases if policies.cases.can(user, "write_party_summary", case)]


def cases_needing_an_acting_chair(user, limit: int | None = None) -> list[Case]:
    """Of the cases where the user may designate an acting chair, those with none able to act:
    none designated yet, or the one designated has since declared a conflict."""
    return policies.cases.with_action(
        user,
        "designate_acting_chair",
        limit,
        where=lambda case: (
            case.acting_chair is None or policies.is_conflicted(case.acting_chair, case)
        ),
    )


def ballots_to_vote(user, limit: int | None = None) -> list[Ballot]:
    """Open ballots the user may vote in (a vote may be changed until closing), each with
    `.my_vote`."""
    ballots = policies.ballots.with_action(user, "vote", limit)
    for ballot in ballots:
        ballot.my_vote = next((v for v in ballot.votes.all() if v.member_id == user.pk), None)
    return ballots


def unacknowledged_notices(user):
    return (
        NoticeDelivery.objects.filter(recipient=user, acknowledged_at__isnull=True)
        .select_related("notice")
        .order_by("notice__created_at")
    )


def plans_to_submit(user, limit: int | None = None) -> list[PlanRequirement]:
    """Plans the supplier owes: none submitted yet, overdue, or not approved."""
    return policies.plan_requirements.with_action(user, "submit", limit)


def plans_awaiting_review(user, limit: int | None = None) -> list[PlanRequirement]:
    """The supplier's plans waiting for the SSC's review (it may still revise them)."""
    return policies.plan_requirements.with_action(user, "revise", limit)


def plans_to_review(user, limit: int | None = None) -> list[PlanRequirement]:
    """Plans the user may review, but not those whose two reviewers disagree (plans_to_decide):
    together, exactly the plans the user may review."""
    return policies.plan_requirements.with_action(
        user, "review", limit, where=lambda r: not policies.review_standing(r).disagreement
    )


def plans_to_decide(user, limit: int | None = None) -> list[PlanRequirement]:
    """Plans whose two reviewers disagree, for the user the policy lets decide (the case's
    chair, never one of the two)."""
    return policies.plan_requirements.with_action(
        user, "review", limit, where=lambda r: policies.review_standing(r).disagreement
    )


def plans_to_review_and_decide(user, limit: int) -> tuple[list, list]:
    """(plans_to_review, plans_to_decide), at most `limit` each, from one read of the plans
    the user may review (a dashboard shows both)."""
    both = policies.plan_requirements.with_action(user, "review", 2 * limit)
    disagreed = {r.pk for r in both if policies.review_standing(r).disagreement}
    return (
        [r for r in both if r.pk not in disagreed][:limit],
        [r for r in both if r.pk in disagreed][:limit],
    )


def plans_to_complete(user, limit: int | None = None) -> list[PlanRequirement]:
    return policies.plan_requirements.with_action(user, "complete", limit)


def plans_overdue(user) -> QuerySet[PlanRequirement]:
    return (
        policies.plan_requirements.visible(user)
        .filter(state=PlanRequirement.State.OVERDUE)
        .select_related("case", "supplier")
        .order_by("due_date")
    )


def plan_requirements_for_user(user) -> QuerySet[PlanRequirement]:
    return policies.plan_requirements.visible(user).select_related("case", "supplier")


def plan_requirement_for_page(user, pk) -> PlanRequirement:
    return policies.plan_requirements.get_or_404(
        user,
        pk,
        PlanRequirement.objects.prefetch_related(
            Prefetch(
                "plans",
                queryset=RemedialPlan.objects.select_related(
                    "submitted_by", "reviewed_by", "ballot"
                ).prefetch_related("milestones", "reviews__reviewer"),
            )
        ),
    )


def referrals_for_user(user) -> QuerySet[Referral]:
    return policies.referrals.visible(user).select_related("case", "organisation")


def referral_for_page(user, pk) -> Referral:
    return policies.referrals.get_or_404(
        user,
        pk,
        Referral.objects.prefetch_related(
            "documents",
            "information_requests__documents",
            "packs",
            "case__device_models__manufacturer",
        ),
    )


def referrals_lodged(user) -> QuerySet[Referral]:
    """The referrals the user may see whose pack the SSC has not sent yet, oldest first (once
    sent, they wait for the determination in their own panel)."""
    return (
        policies.referrals.visible(user)
        .filter(state=Referral.State.LODGED)
        .select_related("case", "organisation")
        .order_by("lodged_at", "pk")
    )


def referrals_to_determine(user, limit: int | None = None) -> list[Referral]:
    return policies.referrals.with_action(user, "determine", limit)


def referrals_to_send_or_answer(user, limit: int | None = None) -> list[Referral]:
    """Lodged referrals whose pack the user may send, and requests the user may answer."""
    return policies.referrals.with_action(
        user, "send_pack", limit
    ) + policies.referrals.with_action(user, "provide_information", limit)


def referrals_to_close(user, limit: int | None = None) -> list[Referral]:
    """Determined referrals the user may close (the determination is applied)."""
    return policies.referrals.with_action(user, "close", limit)


def referrals_of_own_organisation(user) -> QuerySet[Referral]:
    """The open referrals the user's organisation lodged, oldest first: a Party follows them."""
    return (
        policies.referrals.visible(user)
        .filter(organisation_id=user.organisation_id)
        .exclude(state=Referral.State.CLOSED)
        .select_related("case", "organisation")
        .order_by("lodged_at", "pk")
    )


def inventory_coverage(case: Case) -> dict:
    """Per device model of the case, the devices the latest DCC inventory shows (0: not
    covered). Stored on the decision record when the decision is issued."""
    snapshot = cpl_selectors.latest_inventory()
    models = list(case.device_models.order_by("pk"))
    devices: dict[int, int] = {}
    if snapshot is not None:
        devices = dict(
            InventoryCount.objects.filter(snapshot=snapshot, device_model__in=models)
            .values("device_model")
            .annotate(total=Sum("device_count"))
            .values_list("device_model", "total")
        )
    return {
        "inventory_as_of": snapshot.as_of.isoformat() if snapshot else None,
        "inventory_file": snapshot.file_name if snapshot else None,
        "models": [
            {"device_model": m.pk, "name": str(m), "devices": devices.get(m.pk, 0)} for m in models
        ],
    }
