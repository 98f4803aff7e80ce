"""Conflicts, votes, quorum, ties, closing and the decision applied to the CPL."""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cpl.models import CPLChangeNotice
from governance import services
from governance.models import Ballot, Case, ConflictDeclaration, DecisionRecord, Vote
from governance.tasks import ballots_close_due, ballots_send_reminders
from portal.models import AuditEvent, Notice
from portal.policies import ActionNotNow

from ..helpers import cpa_case, make_user, party_summary_approved

pytestmark = pytest.mark.django_db
SOON = datetime.timedelta(days=2)


def open_ballot(committee, case=None, closes_in=SOON):
    case = case or cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    return services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + closes_in
    )


def declare(user, case, conflict=False):
    return services.conflict_declare(
        actor=user,
        case=case,
        has_conflict=conflict,
        reason="Employed by an affected supplier" if conflict else "",
    )


def vote(user, ballot, choice):
    declare(user, ballot.case) if not ballot.case.conflicts.filter(member=user).exists() else None
    return services.vote_cast(actor=user, ballot=ballot, choice=choice)


def test_majority_decides_and_the_record_keeps_each_vote(committee):
    ballot = open_ballot(committee)
    m1, m2, m3 = committee["members"]
    vote(m1, ballot, "suspend")
    vote(m2, ballot, "suspend")
    vote(m3, ballot, "remedial_plan")
    ballot = services.ballot_close(actor=committee["chair"], ballot=ballot)
    assert (ballot.state, ballot.result) == ("closed", "suspend")
    case = Case.objects.get(pk=ballot.case_id)
    assert (case.state, case.decision) == ("decided", "suspend")
    record = DecisionRecord.objects.get(case=case)
    assert record.tallies == {"suspend": 2, "remedial_plan": 1, "abstain": 0}
    assert {v["member"]: v["choice"] for v in record.votes} == {
        "member": "suspend",
        "member2": "suspend",
        "member3": "remedial_plan",
    }


def test_a_member_may_change_their_vote_until_it_closes(committee):
    ballot = open_ballot(committee)
    m1 = committee["member"]
    vote(m1, ballot, "suspend")
    vote(m1, ballot, "abstain")
    assert Vote.objects.get(ballot=ballot, member=m1).choice == "abstain"
    assert Vote.objects.filter(ballot=ballot).count() == 1
    assert AuditEvent.objects.filter(action="vote.changed").count() == 1


def test_one_vote_per_member_per_ballot_is_a_database_constraint(committee):
    ballot = open_ballot(committee)
    vote(committee["member"], ballot, "suspend")
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(ballot=ballot, member=committee["member"], choice="remedial_plan")


def test_a_conflicted_member_is_recused(committee):
    ballot = open_ballot(committee)
    m1, m2, m3 = committee["members"]
    declare(m3, ballot.case, conflict=True)
    with pytest.raises(PermissionDenied, match="recused"):
        services.vote_cast(actor=m3, ballot=ballot, choice="suspend")
    assert not Vote.objects.filter(member=m3).exists()
    vote(m1, ballot, "remedial_plan")
    ballot = services.ballot_close(actor=committee["chair"], ballot=ballot)
    # Quorum on the two eligible members: one non-abstain vote is half of them.
    assert (ballot.eligible_count, ballot.quorum_required, ballot.result) == (2, 1, "remedial_plan")
    record = DecisionRecord.objects.get(ballot=ballot)
    assert record.conflicts == [{"member": "member3", "reason": "Employed by an affected supplier"}]


def test_no_quorum_fails_the_ballot_and_it_can_run_again(committee):
    ballot = open_ballot(committee)
    m1, m2, _ = committee["members"]
    vote(m1, ballot, "suspend")
    vote(m2, ballot, "abstain")  # abstentions do not count towards quorum
    ballot = services.ballot_close(actor=committee["chair"], ballot=ballot)
    assert ballot.state == "failed" and ballot.quorum_required == 2
    case = Case.objects.get(pk=ballot.case_id)
    assert case.state == "assessment" and not DecisionRecord.objects.exists()
    second = services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + SOON
    )
    assert second.number == 2 and second.is_open


