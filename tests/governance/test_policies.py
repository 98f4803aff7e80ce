"""The governance and portal policies, every role × objects in every state: the answers cannot
drift apart (issue 9, item 2; the CPL half is tests/cpl/test_policies.py).

For every policy, user and object:

1. `obj in policy.visible(user)` exactly when `policy.can(user, "view", obj)`, and
   `policy.get_or_404(user, obj.pk)` returns the object exactly then (else Http404);
2. every action in `policy.actions(user, obj)` succeeds when POSTed through its real URL with
   valid data (2xx/3xx, its effect happened, an audit event was written), and every other action
   is refused with nothing changed (the object's row, the action's effect and the audit log are
   the same afterwards): 404 when the user may not see the object, 409 when the refusal is a
   `NotNow` (the page the user acted on was stale), 403 otherwise. Each POST runs in a savepoint
   that is rolled back, so every user acts on the same state;
3. the pages render exactly the actions: buttons and forms, and the page-level capabilities
   (`view_deliberation`, `view_all`) as the sections they show;
4. each dashboard list is exactly the objects on which the user has that action, and the
   dashboard page lists exactly those;
5. every policy registered by governance or portal, and every action of it, is covered here:
   a new policy or action without a mapping fails.

Users: one per role, three voting members (member, member2, member3), a member who declared a
conflict on every case (`conflicted`), an invited expert and one whose invitation has expired,
supplier A (addressed; its own plan and referral), supplier B (another supplier), the DCC, a
network operator and the Authority. In the `acting-chair` variants the chair declared a conflict
and the secretariat designated member2 as acting chair.
"""

from __future__ import annotations

import datetime
import io
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape

import pytest
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from cpl.inventory import inventory_import
from cpl.models import AssuranceCertificate
from governance import plans, policies, record, referrals, representations, selectors, services
from governance.models import (
    Ballot,
    Case,
    CaseComment,
    ConflictDeclaration,
    DecisionRecord,
    EvidenceDocument,
    EvidenceDocumentUserObjectPermission,
    ExpertInvitation,
    PlanBallot,
    PlanRequirement,
    Recommendation,
    Referral,
    ReferralPack,
    RemedialPlan,
    Representation,
    SecurityCharacteristics,
    SupplierPolicy,
    Vote,
)
from portal.models import AuditEvent, Notice, NoticeDelivery
from portal.notices import notice_acknowledge, notice_send
from portal.policies import _REGISTRY, NotNow, policy_for

from ..helpers import cpl_csv, cpl_row, import_bytes, make_user, pdf_upload, sign_in

pytestmark = pytest.mark.django_db

ROLES = [
    "secretariat",
    "chair",  # conflicted on the case in the `acting-chair` and `chair-conflicted` variants
    "member",
    "member2",  # the acting chair in the `acting-chair` variants
    "member3",
    "conflicted",  # an SSC member who declared a conflict of interest on every case
    "expert",  # a technical expert invited to every case, invitation running
    "expired_expert",  # invited, but the invitation has ended
    "supplier_a",  # the case is addressed to it; its plan, its referral
    "supplier_b",  # another supplier: its own plan where it has devices, never supplier A's
    "dcc",
    "network",
    "authority",
]
TODAY = datetime.date.today()
_serial = itertools.count(1)
Cls = EvidenceDocument.Classification


@pytest.fixture
def people(committee):
    return {
        **{key: value for key, value in committee.items() if key != "members"},
        "conflicted": make_user("member", "conflicted"),
        "expired_expert": make_user("expert", "expired_expert"),
    }


def fresh(obj):
    """The object as its policy reads it (prefetched), straight from the database."""
    policy = policy_for(obj)
    return policy.prepare(type(obj)._default_manager.all()).get(pk=obj.pk)


# --- building every state through the services ---------------------------------------------------


