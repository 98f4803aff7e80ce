from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from portal.roles import Role

from .models import Ballot, Case, ConflictDeclaration, EvidenceDocument, Vote


def case_list_for_user(user) -> QuerySet[Case]:
    cases = Case.objects.select_related("certificate").prefetch_related(
        "device_models__manufacturer"
    )
    if not user.has_perm("governance.view_case"):
        return cases.none()
    if user.is_ssc:
        return cases
    if user.has_role(Role.EXPERT):
        return cases.filter(experts__expert=user, experts__expires_at__gt=timezone.now())
    if user.has_role(Role.SUPPLIER, Role.OTHER_PARTY) and user.organisation_id:
        return cases.filter(addressed_to=user.organisation_id)
    return cases.none()


def case_for_page(pk: int) -> Case:
    return (
        Case.objects.select_related("certificate", "opened_by")
        .prefetch_related(
            "device_models__manufacturer",
            "addressed_to",
            Prefetch("conflicts", queryset=ConflictDeclaration.objects.select_related("member")),
            "experts__expert",
            "comments__author",
            "plan_requirements__supplier",
            Prefetch("ballots", queryset=Ballot.objects.order_by("number")),
        )
        .get(pk=pk)
    )


def documents_visible(user, case: Case) -> QuerySet[EvidenceDocument]:
    """One query for the whole list: the documents the user holds a guardian grant for."""
    return get_objects_for_user(
        user,
        "governance.view_evidencedocument",
        klass=case.documents.select_related("uploaded_by"),
        accept_global_perms=False,
    ).order_by("uploaded_at", "id")


def ballot_for_page(pk: int) -> Ballot:
    return (
        Ballot.objects.select_related("case__certificate", "opened_by", "closed_by")
        .prefetch_related(
            Prefetch("votes", queryset=Vote.objects.select_related("member")),
            Prefetch(
                "case__conflicts", queryset=ConflictDeclaration.objects.select_related("member")
            ),
        )
        .get(pk=pk)
    )


def open_cases() -> QuerySet[Case]:
    return (
        Case.objects.exclude(state=Case.State.CLOSED)
        .select_related("certificate")
        .order_by("opened_at")
    )


def open_ballots_with_non_voters():
    """Open ballots, soonest closing first, each with `.not_voted`: for the chair."""
    from . import permissions

    ballots = list(
        Ballot.objects.filter(state=Ballot.State.OPEN)
        .select_related("case")
        .prefetch_related("votes", "case__conflicts")
        .order_by("closes_at")
    )
    for ballot in ballots:
        voted = {v.member_id for v in ballot.votes.all()}
        ballot.not_voted = [
            u for u in permissions.eligible_voters(ballot.case) if u.pk not in voted
        ]
    return ballots


def ballots_awaiting_vote(user) -> QuerySet[Ballot]:
    return (
        Ballot.objects.filter(state=Ballot.State.OPEN, closes_at__gt=timezone.now())
        .exclude(votes__member=user)
        .exclude(case__conflicts__member=user, case__conflicts__has_conflict=True)
        .select_related("case")
        .order_by("closes_at")
    )


def unacknowledged_notices(user):
    from .models import NoticeDelivery

    return (
        NoticeDelivery.objects.filter(recipient=user, acknowledged_at__isnull=True)
        .select_related("notice")
        .order_by("notice__created_at")
    )


def plans_waiting_for_supplier(user):
    from .models import PlanRequirement

    State = PlanRequirement.State
    return (
        PlanRequirement.objects.filter(
            supplier_id=user.organisation_id,
            state__in=[State.NOTIFIED, State.NOT_APPROVED, State.OVERDUE],
        )
        .select_related("case", "supplier")
        .order_by("due_date")
    )


def plans_to_review():
    from .models import PlanRequirement

    return (
        PlanRequirement.objects.filter(
            state__in=[PlanRequirement.State.SUBMITTED, PlanRequirement.State.RESUBMITTED]
        )
        .select_related("case", "supplier")
        .order_by("due_date")
    )


def plans_overdue():
    from .models import PlanRequirement

    return (
        PlanRequirement.objects.filter(state=PlanRequirement.State.OVERDUE)
        .select_related("case", "supplier")
        .order_by("due_date")
    )


def referrals_for_authority():
    from .models import Referral

    return (
        Referral.objects.filter(
            state__in=[Referral.State.PACK_SENT, Referral.State.INFORMATION_PROVIDED]
        )
        .select_related("case", "organisation")
        .order_by("lodged_at")
    )


def referrals_for_ssc():
    """Lodged referrals whose pack is not yet sent, and open information requests."""
    from .models import Referral

    return (
        Referral.objects.filter(
            state__in=[Referral.State.LODGED, Referral.State.INFORMATION_REQUESTED]
        )
        .select_related("case", "organisation")
        .order_by("lodged_at")
    )
