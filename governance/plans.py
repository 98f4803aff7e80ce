"""CPA Certificate Remedial Plans: requirements per affected supplier, versioned plans with
milestones, SSC review, overdue handling, and the Supplier Parties' G8.64 policies."""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone

from cpl import selectors as cpl_selectors
from portal.audit import audit_record
from portal.documents import stored_documents
from portal.models import Notice, Organisation, absolute_url
from portal.notices import notice_send, notices_settle
from portal.policies import ActionNotNow
from portal.transitions import run_transition
from portal.working_days import add_working_days

from . import ballots as ballot_rules
from . import policies
from .clause63 import case_close_on_completion, plan_obligation_body
from .models import (
    Case,
    PlanBallot,
    PlanMilestone,
    PlanRequirement,
    PlanReview,
    RemedialPlan,
    SupplierPolicy,
)

State = PlanRequirement.State


def _plan_path(requirement: PlanRequirement) -> str:
    return reverse("governance:plan", args=[requirement.pk])


def _plan_notice(
    *, actor, requirement: PlanRequirement, action_label: str, action: str = "", **to_and_what
):
    """A plan-review notice leading to the plan page (its recipients, subject and body given);
    `action` the plan's policy action it asks for, settled once taken."""
    notice_send(
        actor=actor,
        kind=Notice.Kind.PLAN_REVIEW,
        about=requirement,
        link=_plan_path(requirement),
        action_link=_plan_path(requirement),
        action_label=action_label,
        action=action,
        **to_and_what,
    )


def plan_requirements_create(*, actor, case: Case, also: str = "") -> list[PlanRequirement]:
    """On a remedial-plan decision: one requirement, and one clause 6.3 notice, per supplier
    responsible for devices of the case's models in the latest inventory (installing or not).
    `also`: what else the event that requires the plans tells each supplier (the decision's
    referral window), so that a supplier gets one notice of it, this one."""
    affected = cpl_selectors.affected_suppliers(case.device_models.values("pk"))
    due = add_working_days(timezone.localdate(), settings.PLAN_DUE_WORKING_DAYS)
    requirements = []
    for row in affected:
        supplier = Organisation.objects.get(pk=row["supplier_id"])
        requirement, created = PlanRequirement.objects.get_or_create(
            case=case, supplier=supplier, defaults={"device_count": row["devices"], "due_date": due}
        )
        if not created:
            continue
        case.addressed_to.add(supplier)
        requirements.append(requirement)
        audit_record(
            actor=actor,
            action="plan_requirement.created",
            obj=requirement,
            after={
                "supplier": supplier.name,
                "devices": row["devices"],
                "due": due,
                "inventory_as_of": row["as_of"],
            },
        )
        # One notice per supplier: a supplier never learns another's device counts.
        notice_send(
            actor=actor,
            kind=Notice.Kind.PLAN_OBLIGATION,
            organisations=[supplier],
            about=requirement,
            link=_plan_path(requirement),
            action_link=_plan_path(requirement),
            action_label="Submit your plan",
            action="submit",
            subject=f"Clause 6.3 notice: CPA Certificate Remedial Plan required, {case.reference}",
            body=plan_obligation_body(case, devices=row["devices"], as_of=row["as_of"], due=due)
            + (f"\n\n{also}" if also else ""),
        )
    return requirements


def _submit_or_revise(requirement: PlanRequirement) -> str:
    """The policy's action for a new version: "revise" while one waits for review."""
    return "revise" if requirement.state in policies.REVIEWABLE else "submit"