class World:
    """Cases, ballots, plans, referrals and documents, as users cause them."""

    def __init__(self, people, represent=False):
        self.p = people
        self.represent = represent  # representations made while the case is in assessment

    # cases

    def case(self, *, chair_conflicted=False, acting=False) -> Case:
        p, n = self.p, next(_serial)
        expired = (TODAY - datetime.timedelta(days=3)).isoformat()
        number = f"CPA-POLICY-{n}"
        import_bytes(
            cpl_csv(
                [
                    cpl_row(
                        20000 + n * 4 + i,
                        **{
                            "CPA Certificate Number": number,
                            "CPA Issue Date": "2020-01-01",
                            "CPA Expiry Date": expired,
                        },
                    )
                    for i in range(2)
                ]
            )
        )
        certificate = AssuranceCertificate.objects.get(number=number)
        case = services.case_open(
            actor=p["secretariat"],
            certificate=certificate,
            device_models=certificate.device_models.all(),
            event="expired",
            event_date=certificate.expiry,
            reason="Certificate lapsed during re-evaluation",
            severity="high",
            summary="Key handling weakness found in re-evaluation.",
            addressed_to=[p["supplier_a"].organisation],
        )
        services.conflict_declare(
            actor=p["conflicted"], case=case, has_conflict=True, reason="Works for SUPA"
        )
        for key in ("expert", "expired_expert"):
            services.expert_invite(
                actor=p["secretariat"],
                case=case,
                expert=p[key],
                expires_at=timezone.now() + datetime.timedelta(days=60),
            )
        ExpertInvitation.objects.filter(case=case, expert=p["expired_expert"]).update(
            expires_at=timezone.now() - datetime.timedelta(days=1)
        )
        if chair_conflicted or acting:
            services.conflict_declare(
                actor=p["chair"], case=case, has_conflict=True, reason="Advises SUPA"
            )
        if acting:
            services.case_designate_acting_chair(
                actor=p["secretariat"], case=fresh(case), member=p["member2"]
            )
        return fresh(case)

    def chair_of(self, case):
        return self.p["member2"] if case.acting_chair_id else self.p["chair"]

    def voters(self, case):
        keys = ("member", "member2", "member3")
        return [self.p[k] for k in keys if self.p[k].pk != case.acting_chair_id]

    def assessment(self, **kw) -> Case:
        case = self.case(**kw)
        services.case_transition(actor=self.p["secretariat"], case=case, name="start_assessment")
        if self.represent:
            self.representations(case)
        return fresh(case)

    def representations(self, case):
        """Supplier A's views of each classification and the DCC's (addressed as F2.7B says)."""
        for key, classification in [
            ("supplier_a", "ssc-only"),
            ("supplier_a", "parties"),
            ("dcc", "ssc-only"),
            ("dcc", "parties"),
        ]:
            representations.representation_submit(
                actor=self.p[key],
                case=fresh(case),
                text=f"{key} {classification}",
                classification=classification,
                uploads=[pdf_upload(f"{key}-{classification}.pdf")],
            )

    def voting(self, choices=(), **kw) -> tuple[Case, Ballot]:
        """An open ballot; `choices` are the votes of the first voters."""
        case = self.assessment(**kw)
        ballot = services.ballot_open(
            actor=self.chair_of(case),
            case=case,
            closes_at=timezone.now() + datetime.timedelta(days=2),
        )
        for voter, choice in zip(self.voters(case), choices, strict=False):
            services.vote_cast(actor=voter, ballot=ballot, choice=choice, no_conflict=True)
        return fresh(case), fresh(ballot)

    def ballot(self, state, **kw) -> Ballot:
        if state == "open":
            # The last voter has voted already (and may change the vote); the others have not.
            case, ballot = self.voting(**kw)
            voter = self.voters(case)[-1]
            services.vote_cast(actor=voter, ballot=ballot, choice="remedial_plan", no_conflict=True)
            return fresh(ballot)
        choices = {
            "awaiting_casting_vote": ["suspend", "remedial_plan", "abstain"],
            "closed": ["remedial_plan"] * 3,
            "failed": [],
        }[state]
        case, ballot = self.voting(choices, **kw)
        services.ballot_close(actor=self.chair_of(case), ballot=ballot)
        ballot = fresh(ballot)
        assert ballot.state == state
        return ballot

    def decided(self, decision="remedial_plan", **kw) -> Case:
        case, ballot = self.voting([decision] * 3, **kw)
        services.ballot_close(actor=self.chair_of(case), ballot=ballot)
        case = fresh(case)
        assert case.state == Case.State.DECIDED
        # The decision is issued once the case's chair approved the summary for Parties.
        record.case_party_summary_write(
            actor=self.p["secretariat"], case=case, party_summary="A key handling weakness."
        )
        case = fresh(case)
        record.case_party_summary_approve(
            actor=self.chair_of(case), case=case, read_sha256=record.party_summary_sha256(case)
        )
        return fresh(case)

    def decided_while_chair_conflicted(self) -> Case:
        """The chair opened the ballot and then declared a conflict; the ballot closed at its
        time (the beat task): no acting chair has been designated yet."""
        case, ballot = self.voting(["remedial_plan"] * 3)
        services.conflict_declare(
            actor=self.p["chair"], case=case, has_conflict=True, reason="Advises SUPA"
        )
        services.ballot_close(actor=None, ballot=ballot)
        case = fresh(case)
        assert case.state == Case.State.DECIDED
        return case

    def inventory(self, case, parties):
        model = case.device_models.order_by("pk").first()
        key = "/".join(model.identity)
        as_of = TODAY - datetime.timedelta(days=1)
        extract = "Device Model,Supplier Party ID,Device Count,As Of\n" + "".join(
            f"{key},{party},{count},{as_of}\n" for party, count in parties
        )
        inventory_import(
            actor=self.p["secretariat"],
            binary=io.BytesIO(extract.encode()),
            file_name="inventory.csv",
            file_sha256="0" * 64,
        )

    def issued(self, decision="remedial_plan", parties=(("SUPA", 1200),), **kw) -> Case:
        case = self.decided(decision, **kw)
        self.inventory(case, parties)  # the latest extract: who must produce a plan
        services.decision_issue(
            actor=self.chair_of(case),
            case=case,
            reasons="Proportionate",
            security_factors="Local access only",
            operational_impact="1,200 devices",
            no_devices_reason="The models without inventory coverage have no devices (test data).",
        )
        return fresh(case)

    def closable(self, decision="remedial_plan") -> Case:
        """Every plan completed, no referral open, and the referral window has passed."""
        case = self.issued(decision)
        for requirement in case.plan_requirements.all():
            self.advance(requirement, ["submit", "approve", "complete"])
        DecisionRecord.objects.filter(case=case).update(
            issued_at=timezone.now() - datetime.timedelta(days=60)
        )
        return fresh(case)

    def case_in(self, state: str) -> Case:
        name, _, variant = state.partition("/")
        kw = {
            "acting": variant == "acting-chair",
            "chair_conflicted": variant == "chair-conflicted",
        }
        if name == "decided" and variant == "chair-conflicted":
            return self.decided_while_chair_conflicted()
        if variant == "closable":
            return self.closable("remedial_plan" if name == "remediation" else "suspend")
        if name == "opened":
            return self.case(**kw)
        if name == "assessment":
            return self.assessment(**kw)
        if name == "voting":
            case, _ = self.voting(["remedial_plan"], **kw)  # one member voted, the others not
            return case
        if name == "decided":
            return self.decided(**kw)
        if name == "remediation":
            return self.issued(**kw)
        if name == "suspension":
            return self.issued("suspend", **kw)
        if name == "closed":
            case = self.closable()
            services.case_transition(actor=self.p["secretariat"], case=case, name="close")
            return fresh(case)
        raise AssertionError(state)

    # evidence

    def documents(self, case) -> list[EvidenceDocument]:
        p = self.p
        documents = [
            services.evidence_upload(
                actor=p["secretariat"],
                case=case,
                title=title,
                classification=classification,
                upload=pdf_upload(),
            )
            for title, classification in [
                ("ssc-only", Cls.SSC_ONLY),
                ("parties", Cls.PARTIES),
                ("named, no grant", Cls.NAMED),
                ("named, granted", Cls.NAMED),
            ]
        ]
        named = ["member", "conflicted", "chair", "expert", "expired_expert", "supplier_a"]
        services.evidence_grant(
            actor=p["secretariat"],
            document=documents[-1],
            users=[p[k] for k in (*named, "supplier_b", "dcc", "authority")],
        )
        return [fresh(d) for d in documents]

    # remedial plans

    def advance(self, requirement, steps):
        p = self.p
        for step in steps:
            requirement = PlanRequirement.objects.get(pk=requirement.pk)
            if step == "submit":
                plans.plan_submit(
                    actor=p["supplier_a"]
                    if requirement.supplier_id == p["supplier_a"].organisation_id
                    else p["supplier_b"],
                    requirement=requirement,
                    summary="Firmware update",
                    upload=pdf_upload("plan.pdf"),
                    milestones=[
                        {
                            "description": "Firmware",
                            "target_date": TODAY + datetime.timedelta(days=90),
                            "devices_covered": requirement.device_count,
                        }
                    ],
                )
            elif step in ("approve", "not_approve"):
                plans.plan_review(
                    actor=p["member"],
                    requirement=requirement,
                    version=requirement.plans.order_by("-version").first().version,
                    approve=step == "approve",
                    comments="" if step == "approve" else "Too slow",
                )
            elif step == "complete":
                plans.plan_complete(actor=p["member"], requirement=requirement)
            elif step == "overdue":
                PlanRequirement.objects.filter(pk=requirement.pk).update(
                    due_date=TODAY - datetime.timedelta(days=1)
                )
                plans.plans_mark_overdue(today=TODAY)
            else:
                raise AssertionError(step)

    PLAN_STEPS = {
        "notified": [],
        "submitted": ["submit"],
        "approved": ["submit", "approve"],
        "not_approved": ["submit", "not_approve"],
        "resubmitted": ["submit", "not_approve", "submit"],
        "completed": ["submit", "approve", "complete"],
        "overdue": ["overdue"],
    }

    def requirements(self, state, **kw) -> tuple[PlanRequirement, PlanRequirement]:
        """Supplier A's plan in `state`; supplier B has its own on the same case, submitted."""
        case = self.issued(parties=(("SUPA", 1200), ("SUPB", 300)), **kw)
        mine = case.plan_requirements.get(supplier=self.p["supplier_a"].organisation)
        theirs = case.plan_requirements.get(supplier=self.p["supplier_b"].organisation)
        self.advance(mine, self.PLAN_STEPS[state])
        self.advance(theirs, ["submit"])
        mine = fresh(mine)
        assert mine.state == state
        return mine, fresh(theirs)

    # referrals

    REFERRAL_ORDER = [
        "lodged",
        "pack_sent",
        "information_requested",
        "information_provided",
        "determined",
        "closed",
    ]

    def referral(self, state, case=None, **kw) -> Referral:
        p = self.p
        case = case or self.issued(**kw)
        referral = referrals.referral_lodge(
            actor=p["supplier_a"], case=case, kind="not_remove", grounds="Disproportionate"
        )
        reached = self.REFERRAL_ORDER[: self.REFERRAL_ORDER.index(state) + 1]
        if "pack_sent" in reached:
            # The pack discloses the case's `ssc-only` evidence: the conflicted may not take it.
            document = services.evidence_upload(
                actor=p["secretariat"],
                case=case,
                title="NCSC advice",
                classification=Cls.SSC_ONLY,
                upload=pdf_upload(),
            )
            referrals.referral_send_pack(
                actor=p["secretariat"], referral=referral, disclosed=[document]
            )
        if "information_requested" in reached:
            referrals.information_request(
                actor=p["authority"],
                referral=Referral.objects.get(pk=referral.pk),
                text="The NCSC advice, please",
                due_date=TODAY + datetime.timedelta(days=10),
            )
        if "information_provided" in reached:
            referrals.information_provide(
                actor=p["secretariat"],
                request=referral.information_requests.get(),
                response="Attached",
            )
        if "determined" in reached:
            referrals.referral_determine(
                actor=p["authority"],
                referral=Referral.objects.get(pk=referral.pk),
                outcome="upheld",
                reasons="The SSC's decision stands",
                effective_date=TODAY,
            )
        if "closed" in reached:
            referrals.referral_close(
                actor=p["secretariat"], referral=Referral.objects.get(pk=referral.pk)
            )
        referral = fresh(referral)
        assert referral.state == state
        return referral


