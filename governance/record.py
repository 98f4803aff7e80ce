"""The SSC's record of a case.

Two texts, one public: a case and its decision each carry a Party-facing summary (written by the
secretariat, approved by the case's chair) beside the SSC-only details (reason, severity,
summary; the decision's reasons, security factors, operational impact). Every notice and e-mail
about a case carries only `party_text`.

`decision_snapshot(case, ballot)` (helper `ballot`) freezes the record at the ballot's close; its
`representations` and `recommendations` parts come from `representations_part` and
`recommendations_part` below.
"""

import hashlib

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal.audit import audit_record
from portal.policies import ActionNotNow

from . import policies
from .models import Case, DecisionRecord
from .representations import recommendations_made, representations_considered

NO_SUMMARY_YET = "The SSC has not yet approved a summary of this case for the Parties."


def sees_ssc_details(user, case: Case) -> bool:
    """The SSC-only details are for whoever may see the case's deliberation (never a conflicted
    member, an expert or a Party)."""
    return policies.cases.can(user, "view_deliberation", case)


def party_summary(case: Case) -> str:
    """The case's approved summary for Parties, or a sentence that says there is none yet."""
    return case.party_summary if case.party_summary_approved_at else NO_SUMMARY_YET


def party_text(case: Case) -> str:
    """What a Party may read about the case: its reference, the certificate event, the device
    models, the approved summary and, once issued, the decision with its reasons for Parties.
    Never the reason, severity or summary the SSC keeps."""
    lines = [
        f"Case {case.reference}: {case.get_event_display()} ({case.certificate.number}) on "
        f"{case.event_date:%-d %B %Y}.",
        "",
        "Device models:",
        *[f"- {m}" for m in case.device_models.select_related("manufacturer")],
        "",
        "Summary:",
        party_summary(case),
    ]
    record = DecisionRecord.objects.filter(case=case, issued_at__isnull=False).first()
    if record is not None:
        lines += [
            "",
            f"Decision: {record.get_decision_display()}.",
            "",
            "Reasons:",
            record.party_summary,
        ]
    return "\n".join(lines)


def case_party_summary_write(
    *, actor, case: Case, party_summary: str, decision_party_summary: str | None = None
) -> Case:
    """The secretariat writes (or revises) the case's summary for Parties, which then waits for
    the chair's approval; and, while a decision waits to be issued, drafts its reasons for
    Parties (the chair approves those by issuing the decision)."""
    with transaction.atomic():
        case = Case.objects.select_for_update(of=("self",)).get(pk=case.pk)
        policies.cases.require(actor, "write_party_summary", case)
        before = {
            "party_summary": case.party_summary,
            "approved": bool(case.party_summary_approved_at),
        }
        if party_summary != case.party_summary:
            case.party_summary = party_summary
            case.party_summary_approved_by = case.party_summary_approved_at = None
            case.save(
                update_fields=[
                    "party_summary",
                    "party_summary_approved_by",
                    "party_summary_approved_at",
                ]
            )
        after = {"party_summary": party_summary}
        if decision_party_summary is not None:
            record = DecisionRecord.objects.select_for_update().filter(case=case).first()
            if record is None or record.issued_at is not None:
                raise ValidationError("There is no decision waiting to be issued.")
            record.party_summary = decision_party_summary
            record.save(update_fields=["party_summary"])
            after["decision_party_summary"] = decision_party_summary
        audit_record(
            actor=actor, action="party_summary.written", obj=case, before=before, after=after
        )
    return case


def party_summary_sha256(case: Case) -> str:
    """What the chair's approval names: the summary text they read."""
    return hashlib.sha256(case.party_summary.encode()).hexdigest()


def case_party_summary_approve(*, actor, case: Case, read_sha256: str | None) -> Case:
    """The case's chair approves the summary for Parties they read (`read_sha256`): from now
    the Parties read it. A summary revised since it was read is not approved unread."""
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related("acting_chair")
            .get(pk=case.pk)
        )
        policies.cases.require(actor, "approve_party_summary", case)
        if read_sha256 != party_summary_sha256(case):
            raise ActionNotNow(
                "The summary for Parties changed since you read it: read it again and approve "
                "the new text."
            )
        case.party_summary_approved_by, case.party_summary_approved_at = actor, timezone.now()
        case.save(update_fields=["party_summary_approved_by", "party_summary_approved_at"])
        audit_record(
            actor=actor,
            action="party_summary.approved",
            obj=case,
            after={"party_summary": case.party_summary},
        )
    return case


def case_record_context(user, case: Case, actions) -> dict:
    """What the case page's record sections read (a query or two each)."""
    from .representations import recommendations_for, representations_for

    return {
        "sees_ssc_details": "view_deliberation" in actions,
        "party_summary_text": party_summary(case),
        "representations": representations_for(user, case),
        "recommendations": recommendations_for(user, case),
        "party_summary_sha256": party_summary_sha256(case),
    }


# --- parts of the decision snapshot ------------------------------------------------------------


def representations_part(case: Case) -> list[dict]:
    return representations_considered(case)


def recommendations_part(case: Case) -> list[dict]:
    return recommendations_made(case)