def plan_submit(
    *,
    actor,
    requirement: PlanRequirement,
    summary: str,
    upload,
    milestones: list[dict],
    action: str = "",
) -> RemedialPlan:
    """A new plan version. `action` is the step the supplier took ("submit" or "revise"): asked
    again of the locked requirement, so of two submissions sent at once the second, finding
    the first's version, is refused rather than taken as a revision."""
    policies.plan_requirements.require(actor, action or _submit_or_revise(requirement), requirement)
    if not milestones:
        raise ValidationError("Add at least one milestone.")
    with stored_documents(folder="plans") as store, transaction.atomic():
        requirement = PlanRequirement.objects.select_for_update().get(pk=requirement.pk)
        policies.plan_requirements.require(
            actor, action or _submit_or_revise(requirement), requirement
        )
        if requirement.state in (State.APPROVED, State.COMPLETED):
            raise ValidationError("This plan is already approved; it cannot be revised.")
        for number, milestone in enumerate(milestones, start=1):
            if milestone["devices_covered"] > requirement.device_count:
                raise ValidationError(
                    f"Milestone {number} covers {milestone['devices_covered']:,} devices: the "
                    f"DCC inventory makes your organisation responsible for "
                    f"{requirement.device_count:,} devices of these models."
                )
        before = requirement.state
        name = {State.NOT_APPROVED: "resubmit", State.NOTIFIED: "submit", State.OVERDUE: "submit"}
        if requirement.state in name:
            run_transition(
                actor=actor, obj=requirement, name=name[requirement.state], action="submit"
            )
        # Otherwise SUBMITTED or RESUBMITTED: a revision before review (the reviewers name the
        # version they review).
        stored = store(upload)
        version = (
            requirement.plans.order_by("-version").values_list("version", flat=True).first() or 0
        ) + 1
        plan = RemedialPlan.objects.create(
            requirement=requirement,
            version=version,
            summary=summary,
            **stored.fields(),
            submitted_by=actor,
        )
        PlanMilestone.objects.bulk_create([PlanMilestone(plan=plan, **m) for m in milestones])
        ballot = None
        if settings.PLAN_APPROVAL_RULE == "ballot":
            _ballot_supersede(actor=actor, requirement=requirement, newer=plan)
            ballot = _ballot_open(actor=actor, requirement=requirement, plan=plan)
        audit_record(
            actor=actor,
            action="plan.submitted",
            obj=requirement,
            before={"state": before},
            after={
                "state": requirement.state,
                "version": version,
                "sha256": stored.sha256,
                "milestones": len(milestones),
            },
        )
        # The SSC's notices to review (or vote on, or reopen the ballot on) an older version
        # are answered by this one: it supersedes them, and its own notice follows.
        for superseded in ("review", "open_ballot"):
            notices_settle(requirement, taken=superseded)
        _plan_notice(
            actor=actor,
            requirement=requirement,
            # Only those the policy lets review it now: not the secretariat, not the conflicted.
            users=policies.plan_requirements.reviewers(requirement),
            action_label="Vote on the plan" if ballot else "Review the plan",
            action="review",
            subject=f"Remedial plan v{version} to review: {requirement.case.reference}",
            body=f"{requirement.supplier} submitted version {version} of its CPA "
            f"Certificate Remedial Plan for case {requirement.case.reference}."
            + (_ballot_invitation(ballot) if ballot else ""),
        )
        # The supplier's obligation (or reminder, or refusal) asked for this plan: answered.
        notices_settle(requirement, taken="submit", by=requirement.supplier)
    return plan


def _ballot_invitation(ballot: PlanBallot) -> str:
    return (
        f" The SSC decides on it by ballot, open until "
        f"{timezone.localtime(ballot.closes_at):%H:%M on %-d %B %Y}. Votes are sealed until it "
        f"closes."
    )


