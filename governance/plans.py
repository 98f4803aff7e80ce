"""CPA Certificate Remedial Plans: requirements per affected supplier, versioned plans with
milestones, SSC review, overdue handling, and the Supplier Parties' G8.64 policies."""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from cpl import selectors as cpl_selectors
from portal.audit import audit_record
from portal.documents import stored_documents
from portal.models import Notice, Organisation
from portal.notices import notice_send
from portal.policies import ActionNotNow
from portal.transitions import run_transition
from portal.working_days import add_working_days

from . import policies
from .models import (
    Case,
    PlanMilestone,
    PlanRequirement,
    RemedialPlan,
    SupplierPolicy,
)

State = PlanRequirement.State


def _plan_path(requirement: PlanRequirement) -> str:
    return reverse("governance:plan", args=[requirement.pk])


def plan_requirements_create(*, actor, case: Case) -> list[PlanRequirement]:
    """On a remedial-plan decision: one requirement, and one clause 6.3 notice, per supplier
    responsible for devices of the case's models in the latest inventory (installing or not)."""
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
            subject=f"CPA Certificate Remedial Plan required: {case.reference}",
            body=(
                f"The SSC decided not to remove the device models of case {case.reference} "
                f"from the CPL and requires a CPA Certificate Remedial Plan (CPL Requirements "
                f"Document clause 6.3).\n\nYour organisation is responsible for "
                f"{row['devices']:,} devices of these models (DCC inventory as of "
                f"{row['as_of']:%d %B %Y}).\n\nSubmit your plan in the portal by "
                f"{due:%d %B %Y} ({settings.PLAN_DUE_WORKING_DAYS} Working Days)."
            ),
        )
    return requirements


def plan_submit(
    *, actor, requirement: PlanRequirement, summary: str, upload, milestones: list[dict]
) -> RemedialPlan:
    policies.plan_requirements.require(actor, "submit", requirement)
    if not milestones:
        raise ValidationError("Add at least one milestone.")
    with stored_documents(folder="plans") as store, transaction.atomic():
        requirement = PlanRequirement.objects.select_for_update().get(pk=requirement.pk)
        if requirement.state in (State.APPROVED, State.COMPLETED):
            raise ValidationError("This plan is already approved; it cannot be revised.")
        before = requirement.state
        name = {State.NOT_APPROVED: "resubmit", State.NOTIFIED: "submit", State.OVERDUE: "submit"}
        if requirement.state in name:
            run_transition(
                actor=actor, obj=requirement, name=name[requirement.state], action="submit"
            )
        else:
            # SUBMITTED or RESUBMITTED: a revision before review; reviewers name the version.
            policies.plan_requirements.require(actor, "submit", requirement)
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
        notice_send(
            actor=actor,
            kind=Notice.Kind.PLAN_REVIEW,
            # Only those the policy lets review it now: not the secretariat, not the conflicted.
            users=policies.plan_requirements.reviewers(requirement),
            about=requirement,
            link=_plan_path(requirement),
            action_link=_plan_path(requirement),
            action_label="Review the plan",
            subject=f"Remedial plan v{version} to review: {requirement.case.reference}",
            body=f"{requirement.supplier} submitted version {version} of its CPA "
            f"Certificate Remedial Plan for case {requirement.case.reference}.",
        )
    return plan


def plan_review(
    *, actor, requirement: PlanRequirement, version: int, approve: bool, comments: str
) -> RemedialPlan:
    """Review the version the reviewer read: a newer version makes the review fail."""
    if not approve and not comments.strip():
        raise ValidationError("Give the reasons why the plan is not approved.")
    with transaction.atomic():
        requirement = (
            PlanRequirement.objects.select_for_update()
            .select_related("case", "supplier")
            .get(pk=requirement.pk)
        )
        plan = requirement.plans.order_by("-version").first()
        if plan is None:
            raise ActionNotNow("The supplier has not submitted a plan to review.")
        if plan.version != version:
            raise ActionNotNow(
                f"The supplier submitted version {plan.version} after you opened version "
                f"{version}. Read version {plan.version}, then review it."
            )
        run_transition(
            actor=actor,
            obj=requirement,
            name="approve" if approve else "not_approve",
            action="review",
            audit_extra={"version": version},
        )
        plan.review = RemedialPlan.Review.APPROVED if approve else RemedialPlan.Review.NOT_APPROVED
        plan.review_comments, plan.reviewed_by, plan.reviewed_at = comments, actor, timezone.now()
        plan.save()
        audit_record(
            actor=actor,
            action="plan.reviewed",
            obj=requirement,
            after={"version": plan.version, "review": plan.review, "comments": comments},
        )
        outcome = "approved" if approve else "not approved"
        notice_send(
            actor=actor,
            kind=Notice.Kind.PLAN_REVIEW,
            organisations=[requirement.supplier],
            about=requirement,
            link=_plan_path(requirement),
            action_link=_plan_path(requirement),
            action_label="Read the review" if approve else "Revise and resubmit your plan",
            subject=f"Your remedial plan for {requirement.case.reference} was {outcome}",
            body=(
                f"The SSC reviewed version {plan.version} of your CPA Certificate Remedial "
                f"Plan for case {requirement.case.reference}: {outcome}.\n\n{comments}".strip()
                + (
                    ""
                    if approve
                    else "\n\nYou may revise and resubmit the plan in the portal. "
                    "You may also refer this decision to the Authority (SEC F2.7B)."
                )
            ),
        )
    return plan


def plan_complete(*, actor, requirement: PlanRequirement) -> PlanRequirement:
    with transaction.atomic():
        requirement = (
            PlanRequirement.objects.select_for_update()
            .select_related("case")
            .get(pk=requirement.pk)
        )
        run_transition(actor=actor, obj=requirement, name="complete")
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
                subject=f"Overdue: remedial plan for {locked.case.reference}",
                body=f"Your CPA Certificate Remedial Plan for case "
                f"{locked.case.reference} was due on {locked.due_date:%d %B %Y}. "
                f"Submit it in the portal now.",
            )
            marked += 1
    return marked


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