def test_a_tie_waits_for_the_chairs_casting_vote(committee):
    ballot = open_ballot(committee)
    m1, m2, m3 = committee["members"]
    vote(m1, ballot, "suspend")
    vote(m2, ballot, "remedial_plan")
    vote(m3, ballot, "abstain")
    ballot = services.ballot_close(actor=committee["chair"], ballot=ballot)
    assert ballot.state == "awaiting_casting_vote"
    assert Case.objects.get(pk=ballot.case_id).state == "voting"
    with pytest.raises(PermissionDenied):
        services.ballot_cast_deciding_vote(actor=m1, ballot=ballot, choice="suspend")
    ballot = services.ballot_cast_deciding_vote(
        actor=committee["chair"], ballot=ballot, choice="remedial_plan"
    )
    assert (ballot.state, ballot.result, ballot.casting_vote) == (
        "closed",
        "remedial_plan",
        "remedial_plan",
    )
    assert DecisionRecord.objects.get(ballot=ballot).casting_vote


def test_only_the_chair_opens_and_closes_ballots(committee):
    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    for key in ("secretariat", "member", "supplier_a"):
        with pytest.raises(PermissionDenied):
            services.ballot_open(actor=committee[key], case=case, closes_at=timezone.now() + SOON)
    ballot = services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + SOON
    )
    with pytest.raises(PermissionDenied):
        services.ballot_close(actor=committee["member"], ballot=ballot)
    with pytest.raises(ValidationError):
        open_ballot(committee, case=cpa_case_again(committee), closes_in=datetime.timedelta(0))


def cpa_case_again(committee):
    from cpl.models import AssuranceCertificate

    certificate = AssuranceCertificate.objects.get(number="CPA-SHARED-1")
    return services.case_open(
        actor=committee["secretariat"],
        certificate=certificate,
        device_models=certificate.device_models.all(),
        event="expired",
        event_date=certificate.expiry + datetime.timedelta(days=1),  # another event: another case
        reason="r",
        severity="low",
        summary="s",
    )


def test_votes_after_closing_time_are_refused_and_the_beat_task_closes_it(committee):
    ballot = open_ballot(committee)
    vote(committee["member"], ballot, "suspend")
    vote(committee["member2"], ballot, "suspend")
    Ballot.objects.filter(pk=ballot.pk).update(closes_at=timezone.now() - datetime.timedelta(1))
    ballot.refresh_from_db()
    with pytest.raises(PermissionDenied, match="closed"):
        vote(committee["member3"], ballot, "remedial_plan")
    assert ballots_close_due.delay().get() == 1
    ballot.refresh_from_db()
    assert (ballot.state, ballot.result, ballot.closed_by) == ("closed", "suspend", None)
    assert ballots_close_due.delay().get() == 0


def test_closing_twice_gives_one_decision(committee):
    ballot = open_ballot(committee)
    vote(committee["member"], ballot, "suspend")
    vote(committee["member2"], ballot, "suspend")
    services.ballot_close(actor=committee["chair"], ballot=ballot)
    with pytest.raises(services.BallotAlreadyClosed):
        services.ballot_close(actor=committee["chair"], ballot=ballot)
    assert DecisionRecord.objects.count() == 1


