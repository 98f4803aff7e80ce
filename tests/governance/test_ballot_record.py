"""The ballot as the record must show it (issue 11, items 9, 11 and 5's ballot part): a frozen
electorate, sealed votes and tallies, reasons and history, an optional two-thirds majority, a
conflict after voting, and the decision snapshot with its SHA-256."""

import datetime
import io
import json
import zipfile

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from cpl.models import AssuranceCertificate, DeviceModel
from governance import services
from governance.models import (
    Ballot,
    Case,
    DecisionRecord,
    EvidenceDocument,
    Vote,
    VoteChoice,
    VoteEvent,
)
from governance.packs import pack_zip, verify_pack
from governance.record import snapshot_digests, snapshot_sha256, snapshot_verifies
from portal.models import AuditEvent

from ..helpers import cpa_case, make_user, pdf_upload, referral_pack_sent

pytestmark = pytest.mark.django_db
SOON = datetime.timedelta(days=2)


def open_ballot(committee, majority="simple"):
    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    return services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + SOON, majority=majority
    )


def vote(user, ballot, choice, reason=""):
    return services.vote_cast(
        actor=user, ballot=ballot, choice=choice, reason=reason, no_conflict=True
    )


def close(committee, ballot):
    return services.ballot_close(actor=committee["chair"], ballot=ballot)


# --- sealed until close -------------------------------------------------------------------------


def test_no_role_sees_tallies_or_others_votes_while_the_ballot_is_open(committee, client_for):
    ballot = open_ballot(committee)
    m1, m2, m3 = committee["members"]
    vote(m1, ballot, "suspend", reason="first-members-reason")
    vote(m2, ballot, "remedial_plan", reason="second-members-reason")
    pages = [f"/ballots/{ballot.pk}/", f"/cases/{ballot.case_id}/", "/audit/?action=vote", "/"]
    for key in ("chair", "secretariat", "member", "member2", "member3"):
        client = client_for(committee[key])
        for path in pages:
            body = client.get(path).content.decode()
            assert 'id="ballot-result"' not in body, (key, path)
            # Nobody reads another member's vote or reason; each member sees their own.
            others = {"member": "second-members-reason", "member2": "first-members-reason"}
            if key in others:
                assert others[key] not in body, (key, path)
            else:
                assert "members-reason" not in body, (key, path)
            if key not in others:  # no vote of theirs to show, and no one else's
                assert "You voted" not in body and " checked" not in body, (key, path)
        ballot_page = client.get(f"/ballots/{ballot.pk}/").content.decode()
        assert "sealed until the ballot closes" in ballot_page
    own = client_for(m1).get(f"/ballots/{ballot.pk}/").content.decode()
    assert f"You voted: <strong>{VoteChoice.SUSPEND.label}</strong>" in own
    assert "first-members-reason" in own
    # Who has not voted is open to the members.
    assert "member3 — <strong>not voted</strong>" in own
    # The audit log says who voted, not how.
    assert [e.after for e in AuditEvent.objects.filter(action="vote.cast").order_by("seq")] == [
        {"member": "member"},
        {"member": "member2"},
    ]

    vote(m3, ballot, "suspend")
    close(committee, ballot)
    body = client_for("chair").get(f"/ballots/{ballot.pk}/").content.decode()
    assert 'id="ballot-result"' in body
    assert "first-members-reason" in body and "second-members-reason" in body


# --- the frozen electorate ----------------------------------------------------------------------