def plan_review(
    *,
    actor,
    requirement: PlanRequirement,
    version: int,
    approve: bool,
    comments: str,
    expires_on: datetime.date | None = None,
) -> RemedialPlan:
    """Record one reviewer's review of the version they read (a newer version makes it fail).
    PLAN_APPROVAL_RULE says when the reviews make the SSC's decision: "one" review; "two"
    non-conflicted reviewers who agree, a disagreement going to the case's chair."""
    if not approve and not comments.strip():
        raise ValidationError("Give the reasons why the plan is not approved.")
    if expires_on is not None:
        if not approve:
            raise ValidationError("Only an approval carries an expiry date.")
        if expires_on <= timezone.localdate():
            raise ValidationError("The approval's expiry date must be in the future.")
    with transaction.atomic():
        requirement = (
            PlanRequirement.objects.select_for_update()
            .select_related("case", "supplier")
            .prefetch_related("plans__reviews", "plans__ballot", "case__conflicts__member")
            .get(pk=requirement.pk)
        )
        plan = max(requirement.plans.all(), key=lambda p: p.version, default=None)
        if plan is None:
            raise ActionNotNow("The supplier has not submitted a plan to review.")
        if plan.version != version:
            raise ActionNotNow(
                f"The supplier submitted version {plan.version} after you opened version "
                f"{version}. Read version {plan.version}, then review it."
            )
        policies.plan_requirements.require(actor, "review", requirement)
        deciding = policies.review_standing(requirement).disagreement
        decision = PlanReview.Decision.APPROVE if approve else PlanReview.Decision.NOT_APPROVE
        PlanReview.objects.create(
            plan=plan,
            reviewer=actor,
            decision=decision,
            comments=comments,
            expires_on=expires_on,
            deciding=deciding,
        )
        # Read the version's reviews again, with this one.
        plan = (
            RemedialPlan.objects.select_related("ballot")
            .prefetch_related("reviews__reviewer")
            .get(pk=plan.pk)
        )
        standing = policies.plan_standing(plan)
        sealed = standing.ballot is not None and standing.ballot.is_open
        if sealed:
            # A ballot vote is sealed until the count: the audit says who voted, not how.
            after: dict = {"version": plan.version, "vote": "cast", "rule": "ballot"}
        else:
            after = {
                "version": plan.version,
                "review": decision,
                "comments": comments,
                "expires_on": expires_on,
                "deciding": deciding,
                "rule": settings.PLAN_APPROVAL_RULE,
                "outcome": standing.outcome
                or ("disagreement" if standing.disagreement else "pending"),
            }
        audit_record(actor=actor, action="plan.reviewed", obj=requirement, after=after)
        if sealed:
            if _all_voted(standing):  # the count notifies the chair of a tie or no quorum
                standing = _ballot_count(actor=actor, requirement=requirement, plan=plan)
        elif deciding and standing.ballot is not None:
            run_transition(
                actor=actor,
                obj=standing.ballot,
                name="decide_tie",
                consequence_of="plan.review",
                result=standing.outcome,
            )
        elif standing.disagreement:
            _ask_the_chair(actor=actor, requirement=requirement, plan=plan)
        if standing.outcome is not None:
            decided = standing.plan or plan  # the version as the count read it
            _decide(actor=actor, requirement=requirement, plan=decided, standing=standing)
        notices_settle(requirement, taken="review", by=actor)  # this reviewer's part is done
    return plan


def _ask_the_chair(*, actor, requirement: PlanRequirement, plan: RemedialPlan) -> None:
    fresh = PlanRequirement.objects.select_related("case").get(pk=requirement.pk)
    tied = settings.PLAN_APPROVAL_RULE == "ballot"
    what = "The SSC's ballot tied" if tied else "Two SSC reviewers disagree"
    _plan_notice(
        actor=actor,
        requirement=requirement,
        users=policies.plan_requirements.reviewers(fresh),
        action_label="Decide on the plan",
        action="review",
        subject=f"{'Ballot tied' if tied else 'Reviewers disagree'} on a remedial plan: "
        f"{requirement.case.reference}",
        body=f"{what} on version {plan.version} of the CPA Certificate Remedial Plan of "
        f"{requirement.supplier} for case {requirement.case.reference}. As the case's chair, "
        f"you decide.",
    )


# --- PLAN_APPROVAL_RULE "ballot" ---------------------------------------------------------------


def _ballot_open(*, actor, requirement: PlanRequirement, plan: RemedialPlan) -> PlanBallot:
    """The version's ballot, on the electorate frozen now (as for a case ballot)."""
    electorate = ballot_rules.electorate_freeze(requirement.case)
    closes_on = add_working_days(timezone.localdate(), settings.PLAN_BALLOT_WORKING_DAYS)
    closes_at = timezone.make_aware(
        datetime.datetime.combine(closes_on, timezone.localtime().time())
    )
    ballot, _ = PlanBallot.objects.update_or_create(
        plan=plan,
        defaults={
            "electorate": electorate,
            "closes_at": closes_at,
            "eligible_count": len(electorate),
            "quorum_required": ballot_rules.quorum_for(len(electorate)),
        },
    )
    audit_record(
        actor=actor,
        action="plan_ballot.opened",
        obj=requirement,
        after={
            "version": plan.version,
            "closes_at": closes_at,
            "electorate": [e["username"] for e in electorate],
            "quorum_required": ballot.quorum_required,
        },
    )
    return ballot