# --- the real URL of every action, and what an allowed POST changes ------------------------------


@dataclass
class Post:
    url: Callable  # (world, obj) -> path
    data: Callable  # (world, obj, user) -> POST data; called once per POST (uploads are consumed)
    probe: Callable  # (world, obj, user) -> what an allowed POST changes
    # The URL names the object (or its case): who may not see it gets 404, not 403.
    keyed: bool = True
    # (world, obj, user) -> the expected refusal, where the URL is another object's page.
    refusal: Callable | None = None


@dataclass
class Get:
    """An action that is a download: answered 200 when allowed, refused like a POST otherwise."""

    url: Callable  # (world, obj) -> path


def no_data(w, obj, user):
    return {}


def row_of(model, *names):
    return lambda w, obj, user: tuple(model.objects.filter(pk=obj.pk).values_list(*names).get())


def case_url(name):
    return lambda w, case: reverse(f"governance:{name}", args=[case.pk])


def case_action_url(action):
    return lambda w, case: reverse("governance:case-action", args=[case.pk, action])


def acting_candidate(w, case):
    """A member who may be designated: eligible, not the acting chair, not voted in the open
    ballot."""
    voted = set(
        Vote.objects.filter(ballot__case=case, ballot__state=Ballot.State.OPEN).values_list(
            "member_id", flat=True
        )
    )
    for member in policies.eligible_voters(case):
        if member.pk != case.acting_chair_id and member.pk not in voted:
            return member
    return w.p["member3"]


def referral_kind(case):
    record = DecisionRecord.objects.filter(case=case).first()
    return "remove" if record and record.decision == "suspend" else "not_remove"