def test_reminders_go_once_to_members_who_have_not_voted(
    committee, django_capture_on_commit_callbacks
):
    ballot = open_ballot(committee, closes_in=datetime.timedelta(hours=5))
    vote(committee["member"], ballot, "suspend")
    declare(committee["member3"], ballot.case, conflict=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert ballots_send_reminders.delay().get() == 1
    assert [m.to for m in mail.outbox] == [["member2@example.org"]]
    assert ballot.case.reference in mail.outbox[0].subject
    with django_capture_on_commit_callbacks(execute=True):
        assert ballots_send_reminders.delay().get() == 0
    assert len(mail.outbox) == 1


def test_suspend_decision_takes_the_models_off_the_cpl_with_notices(committee):
    ballot = open_ballot(committee)
    for member in committee["members"]:
        vote(member, ballot, "suspend")
    services.ballot_close(actor=committee["chair"], ballot=ballot)
    case = party_summary_approved(committee, Case.objects.get(pk=ballot.case_id))
    with pytest.raises(PermissionDenied):
        services.decision_issue(
            actor=committee["secretariat"],
            case=case,
            reasons="r",
            security_factors="s",
            operational_impact="o",
        )
    services.decision_issue(
        actor=committee["chair"],
        case=case,
        reasons="Critical weakness",
        security_factors="Remote key extraction",
        operational_impact="12,000 meters lose smart functions",
        no_devices_reason="The models without inventory coverage have no devices (test data).",
    )
    case.refresh_from_db()
    assert case.state == "suspension"
    models = list(case.device_models.all())
    assert {m.status for m in models} == {"removed"}
    assert {m.removal_basis for m in models} == {"ssc_decision"}
    assert CPLChangeNotice.objects.filter(device_model__in=models).count() == 2
    notice = Notice.objects.get(kind="decision")
    assert notice.about == case and notice.link == f"/cases/{case.pk}/"
    assert {o.name for o in notice.recipients.all()} == {"Supplier A Energy", "DCC"}
    assert "Critical weakness" not in notice.body  # the SSC's reasons stay with the SSC
    # Closing waits for the referral window (SEC F2.7B) to pass.
    with pytest.raises(ActionNotNow, match="may refer the decision until"):
        services.case_transition(actor=committee["secretariat"], case=case, name="close")
    DecisionRecord.objects.filter(case=case).update(
        issued_at=timezone.now() - datetime.timedelta(days=60)
    )
    case = Case.objects.get(pk=case.pk)
    services.case_transition(actor=committee["secretariat"], case=case, name="close")
    assert Case.objects.get(pk=case.pk).state == "closed"


def test_remedial_plan_decision_keeps_the_models_listed(committee):
    ballot = open_ballot(committee)
    for member in committee["members"]:
        vote(member, ballot, "remedial_plan")
    services.ballot_close(actor=committee["chair"], ballot=ballot)
    case = party_summary_approved(committee, Case.objects.get(pk=ballot.case_id))
    services.decision_issue(
        actor=committee["chair"],
        case=case,
        reasons="Low risk",
        security_factors="Local access needed",
        operational_impact="High",
        no_devices_reason="The models without inventory coverage have no devices (test data).",
    )
    case.refresh_from_db()
    assert case.state == "remediation"
    assert {m.status for m in case.device_models.all()} == {"listed"}
    assert not CPLChangeNotice.objects.exists()


@pytest.mark.parametrize("state", ["voting", "decided", "closed"])
def test_case_actions_from_the_wrong_state_are_refused(committee, state):
    from django_fsm import TransitionNotAllowed

    case = cpa_case(committee)
    Case.objects.filter(pk=case.pk).update(state=state)
    with pytest.raises(TransitionNotAllowed):
        services.case_transition(
            actor=committee["secretariat"],
            case=Case.objects.get(pk=case.pk),
            name="start_assessment",
        )


def test_a_case_needs_an_expired_or_withdrawn_cpa_certificate(committee):
    from cpl.models import AssuranceCertificate

    from ..helpers import cpl_csv, cpl_row, import_bytes

    import_bytes(cpl_csv([cpl_row(1)]))
    valid = AssuranceCertificate.objects.get(kind="cpa")
    zigbee = AssuranceCertificate.objects.get(kind="zigbee")
    for certificate in (valid, zigbee):
        with pytest.raises(ValidationError):
            services.case_open(
                actor=committee["secretariat"],
                certificate=certificate,
                device_models=certificate.device_models.all(),
                event="expired",
                event_date=datetime.date.today(),
                reason="r",
                severity="low",
                summary="s",
            )
    with pytest.raises(PermissionDenied):
        cpa_case({**committee, "secretariat": committee["chair"]})


def test_declaring_a_conflict_after_voting_removes_the_vote(committee):
    ballot = open_ballot(committee)
    vote(committee["member"], ballot, "suspend")
    declare(committee["member"], ballot.case, conflict=True)
    assert not Vote.objects.filter(ballot=ballot, member=committee["member"]).exists()


def test_a_new_member_without_declaration_must_declare_before_voting(committee):
    newcomer = make_user("member", "member4")
    ballot = open_ballot(committee)
    with pytest.raises(ValidationError, match="no conflict of interest"):
        services.vote_cast(actor=newcomer, ballot=ballot, choice="suspend")
    assert not Vote.objects.filter(member=newcomer).exists()
    # Confirming "no conflict" with the vote records both in one step.
    services.vote_cast(actor=newcomer, ballot=ballot, choice="suspend", no_conflict=True)
    assert ConflictDeclaration.objects.get(member=newcomer).has_conflict is False
    assert Vote.objects.get(member=newcomer).choice == "suspend"