def _ballot_supersede(*, actor, requirement: PlanRequirement, newer: RemedialPlan) -> None:
    """A newer version voids the earlier version's undecided ballot."""
    for ballot in PlanBallot.objects.filter(
        plan__requirement=requirement,
        state__in=[PlanBallot.State.OPEN, PlanBallot.State.TIED, PlanBallot.State.FAILED],
    ).exclude(plan=newer):
        run_transition(
            actor=actor,
            obj=ballot,
            name="supersede",
            consequence_of="plan.submit",
            audit_extra={"version": newer.version},
        )


def _all_voted(standing) -> bool:
    voted = {r.reviewer_id for r in standing.counted}
    return _eligible(standing.ballot, standing.plan.requirement.case) <= voted


def _eligible(ballot: PlanBallot, case: Case) -> set[int]:
    return {e["id"] for e in ballot.electorate} - policies.recused_from_voting(case)


def _ballot_count(*, actor, requirement: PlanRequirement, plan: RemedialPlan):
    """Count the version's ballot (every elector voted, the chair closed it, or its time ran
    out): a majority of the votes cast decides once quorum is met; a tie goes to the chair; no
    quorum fails it (the chair may open it again). Returns the standing after the count."""
    ballot = PlanBallot.objects.select_for_update().get(plan=plan)
    case = Case.objects.prefetch_related("conflicts").get(pk=requirement.case_id)
    eligible = _eligible(ballot, case)
    votes = [
        r
        for r in plan.reviews.all()
        if r.withdrawn_at is None and not r.deciding and r.reviewer_id in eligible
    ]
    approve = sum(r.decision == PlanReview.Decision.APPROVE for r in votes)
    tallies = {
        PlanReview.Decision.APPROVE: approve,
        PlanReview.Decision.NOT_APPROVE: len(votes) - approve,
    }
    quorum = ballot_rules.quorum_for(len(eligible))
    ballot.tallies, ballot.eligible_count, ballot.quorum_required = tallies, len(eligible), quorum
    ballot.closed_at, ballot.closed_by = timezone.now(), actor
    closing = {"actor": actor, "obj": ballot, "consequence_of": "plan_ballot.count"}
    if len(votes) < quorum:
        run_transition(**closing, name="fail")
    elif 2 * approve == len(votes):
        run_transition(**closing, name="tie")
    else:
        result = (
            PlanReview.Decision.APPROVE
            if 2 * approve > len(votes)
            else PlanReview.Decision.NOT_APPROVE
        )
        run_transition(**closing, name="close", result=result)
    audit_record(
        actor=actor,
        action="plan_ballot.tallied",
        obj=requirement,
        after={
            "version": plan.version,
            "tallies": tallies,
            "eligible": len(eligible),
            "quorum_required": quorum,
            "state": ballot.state,
            "result": ballot.result,
            # Unsealed now: every vote, into the hash chain.
            "votes": [
                {"member": str(r.reviewer), "vote": r.decision, "comments": r.comments}
                for r in votes
            ],
        },
    )
    plan = (
        RemedialPlan.objects.select_related("ballot", "requirement__case")
        .prefetch_related("reviews__reviewer")
        .get(pk=plan.pk)
    )
    standing = policies.plan_standing(plan)
    if ballot.state == PlanBallot.State.TIED:
        _ask_the_chair(actor=actor, requirement=requirement, plan=plan)
    elif ballot.state == PlanBallot.State.FAILED:
        _ballot_failed_notice(actor=actor, requirement=requirement, plan=plan, ballot=ballot)
    return standing


def _ballot_failed_notice(*, actor, requirement, plan, ballot) -> None:
    fresh = PlanRequirement.objects.select_related("case").get(pk=requirement.pk)
    cast = sum(ballot.tallies.values())
    _plan_notice(
        actor=actor,
        requirement=requirement,
        users=policies.plan_requirements.users_with("open_ballot", fresh, policies.ssc_users()),
        action_label="Open the ballot again",
        action="open_ballot",
        subject=f"No quorum on a remedial plan ballot: {requirement.case.reference}",
        body=f"The SSC's ballot on version {plan.version} of the CPA Certificate Remedial Plan "
        f"of {requirement.supplier} (case {requirement.case.reference}) closed with {cast} "
        f"vote{'s' if cast != 1 else ''}; {ballot.quorum_required} were needed. As the case's "
        f"chair, open it again.",
    )