def closes_at():
    return (timezone.localtime() + datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")


MILESTONES = {
    "milestones-TOTAL_FORMS": "1",
    "milestones-INITIAL_FORMS": "0",
    "milestones-MIN_NUM_FORMS": "1",
    "milestones-MAX_NUM_FORMS": "50",
    "milestones-0-description": "Firmware rollout",
    "milestones-0-target_date": (TODAY + datetime.timedelta(days=60)).isoformat(),
    "milestones-0-devices_covered": "1",  # within any supplier's devices
}


def plan_refer_refusal(w, requirement, user):
    """A plan is referred on its case's referral form: the case's page answers first (404, 403,
    409); a user who may refer the case but not this plan is not offered the plan, so the form
    refuses the choice (400)."""
    case = fresh(requirement.case)
    if not policies.cases.can(user, "view", case):
        return 404
    refusal = policies.cases.why_not(user, "refer", case)
    if refusal is not None:
        return 409 if isinstance(refusal, NotNow) else 403
    return 400


def latest_pack(referral):
    return ReferralPack.objects.filter(referral=referral).order_by("-version").first()


REFERRAL_PAGE = lambda w, r: reverse("governance:referral", args=[r.pk])  # noqa: E731
PLAN_PAGE = lambda w, r: reverse("governance:plan", args=[r.pk])  # noqa: E731

POSTS = {
    # cases
    (Case, "start_assessment"): Post(
        case_action_url("start_assessment"), no_data, row_of(Case, "state")
    ),
    (Case, "close"): Post(case_action_url("close"), no_data, row_of(Case, "state")),
    (Case, "declare_conflict"): Post(
        case_url("conflict"),
        lambda w, case, user: {"has_conflict": "yes", "reason": f"{user.username} advises SUPA"},
        lambda w, case, user: tuple(
            ConflictDeclaration.objects.filter(case=case, member=user).values_list(
                "has_conflict", "reason"
            )
        ),
    ),
    (Case, "designate_acting_chair"): Post(
        case_url("acting-chair"),
        lambda w, case, user: {"member": acting_candidate(w, case).pk},
        row_of(Case, "acting_chair"),
    ),
    (Case, "upload_evidence"): Post(
        case_url("evidence-upload"),
        lambda w, case, user: {
            "title": "NCSC advice",
            "classification": "parties",
            "file": pdf_upload(),
        },
        lambda w, case, user: EvidenceDocument.objects.filter(case=case).count(),
    ),
    (Case, "invite_expert"): Post(
        case_url("expert-invite"),
        lambda w, case, user: {
            "expert": w.p["expired_expert"].pk,
            "expires_on": (TODAY + datetime.timedelta(days=10)).isoformat(),
        },
        lambda w, case, user: sorted(
            ExpertInvitation.objects.filter(case=case).values_list("expert_id", "expires_at")
        ),
    ),
    (Case, "comment"): Post(
        case_url("comment"),
        lambda w, case, user: {"text": "Is the key extractable remotely?"},
        lambda w, case, user: CaseComment.objects.filter(case=case).count(),
    ),
    (Case, "open_ballot"): Post(
        case_url("ballot-open"),
        lambda w, case, user: {"closes_at": closes_at(), "majority": "simple"},
        lambda w, case, user: (
            Case.objects.get(pk=case.pk).state,
            Ballot.objects.filter(case=case).count(),
        ),
    ),
    (Case, "issue_decision"): Post(
        case_url("decision-issue"),
        lambda w, case, user: {
            "reasons": "Proportionate",
            "security_factors": "Local access",
            "operational_impact": "Large",
            "party_summary": "Proportionate to the risk",
            "no_devices_reason": "No supplier has devices of these models (test data).",
        },
        lambda w, case, user: (
            Case.objects.get(pk=case.pk).state,
            DecisionRecord.objects.filter(case=case, issued_at__isnull=False).exists(),
        ),
    ),
    (Case, "submit_representation"): Post(
        case_url("representation-submit"),
        lambda w, case, user: {"text": "Our view", "classification": "ssc-only"},
        lambda w, case, user: Representation.objects.filter(case=case).count(),
    ),
    (Case, "record_recommendation"): Post(
        case_url("recommendation"),
        lambda w, case, user: {"recommendation": "suspend", "reasons": "Key extractable"},
        lambda w, case, user: tuple(
            Recommendation.objects.filter(case=case).values_list("author_id", "recorded_at")
        ),
    ),
    (Case, "write_party_summary"): Post(
        case_url("party-summary"),
        lambda w, case, user: {"party_summary": f"Summary by {user.username}"},
        row_of(Case, "party_summary"),
    ),
    (Case, "approve_party_summary"): Post(
        case_url("party-summary-approve"),
        lambda w, case, user: {
            "party_summary_sha256": record.party_summary_sha256(Case.objects.get(pk=case.pk))
        },
        row_of(Case, "party_summary_approved_at"),
    ),
    (Case, "refer"): Post(
        case_url("referral-lodge"),
        lambda w, case, user: {"kind": referral_kind(case), "grounds": "Disproportionate"},
        lambda w, case, user: Referral.objects.filter(case=case).count(),
    ),
    # evidence
    (EvidenceDocument, "grant"): Post(
        lambda w, d: reverse("governance:evidence-grant", args=[d.case_id, d.pk]),
        lambda w, d, user: {"users": [w.p["member3"].pk]},
        lambda w, d, user: EvidenceDocumentUserObjectPermission.objects.filter(
            content_object=d
        ).count(),
    ),
    (EvidenceDocument, "manage_access"): Post(
        lambda w, d: reverse("governance:evidence-grant", args=[d.case_id, d.pk]),
        lambda w, d, user: {
            "action": "reclassify",
            "classification": "ssc-only" if d.classification == "parties" else "parties",
        },
        row_of(EvidenceDocument, "classification"),
    ),
    # ballots
    (Ballot, "vote"): Post(
        lambda w, b: reverse("governance:vote", args=[b.pk]),
        lambda w, b, user: {"choice": "suspend", "no_conflict": "on"},
        lambda w, b, user: tuple(
            Vote.objects.filter(ballot=b, member=user).values_list("choice", flat=True)
        ),
    ),
    (Ballot, "close"): Post(
        lambda w, b: reverse("governance:ballot-close", args=[b.pk]),
        no_data,
        row_of(Ballot, "state"),
    ),
    (Ballot, "cast_deciding_vote"): Post(
        lambda w, b: reverse("governance:casting-vote", args=[b.pk]),
        lambda w, b, user: {"choice": "suspend"},
        row_of(Ballot, "state"),
    ),
    # remedial plans
    **{
        (PlanRequirement, action): Post(
            PLAN_PAGE,
            lambda w, r, user, action=action: {
                "action": action,
                "summary": "Revised",
                "file": pdf_upload("plan.pdf"),
                **MILESTONES,
            },
            lambda w, r, user: (
                PlanRequirement.objects.get(pk=r.pk).state,
                RemedialPlan.objects.filter(requirement=r).count(),
            ),
        )
        for action in ("submit", "revise")
    },
    (PlanRequirement, "review"): Post(
        PLAN_PAGE,
        lambda w, r, user: {
            "action": "review",
            # The version the reviewer read: the latest.
            "version": str(
                RemedialPlan.objects.filter(requirement=r)
                .order_by("-version")
                .values_list("version", flat=True)
                .first()
                or 1
            ),
            "decision": "approve",
            "comments": "Proportionate",
        },
        row_of(PlanRequirement, "state"),
    ),
    (PlanRequirement, "complete"): Post(
        PLAN_PAGE, lambda w, r, user: {"action": "complete"}, row_of(PlanRequirement, "state")
    ),
    # Under PLAN_APPROVAL_RULE "ballot" only (tests/governance/test_plan_ballot.py runs it).
    **{
        (PlanRequirement, action): Post(
            PLAN_PAGE,
            lambda w, r, user, action=action: {"action": action},
            lambda w, r, user: tuple(
                PlanBallot.objects.filter(plan__requirement=r)
                .order_by("pk")
                .values_list("state", flat=True)
            ),
        )
        for action in ("close_ballot", "open_ballot")
    },
    (PlanRequirement, "refer"): Post(
        lambda w, r: reverse("governance:referral-lodge", args=[r.case_id]),
        lambda w, r, user: {
            "kind": "plan_not_approved",
            "plan_requirement": str(r.pk),
            "grounds": "The plan is proportionate",
        },
        lambda w, r, user: Referral.objects.filter(plan_requirement=r).count(),
        refusal=plan_refer_refusal,
    ),
    # referrals
    (Referral, "send_pack"): Post(
        REFERRAL_PAGE, lambda w, r, user: {"action": "send_pack"}, row_of(Referral, "state")
    ),
    (Referral, "request_information"): Post(
        REFERRAL_PAGE,
        lambda w, r, user: {
            "action": "request_information",
            "text": "The votes, please",
            "due_date": (TODAY + datetime.timedelta(days=5)).isoformat(),
        },
        row_of(Referral, "state"),
    ),
    (Referral, "provide_information"): Post(
        REFERRAL_PAGE,
        lambda w, r, user: {"action": "respond", "response": "Here they are"},
        row_of(Referral, "state"),
    ),
    (Referral, "determine"): Post(
        REFERRAL_PAGE,
        lambda w, r, user: {
            "action": "determine",
            "outcome": "upheld",
            "reasons": "Stands",
            "effective_date": TODAY.isoformat(),
        },
        row_of(Referral, "state"),
    ),
    (Referral, "close"): Post(
        REFERRAL_PAGE, lambda w, r, user: {"action": "close"}, row_of(Referral, "state")
    ),
    # G8.64 policies and Security Characteristics: one page each, not an object's
    (SupplierPolicy, "upload"): Post(
        lambda w, obj: reverse("governance:policy"),
        lambda w, obj, user: {
            "review_date": (TODAY + datetime.timedelta(days=365)).isoformat(),
            "file": pdf_upload("policy.pdf"),
        },
        lambda w, obj, user: SupplierPolicy.objects.count(),
        keyed=False,
    ),
    (SecurityCharacteristics, "upload"): Post(
        lambda w, obj: reverse("governance:characteristics"),
        lambda w, obj, user: {
            "device_type": "ESME",
            "version_label": "9.9",
            "effective_date": TODAY.isoformat(),
            "ncsc_reference": "NCSC-CPA-ESME-9.9",
            "file": pdf_upload(),
        },
        lambda w, obj, user: SecurityCharacteristics.objects.count(),
        keyed=False,
    ),
    # notices
    (NoticeDelivery, "acknowledge"): Post(
        lambda w, d: reverse("inbox-detail", args=[d.pk]),
        no_data,
        row_of(NoticeDelivery, "acknowledged_at"),
    ),
}
GETS = {
    (Referral, "download_pack"): Get(
        lambda w, r: reverse(
            "governance:pack-download",
            args=[r.pk, latest_pack(r).version if latest_pack(r) else 1],
        )
    ),
}
# Page-level capabilities: checked through the page, which shows or hides their sections.
PAGES = {
    (Case, "view_deliberation"),
    (Referral, "view_deliberation"),
    (SupplierPolicy, "view_all"),
}


# --- running the checks; every disagreement is collected, then reported at once -----------------


@dataclass
class Report:
    failures: list = field(default_factory=list)
    checks: int = 0

    def expect(self, ok, message):
        self.checks += 1
        if not ok:
            self.failures.append(message)

    def done(self):
        assert not self.failures, f"{len(self.failures)} disagreements:\n" + "\n".join(
            self.failures
        )


def label(obj):
    state = getattr(obj, "state", None) or getattr(obj, "classification", None) or ""
    if isinstance(obj, NoticeDelivery):
        state = "acknowledged" if obj.acknowledged_at else "unacknowledged"
    return f"{type(obj).__name__} {obj.pk} [{state}]"


def check_visibility(report, people, obj):
    policy = policy_for(obj)
    obj = fresh(obj)
    for key in ROLES:
        user = people[key]
        may_view = policy.can(user, "view", obj)
        listed = policy.visible(user).filter(pk=obj.pk).exists()
        report.expect(
            listed is may_view,
            f"{label(obj)} {key}: visible() {'lists' if listed else 'omits'} it, "
            f"can(view) is {may_view}",
        )
        try:
            found = policy.get_or_404(user, obj.pk) == obj
        except Http404:
            found = False
        report.expect(found is may_view, f"{label(obj)} {key}: get_or_404 disagrees with can(view)")


def expected_refusal(world, policy, mapping, user, action, obj) -> int:
    if getattr(mapping, "refusal", None):
        return mapping.refusal(world, obj, user)
    if getattr(mapping, "keyed", True) and not policy.can(user, "view", obj):
        return 404
    return 409 if isinstance(policy.why_not(user, action, obj), NotNow) else 403


def whole_row(obj):
    return type(obj)._default_manager.filter(pk=obj.pk).values().first()


def check_actions(report, client, world, obj):
    """Every action × every user, each on the same state (a savepoint rolled back after each)."""
    policy = policy_for(obj)
    model = type(obj)
    client.raise_request_exception = False
    for key in ROLES:
        user = world.p[key]
        client.logout()
        sign_in(client, user)
        current = fresh(obj)
        offered = policy.actions(user, current)
        report.expect(
            offered <= set(policy.ACTIONS), f"{label(obj)} {key}: unknown actions {offered}"
        )
        for system_action in policy.SYSTEM_ACTIONS - set(policy.ACTIONS):
            report.expect(
                not policy.can(user, system_action, current),
                f"{label(obj)} {key}: may take the system's action {system_action}",
            )
        for action in policy.ACTIONS:
            if action == "view" or (model, action) in PAGES:
                continue
            mapping = POSTS.get((model, action)) or GETS.get((model, action))
            assert mapping is not None, (
                f"{model.__name__}.{action} has no URL in tests/governance/test_policies.py: "
                "map it in POSTS (or GETS, or PAGES for a page-level capability)"
            )
            allowed = action in offered
            want = (
                None if allowed else expected_refusal(world, policy, mapping, user, action, current)
            )
            with transaction.atomic():
                url = mapping.url(world, current)
                before_row, events = whole_row(obj), AuditEvent.objects.count()
                if isinstance(mapping, Post):
                    before = mapping.probe(world, obj, user)
                    response = client.post(
                        url, {**mapping.data(world, current, user), "confirmed": "yes"}
                    )
                    after = mapping.probe(world, obj, user)
                else:
                    before = after = None
                    response = client.get(url)
                    if hasattr(response, "streaming_content"):
                        b"".join(response.streaming_content)
                new_events = AuditEvent.objects.count() - events
                after_row = whole_row(obj)
                transaction.set_rollback(True)  # the next user acts on the same state
            status = response.status_code
            where = f"{'POST' if isinstance(mapping, Post) else 'GET'} {url} ({action})"
            if status >= 500 and getattr(response, "exc_info", None):
                where += f" [{response.exc_info[0].__name__}: {response.exc_info[1]}]"
            if allowed:
                # A download changes nothing but is audited; a POST has its effect, audited.
                done = (
                    status == 200
                    if isinstance(mapping, Get)
                    else (status < 400 and after != before)
                )
                report.expect(
                    done and new_events > 0,
                    f"{label(obj)} {key}: {where} is offered but got {status}, "
                    f"effect {before!r} -> {after!r}, {new_events} audit events",
                )
            else:
                unchanged = after == before and after_row == before_row and new_events == 0
                report.expect(
                    status == want and unchanged,
                    f"{label(obj)} {key}: {where} is not offered "
                    f"({policy.why_not(user, action, current)!r}); expected {want}, got {status}"
                    + ("" if unchanged else f", and it changed {before!r} -> {after!r}"),
                )
    client.logout()


# --- 3. pages render exactly the actions ---------------------------------------------------------


def markers(html, wanted: dict, report, where):
    for action, (present, marker) in wanted.items():
        shown = marker in html
        report.expect(
            shown is present,
            f"{where}: {'shows' if shown else 'hides'} {action!r} ({marker}) but "
            f"{'it is' if present else 'it is not'} in actions",
        )


def check_case_page(report, client, world, case):
    policy = policies.cases
    for key in ROLES:
        user = world.p[key]
        client.logout()
        sign_in(client, user)
        current = fresh(case)
        response = client.get(reverse("governance:case", args=[case.pk]))
        where = f"GET case page {label(case)} as {key}"
        may_view = policy.can(user, "view", current)
        report.expect(
            response.status_code == (200 if may_view else 404),
            f"{where}: {response.status_code}, can(view) is {may_view}",
        )
        if response.status_code != 200:
            continue
        html, acts = response.content.decode(), policy.actions(user, current)
        pk = case.pk
        markers(
            html,
            {
                "view_deliberation": ("view_deliberation" in acts, "Affected suppliers</h2>"),
                "start_assessment": (
                    "start_assessment" in acts,
                    reverse("governance:case-action", args=[pk, "start_assessment"]),
                ),
                "close": ("close" in acts, reverse("governance:case-action", args=[pk, "close"])),
                "issue_decision": (
                    "issue_decision" in acts,
                    reverse("governance:decision-issue", args=[pk]),
                ),
                "upload_evidence": (
                    "upload_evidence" in acts,
                    reverse("governance:evidence-upload", args=[pk]),
                ),
                "invite_expert": (
                    "invite_expert" in acts,
                    reverse("governance:expert-invite", args=[pk]),
                ),
                "designate_acting_chair": (
                    "designate_acting_chair" in acts,
                    reverse("governance:acting-chair", args=[pk]),
                ),
                "declare_conflict": (
                    "declare_conflict" in acts,
                    reverse("governance:conflict", args=[pk]),
                ),
                "comment": ("comment" in acts, reverse("governance:comment", args=[pk])),
                "open_ballot": (
                    "open_ballot" in acts,
                    reverse("governance:ballot-open", args=[pk]),
                ),
                "refer": ("refer" in acts, reverse("governance:referral-lodge", args=[pk])),
            },
            report,
            where,
        )
        # The evidence list: exactly the documents the user may open, each with its grant link.
        for document in EvidenceDocument.objects.filter(case=case):
            document = fresh(document)
            download = reverse("governance:evidence-download", args=[pk, document.pk])
            markers(
                html,
                {
                    f"view {document.title}": (
                        policies.evidence.can(user, "view", document),
                        f'href="{download}"',
                    ),
                    f"manage_access {document.title}": (
                        "manage_access" in policies.evidence.actions(user, document),
                        reverse("governance:evidence-grant", args=[pk, document.pk]),
                    ),
                },
                report,
                where,
            )
    client.logout()


def check_ballot_page(report, client, world, ballot):
    policy = policies.ballots
    for key in ROLES:
        user = world.p[key]
        client.logout()
        sign_in(client, user)
        current = fresh(ballot)
        response = client.get(reverse("governance:ballot", args=[ballot.pk]))
        where = f"GET ballot page {label(ballot)} as {key}"
        may_view = policy.can(user, "view", current)
        report.expect(
            response.status_code == (200 if may_view else 404),
            f"{where}: {response.status_code}, can(view) is {may_view}",
        )
        if response.status_code != 200:
            continue
        acts = policy.actions(user, current)
        markers(
            response.content.decode(),
            {
                "vote": (
                    "vote" in acts,
                    f'action="{reverse("governance:vote", args=[ballot.pk])}"',
                ),
                "close": ("close" in acts, reverse("governance:ballot-close", args=[ballot.pk])),
                "cast_deciding_vote": (
                    "cast_deciding_vote" in acts,
                    reverse("governance:casting-vote", args=[ballot.pk]),
                ),
            },
            report,
            where,
        )
    client.logout()


def check_plan_page(report, client, world, requirement):
    policy = policies.plan_requirements
    for key in ROLES:
        user = world.p[key]
        client.logout()
        sign_in(client, user)
        current = fresh(requirement)
        response = client.get(reverse("governance:plan", args=[requirement.pk]))
        where = f"GET plan page {label(requirement)} as {key}"
        may_view = policy.can(user, "view", current)
        report.expect(
            response.status_code == (200 if may_view else 404),
            f"{where}: {response.status_code}, can(view) is {may_view}",
        )
        if response.status_code != 200:
            continue
        acts = policy.actions(user, current)
        markers(
            response.content.decode(),
            {
                action: (action in acts, f'name="action" value="{action}"')
                for action in ("submit", "revise", "review", "complete")
            },
            report,
            where,
        )
    client.logout()


def check_referral_page(report, client, world, referral):
    policy = policies.referrals
    for key in ROLES:
        user = world.p[key]
        client.logout()
        sign_in(client, user)
        current = fresh(referral)
        response = client.get(reverse("governance:referral", args=[referral.pk]))
        where = f"GET referral page {label(referral)} as {key}"
        may_view = policy.can(user, "view", current)
        report.expect(
            response.status_code == (200 if may_view else 404),
            f"{where}: {response.status_code}, can(view) is {may_view}",
        )
        if response.status_code != 200:
            continue
        acts = policy.actions(user, current)
        pack = latest_pack(referral)
        wanted = {
            "view_deliberation": ("view_deliberation" in acts, "Security factors</dt>"),
            "download_pack": (
                "download_pack" in acts and pack is not None,
                "/packs/",
            ),
        }
        for action, value in [
            ("send_pack", "send_pack"),
            ("request_information", "request_information"),
            ("provide_information", "respond"),
            ("determine", "determine"),
            ("close", "close"),
        ]:
            wanted[action] = (action in acts, f'name="action" value="{value}"')
        markers(response.content.decode(), wanted, report, where)
    client.logout()


# --- 1, 2 and 3, per policy and state ------------------------------------------------------------

CASE_STATES = [
    "opened",
    "assessment",
    "voting",
    "decided",
    "remediation",
    "suspension",
    "closed",
    "remediation/closable",
    "suspension/closable",
    "assessment/chair-conflicted",
    "decided/chair-conflicted",  # the chair declared mid-ballot; no acting chair designated yet
    "opened/acting-chair",
    "assessment/acting-chair",
    "voting/acting-chair",
    "decided/acting-chair",
    "remediation/acting-chair",
]


@pytest.mark.parametrize("state", CASE_STATES)
def test_cases(client, people, state):
    world, report = World(people), Report()
    case = world.case_in(state)
    check_visibility(report, people, case)
    check_actions(report, client, world, case)
    check_case_page(report, client, world, case)
    report.done()


EVIDENCE_STAGES = ["assessment", "assessment/chair-conflicted", "remediation", "closed"]


@pytest.mark.parametrize("stage", EVIDENCE_STAGES)
def test_evidence(client, people, stage):
    """Each classification (ssc-only, parties, named without and with a grant) on a case before
    and after its decision (addressed to more Parties), with a conflicted chair, and closed."""
    world, report = World(people), Report()
    if stage == "closed":
        case = world.closable()
        documents = world.documents(case)
        services.case_transition(actor=people["secretariat"], case=case, name="close")
    else:
        case = world.case_in(stage)
        documents = world.documents(case)
    for document in documents:
        check_visibility(report, people, document)
        check_actions(report, client, world, document)
    check_case_page(report, client, world, case)  # lists exactly the documents, with grant links
    report.done()


REPRESENTATION_STAGES = [
    "assessment",
    "assessment/chair-conflicted",
    "voting",
    "remediation",
    "closed",
]


@pytest.mark.parametrize("stage", REPRESENTATION_STAGES)
def test_representations(client, people, stage):
    """Supplier A's and the DCC's views, each classification, from the assessment on: the list,
    the object rule and the case page (text and document links) agree for every role."""
    world, report = World(people, represent=True), Report()
    case = world.case_in(stage)
    found = list(Representation.objects.filter(case=case))
    assert len(found) == 4
    for representation in found:
        check_visibility(report, people, representation)
    for key in ROLES:
        user = people[key]
        client.logout()
        sign_in(client, user)
        response = client.get(reverse("governance:case", args=[case.pk]))
        if response.status_code != 200:
            report.expect(
                not any(policies.representations.can(user, "view", fresh(r)) for r in found),
                f"{key} may read a representation on a case page they cannot open",
            )
            continue
        html = response.content.decode()
        for representation in found:
            document = representation.documents.get()
            download = reverse("governance:representation-download", args=[case.pk, document.pk])
            markers(
                html,
                {
                    f"read {representation.text}": (
                        policies.representations.can(user, "view", fresh(representation)),
                        f'href="{download}"',
                    )
                },
                report,
                f"GET case page {label(case)} as {key}",
            )
            status = client.get(download).status_code
            may = policies.representations.can(user, "view", fresh(representation))
            report.expect(
                status == (200 if may else 404),
                f"{key} GET {download}: {status}, can(view) is {may}",
            )
    client.logout()
    report.done()


BALLOT_STATES = [
    (state, variant)
    for variant in ("", "acting-chair")
    for state in ("open", "awaiting_casting_vote", "closed", "failed")
]


@pytest.mark.parametrize(
    "state, variant", BALLOT_STATES, ids=[f"{s}/{v}" if v else s for s, v in BALLOT_STATES]
)
def test_ballots(client, people, state, variant):
    world, report = World(people), Report()
    ballot = world.ballot(state, acting=variant == "acting-chair")
    check_visibility(report, people, ballot)
    check_actions(report, client, world, ballot)
    check_ballot_page(report, client, world, ballot)
    report.done()


PLAN_STATES = [*World.PLAN_STEPS, "submitted/acting-chair", "approved/acting-chair"]


@pytest.mark.parametrize("state", PLAN_STATES)
def test_plans(client, people, state):
    """Supplier A's plan in each state; supplier B's own plan (submitted) beside it."""
    world, report = World(people), Report()
    name, _, variant = state.partition("/")
    mine, theirs = world.requirements(name, acting=variant == "acting-chair")
    for requirement in (mine, theirs):
        check_visibility(report, people, requirement)
        for version in RemedialPlan.objects.filter(requirement=requirement):
            check_visibility(report, people, version)
        check_plan_page(report, client, world, requirement)
    check_actions(report, client, world, mine)
    if name == "notified":
        check_actions(report, client, world, theirs)  # once is enough: it is the same each time
    report.done()


REFERRAL_STATES = [*World.REFERRAL_ORDER, "information_requested/acting-chair"]


@pytest.mark.parametrize("state", REFERRAL_STATES)
def test_referrals(client, people, state):
    """Supplier A's referral in each state: the Authority sees it once the pack is sent."""
    world, report = World(people), Report()
    name, _, variant = state.partition("/")
    referral = world.referral(name, acting=variant == "acting-chair")
    check_visibility(report, people, referral)
    check_actions(report, client, world, referral)
    check_referral_page(report, client, world, referral)
    report.done()


def test_supplier_policies_and_characteristics(client, people):
    world, report = World(people), Report()
    p = people
    documents = [
        plans.policy_upload(
            actor=p[key],
            review_date=TODAY + datetime.timedelta(days=365),
            upload=pdf_upload("policy.pdf"),
        )
        for key in ("supplier_a", "supplier_b")
    ]
    documents.append(
        services.characteristics_upload(
            actor=p["secretariat"],
            device_type="CHF",
            version_label="1.0",
            effective_date=TODAY,
            ncsc_reference="NCSC-CPA-CHF-1.0",
            upload=pdf_upload(),
        )
    )
    for document in documents:
        check_visibility(report, people, document)
        check_actions(report, client, world, document)
    # The policy page: the SSC sees every supplier's (view_all), suppliers upload their own.
    policy = policies.supplier_policies
    for key in ROLES:
        user = p[key]
        client.logout()
        sign_in(client, user)
        response = client.get(reverse("governance:policy"))
        where = f"GET policy page as {key}"
        acts = policy.actions(user, documents[0])
        opens = "view_all" in acts or "upload" in acts
        report.expect(
            response.status_code == (200 if opens else 403), f"{where}: {response.status_code}"
        )
        if response.status_code == 200:
            html = response.content.decode()
            markers(
                html,
                {
                    "view_all": ("view_all" in acts, "without a policy"),
                    "upload": ("upload" in acts, "Upload your policy"),
                },
                report,
                where,
            )
            for document in documents[:2]:
                link = reverse("governance:policy-download", args=[document.pk])
                markers(
                    html,
                    {f"view {label(document)}": (policy.can(user, "view", document), link)},
                    report,
                    where,
                )
        response = client.get(reverse("governance:characteristics"))
        chars = policies.characteristics
        may_view = chars.can(user, "view", documents[2])
        report.expect(
            response.status_code == (200 if may_view else 403),
            f"GET characteristics as {key}: {response.status_code}, can(view) is {may_view}",
        )
        if response.status_code == 200:
            markers(
                response.content.decode(),
                {
                    "upload": (
                        chars.can(user, "upload", documents[2]),
                        'enctype="multipart/form-data"',
                    )
                },
                report,
                f"GET characteristics as {key}",
            )
    client.logout()
    report.done()


@pytest.mark.parametrize("state", ["unacknowledged", "acknowledged"])
def test_notices_and_the_audit_log(client, people, state):
    world, report = World(people), Report()
    p = people
    notice = notice_send(
        actor=p["secretariat"],
        kind=Notice.Kind.DECISION,
        subject="SSC decision",
        body="Body",
        organisations=[p["supplier_a"].organisation],
        users=[p["member"]],
    )
    deliveries = list(NoticeDelivery.objects.filter(notice=notice).order_by("pk"))
    assert {d.recipient_id for d in deliveries} >= {p["supplier_a"].pk, p["member"].pk}
    if state == "acknowledged":
        for delivery in deliveries:
            notice_acknowledge(actor=delivery.recipient, delivery=delivery)
        deliveries = [fresh(d) for d in deliveries]
    check_visibility(report, people, notice)
    for delivery in deliveries:
        check_visibility(report, people, delivery)
        check_actions(report, client, world, delivery)
        for key in ROLES:
            user = p[key]
            client.logout()
            sign_in(client, user)
            current = fresh(delivery)
            response = client.get(reverse("inbox-detail", args=[delivery.pk]))
            may_view = policy_for(delivery).can(user, "view", current)
            where = f"GET inbox {label(delivery)} as {key}"
            report.expect(
                response.status_code == (200 if may_view else 404),
                f"{where}: {response.status_code}, can(view) is {may_view}",
            )
            if response.status_code == 200:
                markers(
                    response.content.decode(),
                    {
                        "acknowledge": (
                            "acknowledge" in policy_for(delivery).actions(user, current),
                            ">Acknowledge</button>",
                        )
                    },
                    report,
                    where,
                )
    for event in AuditEvent.objects.order_by("-pk")[:3]:
        check_visibility(report, people, event)
    client.logout()
    report.done()


# --- 4. the dashboard lists exactly the objects on which the user has the action ----------------


def panel_links(html: str) -> dict[str, set[str]]:
    """{panel title: the hrefs inside it}."""
    panels = {}
    for section in re.findall(r'<section[^>]*aria-labelledby="panel-.*?</section>', html, re.S):
        heading = re.search(r"<h2[^>]*>(.*?)</h2>", section, re.S).group(1)
        title = unescape(re.sub(r"<span.*", "", heading, flags=re.S).strip())
        panels[title] = set(re.findall(r'href="([^"]+)"', section))
    return panels


DASHBOARD = [
    # (panel title, selector, policy, action(s), the objects' page)
    ("Ballots waiting for your vote", selectors.ballots_to_vote, "ballots", ["vote"], "ballot"),
    ("Ballots you chair", selectors.ballots_to_close, "ballots", ["close"], "ballot"),
    (
        "Referrals waiting for your determination",
        selectors.referrals_to_determine,
        "referrals",
        ["determine"],
        "referral",
    ),
    (
        "Referrals needing the SSC",
        selectors.referrals_to_send_or_answer,
        "referrals",
        ["send_pack", "provide_information"],
        "referral",
    ),
    ("Referrals to close", selectors.referrals_to_close, "referrals", ["close"], "referral"),
    (
        "Remedial plans to submit",
        selectors.plans_to_submit,
        "plan_requirements",
        ["submit"],
        "plan",
    ),
    (
        "Plans waiting for the SSC's review",
        selectors.plans_awaiting_review,
        "plan_requirements",
        ["revise"],
        "plan",
    ),
    (
        "Remedial plans to review",
        selectors.plans_to_review,
        "plan_requirements",
        ["review"],
        "plan",
    ),
    (
        "Approved remedial plans to confirm as completed",
        selectors.plans_to_complete,
        "plan_requirements",
        ["complete"],
        "plan",
    ),
]


def test_dashboard_lists_exactly_the_objects_with_the_action(client, people):
    world, report = World(people), Report()
    # Ballots in every state, with and without an acting chair.
    for state, variant in BALLOT_STATES:
        world.ballot(state, acting=variant == "acting-chair")
    # Supplier A's plans in every state (supplier B's beside them), and a referral in every state
    # on those cases; one plan under review on a case with an acting chair.
    cases = []
    for state in World.PLAN_STEPS:
        mine, _ = world.requirements(state)
        cases.append(mine.case)
    world.requirements("submitted", acting=True)
    for state, case in zip(World.REFERRAL_ORDER, cases, strict=False):
        world.referral(state, case=case)
    world.referral("information_requested", acting=True)

    everything = {
        "ballots": list(Ballot.objects.all()),
        "plan_requirements": list(PlanRequirement.objects.all()),
        "referrals": list(Referral.objects.all()),
    }
    deliveries = list(NoticeDelivery.objects.all())
    for key in ROLES:
        user = people[key]
        client.logout()
        sign_in(client, user)
        response = client.get("/")
        report.expect(response.status_code == 200, f"GET / as {key}: {response.status_code}")
        panels = panel_links(response.content.decode())
        for title, selector, policy_name, actions, page in DASHBOARD:
            policy = getattr(policies, policy_name)
            expected = {
                obj.pk
                for obj in everything[policy_name]
                if any(policy.can(user, a, fresh(obj)) for a in actions)
            }
            listed = [obj.pk for obj in selector(user)]
            report.expect(
                sorted(listed) == sorted(expected),
                f"{selector.__name__}({key}) = {sorted(listed)}, but {'/'.join(actions)} is "
                f"allowed on {sorted(expected)}",
            )
            assert len(expected) < 20, "keep the panels under their limit"
            prefix = reverse(f"governance:{page}", args=[0])[:-2]
            shown = {
                int(href[len(prefix) :].strip("/"))
                for href in panels.get(title, set())
                if re.fullmatch(re.escape(prefix) + r"\d+/", href)
            }
            report.expect(
                shown == expected,
                f"GET / as {key}: panel {title!r} links {sorted(shown)}, expected "
                f"{sorted(expected)}",
            )
        # Notices to acknowledge: exactly the deliveries the user may acknowledge.
        may_acknowledge = {
            d.pk for d in deliveries if policy_for(d).can(user, "acknowledge", fresh(d))
        }
        listed = {d.pk for d in selectors.unacknowledged_notices(user)}
        report.expect(
            listed == may_acknowledge,
            f"unacknowledged_notices({key}) = {sorted(listed)}, acknowledge is allowed on "
            f"{sorted(may_acknowledge)}",
        )
        shown = {
            int(m)
            for m in re.findall(
                r"^/inbox/(\d+)/$",
                "\n".join(panels.get("Notices to acknowledge", set())),
                re.M,
            )
        }
        report.expect(
            shown <= may_acknowledge and len(shown) == min(len(may_acknowledge), 20),
            f"GET / as {key}: the notices panel links {sorted(shown)}, acknowledge is allowed "
            f"on {sorted(may_acknowledge)}",
        )
        # Overdue plans: those the user may see.
        overdue = {
            r.pk
            for r in everything["plan_requirements"]
            if policies.plan_requirements.can(user, "view", r)
            and PlanRequirement.objects.get(pk=r.pk).state == PlanRequirement.State.OVERDUE
        }
        listed = {r.pk for r in selectors.plans_overdue(user)}
        report.expect(
            listed == overdue,
            f"plans_overdue({key}) = {sorted(listed)}, expected {sorted(overdue)}",
        )
    client.logout()
    report.done()


# --- 5. every policy and every action is covered ------------------------------------------------

COVERED = {
    Case: "test_cases",
    EvidenceDocument: "test_evidence",
    Ballot: "test_ballots",
    PlanRequirement: "test_plans",
    RemedialPlan: "test_plans",
    Referral: "test_referrals",
    SupplierPolicy: "test_supplier_policies_and_characteristics",
    SecurityCharacteristics: "test_supplier_policies_and_characteristics",
    Notice: "test_notices_and_the_audit_log",
    NoticeDelivery: "test_notices_and_the_audit_log",
    AuditEvent: "test_notices_and_the_audit_log",
    Representation: "test_representations",
}


def test_every_governance_and_portal_policy_is_covered():
    registered = {model for model in _REGISTRY if model._meta.app_label in ("governance", "portal")}
    missing = sorted(m.__name__ for m in registered - set(COVERED))
    assert not missing, f"Policies with no consistency test in this file: {missing}"
    assert set(COVERED) <= registered, "COVERED names a model with no registered policy"


def test_every_action_has_its_url_or_page():
    unmapped = [
        f"{model.__name__}.{action}"
        for model in COVERED
        for action in policy_for(model).ACTIONS
        if action != "view"
        and (model, action) not in POSTS
        and (model, action) not in GETS
        and (model, action) not in PAGES
    ]
    assert not unmapped, f"Actions with no URL or page in this file: {unmapped}"
    stale = [
        f"{model.__name__}.{action}"
        for (model, action) in [*POSTS, *GETS, *PAGES]
        if action not in policy_for(model).ACTIONS
    ]
    assert not stale, f"Mappings for actions the policies no longer have: {stale}"