def test_a_member_who_joins_after_opening_has_no_vote_and_no_weight_in_quorum(committee):
    ballot = open_ballot(committee)
    assert [e["username"] for e in ballot.electorate] == ["member", "member2", "member3"]
    newcomer = make_user("member", "member4")
    with pytest.raises(PermissionDenied, match="when this ballot opened"):
        vote(newcomer, ballot, "suspend")
    assert not Vote.objects.filter(member=newcomer).exists()
    vote(committee["member"], ballot, "suspend")
    vote(committee["member2"], ballot, "suspend")
    ballot = close(committee, ballot)
    # Quorum on the three members of the electorate, not the four members of today.
    assert (ballot.eligible_count, ballot.quorum_required, ballot.result) == (3, 2, "suspend")
    record = DecisionRecord.objects.get(ballot=ballot)
    assert [m["username"] for m in record.snapshot["electorate"]["members"]] == [
        "member",
        "member2",
        "member3",
    ]


def test_the_electorate_frozen_at_opening_is_audited(committee):
    ballot = open_ballot(committee)
    opened = AuditEvent.objects.get(action="ballot.opened", object_id=str(ballot.pk))
    assert opened.after["electorate"] == ["member", "member2", "member3"]
    assert opened.after["quorum_required"] == 2


# --- majority -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("majority", "state", "result", "case_state"),
    [
        ("simple", "closed", "suspend", "decided"),
        ("two_thirds", "failed", "", "assessment"),
    ],
)
def test_two_thirds_majority_chosen_at_opening(committee, majority, state, result, case_state):
    extra = [make_user("member", "member4"), make_user("member", "member5")]
    ballot = open_ballot(committee, majority=majority)
    assert ballot.majority == majority
    m1, m2, m3 = committee["members"]
    for member in (m1, m2, m3):
        vote(member, ballot, "suspend")
    for member in extra:
        vote(member, ballot, "remedial_plan")
    ballot = close(committee, ballot)  # 3 to 2: a simple majority, not two-thirds
    assert (ballot.state, ballot.result) == (state, result)
    assert Case.objects.get(pk=ballot.case_id).state == case_state


def test_two_thirds_is_reached_at_exactly_two_thirds(committee):
    ballot = open_ballot(committee, majority="two_thirds")
    m1, m2, m3 = committee["members"]
    vote(m1, ballot, "remedial_plan")
    vote(m2, ballot, "remedial_plan")
    vote(m3, ballot, "suspend")
    ballot = close(committee, ballot)
    assert (ballot.state, ballot.result) == ("closed", "remedial_plan")
    assert DecisionRecord.objects.get(ballot=ballot).snapshot["tallies"]["majority"] == "two_thirds"


def test_an_unknown_majority_is_refused(committee):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="majority"):
        open_ballot(committee, majority="unanimous")


# --- reasons and history ------------------------------------------------------------------------


def test_a_changed_vote_keeps_its_history_and_reasons(committee):
    ballot = open_ballot(committee)
    m1, m2, _ = committee["members"]
    vote(m1, ballot, "suspend", reason="Key extraction is remote")
    vote(m1, ballot, "remedial_plan", reason="The firmware fix ships next month")
    vote(m2, ballot, "remedial_plan")
    assert Vote.objects.get(member=m1).reason == "The firmware fix ships next month"
    ballot = close(committee, ballot)
    record = DecisionRecord.objects.get(ballot=ballot)
    [mine] = [v for v in record.snapshot["votes"] if v["member"] == "member"]
    assert mine["choice"] == "remedial_plan"
    assert mine["reason"] == "The firmware fix ships next month"
    assert [(h["kind"], h["choice"], h["reason"]) for h in mine["history"]] == [
        ("cast", "suspend", "Key extraction is remote"),
        ("changed", "remedial_plan", "The firmware fix ships next month"),
    ]
    # Unsealed at the close, into the audit chain.
    tallied = AuditEvent.objects.get(action="ballot.tallied")
    assert [(v["member"], v["kind"], v["choice"]) for v in tallied.after["votes"]] == [
        ("member", "cast", "suspend"),
        ("member", "changed", "remedial_plan"),
        ("member2", "cast", "remedial_plan"),
    ]


# --- a conflict declared after voting (item 5, the ballot's part) -------------------------------