def _ballot_locked(actor, requirement: PlanRequirement, action: str):
    """The requirement, locked, with what the policy reads, once the policy allows `action`;
    and its latest plan version."""
    requirement = (
        PlanRequirement.objects.select_for_update()
        .select_related("case", "supplier")
        .prefetch_related("plans__reviews__reviewer", "plans__ballot", "case__conflicts__member")
        .get(pk=requirement.pk)
    )
    policies.plan_requirements.require(actor, action, requirement)
    return requirement, max(requirement.plans.all(), key=lambda p: p.version)


def plan_ballot_close(*, actor, requirement: PlanRequirement) -> PlanRequirement:
    """The chair counts the ballot now, or the beat task at its closing time (actor None)."""
    with transaction.atomic():
        requirement, plan = _ballot_locked(actor, requirement, "close_ballot")
        ballot = getattr(plan, "ballot", None)
        if ballot is None or not ballot.is_open:
            raise ActionNotNow("No ballot is open on this plan.")
        standing = _ballot_count(actor=actor, requirement=requirement, plan=plan)
        if standing.outcome is not None:
            _decide(actor=actor, requirement=requirement, plan=standing.plan, standing=standing)
    return requirement


def plan_ballot_open(*, actor, requirement: PlanRequirement) -> PlanBallot:
    """The chair opens the latest version's ballot again after it failed for want of quorum
    (or opens one when the rule became "ballot" after the version arrived). Votes already
    cast stay cast; the electorate is frozen afresh."""
    with transaction.atomic():
        requirement, plan = _ballot_locked(actor, requirement, "open_ballot")
        previous = getattr(plan, "ballot", None)
        if previous is not None:
            run_transition(
                actor=actor, obj=previous, name="reopen", consequence_of="plan.open_ballot"
            )
        ballot = _ballot_open(actor=actor, requirement=requirement, plan=plan)
        requirement = PlanRequirement.objects.select_related("case").get(pk=requirement.pk)
        _plan_notice(
            actor=actor,
            requirement=requirement,
            users=policies.plan_requirements.reviewers(requirement),
            action_label="Vote on the plan",
            action="review",
            subject=f"Remedial plan v{plan.version} ballot open: {requirement.case.reference}",
            body=f"The SSC's ballot on version {plan.version} of the CPA Certificate Remedial "
            f"Plan of {requirement.supplier} for case {requirement.case.reference} is open."
            + _ballot_invitation(ballot),
        )
    return ballot


def plan_ballots_close_due(*, now=None) -> int:
    """The beat task: ballots whose time has run out are counted."""
    now = now or timezone.now()
    counted = 0
    due = PlanBallot.objects.filter(state=PlanBallot.State.OPEN, closes_at__lte=now)
    for requirement_id in due.values_list("plan__requirement_id", flat=True):
        try:
            plan_ballot_close(actor=None, requirement=PlanRequirement(pk=requirement_id))
            counted += 1
        except ActionNotNow:
            pass  # counted meanwhile, or superseded
    return counted


