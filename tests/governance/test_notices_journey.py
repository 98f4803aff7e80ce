"""Notices along a whole journey (case, ballot, decision, plans, refusal, referral, pack,
determination) with two suppliers and a conflicted member: one notice per event per recipient,
only to those who may open it and take its next step; a step taken settles the notice."""

import datetime
import io
from collections import Counter

import pytest
from django.utils import timezone

from cpl.inventory import inventory_import
from governance import plans, referrals, selectors, services
from governance.models import PlanRequirement
from portal.models import Notice, NoticeDelivery
from portal.policies import policy_for

from ..helpers import cpa_case, party_summary_approved, pdf_upload

pytestmark = pytest.mark.django_db
TODAY = datetime.date.today()


class Journal:
    """What each step sent: {step: [(username, notice)]}, checked as it is sent."""

    def __init__(self):
        self.last = Notice.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        self.sent: dict[str, list[tuple[str, Notice]]] = {}

    def step(self, name: str) -> list[tuple[str, Notice]]:
        rows = []
        for notice in Notice.objects.filter(pk__gt=self.last).order_by("pk"):
            about = notice.about
            policy = policy_for(about)
            for delivery in notice.deliveries.select_related("recipient"):
                user = delivery.recipient
                # Nobody is sent what they may not open, nor asked what they may not do.
                assert policy.can(user, "view", about), (name, user.username, notice.subject)
                if notice.action:
                    assert policy.can(user, notice.action, about), (
                        name,
                        user.username,
                        notice.subject,
                    )
                rows.append((user.username, notice))
            self.last = notice.pk
        twice = [user for user, n in Counter(u for u, _ in rows).items() if n > 1]
        assert not twice, f"{name}: {twice} got more than one notice"
        self.sent[name] = rows
        return rows

    def who(self, name: str) -> set[str]:
        return {user for user, _ in self.sent[name]}


def open_items(user) -> set[str]:
    return {d.notice.subject for d in selectors.unacknowledged_notices(user)}


