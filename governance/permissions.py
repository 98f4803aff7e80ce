"""Who may do what to which case, document and ballot: the policy next to the workflow."""

from django.utils import timezone

from portal.models import User
from portal.roles import Role

from .models import Ballot, Case, ConflictDeclaration, EvidenceDocument, ExpertInvitation

VIEW_DOCUMENT = "governance.view_evidencedocument"


def declaration_for(user, case: Case) -> ConflictDeclaration | None:
    # Iterating .all() uses the pages' prefetched declarations instead of a query per check.
    return next((d for d in case.conflicts.all() if d.member_id == user.pk), None)


def is_conflicted(user, case: Case) -> bool:
    declaration = declaration_for(user, case)
    return declaration is not None and declaration.has_conflict


def active_invitation(user, case: Case) -> ExpertInvitation | None:
    """Checked at request time: an expired invitation opens nothing, whatever jobs have run."""
    return ExpertInvitation.objects.filter(
        case=case, expert=user, expires_at__gt=timezone.now()
    ).first()


def can_view_case(user, case: Case) -> bool:
    if not user.is_authenticated or not user.has_perm("governance.view_case"):
        return False
    if user.is_ssc:
        return True
    if user.has_role(Role.EXPERT):
        return active_invitation(user, case) is not None
    if user.has_role(Role.SUPPLIER, Role.OTHER_PARTY):
        return case.addressed_to.filter(pk=user.organisation_id).exists()
    return False


def can_view_document(
    user, document: EvidenceDocument, *, case_visible: bool | None = None
) -> bool:
    """The case must be visible to the user (expert expiry included) and the document granted."""
    if case_visible is None:
        case_visible = can_view_case(user, document.case)
    return case_visible and user.has_perm(VIEW_DOCUMENT, document)


def is_voting_member(user) -> bool:
    # The chair does not vote; the chair gives the casting vote on a tie.
    return user.is_active and user.has_role(Role.MEMBER)


def eligible_voters(case: Case):
    """Non-conflicted voting members: quorum is computed on them."""
    conflicted = case.conflicts.filter(has_conflict=True).values("member_id")
    return (
        User.objects.filter(is_active=True, groups__name=Role.MEMBER)
        .exclude(pk__in=conflicted)
        .distinct()
        .order_by("username")
    )


def can_vote(user, ballot: Ballot) -> tuple[bool, str]:
    if not is_voting_member(user):
        return False, "Only SSC voting members vote."
    if is_conflicted(user, ballot.case):
        return False, "You declared a conflict of interest on this case: you are recused."
    if not ballot.is_open or ballot.closes_at <= timezone.now():
        return False, "This ballot is closed."
    if declaration_for(user, ballot.case) is None:
        return False, "Declare whether you have a conflict of interest before you vote."
    return True, ""