def _decide(*, actor, requirement: PlanRequirement, plan: RemedialPlan, standing) -> None:
    """The SSC's decision on the plan version: the transition, the plan's outcome and the
    supplier's notice (which names no reviewer)."""
    approve = standing.outcome == PlanReview.Decision.APPROVE
    deciding = [standing.deciding] if standing.deciding else standing.counted
    run_transition(
        actor=actor,
        obj=requirement,
        name="approve" if approve else "not_approve",
        consequence_of="review",
        audit_extra={
            "version": plan.version,
            # Each once: the deciding reviews are the counted ones unless the chair decided.
            "reviewers": list(
                dict.fromkeys(r.reviewer.username for r in [*standing.counted, *deciding])
            ),
        },
    )
    agreeing = [r for r in deciding if r.decision == standing.outcome]
    # Identical reasons once: the supplier reads the SSC's reasons, not who gave which.
    comments = "\n\n".join(
        dict.fromkeys(r.comments.strip() for r in agreeing if r.comments.strip())
    )
    expiries = [r.expires_on for r in agreeing if r.expires_on]
    plan.review = RemedialPlan.Review.APPROVED if approve else RemedialPlan.Review.NOT_APPROVED
    plan.review_comments, plan.reviewed_by, plan.reviewed_at = comments, actor, timezone.now()
    plan.expires_on = min(expiries) if approve and expiries else None  # the stricter term
    plan.save()
    outcome = "approved" if approve else "not approved"
    until = f"\n\nThe approval runs until {plan.expires_on:%-d %B %Y}." if plan.expires_on else ""
    _plan_notice(
        actor=actor,
        requirement=requirement,
        organisations=[requirement.supplier],
        action_label="Read the review" if approve else "Revise and resubmit your plan",
        action="" if approve else "submit",
        subject=f"Your remedial plan for {requirement.case.reference} was {outcome}",
        body=(
            f"The SSC reviewed version {plan.version} of your CPA Certificate Remedial "
            f"Plan for case {requirement.case.reference}: {outcome}.\n\n{comments}".strip()
            + until
            + ("" if approve else _refusal_next_steps(requirement, plan))
        ),
    )


def _refusal_next_steps(requirement: PlanRequirement, plan: RemedialPlan) -> str:
    """A refused plan's notice: revise it, or refer the refusal within the window (SEC F2.7B);
    the "Refer to the Authority" line is a link in the inbox (portal_tags.notice_body)."""
    _, last = policies.referral_window(plan.reviewed_at)
    until = (
        f" until {last:%-d %B %Y} ({settings.REFERRAL_WINDOW_WORKING_DAYS} Working Days after "
        "the refusal; local practice: the SEC text sets no time limit)"
        if last
        else ""
    )
    refer = reverse("governance:referral-lodge", args=[requirement.case_id])
    return (
        "\n\nYou may revise and resubmit the plan in the portal. You may also refer this "
        "decision to the Authority for a final and binding determination (SEC F2.7B)"
        f"{until}.\n\nRefer to the Authority: "
        f"{absolute_url(f'{refer}?kind=plan_not_approved&plan={requirement.pk}')}"
    )


def plan_reviews_withdraw(*, actor, case: Case) -> int:
    """`actor` declared a conflict on `case`: their reviews of plan versions still awaiting
    the SSC's decision stop counting (audited); a disagreement they made dissolves."""
    reviews = PlanReview.objects.filter(
        reviewer=actor,
        withdrawn_at__isnull=True,
        plan__requirement__case=case,
        plan__requirement__state__in=policies.REVIEWABLE,
    ).select_related("plan__requirement")
    withdrawn = 0
    for review in reviews:
        if review.plan.requirement.plans.order_by("-version").first() != review.plan:
            continue  # an older version's review decides nothing now
        review.withdrawn_at = timezone.now()
        review.save(update_fields=["withdrawn_at"])
        audit_record(
            actor=actor,
            action="plan.review_withdrawn",
            obj=review.plan.requirement,
            after={"version": review.plan.version, "reviewer": actor.username, "why": "conflict"},
        )
        withdrawn += 1
    return withdrawn


def plan_complete(*, actor, requirement: PlanRequirement) -> PlanRequirement:
    with transaction.atomic():
        requirement = (
            PlanRequirement.objects.select_for_update()
            .select_related("case")
            .get(pk=requirement.pk)
        )
        run_transition(actor=actor, obj=requirement, name="complete")
        # The last plan completed closes the case (clause 6.3 obligations all met).
        case_close_on_completion(actor=actor, case=requirement.case, consequence_of="plan.complete")
    return requirement