# --- the decision snapshot (helper `ballot`) ---------------------------------------------------
# Frozen at the ballot's close and stored on the DecisionRecord with its SHA-256: what the SSC
# had before it and how it voted, unchanged by any later edit of the CPL or the evidence.

SNAPSHOT_PARTS = (
    "case",
    "cpl_entries",
    "evidence",
    "representations",
    "recommendations",
    "inventory_coverage",
    "electorate",
    "conflicts",
    "votes",
    "tallies",
)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def canonical_json(value) -> bytes:
    """One byte string per value: sorted keys, no spaces, UTF-8 (hashed and shipped as is)."""
    import json

    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sha256_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def snapshot_digests(snapshot: dict) -> dict[str, str]:
    """The SHA-256 of each part: a pack that withholds a part's detail (undisclosed evidence)
    still lets the Authority check every other part against the record's hash."""
    return {part: _sha256_bytes(canonical_json(snapshot.get(part))) for part in SNAPSHOT_PARTS}


def snapshot_sha256(snapshot: dict, digests: dict | None = None) -> str:
    """The record's hash: of the parts' hashes, in canonical JSON."""
    return _sha256_bytes(canonical_json(digests or snapshot_digests(snapshot)))


def snapshot_verifies(record: DecisionRecord) -> bool:
    return bool(record.snapshot) and snapshot_sha256(record.snapshot) == record.snapshot_sha256


def _cpl_entries(case: Case) -> list[dict]:
    models = case.device_models.select_related("manufacturer").prefetch_related("certificates")
    return [
        {
            "id": m.pk,
            "entry": str(m),
            "device_type": m.device_type,
            "manufacturer": m.manufacturer.manufacturer_id,
            "model_id": m.model_id,
            "hardware_version": m.hardware_version,
            "firmware_version": m.firmware_version,
            "smets_chts_version": m.smets_chts_version,
            "status": m.status,
            "certificates": [
                {
                    "kind": c.kind,
                    "number": c.number,
                    "status": c.status,
                    "issued": _iso(c.issued),
                    "expiry": _iso(c.expiry),
                }
                for c in sorted(m.certificates.all(), key=lambda c: (c.kind, c.number))
            ],
        }
        for m in models
    ]


def _evidence(case: Case) -> list[dict]:
    return [
        {
            "id": d.pk,
            "title": d.title,
            "classification": d.classification,
            "file": d.original_name,
            "size": d.size,
            "sha256": d.sha256,
            "uploaded_by": d.uploaded_by.username,
            "uploaded_at": _iso(d.uploaded_at),
        }
        for d in case.documents.select_related("uploaded_by").order_by("uploaded_at", "pk")
    ]


def _inventory_coverage(case: Case) -> dict:
    """Clause 6.3: which inventory extract covered the models, and how many devices each."""
    from .selectors import inventory_coverage  # what clause63.case_coverage reads too

    return inventory_coverage(case)


def decision_snapshot(case: Case, ballot, count=None) -> dict:
    """The record at the ballot's close. `count` is the close's governance.ballots.Count."""
    from .ballots import history_by_member

    history = history_by_member(ballot)
    final = {v.member_id: v for v in ballot.votes.all()}
    eligible = count.eligible if count else ballot.eligible_count
    recused = {d.member_id: d for d in case.conflicts.all() if d.has_conflict}
    electorate = [
        {**e, "recused": e["id"] in recused or e["id"] == case.acting_chair_id}
        for e in ballot.electorate
    ]
    voters = {e["id"]: e for e in ballot.electorate}
    for event in ballot.vote_events.all():  # a vote in the history from outside the electorate
        voters.setdefault(event.member_id, {"id": event.member_id, "username": str(event.member)})
    votes = []
    for member_id, elector in sorted(voters.items(), key=lambda kv: kv[1]["username"]):
        vote = final.get(member_id)
        votes.append(
            {
                "member": elector["username"],
                "name": elector.get("name") or elector["username"],
                "choice": vote.choice if vote else None,
                "reason": vote.reason if vote else "",
                "history": history.get(member_id, []),
            }
        )
    return {
        "case": {
            "reference": case.reference,
            "event": case.event,
            "event_date": _iso(case.event_date),
            "certificate": case.certificate.number,
            "severity": case.severity,
            "reason": case.reason,
            "summary": case.summary,
            "party_summary": party_summary(case),  # what the Parties read when the SSC decided
        },
        "cpl_entries": _cpl_entries(case),
        "evidence": _evidence(case),
        "representations": representations_part(case),
        "recommendations": recommendations_part(case),
        "inventory_coverage": _inventory_coverage(case),
        "electorate": {
            "frozen_at": _iso(ballot.opened_at),
            "members": electorate,
            "eligible": eligible,
            "quorum_required": count.quorum if count else ballot.quorum_required,
        },
        "conflicts": [
            {"member": d.member.username, "reason": d.reason, "declared_at": _iso(d.declared_at)}
            for d in sorted(recused.values(), key=lambda d: d.member.username)
        ],
        "votes": votes,
        "tallies": {
            "ballot": ballot.number,
            "opened_at": _iso(ballot.opened_at),
            "closed_at": _iso(ballot.closed_at),
            "majority": ballot.majority,
            "counts": dict(ballot.tallies),
            "result": ballot.result,
            "casting_vote": ballot.casting_vote or None,
        },
    }
