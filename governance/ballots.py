"""The ballot's rules: the electorate frozen when it opens, quorum on it, the majority chosen
then, and each vote's history. Votes and tallies stay sealed until the ballot closes."""

import math
from collections import Counter
from dataclasses import dataclass

from django.conf import settings

from . import policies
from .models import Ballot, Decision, VoteChoice, VoteEvent

TIE = "tie"
NO_MAJORITY = "no_majority"
NO_QUORUM = "no_quorum"


def electorate_freeze(case) -> list[dict]:
    """The members who may vote when the ballot opens: stored with the ballot, so a member who
    joins the SSC later neither votes nor moves the quorum."""
    return [
        {"id": u.pk, "username": u.username, "name": u.get_full_name() or u.username}
        for u in policies.eligible_voters(case)
    ]


def eligible_ids(ballot: Ballot) -> set[int]:
    """The frozen electorate less the members recused since (a conflict declared, an acting
    chair designated). Reads `ballot.case.conflicts.all()`: prefetched on pages."""
    return {e["id"] for e in ballot.electorate} - policies.recused_from_voting(ballot.case)


def quorum_for(eligible: int) -> int:
    return max(1, math.ceil(eligible * settings.BALLOT_QUORUM_FRACTION))


@dataclass(frozen=True)
class Count:
    tallies: dict
    eligible: int
    quorum: int
    outcome: str  # a Decision value, TIE, NO_MAJORITY or NO_QUORUM

    @property
    def cast(self) -> int:
        return self.tallies[VoteChoice.SUSPEND] + self.tallies[VoteChoice.REMEDIAL_PLAN]


def count(ballot: Ballot, votes) -> Count:
    """Only the eligible members' votes count; abstentions count towards neither quorum nor
    majority. Two-thirds: of the votes for either option (local practice, chosen at opening)."""
    eligible = eligible_ids(ballot)
    tallies = Counter({choice: 0 for choice in VoteChoice.values})
    tallies.update(v.choice for v in votes if v.member_id in eligible)
    quorum = quorum_for(len(eligible))
    suspend, plans = tallies[VoteChoice.SUSPEND], tallies[VoteChoice.REMEDIAL_PLAN]
    cast = suspend + plans
    if cast < quorum:
        outcome = NO_QUORUM
    elif ballot.majority == Ballot.Majority.TWO_THIRDS:
        winner = Decision.SUSPEND if suspend > plans else Decision.REMEDIAL_PLAN
        outcome = winner if 3 * max(suspend, plans) >= 2 * cast else NO_MAJORITY
    elif suspend == plans:
        outcome = TIE
    else:
        outcome = Decision.SUSPEND if suspend > plans else Decision.REMEDIAL_PLAN
    return Count(dict(tallies), len(eligible), quorum, outcome)


def failure_reason(ballot: Ballot) -> str:
    """Why a failed ballot decided nothing, from what was stored at its close."""
    tallies = ballot.tallies or {}
    cast = tallies.get(VoteChoice.SUSPEND, 0) + tallies.get(VoteChoice.REMEDIAL_PLAN, 0)
    if cast < ballot.quorum_required:
        return (
            f"No quorum: {cast} vote{'s' if cast != 1 else ''} for either option, "
            f"{ballot.quorum_required} needed."
        )
    return "No option had the two-thirds majority this ballot required."


def history_by_member(ballot: Ballot) -> dict[int, list[dict]]:
    """Each member's vote events, oldest first (reads `ballot.vote_events.all()`)."""
    history: dict[int, list[dict]] = {}
    for event in ballot.vote_events.all():
        history.setdefault(event.member_id, []).append(
            {
                "kind": event.kind,
                "choice": event.choice,
                "reason": event.reason,
                "at": event.at.isoformat(),
            }
        )
    return history


def sealed(ballot: Ballot) -> bool:
    """Tallies and others' votes are sealed while the ballot is open, for every role."""
    return ballot.state == Ballot.State.OPEN


def vote_event(*, ballot: Ballot, member, kind: str, choice: str = "", reason: str = ""):
    return VoteEvent.objects.create(
        ballot=ballot, member=member, kind=kind, choice=choice, reason=reason
    )


def recuse_from_open_ballot(*, case, member) -> list:
    """A conflict declared while the case's ballot is open (SEC process: conflicted members do
    not vote): the member's vote, if cast, is removed (its history kept) and the ballot's
    eligibility and quorum are recomputed. Returns the audit entries; the caller holds the
    case's lock and has read `case.ballots` with their votes, and `case.conflicts` afresh."""
    from portal.audit import AuditEntry

    ballot = next((b for b in case.ballots.all() if b.is_open), None)
    if ballot is None:
        return []
    ballot.case = case  # the fresh declarations, for eligible_ids
    vote = next((v for v in ballot.votes.all() if v.member_id == member.pk), None)
    before = {"eligible": ballot.eligible_count, "quorum_required": ballot.quorum_required}
    eligible = len(eligible_ids(ballot))
    ballot.eligible_count, ballot.quorum_required = eligible, quorum_for(eligible)
    ballot.save(update_fields=["eligible_count", "quorum_required"])
    entries = []
    if vote is not None:
        vote.delete()
        vote_event(ballot=ballot, member=member, kind=VoteEvent.Kind.REMOVED)
        # Sealed: the audit says a vote went, not what it was (the record at close does).
        entries.append(AuditEntry("vote.removed", ballot, after={"member": member.username}))
    entries.append(
        AuditEntry(
            "ballot.eligibility_recomputed",
            ballot,
            before=before,
            after={
                "eligible": ballot.eligible_count,
                "quorum_required": ballot.quorum_required,
                "recused": member.username,
            },
        )
    )
    return entries


def ballot_record_votes(ballot: Ballot) -> list[dict]:
    """Once the ballot has closed: each member's final vote and reason, with its history, for
    the ballot page (the decision snapshot holds the same, frozen)."""
    if sealed(ballot):
        raise ValueError("The votes are sealed until the ballot closes.")
    labels = dict(VoteChoice.choices)
    kinds = dict(VoteEvent.Kind.choices)
    final = {v.member_id: v for v in ballot.votes.all()}
    names = {e["id"]: e["name"] for e in ballot.electorate}
    rows: dict[int, dict] = {}
    for event in ballot.vote_events.select_related("member"):
        names.setdefault(event.member_id, event.member.get_full_name() or event.member.username)
        rows.setdefault(event.member_id, {"history": []})["history"].append(
            {
                "kind": kinds[event.kind],
                "choice": labels.get(event.choice, ""),
                "reason": event.reason,
                "at": event.at,
            }
        )
    out = []
    for member_id, row in rows.items():
        vote = final.get(member_id)
        out.append(
            {
                "name": names[member_id],
                "choice": labels[vote.choice] if vote else "No vote (removed)",
                "reason": vote.reason if vote else "",
                "history": row["history"],
            }
        )
    return sorted(out, key=lambda r: r["name"])