def plans_mark_overdue(*, today: datetime.date | None = None) -> int:
    """Requirements whose plan was not submitted by the due date become overdue; the supplier
    is reminded and the SSC dashboard shows them."""
    today = today or timezone.localdate()
    marked = 0
    for requirement in PlanRequirement.objects.filter(state=State.NOTIFIED, due_date__lt=today):
        with transaction.atomic():
            locked = (
                PlanRequirement.objects.select_for_update()
                .select_related("case", "supplier")
                .get(pk=requirement.pk)
            )
            if locked.state != State.NOTIFIED:
                continue
            run_transition(
                actor=None, obj=locked, name="mark_overdue", audit_extra={"due": locked.due_date}
            )
            notice_send(
                actor=None,
                kind=Notice.Kind.REMINDER,
                organisations=[locked.supplier],
                about=locked,
                link=_plan_path(locked),
                action_link=_plan_path(locked),
                action_label="Submit your plan",
                action="submit",
                subject=f"Overdue: remedial plan for {locked.case.reference}",
                body=f"Your CPA Certificate Remedial Plan for case "
                f"{locked.case.reference} was due on {locked.due_date:%-d %B %Y}. "
                f"Submit it in the portal now.",
            )
            marked += 1
    return marked


def _latest_approved_with_expiry():
    latest = RemedialPlan.objects.filter(requirement=OuterRef("requirement")).order_by("-version")
    return RemedialPlan.objects.filter(
        requirement__state=State.APPROVED,
        review=RemedialPlan.Review.APPROVED,
        expires_on__isnull=False,
        version=Subquery(latest.values("version")[:1]),
    ).select_related("requirement__case", "requirement__supplier")


def _tell_supplier_and_ssc(*, requirement, subject_supplier, subject_ssc, body, label) -> None:
    """One notice to the supplier, one to the SSC users who may see the plan (not the
    conflicted): a supplier never learns who at the SSC was told."""
    path = _plan_path(requirement)
    notice_send(
        actor=None,
        kind=Notice.Kind.REMINDER,
        organisations=[requirement.supplier],
        about=requirement,
        link=path,
        action_link=path,
        action_label=label,
        subject=subject_supplier,
        body=body,
    )
    notice_send(
        actor=None,
        kind=Notice.Kind.REMINDER,
        users=policies.plan_requirements.users_with("view", requirement, policies.ssc_users()),
        about=requirement,
        link=path,
        subject=subject_ssc,
        body=body,
    )


def plans_lapse_expired(*, today: datetime.date | None = None) -> int:
    """An approved plan may carry an expiry: the supplier and the SSC are warned
    PLAN_EXPIRY_WARNING_WORKING_DAYS Working Days before it, once; on the expiry date a
    requirement not completed lapses to overdue (a new plan is due at once). Returns how many
    lapsed."""
    today = today or timezone.localdate()
    days = settings.PLAN_EXPIRY_WARNING_WORKING_DAYS
    for plan in _latest_approved_with_expiry().filter(
        expiry_warned_at__isnull=True, expires_on__gt=today
    ):
        if today < add_working_days(plan.expires_on, -days):
            continue
        with transaction.atomic():
            locked = RemedialPlan.objects.select_for_update().get(pk=plan.pk)
            if locked.expiry_warned_at is not None:
                continue
            locked.expiry_warned_at = timezone.now()
            locked.save(update_fields=["expiry_warned_at"])
            requirement = plan.requirement
            audit_record(
                actor=None,
                action="plan.expiry_warned",
                obj=requirement,
                after={"version": plan.version, "expires_on": plan.expires_on},
            )
            _tell_supplier_and_ssc(
                requirement=requirement,
                subject_supplier=f"Remedial plan expires on {plan.expires_on:%-d %B %Y}: "
                f"{requirement.case.reference}",
                subject_ssc=f"Remedial plan expires on {plan.expires_on:%-d %B %Y}: "
                f"{requirement.case.reference}, {requirement.supplier}",
                body=f"The SSC's approval of version {plan.version} of the CPA Certificate "
                f"Remedial Plan of {requirement.supplier} for case {requirement.case.reference} "
                f"expires on {plan.expires_on:%-d %B %Y}. Unless the plan is completed by then, "
                f"the requirement reopens as overdue and a new plan is due.",
                label="Open the plan",
            )
    lapsed = 0
    for plan in _latest_approved_with_expiry().filter(expires_on__lte=today):
        with transaction.atomic():
            requirement = (
                PlanRequirement.objects.select_for_update()
                .select_related("case", "supplier")
                .get(pk=plan.requirement_id)
            )
            if requirement.state != State.APPROVED:
                continue
            run_transition(
                actor=None,
                obj=requirement,
                name="lapse",
                audit_extra={"version": plan.version, "expires_on": plan.expires_on},
            )
            _tell_supplier_and_ssc(
                requirement=requirement,
                subject_supplier=f"Lapsed: your remedial plan for {requirement.case.reference}",
                subject_ssc=f"Remedial plan lapsed: {requirement.case.reference}, "
                f"{requirement.supplier}",
                body=f"The SSC's approval of version {plan.version} of the CPA Certificate "
                f"Remedial Plan of {requirement.supplier} for case {requirement.case.reference} "
                f"expired on {plan.expires_on:%-d %B %Y} before the plan was completed. The "
                f"requirement is overdue: a new plan is due now.",
                label="Submit a new plan",
            )
            lapsed += 1
    return lapsed