@pytest.fixture
def journey(committee):
    c = committee
    case = cpa_case(c, models=1, addressed=("supplier_a",))
    model = case.device_models.get()
    extract = "Device Model,Supplier Party ID,Device Count,As Of\n" + "".join(
        f"{'/'.join(model.identity)},{party},{count},2026-11-01\n"
        for party, count in (("SUPA", 1200), ("SUPB", 300))
    )
    inventory_import(
        actor=c["secretariat"],
        binary=io.BytesIO(extract.encode()),
        file_name="inventory.csv",
        file_sha256="0" * 64,
    )
    journal = Journal()
    services.conflict_declare(actor=c["member3"], case=case, has_conflict=True, reason="Adviser")
    journal.step("conflict declared")
    services.case_transition(actor=c["secretariat"], case=case, name="start_assessment")
    journal.step("assessment started")
    ballot = services.ballot_open(
        actor=c["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(days=1)
    )
    journal.step("ballot opened")
    services.conflict_declare(actor=c["member"], case=case, has_conflict=False, reason="")
    services.vote_cast(actor=c["member"], ballot=ballot, choice="remedial_plan")
    journal.step("first vote")
    services.vote_cast(actor=c["member2"], ballot=ballot, choice="remedial_plan", no_conflict=True)
    services.ballot_close(actor=c["chair"], ballot=ballot)
    journal.step("ballot closed")
    party_summary_approved(c, case)
    services.decision_issue(
        actor=c["chair"], case=case, reasons="R", security_factors="S", operational_impact="O"
    )
    journal.step("decision issued")
    requirement = PlanRequirement.objects.get(supplier=c["supplier_a"].organisation)
    plans.plan_submit(
        actor=c["supplier_a"],
        requirement=requirement,
        summary="Firmware update",
        upload=pdf_upload(),
        milestones=[{"description": "Roll-out", "target_date": TODAY, "devices_covered": 1}],
    )
    journal.step("plan submitted")
    plans.plan_review(
        actor=c["member"], requirement=requirement, version=1, approve=False, comments="Vague"
    )
    journal.step("plan refused")
    referral = referrals.referral_lodge(
        actor=c["supplier_a"],
        case=case,
        kind="plan_not_approved",
        grounds="The plan is adequate",
        requirement=requirement,
    )
    journal.step("referral lodged")
    referrals.referral_send_pack(actor=c["secretariat"], referral=referral)
    journal.step("pack sent")
    referrals.referral_determine(
        actor=c["authority"],
        referral=referral,
        outcome="upheld",
        reasons="Sound",
        effective_date=TODAY,
    )
    journal.step("determined")
    return journal, case, referral


def test_each_event_reaches_each_recipient_once_and_only_those_who_can_act(journey, committee):
    journal, _, _ = journey
    ssc = {"secretariat", "chair", "member", "member2", "member3"}
    assert journal.who("assessment started") == {"supplier_a", "supplier_b", "dcc"}
    # The conflicted member is not asked to vote; the chair (who does not vote) neither.
    assert journal.who("ballot opened") == {"member", "member2"}
    # One notice of the decision per Party: the suppliers' clause 6.3 notice carries it.
    assert journal.who("decision issued") == {"supplier_a", "supplier_b", "dcc"}
    kinds = {user: n.kind for user, n in journal.sent["decision issued"]}
    assert kinds == {
        "supplier_a": Notice.Kind.PLAN_OBLIGATION,
        "supplier_b": Notice.Kind.PLAN_OBLIGATION,
        "dcc": Notice.Kind.DECISION,
    }
    obligation = dict(journal.sent["decision issued"])["supplier_a"]
    assert "refer it to the Authority" in obligation.body and "1,200 devices" in obligation.body
    assert "300 devices" not in obligation.body
    # Reviewers only: not the secretariat, not the conflicted member.
    assert journal.who("plan submitted") == {"chair", "member", "member2"}
    assert journal.who("plan refused") == {"supplier_a"}
    # The secretariat sends the pack; the Authority follows from the lodging. The referring
    # supplier lodged it; the other supplier and the SSC members have nothing to do.
    assert journal.who("referral lodged") == {"secretariat", "authority"}
    assert journal.who("pack sent") == {"authority"}
    assert journal.who("determined") == {"supplier_a", "secretariat"}
    assert not journal.who("first vote") and not journal.who("ballot closed")
    everyone = Counter(user for rows in journal.sent.values() for user, _ in rows)
    # The walker's supplier with 7 notices after one referral: 4 over the whole journey.
    assert everyone["supplier_a"] == 4
    assert everyone["supplier_b"] == 2
    assert "member3" not in everyone
    assert ssc - {"member3"} <= set(everyone)


def test_a_notice_whose_step_is_done_no_longer_asks_to_be_acknowledged(journey, committee):
    journal, case, referral = journey
    c = committee
    # The pack was sent: the secretariat's "send the pack" notice is settled, not listed.
    assert not any("referral lodged" in s for s in open_items(c["secretariat"]))
    lodged = NoticeDelivery.objects.get(
        recipient=c["secretariat"], notice__subject__endswith="referral lodged"
    )
    assert lodged.acknowledged_at is not None and lodged.settled
    # The determination was recorded: the Authority's pack notice asks nothing more.
    assert not any("pack sent" in s for s in open_items(c["authority"]))
    # Voted, and the ballot closed: no "Vote" left; the plan reviewed: no "to review" left.
    for key in ("member", "member2", "chair"):
        assert not any(s.startswith("Vote") for s in open_items(c[key])), key
        assert not any("to review" in s for s in open_items(c[key])), key
    # The supplier submitted its plan: its obligation is answered; the formal notices of the
    # refusal's referral right and of the determination wait for the reader.
    supplier = open_items(c["supplier_a"])
    assert not any(s.startswith("Clause 6.3") for s in supplier)
    assert any("determination" in s for s in supplier)
    # The other supplier has not submitted: its obligation still asks.
    assert any(s.startswith("Clause 6.3") for s in open_items(c["supplier_b"]))
    # The secretariat closes the referral: its determination notice is settled then.
    assert any("determination" in s for s in open_items(c["secretariat"]))
    referrals.referral_close(actor=c["secretariat"], referral=referral)
    assert not any("determination" in s for s in open_items(c["secretariat"]))
    assert any("determination" in s for s in open_items(c["supplier_a"]))


def test_closing_the_ballot_settles_every_vote_notice(committee):
    case = cpa_case(committee, models=1)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    ballot = services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(days=1)
    )
    services.vote_cast(
        actor=committee["member"], ballot=ballot, choice="remedial_plan", no_conflict=True
    )
    # A vote may change until the close: the notice stays until then.
    assert any(s.startswith("Vote") for s in open_items(committee["member2"]))
    # Recused by a conflict declared during the ballot: the member can no longer vote.
    services.conflict_declare(actor=committee["member2"], case=case, has_conflict=True, reason="x")
    services.ballot_close(actor=committee["chair"], ballot=ballot)
    for key in ("member", "member2", "member3"):
        assert not any(s.startswith("Vote") for s in open_items(committee[key])), key


def test_the_inbox_says_a_settled_notice_needs_nothing_more(journey, committee, client_for):
    lodged = NoticeDelivery.objects.get(
        recipient=committee["secretariat"], notice__subject__endswith="referral lodged"
    )
    client = client_for("secretariat")
    page = client.get(f"/inbox/{lodged.pk}/").content.decode()
    assert "Nothing more to do: the step this notice asked for was taken" in page
    assert "Send the referral pack" not in page and ">Acknowledge</button>" not in page
    assert "Done" in client.get("/inbox/").content.decode()
    dashboard = client.get("/").content.decode()
    assert f"/inbox/{lodged.pk}/" not in dashboard


def test_an_overturned_removal_tells_the_referring_supplier_once(committee):
    from ..helpers import decided_case

    case = decided_case(committee, decision="suspend")
    referral = referrals.referral_lodge(
        actor=committee["supplier_a"], case=case, kind="remove", grounds="Disproportionate"
    )
    referrals.referral_send_pack(actor=committee["secretariat"], referral=referral)
    journal = Journal()
    referrals.referral_determine(
        actor=committee["authority"],
        referral=referral,
        outcome="overturned",
        reasons="A plan suffices",
        effective_date=TODAY,
    )
    sent = dict(journal.step("overturned"))
    # The clause 6.3 notice the overturn requires carries the determination: one notice.
    assert sent["supplier_a"].kind == Notice.Kind.PLAN_OBLIGATION
    assert "The Authority determined referral" in sent["supplier_a"].body
    assert sent["supplier_b"].kind == Notice.Kind.PLAN_OBLIGATION
    assert "secretariat" in sent and "authority" not in sent