def test_a_conflict_declared_after_voting_removes_the_vote_and_recomputes_quorum(committee):
    ballot = open_ballot(committee)
    m1, m2, m3 = committee["members"]
    vote(m1, ballot, "suspend", reason="before I noticed")
    services.conflict_declare(
        actor=m1, case=ballot.case, has_conflict=True, reason="My employer supplies these meters"
    )
    assert not Vote.objects.filter(ballot=ballot, member=m1).exists()
    assert list(VoteEvent.objects.filter(member=m1).values_list("kind", flat=True)) == [
        "cast",
        "removed",
    ]
    ballot.refresh_from_db()
    assert (ballot.eligible_count, ballot.quorum_required) == (2, 1)
    recomputed = AuditEvent.objects.get(action="ballot.eligibility_recomputed")
    assert recomputed.before == {"eligible": 3, "quorum_required": 2}
    assert recomputed.after == {"eligible": 2, "quorum_required": 1, "recused": "member"}
    assert AuditEvent.objects.get(action="vote.removed").after == {"member": "member"}
    with pytest.raises(PermissionDenied, match="recused"):
        vote(m1, ballot, "suspend")

    vote(m2, ballot, "remedial_plan")
    ballot = close(committee, ballot)
    # The removed vote no longer counts; quorum is on the two members left.
    assert (ballot.result, ballot.eligible_count, ballot.tallies["suspend"]) == (
        "remedial_plan",
        2,
        0,
    )
    snapshot = DecisionRecord.objects.get(ballot=ballot).snapshot
    [removed] = [v for v in snapshot["votes"] if v["member"] == "member"]
    assert removed["choice"] is None
    assert [h["kind"] for h in removed["history"]] == ["cast", "removed"]
    assert {m["username"]: m["recused"] for m in snapshot["electorate"]["members"]} == {
        "member": True,
        "member2": False,
        "member3": False,
    }
    assert snapshot["conflicts"][0]["member"] == "member"


# --- the decision snapshot ----------------------------------------------------------------------


def test_the_snapshot_survives_edits_of_a_cpl_entry_and_an_evidence_document(committee):
    ballot = open_ballot(committee)
    case = ballot.case
    services.evidence_upload(
        actor=committee["secretariat"],
        case=case,
        title="NCSC advice",
        classification="ssc-only",
        upload=pdf_upload(),
    )
    for member in committee["members"]:
        vote(member, ballot, "suspend")
    close(committee, ballot)
    record = DecisionRecord.objects.get(case=case)
    frozen = json.loads(json.dumps(record.snapshot))
    assert snapshot_verifies(record)
    [entry] = [e for e in frozen["cpl_entries"] if e["firmware_version"]][:1]
    firmware = entry["firmware_version"]
    [document] = frozen["evidence"]
    assert document["title"] == "NCSC advice" and len(document["sha256"]) == 64

    # Later edits: a CPL entry's firmware and certificate, an evidence document's title and file.
    model = DeviceModel.objects.get(pk=entry["id"])
    DeviceModel.objects.filter(pk=model.pk).update(firmware_version="FFFF")
    AssuranceCertificate.objects.filter(device_models=model).update(number="CPA-RENUMBERED")
    EvidenceDocument.objects.filter(case=case).update(title="Edited advice", sha256="0" * 64)

    record = DecisionRecord.objects.get(case=case)
    assert record.snapshot == frozen
    assert snapshot_verifies(record)
    [entry] = [e for e in record.snapshot["cpl_entries"] if e["id"] == model.pk]
    assert entry["firmware_version"] == firmware
    assert "CPA-RENUMBERED" not in json.dumps(record.snapshot)
    assert record.snapshot["evidence"][0]["title"] == "NCSC advice"
    assert AuditEvent.objects.get(action="decision.snapshot_recorded").after == {
        "ballot": 1,
        "snapshot_sha256": record.snapshot_sha256,
    }