def policy_upload(*, actor, review_date: datetime.date, upload) -> SupplierPolicy:
    """SEC G8.64: a Supplier Party records its policy for remedial plans."""
    policies.supplier_policies.require(actor, "upload", None)
    with stored_documents(folder="policies") as store, transaction.atomic():
        stored = store(upload)
        policy = SupplierPolicy.objects.create(
            organisation_id=actor.organisation_id,
            review_date=review_date,
            **stored.fields(),
            uploaded_by=actor,
        )
        audit_record(
            actor=actor,
            action="policy.uploaded",
            obj=policy,
            after={"review_date": review_date, "sha256": stored.sha256},
        )
    return policy


def sealed_ballot_view(user, requirement: PlanRequirement) -> dict | None:
    """For the SSC on the plan page while the latest version's ballot is open: who has voted
    and who has not, and the reader's own vote; nobody's choice but their own."""
    standing = policies.review_standing(requirement)
    ballot = standing.ballot
    if not user.is_ssc or ballot is None or not ballot.is_open:
        return None
    voted = {r.reviewer_id for r in standing.counted}
    eligible = _eligible(ballot, requirement.case)
    electors = [e for e in ballot.electorate if e["id"] in eligible]
    return {
        "ballot": ballot,
        "voted": [e["name"] for e in electors if e["id"] in voted],
        "waiting": [e["name"] for e in electors if e["id"] not in voted],
        "own": next((r for r in standing.counted if r.reviewer_id == user.pk), None),
    }


def _fresh_standing(requirement: PlanRequirement):
    requirement = PlanRequirement.objects.prefetch_related("plans__reviews", "plans__ballot").get(
        pk=requirement.pk
    )
    return requirement, policies.review_standing(requirement)


def review_recorded_message(requirement: PlanRequirement) -> str:
    """What the reviewer's review did, and what happens next."""
    requirement, standing = _fresh_standing(requirement)
    ballot = standing.ballot
    if requirement.state not in policies.REVIEWABLE:
        return "Your review is recorded: the SSC has decided and the supplier is notified."
    if ballot is not None and settings.PLAN_APPROVAL_RULE == "ballot":
        if ballot.state == PlanBallot.State.TIED:
            return (
                "Your vote is recorded. Every member has voted and the ballot tied: the "
                "case's chair decides."
            )
        return (
            "Your vote is recorded and sealed until the ballot closes at "
            f"{timezone.localtime(ballot.closes_at):%H:%M on %-d %B %Y}."
        )
    if standing.disagreement:
        return "Your review is recorded. The reviewers disagree: the case's chair decides."
    return "Your review is recorded. The SSC's decision needs another review."


def ballot_outcome_message(requirement: PlanRequirement) -> str:
    requirement, standing = _fresh_standing(requirement)
    ballot = standing.ballot
    if ballot is None:
        return "No ballot is open on this plan."
    cast = sum(ballot.tallies.values())
    if ballot.state == PlanBallot.State.CLOSED:
        outcome = "approved" if ballot.result == PlanReview.Decision.APPROVE else "did not approve"
        return (
            f"The ballot is closed: the SSC {outcome} version {standing.plan.version} "
            f"({cast} votes cast). The supplier is notified."
        )
    if ballot.state == PlanBallot.State.TIED:
        return "The ballot tied: as the case's chair, decide on the plan below."
    return (
        f"The ballot failed for want of quorum: {cast} vote{'s' if cast != 1 else ''}, "
        f"{ballot.quorum_required} needed. Open it again when the members can vote."
    )
