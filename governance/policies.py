"""Who may see and do what in the case process, for one object and for lists (portal.policies).

Conflicts of interest live here: a member who declared one on a case has no vote, no
`ssc-only` evidence, no plan review and no chairing on it.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet, prefetch_related_objects
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from portal.models import User
from portal.policies import NotNow, Policy, Refusal, register
from portal.roles import SSC_ROLES, Role
from portal.working_days import add_working_days

from .models import (
    Ballot,
    Case,
    ConflictDeclaration,
    EvidenceDocument,
    ExpertInvitation,
    PlanBallot,
    PlanRequirement,
    PlanReview,
    Referral,
    ReferralDocument,
    RemedialPlan,
    Representation,
    SecurityCharacteristics,
    SupplierPolicy,
)

NO_APPROVED_SUMMARY = (
    "The case's summary for Parties is not approved: the decision notice carries it. The "
    "secretariat writes it and the case's chair approves it on the case page; then issue the "
    "decision."
)
CONFLICTED = "You declared a conflict of interest on this case: you are recused."
UNDECIDED_STATES = (Case.State.OPENED, Case.State.ASSESSMENT, Case.State.VOTING)
BALLOT_UNDECIDED = (Ballot.State.OPEN, Ballot.State.AWAITING_CASTING_VOTE)


# --- facts the rules share ---------------------------------------------------------------------


def declaration_for(user, case: Case) -> ConflictDeclaration | None:
    # Iterating .all() uses the pages' prefetched declarations instead of a query per check.
    return next((d for d in case.conflicts.all() if d.member_id == user.pk), None)


def is_conflicted(user, case: Case) -> bool:
    declaration = declaration_for(user, case)
    return declaration is not None and declaration.has_conflict


def why_conflict_stands(user, case: Case) -> Refusal:
    """A declared conflict cannot be withdrawn while a ballot on the case is undecided: the
    member was recused from its frozen electorate and their vote, if any, removed."""
    declaration = declaration_for(user, case)
    if (
        declaration is not None
        and declaration.has_conflict
        and any(b.state in BALLOT_UNDECIDED for b in case.ballots.all())
    ):
        return NotNow("Your conflict of interest stands: a ballot has opened on this case.")
    return None


def active_invitation(user, case: Case) -> ExpertInvitation | None:
    """Checked at request time: an expired invitation opens nothing, whatever jobs have run."""
    now = timezone.now()
    return next(
        (i for i in case.experts.all() if i.expert_id == user.pk and i.expires_at > now), None
    )


def conflicted_chairs(case: Case) -> list:
    return [
        d.member
        for d in case.conflicts.all()
        if d.has_conflict and d.member.is_active and d.member.has_role(Role.CHAIR)
    ]


def voting_members() -> QuerySet:
    return (
        User.objects.filter(is_active=True, groups__name=Role.MEMBER)
        .distinct()
        .order_by("username")
    )


def recused_from_voting(case: Case) -> set[int]:
    """The members who do not vote on the case: the conflicted, and the acting chair (who
    chairs instead). Read from `case.conflicts.all()`: prefetched on pages, fresh otherwise."""
    recused = {d.member_id for d in case.conflicts.all() if d.has_conflict}
    if case.acting_chair_id:
        recused.add(case.acting_chair_id)
    return recused


def eligible_voters(case: Case) -> QuerySet:
    """Non-conflicted voting members (the acting chair chairs instead): quorum is on them."""
    return voting_members().exclude(pk__in=recused_from_voting(case))


def _may_chair(user, case_field: str = "") -> Q:
    """The cases `user` may chair, as a filter (a superset of why_not_chair, for candidates):
    those they are acting chair of, and, for the Chair, those with no acting chair."""
    prefix = f"{case_field}__" if case_field else ""
    chaired = Q(**{f"{prefix}acting_chair": user})
    if user.has_role(Role.CHAIR):
        chaired |= Q(**{f"{prefix}acting_chair__isnull": True})
    return chaired


def _not_conflicted(user, case_ref: str = "pk") -> Exists:
    """A candidates filter: no conflict declared by `user` on the case (OuterRef `case_ref`)."""
    return ~Exists(  # type: ignore[return-value]  # ~Exists is an Exists at run time
        ConflictDeclaration.objects.filter(case=OuterRef(case_ref), member=user, has_conflict=True)
    )


def referral_window(start) -> tuple:
    """(start, last day): SEC F2.7B referrals within REFERRAL_WINDOW_WORKING_DAYS Working Days
    of the decision notice, or of the plan refusal. The SEC text sets no limit: the window is
    local practice, and a window of None has no last day."""
    start = timezone.localdate(start)
    days = settings.REFERRAL_WINDOW_WORKING_DAYS
    return start, None if days is None else add_working_days(start, days)


def _referrable(user, referrals, start) -> Refusal:
    """A decision still open to this user's organisation: window open, not determined, not
    already referred by it."""
    first, last = referral_window(start)
    if last is not None and timezone.localdate() > last:
        return NotNow(
            f"The referral window closed on {last:%-d %B %Y} "
            f"({settings.REFERRAL_WINDOW_WORKING_DAYS} Working Days after {first:%-d %B %Y})."
        )
    if any(r.state in (Referral.State.DETERMINED, Referral.State.CLOSED) for r in referrals):
        return NotNow("The Authority has determined this decision; its determination is final.")
    if any(r.organisation_id == user.organisation_id for r in referrals):
        return NotNow("Your organisation has already referred this decision.")
    return None


def experts() -> QuerySet:
    """The users who may be invited to read a case."""
    return User.objects.filter(is_active=True, groups__name=Role.EXPERT).order_by("username")


def ssc_users() -> QuerySet:
    return (
        User.objects.filter(is_active=True, groups__name__in=SSC_ROLES)
        .distinct()
        .order_by("username")
    )


def _ssc_user_ids() -> set[int]:
    return set(ssc_users().values_list("pk", flat=True))


def why_not_chair(user, case: Case) -> Refusal:
    """The chair of this case: the acting chair when one is designated, else the SSC Chair,
    never a conflicted member."""
    if is_conflicted(user, case):
        return CONFLICTED + " The acting chair chairs this case."
    if case.acting_chair_id:
        if case.acting_chair_id == user.pk:
            return None
        return "The acting chair designated for this case chairs it."
    if user.has_role(Role.CHAIR):
        return None
    return "Only the chair of this case may do this."


def why_not_closable(case: Case) -> Refusal:
    """When a case may close, whoever closes it: its decision has taken effect, every remedial
    plan is completed (never vacuously: no plan required only on the chair's confirmation), no
    referral is open and the referral window has passed."""
    if case.state not in (Case.State.REMEDIATION, Case.State.SUSPENSION):
        return NotNow("Only a case whose decision has taken effect can be closed.")
    if case.state == Case.State.REMEDIATION and any(
        r.state != PlanRequirement.State.COMPLETED for r in case.plan_requirements.all()
    ):
        return NotNow("Every supplier's remedial plan must be completed first.")
    if any(r.state != Referral.State.CLOSED for r in case.referrals.all()):
        return NotNow("A referral to the Authority is still open.")
    record = getattr(case, "decision_record", None)
    if record is None or record.issued_at is None:
        return NotNow("There is no issued decision on this case.")
    # Clause 6.3, never vacuously: no plan was required only on the chair's confirmation.
    if (
        case.state == Case.State.REMEDIATION
        and not case.plan_requirements.all()
        and not record.no_devices_reason
    ):
        return NotNow(
            "No supplier has been required to produce a remedial plan and the chair has not "
            "confirmed that none has devices of these models."
        )
    _, window_end = referral_window(record.issued_at)
    if window_end is not None and timezone.localdate() <= window_end:
        return NotNow(f"Parties may refer the decision until {window_end:%-d %B %Y}.")
    return None


def _ssc(user) -> Refusal:
    return None if user.is_ssc else "Only the SSC may do this."


# Need to know, shared by evidence and representations (their `ssc-only` and `parties` values).
SSC_ONLY = EvidenceDocument.Classification.SSC_ONLY
PARTIES = EvidenceDocument.Classification.PARTIES


def why_not_classified(user, case: Case, classification: str) -> Refusal:
    """`ssc-only`: non-conflicted SSC users; `parties`: the SSC, the Parties and the experts
    who may see the case (the case's own check comes first)."""
    if classification == SSC_ONLY and (not user.is_ssc or is_conflicted(user, case)):
        return "This is for non-conflicted SSC users only."
    if classification == PARTIES and not (
        user.is_ssc or user.has_role(Role.SUPPLIER, Role.OTHER_PARTY, Role.EXPERT)
    ):
        return "This is for the SSC, the Parties and the invited experts."
    return None


def classified_for(user, case_ref: str = "case") -> Q:
    """`why_not_classified` as a filter, on rows whose case is already visible to the user."""
    rule = Q(pk__in=[])
    if user.is_ssc:
        # Q & Exists is a Q at run time; the stubs say Combinable.
        rule |= Q(classification=SSC_ONLY) & _not_conflicted(user, case_ref)  # type: ignore[assignment]
    if user.is_ssc or user.has_role(Role.SUPPLIER, Role.OTHER_PARTY, Role.EXPERT):
        rule |= Q(classification=PARTIES)
    return rule


def _secretariat(user) -> Refusal:
    return None if user.has_role(Role.SECRETARIAT) else "Only the SSC Secretariat may do this."


def _then(who: Refusal, when: bool | NotNow) -> Refusal:
    """Who may act is asked first (403 for those who never may), then whether now (409)."""
    if who is not None:
        return who
    return None if when is True else (when or NotNow("This cannot be done at this stage."))


def _in_remediation(requirement) -> bool | NotNow:
    # Plans are the remediation's business: a case suspended (by an overturning determination)
    # or closed takes them off everyone's work.
    return requirement.case.state == Case.State.REMEDIATION or NotNow(
        "The case is no longer in remediation: its remedial plans are closed."
    )


def _now(*whens) -> bool | NotNow:
    return next((w for w in whens if w is not True), True)


def _authority(user, refusal: str) -> Refusal:
    return None if user.has_role(Role.AUTHORITY) else refusal


def _either(*refusals) -> Refusal:
    """Allowed when any one rule allows; otherwise the last rule's reason."""
    return None if any(r is None for r in refusals) else refusals[-1]


# --- cases -------------------------------------------------------------------------------------


class CasePolicy(Policy):
    model = Case
    ACTIONS = (
        "view",
        "view_deliberation",
        "start_assessment",
        "declare_conflict",
        "designate_acting_chair",
        "upload_evidence",
        "invite_expert",
        "comment",
        "open_ballot",
        "issue_decision",
        "refer",
        "close",
        "submit_representation",
        "record_recommendation",
        "write_party_summary",
        "approve_party_summary",
    )
    SYSTEM_ACTIONS = frozenset(
        {"voting_failed", "decide", "overturn_to_remediation", "overturn_to_suspension"}
    )

    def prepare(self, queryset):
        return queryset.select_related("certificate", "acting_chair").prefetch_related(
            "conflicts__member",
            "experts",
            "addressed_to",
            "ballots__votes",
            "referrals",
            "plan_requirements__plans",
            "plan_requirements__referrals",
        )

    def candidates(self, user, action):
        states = {
            "designate_acting_chair": [*UNDECIDED_STATES, Case.State.DECIDED],
            "open_ballot": [Case.State.ASSESSMENT],
            "issue_decision": [Case.State.DECIDED],
            "write_party_summary": [*UNDECIDED_STATES, Case.State.DECIDED],
        }.get(action)
        cases = Case.objects.order_by("opened_at", "pk")
        if states:
            cases = cases.filter(state__in=states)
        if action == "approve_party_summary":
            cases = cases.exclude(Q(party_summary="") | Q(state=Case.State.CLOSED)).filter(
                party_summary_approved_at__isnull=True
            )
        if action == "view_deliberation":
            return cases.filter(_not_conflicted(user)) if _ssc(user) is None else cases.none()
        if action in ("open_ballot", "issue_decision", "approve_party_summary"):
            cases = cases.filter(_may_chair(user), _not_conflicted(user))
        elif action == "write_party_summary" and _secretariat(user):
            return cases.none()
        elif action == "designate_acting_chair":
            if _secretariat(user):
                return cases.none()
            cases = cases.filter(
                Exists(
                    ConflictDeclaration.objects.filter(
                        case=OuterRef("pk"),
                        has_conflict=True,
                        member__is_active=True,
                        member__groups__name=Role.CHAIR,
                    )
                )
            )
        return cases

    def visible(self, user) -> QuerySet:
        cases = Case.objects.all()
        if not user.is_authenticated or not user.has_perm("governance.view_case"):
            return cases.none()
        if user.is_ssc:
            return cases
        if user.has_role(Role.EXPERT):
            return cases.filter(
                experts__expert=user, experts__expires_at__gt=timezone.now()
            ).distinct()
        if user.has_role(Role.SUPPLIER, Role.OTHER_PARTY) and user.organisation_id:
            return cases.filter(addressed_to=user.organisation_id)
        return cases.none()

    def check_view(self, user, case) -> Refusal:
        """SSC users; experts with an unexpired invitation; Parties the case is addressed to."""
        if not user.has_perm("governance.view_case"):
            return "You may not see cases."
        if user.is_ssc or case is None:  # None: may this user see any case (the list page)?
            return None
        if user.has_role(Role.EXPERT):
            return None if active_invitation(user, case) else "Your invitation has ended."
        if user.has_role(Role.SUPPLIER, Role.OTHER_PARTY) and any(
            o.pk == user.organisation_id for o in case.addressed_to.all()
        ):
            return None
        return "This case is not addressed to your organisation."

    def check_view_deliberation(self, user, case) -> Refusal:
        """Non-conflicted SSC users: the case's SSC-only details (summary, reasons, severity,
        device counts), conflicts, ballots and the reasons behind a decision. A conflicted
        member sees only what a Party would, at every stage of the case."""
        refusal = _ssc(user)
        if refusal is None and case is not None and is_conflicted(user, case):
            return CONFLICTED
        return refusal

    def check_start_assessment(self, user, case) -> Refusal:
        """The secretariat or the case's chair, while the case is opened."""
        return _then(
            _either(_secretariat(user), why_not_chair(user, case)),
            case.state == Case.State.OPENED or NotNow("The assessment has started."),
        )

    def check_declare_conflict(self, user, case) -> Refusal:
        """SSC members and the chair, at any stage until the case is closed (conflicts arise
        during plan review and referrals too); a conflict stands while a ballot is open. A
        conflict declared after voting in the open ballot removes the vote."""
        if not user.has_role(Role.MEMBER, Role.CHAIR):
            return "Only SSC members declare conflicts of interest."
        if case is None:
            return None
        if case.state == Case.State.CLOSED:
            return NotNow("The case is closed.")
        # A conflict declared after voting in the open ballot removes the vote (services). A
        # member may always see and update their own declaration; withdrawing a conflict
        # during a ballot is refused by `why_conflict_stands`.
        return None

    def check_designate_acting_chair(self, user, case) -> Refusal:
        """The secretariat, when the chair declared a conflict on the case, until the decision
        is issued."""
        refusal = _secretariat(user)
        if refusal or case is None:
            return refusal
        if case.state not in (*UNDECIDED_STATES, Case.State.DECIDED):
            return NotNow("The decision is issued: no acting chair is needed.")
        if not conflicted_chairs(case):
            return NotNow("The chair has no conflict on this case.")
        return None

    def check_upload_evidence(self, user, case) -> Refusal:
        """The secretariat, until the case is closed."""
        return _then(
            _secretariat(user),
            case.state != Case.State.CLOSED or NotNow("The case is closed."),
        )

    def check_invite_expert(self, user, case) -> Refusal:
        """The secretariat or the case's chair, until the decision is issued."""
        return _then(
            _either(_secretariat(user), why_not_chair(user, case)),
            case.state in (*UNDECIDED_STATES, Case.State.DECIDED)
            or NotNow("Experts are invited before the decision is issued."),
        )

    def check_comment(self, user, case) -> Refusal:
        """Non-conflicted SSC users and invited experts who may see the case."""
        if user.has_role(Role.SUPPLIER, Role.OTHER_PARTY, Role.AUTHORITY):
            return "Comments are for the SSC and its invited experts."
        if case is not None and is_conflicted(user, case):
            return CONFLICTED
        return self.check_view(user, case)

    def check_open_ballot(self, user, case) -> Refusal:
        """The case's chair, while the case is in assessment."""
        return _then(
            why_not_chair(user, case),
            case.state == Case.State.ASSESSMENT
            or NotNow("A ballot opens when the case is in assessment."),
        )

    def check_issue_decision(self, user, case) -> Refusal:
        """The case's chair, once the ballot has decided and the chair has approved the case's
        summary for Parties (the decision notice carries it)."""
        return _then(
            why_not_chair(user, case),
            _now(
                case.state == Case.State.DECIDED
                or NotNow("There is no decision waiting to be issued."),
                case.party_summary_approved_at is not None or NotNow(NO_APPROVED_SUMMARY),
            ),
        )

    def check_refer(self, user, case) -> Refusal:
        """A Party the decision is addressed to, within the referral window of the decision
        notice (or of its own refused plan), unless the Authority has determined it or the
        Party has referred it already (SEC F2.7B)."""
        if not (user.has_perm("governance.add_referral") and user.organisation_id):
            return "Only SEC Parties refer decisions to the Authority."
        if case is None:
            return None
        refusal = self.check_view(user, case)
        if refusal:
            return refusal
        decision = self.why_not_refer_decision(user, case)
        if decision is None or any(
            plan_requirements.can(user, "refer", r) for r in case.plan_requirements.all()
        ):
            return None
        return decision

    def check_submit_representation(self, user, case) -> Refusal:
        """Staff of a Party the case is addressed to, while the SSC assesses the case."""
        if not user.has_role(Role.SUPPLIER, Role.OTHER_PARTY):
            return "Only the Parties the case is addressed to make representations."
        if case is None:
            return None
        return _then(
            self.check_view(user, case),
            case.state == Case.State.ASSESSMENT
            or NotNow("Representations are made while the SSC assesses the case."),
        )

    def check_record_recommendation(self, user, case) -> Refusal:
        """The secretariat, or an expert invited to the case, before the ballot opens."""
        if user.has_role(Role.EXPERT):
            invited = case is None or active_invitation(user, case)
            who = None if invited else "Your invitation has ended."
        else:
            who = _secretariat(user) and "Only the secretariat or an invited expert recommends."
        if who or case is None:
            return who
        return _then(
            who,
            case.state in (Case.State.OPENED, Case.State.ASSESSMENT)
            or NotNow("A recommendation is recorded before the ballot."),
        )

    def check_write_party_summary(self, user, case) -> Refusal:
        """The secretariat, until the decision notice is issued (it carries the text; the chair
        approves it first)."""
        return _then(
            _secretariat(user),
            case.state in (*UNDECIDED_STATES, Case.State.DECIDED)
            or NotNow("The decision notice is issued: its summary for Parties stands."),
        )

    def check_approve_party_summary(self, user, case) -> Refusal:
        """The case's chair, when the secretariat's summary for Parties awaits approval on a
        case that is not closed."""
        return _then(
            why_not_chair(user, case),
            _now(
                bool(case.party_summary and case.party_summary_approved_at is None)
                or NotNow("No summary for Parties is waiting for approval."),
                case.state != Case.State.CLOSED or NotNow("The case is closed."),
            ),
        )

    def why_not_refer_decision(self, user, case) -> Refusal:
        """The decision to remove or not to remove, as opposed to a plan refusal."""
        record = getattr(case, "decision_record", None)
        if record is None or record.issued_at is None:
            return NotNow("There is no issued decision on this case to refer.")
        kind = Referral.Kind.REMOVE if record.decision == "suspend" else Referral.Kind.NOT_REMOVE
        same = [r for r in case.referrals.all() if r.kind == kind]
        return _referrable(user, same, record.issued_at)

    def check_close(self, user, case) -> Refusal:
        """The secretariat or the case's chair, once every remedial plan is completed, no
        referral is open and the referral window has passed."""
        return _either(_secretariat(user), why_not_chair(user, case)) or why_not_closable(case)


# --- evidence ----------------------------------------------------------------------------------


class EvidencePolicy(Policy):
    """Need to know: a document is visible to the users its classification admits and who hold
    its grant, on a case they may see. `ssc-only` excludes members conflicted on the case."""

    model = EvidenceDocument
    ACTIONS = ("view", "grant", "manage_access")

    def prepare(self, queryset):
        return queryset.select_related("case", "uploaded_by").prefetch_related(
            "case__conflicts__member", "case__experts", "case__addressed_to"
        )

    def visible(self, user) -> QuerySet:
        if not user.is_authenticated:
            return EvidenceDocument.objects.none()
        rule = Q(classification=EvidenceDocument.Classification.NAMED) | classified_for(user)
        granted = get_objects_for_user(
            user,
            "governance.view_evidencedocument",
            klass=EvidenceDocument.objects.filter(case__in=cases.visible(user).values("pk")),
            accept_global_perms=False,
        )
        return granted.filter(rule).distinct()

    def check_view(self, user, document) -> Refusal:
        """Users the classification admits (why_not_classified; `named-recipients`: named
        users) who hold the grant (kept to the rule's viewers) and may see the case."""
        refusal = cases.check_view(user, document.case) or why_not_classified(
            user, document.case, document.classification
        )
        if refusal:
            return refusal
        if not user.has_perm("governance.view_evidencedocument", document):
            return "You have not been granted this document."
        return None

    def rule_viewers(self, document) -> set[int] | None:
        """The users whose grant the classification's rule wants (kept in step by
        evidence_sync_access); None where only named grants count."""
        case, C = document.case, EvidenceDocument.Classification
        if document.classification == C.SSC_ONLY:
            conflicted = set(
                case.conflicts.filter(has_conflict=True).values_list("member_id", flat=True)
            )
            return _ssc_user_ids() - conflicted
        if document.classification == C.PARTIES:
            parties = User.objects.filter(
                is_active=True,
                organisation__in=case.addressed_to.all(),
                groups__name__in=[Role.SUPPLIER, Role.OTHER_PARTY],
            )
            return set(parties.values_list("pk", flat=True)) | _ssc_user_ids()
        return None

    def check_grant(self, user, document) -> Refusal:
        """The secretariat names (and un-names) the recipients of a `named-recipients`
        document."""
        refusal = _secretariat(user)
        if refusal is None and document.classification != EvidenceDocument.Classification.NAMED:
            return "Only named-recipient documents are granted to individuals."
        return refusal or self.check_manage_access(user, document)

    def check_manage_access(self, user, document) -> Refusal:
        """The secretariat sees who may open a document and why, and re-classifies it, until
        the case closes."""
        return _then(
            _secretariat(user),
            document is None
            or document.case.state != Case.State.CLOSED
            or NotNow("The case is closed: its evidence stays as it was."),
        )


# --- representations ---------------------------------------------------------------------------


class RepresentationPolicy(Policy):
    """A Party's views on a case, read on the case page: need to know, as evidence is."""

    model = Representation

    def prepare(self, queryset):
        return queryset.select_related("case", "organisation").prefetch_related(
            "case__conflicts__member", "case__experts", "case__addressed_to"
        )

    def visible(self, user) -> QuerySet:
        found = Representation.objects.filter(case__in=cases.visible(user).values("pk"))
        if not user.is_authenticated:
            return found.none()
        rule = classified_for(user)
        if user.has_role(Role.SUPPLIER, Role.OTHER_PARTY) and user.organisation_id:
            rule |= Q(organisation_id=user.organisation_id)
        return found.filter(rule)

    def check_view(self, user, representation) -> Refusal:
        """Whoever may see the case and whom the classification admits (why_not_classified:
        `ssc-only` non-conflicted SSC users, `parties` also the addressed Parties and invited
        experts); always the Party that made it."""
        case = representation.case
        refusal = cases.check_view(user, case)
        if refusal:
            return refusal
        if (
            user.has_role(Role.SUPPLIER, Role.OTHER_PARTY)
            and user.organisation_id
            and representation.organisation_id == user.organisation_id
        ):
            return None
        return why_not_classified(user, case, representation.classification)


# --- ballots -----------------------------------------------------------------------------------


class BallotPolicy(Policy):
    model = Ballot
    ACTIONS = ("view", "vote", "close", "cast_deciding_vote")
    SYSTEM_ACTIONS = frozenset({"close", "fail", "await_casting_vote"})

    def prepare(self, queryset):
        return queryset.select_related("case", "case__acting_chair").prefetch_related(
            "case__conflicts__member", "votes"
        )

    def candidates(self, user, action):
        states = {
            "vote": [Ballot.State.OPEN],
            "close": [Ballot.State.OPEN],
            "cast_deciding_vote": [Ballot.State.AWAITING_CASTING_VOTE],
        }.get(action)
        ballots = Ballot.objects.order_by("closes_at", "pk")
        if states:
            ballots = ballots.filter(state__in=states)
        if action == "vote":
            if not user.has_role(Role.MEMBER):
                return ballots.none()
            ballots = ballots.exclude(case__acting_chair=user).filter(_not_conflicted(user, "case"))
        elif action in ("close", "cast_deciding_vote"):
            ballots = ballots.filter(_may_chair(user, "case"), _not_conflicted(user, "case"))
        return ballots

    def visible(self, user) -> QuerySet:
        return (
            Ballot.objects.filter(_not_conflicted(user, "case"))
            if user.is_authenticated and user.is_ssc
            else Ballot.objects.none()
        )

    def check_view(self, user, ballot) -> Refusal:
        """SSC users not conflicted on the case (ballots are the SSC's business)."""
        refusal = _ssc(user)
        if refusal is None and ballot is not None and is_conflicted(user, ballot.case):
            return CONFLICTED
        return refusal

    def check_vote(self, user, ballot) -> Refusal:
        """SSC voting members of the electorate frozen when the ballot opened, with no conflict
        on the case (not its acting chair), while the ballot is open."""
        if not user.has_role(Role.MEMBER):
            if user.has_role(Role.CHAIR):
                return (
                    "You chair the SSC: you do not vote; you close the ballot and give the "
                    "casting vote on a tie."
                )
            return "Only SSC voting members vote."
        case = ballot.case
        if case.acting_chair_id == user.pk:
            return "You chair this case: you give the casting vote on a tie."
        if is_conflicted(user, case):
            return CONFLICTED
        if not ballot.is_open or ballot.closes_at <= timezone.now():
            return NotNow("This ballot is closed.")
        if all(e["id"] != user.pk for e in ballot.electorate):
            return "You were not an SSC voting member when this ballot opened: no vote in it."
        return None  # an undeclared member confirms "no conflict" with the vote

    def check_close(self, user, ballot) -> Refusal:
        """The case's chair, while the ballot is open."""
        refusal = why_not_chair(user, ballot.case)
        if refusal is None and not ballot.is_open:
            return NotNow(f"This ballot is {ballot.get_state_display().lower()}.")
        return refusal

    def check_cast_deciding_vote(self, user, ballot) -> Refusal:
        """The case's chair, when the ballot is tied."""
        refusal = why_not_chair(user, ballot.case)
        if refusal is None and ballot.state != Ballot.State.AWAITING_CASTING_VOTE:
            return NotNow("This ballot is not waiting for a casting vote.")
        return refusal


# --- remedial plans ----------------------------------------------------------------------------

PlanState = PlanRequirement.State
REVIEWABLE = (PlanState.SUBMITTED, PlanState.RESUBMITTED)
# A new plan is due: none submitted yet, overdue, or the SSC did not approve the last one.
SUBMITTABLE = (PlanState.NOTIFIED, PlanState.OVERDUE, PlanState.NOT_APPROVED)
APPROVAL_RULES = ("one", "two", "ballot")


@dataclass(frozen=True)
class ReviewStanding:
    """Where the SSC's review of a requirement's latest plan version stands."""

    plan: RemedialPlan | None
    counted: list[PlanReview] = field(default_factory=list)  # ordinary reviews (or votes)
    deciding: PlanReview | None = None  # the chair's decision on a disagreement or a tie
    ballot: PlanBallot | None = None  # under the "ballot" rule, the version's ballot

    @property
    def disagreement(self) -> bool:
        """Two reviewers disagree, or the ballot tied: the chair decides."""
        if self.deciding is not None:
            return False
        if settings.PLAN_APPROVAL_RULE == "ballot":
            return self.ballot is not None and self.ballot.state == PlanBallot.State.TIED
        return len({r.decision for r in self.counted}) > 1

    @property
    def outcome(self) -> str | None:
        """The SSC's decision, once the rule has one: "approve" or "not_approve"."""
        if self.deciding is not None:
            return self.deciding.decision
        if settings.PLAN_APPROVAL_RULE == "ballot":
            closed = self.ballot is not None and self.ballot.state == PlanBallot.State.CLOSED
            return self.ballot.result if closed else None  # type: ignore[union-attr]
        if not self.counted:
            return None
        if settings.PLAN_APPROVAL_RULE == "one":
            return self.counted[-1].decision
        decisions = {r.decision for r in self.counted}
        return decisions.pop() if len(self.counted) >= 2 and len(decisions) == 1 else None


def approval_rule_label() -> str:
    return {
        "one": "one SSC reviewer decides",
        "two": "two SSC reviewers must agree; if they disagree, the case's chair decides",
        "ballot": "a sealed ballot of the SSC voting members without a conflict, open "
        f"{settings.PLAN_BALLOT_WORKING_DAYS} Working Days; a majority of the votes cast decides "
        "once quorum is met, and the case's chair decides a tie",
    }.get(settings.PLAN_APPROVAL_RULE, f"{settings.PLAN_APPROVAL_RULE} (not available)")


def review_standing(requirement) -> ReviewStanding:
    """Read from `requirement.plans.all()` and each plan's `reviews.all()` (prefetched on pages);
    reviews withdrawn on a conflict do not count."""
    plan = max(requirement.plans.all(), key=lambda p: p.version, default=None)
    return ReviewStanding(None) if plan is None else plan_standing(plan)


def plan_standing(plan) -> ReviewStanding:
    live = [r for r in plan.reviews.all() if r.withdrawn_at is None]
    return ReviewStanding(
        plan,
        [r for r in live if not r.deciding],
        next((r for r in live if r.deciding), None),
        getattr(plan, "ballot", None),  # None when the version has no ballot
    )


class PlanRequirementPolicy(Policy):
    model = PlanRequirement
    ACTIONS = (
        "view",
        "submit",
        "revise",
        "review",
        "close_ballot",
        "open_ballot",
        "complete",
        "refer",
    )
    SYSTEM_ACTIONS = frozenset(
        {"mark_overdue", "lapse", "approve_by_determination", "close_ballot", "open_ballot"}
    )

    def prepare(self, queryset):
        return queryset.select_related("case", "supplier").prefetch_related(
            "case__conflicts__member", "plans__reviews", "plans__ballot", "referrals"
        )

    def candidates(self, user, action):
        states = {
            "submit": list(SUBMITTABLE),
            "revise": list(REVIEWABLE),
            "review": list(REVIEWABLE),
            "complete": [PlanState.APPROVED],
            "refer": [PlanState.NOT_APPROVED],
        }.get(action)
        requirements = PlanRequirement.objects.order_by("due_date", "id")
        if not states:
            return requirements
        requirements = requirements.filter(state__in=states, case__state=Case.State.REMEDIATION)
        if action in ("submit", "revise", "refer"):
            if not (user.has_role(Role.SUPPLIER) and user.organisation_id):
                return requirements.none()
            return requirements.filter(supplier_id=user.organisation_id)
        if not user.has_perm("governance.review_remedialplan"):
            return requirements.none()
        return requirements.filter(_not_conflicted(user, "case"))

    def visible(self, user) -> QuerySet:
        requirements = PlanRequirement.objects.all()
        if not user.is_authenticated or not user.has_perm("governance.view_planrequirement"):
            return requirements.none()
        if user.is_ssc:
            # A conflicted member sees what a Party would: no other organisation's plan.
            return requirements.filter(_not_conflicted(user, "case"))
        if user.has_role(Role.SUPPLIER) and user.organisation_id:
            return requirements.filter(supplier_id=user.organisation_id)
        return requirements.none()

    def reviewers(self, requirement) -> list:
        """The users who may review this plan now: whom a submission (or a disagreement) is
        notified to."""
        prefetch_related_objects(
            [requirement], "plans__reviews", "plans__ballot", "case__conflicts__member"
        )
        return self.users_with("review", requirement, ssc_users())

    def check_view(self, user, requirement) -> Refusal:
        """The SSC; the supplier's own staff (a supplier never sees another's plan)."""
        if not user.has_perm("governance.view_planrequirement"):
            return "You may not see remedial plans."
        if requirement is None:
            return None
        if user.is_ssc:
            return CONFLICTED if is_conflicted(user, requirement.case) else None
        if user.has_role(Role.SUPPLIER) and requirement.supplier_id == user.organisation_id:
            return None
        return "This is another organisation's plan."

    def _own_supplier(self, user, requirement) -> Refusal:
        if user.has_role(Role.SUPPLIER) and requirement.supplier_id == user.organisation_id:
            return None
        return "Only the supplier's own staff act on its plan."

    def check_submit(self, user, requirement) -> Refusal:
        """The supplier's own staff, when no version waits for the SSC's review (none submitted
        yet, overdue, or not approved), while the case is in remediation."""
        return _then(
            self._own_supplier(user, requirement),
            _now(
                requirement.state in SUBMITTABLE
                or NotNow(
                    "Your plan is waiting for the SSC's review: revise it instead."
                    if requirement.state in REVIEWABLE
                    else "This plan is approved; it cannot be revised."
                ),
                _in_remediation(requirement),
            ),
        )

    def check_revise(self, user, requirement) -> Refusal:
        """The supplier's own staff, while a submitted version waits for the SSC's review (the
        new version replaces it before review), while the case is in remediation."""
        return _then(
            self._own_supplier(user, requirement),
            _now(
                requirement.state in REVIEWABLE
                or NotNow("No version of this plan is waiting for the SSC's review."),
                _in_remediation(requirement),
            ),
        )

    def _reviewer(self, user, requirement) -> Refusal:
        if not user.has_perm("governance.review_remedialplan"):
            return "Only SSC members review remedial plans."
        if is_conflicted(user, requirement.case):
            return CONFLICTED
        return None

    def check_review(self, user, requirement) -> Refusal:
        """Non-conflicted SSC members and the chair, when a plan version awaits review, while
        the case is in remediation; under PLAN_APPROVAL_RULE "two", once per reviewer, and
        only the case's chair when the two reviewers disagree."""
        refusal = _then(
            self._reviewer(user, requirement),
            _now(
                requirement.state in REVIEWABLE
                or NotNow("There is no submitted plan waiting for review."),
                _in_remediation(requirement),
            ),
        )
        if refusal:
            return refusal
        rule = settings.PLAN_APPROVAL_RULE
        if rule not in APPROVAL_RULES:
            return NotNow(f"PLAN_APPROVAL_RULE {rule!r} is unknown: use one, two or ballot.")
        standing = review_standing(requirement)
        if rule == "ballot":
            return self._why_not_vote(user, requirement, standing)
        if standing.disagreement:
            if any(r.reviewer_id == user.pk for r in standing.counted):
                return NotNow(
                    "You are one of the two reviewers who disagree: the case's chair decides, "
                    "or, when you chair it, the acting chair."
                )
            if why_not_chair(user, requirement.case) is None:
                return None
            return NotNow("The two reviewers disagree: the case's chair decides.")
        if rule == "two" and any(r.reviewer_id == user.pk for r in standing.counted):
            version = standing.plan.version if standing.plan else ""
            return NotNow(
                f"You have reviewed version {version}: a second reviewer decides with you."
            )
        return None

    def _why_not_vote(self, user, requirement, standing: ReviewStanding) -> Refusal:
        """Under the "ballot" rule: a vote by the electorate frozen when the version's ballot
        opened (conflicted members and the acting chair recused), once, while it is open; on a
        tie, the case's chair decides."""
        ballot, version = standing.ballot, standing.plan.version if standing.plan else ""
        if standing.disagreement:
            if why_not_chair(user, requirement.case) is None:
                return None
            return NotNow("The ballot is tied: the case's chair decides.")
        if ballot is None or ballot.state != PlanBallot.State.OPEN:
            return NotNow(f"No ballot is open on version {version}: the case's chair opens one.")
        if ballot.closes_at <= timezone.now():
            return NotNow("This ballot is closed.")
        if all(e["id"] != user.pk for e in ballot.electorate):
            return "You were not an SSC voting member when this ballot opened: no vote in it."
        if requirement.case.acting_chair_id == user.pk:
            return "You chair this case: you decide a tie."
        if any(r.reviewer_id == user.pk for r in standing.counted):
            return NotNow(f"You have voted on version {version}; a vote is final.")
        return None

    def check_close_ballot(self, user, requirement) -> Refusal:
        """The case's chair, while the ballot on the latest version is open: the votes are
        counted now."""
        standing = review_standing(requirement)
        return _then(
            why_not_chair(user, requirement.case),
            _now(
                (standing.ballot is not None and standing.ballot.is_open)
                or NotNow("No ballot is open on this plan."),
                _in_remediation(requirement),
            ),
        )

    def check_open_ballot(self, user, requirement) -> Refusal:
        """The case's chair, under the "ballot" rule, when the latest version awaits review and
        its ballot failed for want of quorum (or it has none: the rule changed meanwhile)."""
        standing = review_standing(requirement)
        ballot = standing.ballot
        return _then(
            why_not_chair(user, requirement.case),
            _now(
                settings.PLAN_APPROVAL_RULE == "ballot"
                or NotNow("The SSC does not decide on plans by ballot."),
                requirement.state in REVIEWABLE
                or NotNow("There is no submitted plan waiting for review."),
                (
                    standing.plan is not None
                    and (ballot is None or ballot.state == PlanBallot.State.FAILED)
                )
                or NotNow("A ballot on this version is already open or has decided."),
                _in_remediation(requirement),
            ),
        )

    def check_complete(self, user, requirement) -> Refusal:
        """Non-conflicted SSC members and the chair, once the plan is approved, while the case
        is in remediation."""
        return _then(
            self._reviewer(user, requirement),
            _now(
                requirement.state == PlanState.APPROVED
                or NotNow("Only an approved plan can be completed."),
                _in_remediation(requirement),
            ),
        )

    def check_refer(self, user, requirement) -> Refusal:
        """The supplier whose plan the SSC did not approve, within the referral window of the
        refusal, unless determined or already referred (SEC F2.7B)."""
        who = self._own_supplier(user, requirement)
        if who is None and not user.has_perm("governance.add_referral"):
            who = "Only SEC Parties refer decisions to the Authority."
        refusal = _then(
            who,
            _now(
                requirement.state == PlanState.NOT_APPROVED
                or NotNow("The SSC has not refused this plan."),
                _in_remediation(requirement),
            ),
        )
        if refusal:
            return refusal
        refused = [
            p for p in requirement.plans.all() if p.review == RemedialPlan.Review.NOT_APPROVED
        ]
        if not refused:
            return NotNow("The SSC has not refused this plan.")
        latest = max(refused, key=lambda p: p.reviewed_at)
        return _referrable(user, list(requirement.referrals.all()), latest.reviewed_at)


class RemedialPlanPolicy(Policy):
    """A plan version is visible with its requirement."""

    model = RemedialPlan

    def prepare(self, queryset):
        return queryset.select_related("requirement__case", "requirement__supplier")

    def visible(self, user) -> QuerySet:
        return RemedialPlan.objects.filter(
            requirement__in=plan_requirements.visible(user).values("pk")
        )

    def check_view(self, user, plan) -> Refusal:
        """Whoever may see the plan requirement."""
        return plan_requirements.check_view(user, plan.requirement)


class SupplierPolicyPolicy(Policy):
    """SEC G8.64 policies: a supplier sees its own; the SSC sees every supplier's."""

    model = SupplierPolicy
    ACTIONS = ("view", "view_all", "upload")

    def visible(self, user) -> QuerySet:
        if not user.is_authenticated:
            return SupplierPolicy.objects.none()
        if user.is_ssc:
            return SupplierPolicy.objects.all()
        if user.has_role(Role.SUPPLIER) and user.organisation_id:
            return SupplierPolicy.objects.filter(organisation_id=user.organisation_id)
        return SupplierPolicy.objects.none()

    def check_view(self, user, policy) -> Refusal:
        """The SSC; the supplier's own staff."""
        if user.is_ssc:
            return None
        if user.has_role(Role.SUPPLIER) and policy.organisation_id == user.organisation_id:
            return None
        return "This is another organisation's policy."

    def check_view_all(self, user, _policy=None) -> Refusal:
        """The SSC sees every supplier's policy, and which suppliers have none."""
        return _ssc(user)

    def check_upload(self, user, _policy=None) -> Refusal:
        """Supplier Party staff record their own organisation's policy."""
        if user.has_role(Role.SUPPLIER) and user.organisation_id:
            return None
        return "Only Supplier Party staff record their G8.64 policy."


class CharacteristicsPolicy(Policy):
    model = SecurityCharacteristics
    ACTIONS = ("view", "upload")

    def visible(self, user) -> QuerySet:
        if user.is_authenticated and user.has_perm("governance.view_securitycharacteristics"):
            return SecurityCharacteristics.objects.all()
        return SecurityCharacteristics.objects.none()

    def check_view(self, user, document) -> Refusal:
        """Users with the Security Characteristics permission (SSC, Parties)."""
        if user.has_perm("governance.view_securitycharacteristics"):
            return None
        return "You may not see the Security Characteristics."

    def check_upload(self, user, _document=None) -> Refusal:
        """The secretariat."""
        if user.has_perm("governance.upload_securitycharacteristics"):
            return None
        return "Only the SSC Secretariat uploads Security Characteristics."


# --- referrals ---------------------------------------------------------------------------------

RState = Referral.State
# Before the Authority's determination: the referral is still before it, or waits for its pack.
REFERRAL_UNDETERMINED = (
    RState.LODGED,
    RState.PACK_SENT,
    RState.INFORMATION_REQUESTED,
    RState.INFORMATION_PROVIDED,
)


class ReferralPolicy(Policy):
    model = Referral
    ACTIONS = (
        "view",
        "view_deliberation",
        "send_pack",
        "download_pack",
        "request_information",
        "provide_information",
        "determine",
        "close",
    )

    def prepare(self, queryset):
        return queryset.select_related("case", "organisation").prefetch_related(
            "disclosed_documents__case__conflicts__member",
            "disclosed_documents__case__experts",
            "disclosed_documents__case__addressed_to",
        )

    def candidates(self, user, action):
        states = {
            "send_pack": [RState.LODGED],
            "request_information": [RState.PACK_SENT, RState.INFORMATION_PROVIDED],
            "determine": [RState.PACK_SENT, RState.INFORMATION_PROVIDED],
            "provide_information": [RState.INFORMATION_REQUESTED],
            "close": [RState.DETERMINED],
        }.get(action)
        referrals = Referral.objects.order_by("lodged_at", "pk")
        if not states:
            return referrals
        referrals = referrals.filter(state__in=states)
        secretariat, authority = _secretariat(user) is None, user.has_role(Role.AUTHORITY)
        who = {
            "send_pack": secretariat,
            "request_information": authority,
            "determine": authority,
            "close": secretariat,
        }.get(action)
        if who is False:
            return referrals.none()
        if action == "provide_information" and not secretariat:
            referrals = referrals.filter(_may_chair(user, "case"), _not_conflicted(user, "case"))
        return referrals

    def visible(self, user) -> QuerySet:
        found = Referral.objects.all()
        if not user.is_authenticated or not user.has_perm("governance.view_referral"):
            return found.none()
        if user.has_role(Role.AUTHORITY):
            return found  # from the moment it is lodged: the pack follows
        if user.is_ssc:
            return found
        if user.organisation_id:
            return found.filter(organisation_id=user.organisation_id)
        return found.none()

    def follows_from_lodging(self, user) -> bool:
        """The Authority follows every referral from the moment it is lodged, before the pack
        (its dashboard lists them with the pack's deadline); the SSC and the Parties act on
        theirs in other panels."""
        return user.has_role(Role.AUTHORITY) and self.check_view(user, None) is None

    def follows_own(self, user) -> bool:
        """A Party that lodges referrals follows its organisation's open ones (its dashboard
        says where each stands and what happens next); it acts on none of them."""
        return bool(
            user.has_perm("governance.add_referral")
            and user.organisation_id
            and self.check_view(user, None) is None
        )

    def check_view(self, user, referral) -> Refusal:
        """The SSC; the Authority from the moment it is lodged; the referring Party."""
        if not user.has_perm("governance.view_referral"):
            return "You may not see referrals."
        if referral is None or user.has_role(Role.AUTHORITY):
            return None
        if user.is_ssc or referral.organisation_id == user.organisation_id:
            return None
        return "This referral is another organisation's."

    def check_view_deliberation(self, user, referral) -> Refusal:
        """The SSC (not a member conflicted on the case) and the Authority: the security
        factors, votes and conflicts behind the decision; the Authority once the pack is sent."""
        if user.has_role(Role.AUTHORITY):
            return _then(
                self.check_view(user, referral),
                referral is None
                or referral.state != RState.LODGED
                or NotNow("The SSC has not sent the pack yet."),
            )
        refusal = _ssc(user)
        if refusal is None and referral is not None and is_conflicted(user, referral.case):
            return CONFLICTED
        return refusal

    def check_send_pack(self, user, referral) -> Refusal:
        """The secretariat, once, when the referral is lodged."""
        return _then(
            _secretariat(user), referral.state == RState.LODGED or NotNow("The pack has been sent.")
        )

    def check_download_pack(self, user, referral) -> Refusal:
        """The Authority it was sent to, and SSC users who may see every document in it and
        the SSC-only record it carries (not a member conflicted on the case)."""
        if user.has_role(Role.AUTHORITY):
            who = None
        elif not user.is_ssc:
            return "Packs are for the Authority and the SSC."
        elif is_conflicted(user, referral.case):
            return CONFLICTED
        else:
            hidden = [
                d for d in referral.disclosed_documents.all() if not evidence.can(user, "view", d)
            ]
            who = "The pack holds evidence you may not see." if hidden else None
        return _then(who, referral.state != RState.LODGED or NotNow("No pack has been sent yet."))

    def check_request_information(self, user, referral) -> Refusal:
        """The Authority, while it holds the pack (SEC G7.21(j))."""
        return _then(
            _authority(user, "Only the Authority requests information."),
            referral.state in (RState.PACK_SENT, RState.INFORMATION_PROVIDED)
            or NotNow("Information can be requested while the Authority considers the referral."),
        )

    def check_provide_information(self, user, referral) -> Refusal:
        """The secretariat or the case's chair (never a conflicted one), when the Authority has
        asked."""
        return _then(
            _either(_secretariat(user), why_not_chair(user, referral.case)),
            referral.state == RState.INFORMATION_REQUESTED
            or NotNow("The Authority has no open request."),
        )

    def check_determine(self, user, referral) -> Refusal:
        """The Authority, while it holds the pack."""
        return _then(
            _authority(user, "Only the Authority records a determination."),
            referral.state in (RState.PACK_SENT, RState.INFORMATION_PROVIDED)
            or NotNow("The referral cannot be determined now."),
        )

    def check_close(self, user, referral) -> Refusal:
        """The secretariat, once the Authority has determined it: the SSC has then applied the
        determination and nothing more is needed (the determination notice asks it to)."""
        return _then(
            _secretariat(user) and "The SSC Secretariat closes a determined referral.",
            referral.state == RState.DETERMINED
            or NotNow("Only a determined referral can be closed."),
        )

    # --- what the referral page shows beside the referral ------------------------------------

    def documents_for(self, user, referral) -> list:
        """The referral's documents the user may open: the referring Party's grounds with the
        referral; what the SSC gave the Authority on request with the SSC's deliberation (a
        member conflicted on the case sees what the Party sees)."""
        if not self.can(user, "view", referral):
            return []
        deliberation = self.can(user, "view_deliberation", referral)
        grounds = ReferralDocument.Source.GROUNDS
        return [d for d in referral.documents.all() if d.source == grounds or deliberation]

    def refused_plan_for(self, user, referral) -> RemedialPlan | None:
        """For a referred plan refusal, the version the SSC refused (the latest refused before
        the referral), with its reasons: for whoever may see the plan (the supplier; the SSC,
        not a member conflicted on the case) and the Authority it is referred to."""
        requirement = referral.plan_requirement
        if requirement is None or not self.can(user, "view", referral):
            return None
        if not (user.has_role(Role.AUTHORITY) or plan_requirements.can(user, "view", requirement)):
            return None
        refused = [
            p
            for p in requirement.plans.all()
            if p.review == RemedialPlan.Review.NOT_APPROVED and p.reviewed_at is not None
        ]
        before = [p for p in refused if p.reviewed_at <= referral.lodged_at] or refused
        return max(before, key=lambda p: p.reviewed_at, default=None)


cases = register(CasePolicy())
evidence = register(EvidencePolicy())
representations = register(RepresentationPolicy())
ballots = register(BallotPolicy())
plan_requirements = register(PlanRequirementPolicy())
remedial_plans = register(RemedialPlanPolicy())
supplier_policies = register(SupplierPolicyPolicy())
characteristics = register(CharacteristicsPolicy())
referrals = register(ReferralPolicy())