def test_a_tampered_snapshot_does_not_verify(committee):
    ballot = open_ballot(committee)
    for member in committee["members"]:
        vote(member, ballot, "suspend")
    close(committee, ballot)
    record = DecisionRecord.objects.get(ballot=ballot)
    record.snapshot["tallies"]["counts"]["suspend"] = 1
    assert not snapshot_verifies(record)


def test_the_snapshot_holds_every_part(committee):
    ballot = open_ballot(committee)
    for member in committee["members"]:
        vote(member, ballot, "remedial_plan")
    close(committee, ballot)
    snapshot = DecisionRecord.objects.get(ballot=ballot).snapshot
    assert set(snapshot) >= {
        "cpl_entries",
        "evidence",
        "electorate",
        "votes",
        "tallies",
        "representations",
        "recommendations",
        "inventory_coverage",
    }
    assert {e["status"] for e in snapshot["cpl_entries"]} == {"listed"}
    coverage = snapshot["inventory_coverage"]["models"]
    assert {m["device_model"] for m in coverage} == {e["id"] for e in snapshot["cpl_entries"]}
    assert snapshot["tallies"]["counts"] == {"suspend": 0, "remedial_plan": 3, "abstain": 0}


def test_the_referral_pack_carries_the_snapshot_that_verifies_against_the_record(committee):
    case, referral, pack = referral_pack_sent(committee)
    record = DecisionRecord.objects.get(case=case)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(pack_zip(pack))))
    shipped = json.loads(archive.read("decision_snapshot.json"))
    assert shipped["snapshot_sha256"] == record.snapshot_sha256
    # Every part but the withheld evidence is there whole; the parts' hashes give the record's.
    assert snapshot_sha256({}, shipped["part_sha256"]) == record.snapshot_sha256
    for part, digest in snapshot_digests(shipped["parts"]).items():
        if part != "evidence":
            assert digest == shipped["part_sha256"][part], part
    assert "decision_snapshot.json" in {f["path"] for f in pack.files}
    path = io.BytesIO(b"".join(pack_zip(pack)))
    assert verify_pack(path) == []


def test_the_ballot_page_shows_the_history_and_snapshot_after_close(committee, client_for):
    ballot = open_ballot(committee)
    m1, m2, m3 = committee["members"]
    vote(m1, ballot, "suspend", reason="Remote attack")
    vote(m1, ballot, "abstain", reason="Need more evidence")
    vote(m2, ballot, "suspend")
    vote(m3, ballot, "suspend")
    close(committee, ballot)
    record = DecisionRecord.objects.get(ballot=ballot)
    body = client_for("chair").get(f"/ballots/{ballot.pk}/").content.decode()
    assert "Votes and their history" in body
    assert "Changed: Abstain (reason: Need more evidence)" in body
    assert f"Cast: {VoteChoice.SUSPEND.label} (reason: Remote attack)" in body
    assert record.snapshot_sha256 in body
    assert Ballot.objects.get(pk=ballot.pk).state == "closed"


def test_the_snapshot_on_the_page_names_choices_not_codes(committee, client_for):
    ballot = open_ballot(committee)
    m1, m2, m3 = committee["members"]
    vote(m1, ballot, "remedial_plan", reason="Patch exists")
    vote(m1, ballot, "suspend", reason="Patch fails")
    vote(m2, ballot, "suspend")
    vote(m3, ballot, "abstain")
    close(committee, ballot)
    body = client_for("chair").get(f"/ballots/{ballot.pk}/").content.decode()
    snapshot = body[body.index("Decision snapshot") :]
    assert f"Changed {VoteChoice.SUSPEND.label}" in snapshot
    assert f"Cast {VoteChoice.REMEDIAL_PLAN.label}" in snapshot
    for code in ("remedial_plan", ": suspend", "simple majority)", " listed;", "ZIGBEE"):
        assert code not in snapshot, code
