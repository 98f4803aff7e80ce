"""Writes of the case process. Each service: permission check, transition, save, audit events,
outbox rows, and tasks scheduled on commit, in one transaction (HackSoft/Zulip style)."""

import datetime
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import prefetch_related_objects
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm, get_users_with_perms, remove_perm

from cpl.models import AssuranceCertificate, DeviceModel
from cpl.policies import CERTIFICATES, CPA_CASE_EVENTS, cpa_route_refusal
from cpl.services import device_model_remove
from portal.audit import AuditEntry, audit_record, audit_record_many
from portal.documents import stored_documents
from portal.models import Notice, User
from portal.notices import notice_send, notices_settle
from portal.policies import ActionNotNow
from portal.transitions import run_transition

from . import ballots as ballot_rules
from . import policies
from .models import (
    Ballot,
    Case,
    CaseComment,
    ConflictDeclaration,
    Decision,
    DecisionRecord,
    EvidenceDocument,
    ExpertInvitation,
    SecurityCharacteristics,
    Vote,
    VoteChoice,
    VoteEvent,
)

VIEW_DOCUMENT = "view_evidencedocument"


class BallotAlreadyClosed(Exception):
    pass


# --- cases -------------------------------------------------------------------------------------


def case_open(
    *,
    actor,
    certificate: AssuranceCertificate,
    device_models,
    event: str,
    event_date: datetime.date,
    reason: str,
    severity: str,
    summary: str,
    addressed_to=(),
) -> Case:
    if certificate.kind != AssuranceCertificate.Kind.CPA:
        raise ValidationError(
            "A case is opened for a CPA certificate; other certificates are removed automatically."
        )
    if certificate.status not in CPA_CASE_EVENTS:
        raise ValidationError(
            "A case is opened when the CPA certificate has expired or been withdrawn or "
            "cancelled; record that on the certificate first."
        )
    CERTIFICATES.require(actor, "open_case", certificate)
    device_models = list(device_models)
    covered = set(certificate.device_models.values_list("pk", flat=True))
    if not device_models or any(m.pk not in covered for m in device_models):
        raise ValidationError("Choose one or more device models that hold this certificate.")
    if off_route := cpa_route_refusal(device_models):
        raise ValidationError(off_route)
    _refuse_second_case(certificate, event, event_date)
    try:
        case = _case_create(
            actor=actor,
            certificate=certificate,
            device_models=device_models,
            event=event,
            event_date=event_date,
            reason=reason,
            severity=severity,
            summary=summary,
            addressed_to=addressed_to,
        )
    except IntegrityError:
        # A parallel or replayed opening committed first (one_case_per_certificate_event): the
        # atomic block rolled back whole; name the case that stands.
        _refuse_second_case(certificate, event, event_date)
        raise
    return case


def _case_create(
    *, actor, certificate, device_models, event, event_date, reason, severity, summary, addressed_to
) -> Case:
    with transaction.atomic():
        case = Case.objects.create(
            reference=uuid.uuid4().hex[:20],
            certificate=certificate,
            event=event,
            event_date=event_date,
            reason=reason,
            severity=severity,
            summary=summary,
            opened_by=actor,
        )
        # Numbered from the primary key: unique without a race between two openings.
        case.reference = f"SSC-{timezone.localdate().year}-{case.pk:04d}"
        case.save(update_fields=["reference"])
        case.device_models.set(device_models)
        case.addressed_to.set(addressed_to)
        audit_record(
            actor=actor,
            action="case.opened",
            obj=case,
            after={
                "certificate": certificate.number,
                "event": event,
                "event_date": event_date,
                "severity": severity,
                "device_models": [m.pk for m in device_models],
                "addressed_to": [o.pk for o in addressed_to],
            },
        )
    return case


def _refuse_second_case(certificate, event: str, event_date: datetime.date) -> None:
    """One certificate event is one case; a later event on the certificate has its own date."""
    existing = Case.objects.filter(
        certificate=certificate, event=event, event_date=event_date
    ).first()
    if existing is not None:
        raise ValidationError(
            f"Case {existing.reference} already covers this event "
            f"({existing.get_event_display()} on {existing.event_date:%-d %B %Y}); "
            "add to that case rather than opening another."
        )


def case_transition(*, actor, case: Case, name: str) -> Case:
    if name not in {"start_assessment", "close"}:
        raise ValueError(f"unknown case action {name!r}")
    with transaction.atomic():
        added = []
        if name == "start_assessment":
            # The Parties who may refer the decision (SEC F2.7B) may put their views before it:
            # addressed now, as the decision will be (governance.referrals.decision_address).
            from .referrals import decision_address

            added = decision_address(case)
        extra = {"addressed_to_added": sorted(o.name for o in added)} if added else None
        run_transition(actor=actor, obj=case, name=name, audit_extra=extra)
        if added:
            evidence_sync_access(actor=actor, case=case)  # their `parties` evidence
        if name == "start_assessment":
            _invite_views(actor=actor, case=case)
    return case


def _invite_views(*, actor, case: Case) -> None:
    """Every addressed Party learns the SSC is assessing the case and may put its views to it
    (what a Party may read of the case only: governance.record.party_text)."""
    from .record import party_text

    notice_send(
        actor=actor,
        kind=Notice.Kind.VIEWS_INVITED,
        organisations=list(case.addressed_to.all()),
        about=case,
        link=reverse("governance:case", args=[case.pk]),
        action_link=reverse("governance:representation-submit", args=[case.pk]),
        action_label="Make a representation",
        action="submit_representation",
        subject=f"Case {case.reference} is in assessment: your views are invited",
        body=party_text(case)
        + "\n\nThe SSC is assessing the case. Until it opens a ballot, you may put your views "
        "to it in the portal, with documents; the decision record lists the views it "
        "considered.",
    )


def case_designate_acting_chair(*, actor, case: Case, member: User) -> Case:
    """The chair is conflicted on this case: a non-conflicted member chairs it instead."""
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        policies.cases.require(actor, "designate_acting_chair", case)
        if member not in policies.eligible_voters(case) and member.pk != case.acting_chair_id:
            raise ValidationError("Choose an SSC member with no conflict of interest on this case.")
        # A voter in an unfinished ballot would chair it, and could give the casting vote too.
        unfinished = [Ballot.State.OPEN, Ballot.State.AWAITING_CASTING_VOTE]
        if Vote.objects.filter(ballot__case=case, ballot__state__in=unfinished, member=member):
            raise ValidationError(
                f"{member.get_full_name() or member} has voted in this case's ballot and "
                "cannot chair it."
            )
        before = case.acting_chair.username if case.acting_chair else None
        case.acting_chair = member
        case.save(update_fields=["acting_chair"])
        # "Acting chair needed" is answered, for everyone it was sent to.
        notices_settle(case, taken="designate_acting_chair")
        audit_record(
            actor=actor,
            action="case.acting_chair_designated",
            obj=case,
            before={"acting_chair": before},
            after={"acting_chair": member.username},
        )
        case_path = reverse("governance:case", args=[case.pk])
        notice_send(
            actor=actor,
            kind=Notice.Kind.CHAIRING,
            subject=f"You are acting chair for {case.reference}",
            body=f"The chair declared a conflict of interest on case {case.reference}. You chair "
            f"it instead: you open and close its ballot, give any casting vote and issue the "
            f"decision. You do not vote in it.",
            users=[member],
            about=case,
            link=case_path,
            action_link=case_path,
            action_label="Open the case",
        )
    return case


def case_comment(*, actor, case: Case, text: str) -> CaseComment:
    policies.cases.require(actor, "comment", case)
    with transaction.atomic():
        comment = CaseComment.objects.create(case=case, author=actor, text=text)
        audit_record(actor=actor, action="case.commented", obj=case, after={"comment": comment.pk})
    return comment


def conflict_declare(*, actor, case: Case, has_conflict: bool, reason: str) -> ConflictDeclaration:
    if has_conflict and not reason.strip():
        raise ValidationError("Give the reason for the conflict of interest.")
    with transaction.atomic():
        # Asked of the locked, fresh case: a ballot opened or a vote cast meanwhile counts.
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related("certificate", "acting_chair")
            .get(pk=case.pk)
        )
        prefetch_related_objects([case], "conflicts", "ballots__votes")
        declaration, entries = _declare(actor, case, has_conflict, reason)
        audit_record_many(actor=actor, entries=entries)
    return declaration


def _declare(actor, case: Case, has_conflict: bool, reason: str):
    """The declaration on a case locked by the caller, whose declarations and ballots' votes
    were read under the lock (a member's declarations are written only under it). Returns the
    declaration and the audit entries for the caller to record with its own."""
    policies.cases.require(actor, "declare_conflict", case)
    existing = policies.declaration_for(actor, case)
    if existing is not None and existing.has_conflict == has_conflict and existing.reason == reason:
        return existing, []
    withdrawing = existing is not None and existing.has_conflict and not has_conflict
    if withdrawing and (refusal := policies.why_conflict_stands(actor, case)):
        raise ActionNotNow(refusal)
    before = {"has_conflict": existing.has_conflict} if existing else None  # before it changes
    if existing is None:
        declaration = ConflictDeclaration.objects.create(
            case=case, member=actor, has_conflict=has_conflict, reason=reason
        )
    else:
        declaration = existing
        declaration.has_conflict, declaration.reason = has_conflict, reason
        declaration.save(update_fields=["has_conflict", "reason"])
    # The declarations read before are stale now: read them again, once, for what follows.
    case.refresh_from_db(fields=["conflicts"])
    prefetch_related_objects([case], "conflicts")
    entries = [
        AuditEntry(
            "conflict.declared",
            case,
            before=before,
            after={"member": actor.username, "has_conflict": has_conflict, "reason": reason},
        )
    ]
    if has_conflict and case.state == Case.State.VOTING:
        # Declared after the ballot opened: no vote stands, eligibility and quorum recomputed.
        recusal = ballot_rules.recuse_from_open_ballot(case=case, member=actor)
        entries += recusal
        # For the page that tells the member so.
        withdrawn = any(e.action == "vote.removed" for e in recusal)
        declaration.vote_withdrawn = withdrawn  # type: ignore[attr-defined]  # for the page only
        for ballot in case.ballots.all():
            if ballot.is_open:
                notices_settle(ballot, taken="vote", by=actor)  # no longer theirs to cast
    if has_conflict and actor in policies.conflicted_chairs(case):
        audit_record_many(actor=actor, entries=entries)
        entries = []
        _notify_chair_conflicted(actor=actor, case=case)
    if withdrawing and case.acting_chair_id and not policies.conflicted_chairs(case):
        # No chair is conflicted any more: the chair chairs the case again.
        entries.append(
            AuditEntry(
                "case.acting_chair_designated",
                case,
                before={"acting_chair": case.acting_chair.username},  # type: ignore[union-attr]
                after={"acting_chair": None},
            )
        )
        case.acting_chair = None
        case.save(update_fields=["acting_chair"])
    if has_conflict or withdrawing:  # access to `ssc-only` evidence follows conflicts only
        audit_record_many(actor=actor, entries=entries)
        entries = []
        evidence_sync_access(actor=actor, case=case)
    if has_conflict:
        from .plans import plan_reviews_withdraw  # plans imports policies, not services

        plan_reviews_withdraw(actor=actor, case=case)  # a newly conflicted reviewer drops out
    return declaration, entries


def _notify_chair_conflicted(*, actor, case: Case) -> None:
    """Whoever may designate an acting chair is told at once: nothing moves until they do."""
    path = reverse("governance:acting-chair", args=[case.pk])
    notice_send(
        actor=actor,
        kind=Notice.Kind.CHAIRING,
        subject=f"Acting chair needed for {case.reference}",
        body=f"The chair declared a conflict of interest on case {case.reference} and cannot "
        f"chair it. Designate a non-conflicted member as acting chair.",
        users=policies.cases.users_with("designate_acting_chair", case, policies.ssc_users()),
        about=case,
        link=reverse("governance:case", args=[case.pk]),
        action_link=path,
        action_label="Designate an acting chair",
        action="designate_acting_chair",
    )


# --- evidence ----------------------------------------------------------------------------------


def evidence_sync_access(*, actor, case: Case) -> None:
    """Make each document's guardian grants match its classification's rule (audited)."""
    entries = []
    for document in case.documents.all():
        wanted = policies.evidence.rule_viewers(document)
        if wanted is None:
            continue
        current = set(
            get_users_with_perms(document, only_with_perms_in=[VIEW_DOCUMENT]).values_list(  # type: ignore[union-attr]
                "pk", flat=True
            )
        )
        for user in User.objects.filter(pk__in=wanted - current):
            assign_perm(VIEW_DOCUMENT, user, document)
            entries.append(
                AuditEntry(
                    "evidence.access_granted",
                    document,
                    after={"user": user.username, "rule": document.classification},
                )
            )
        for user in User.objects.filter(pk__in=current - wanted):
            remove_perm(VIEW_DOCUMENT, user, document)
            entries.append(
                AuditEntry(
                    "evidence.access_revoked",
                    document,
                    after={"user": user.username, "rule": document.classification},
                )
            )
    audit_record_many(actor=actor, entries=entries)


def evidence_sync_all() -> int:
    """Re-sync every case's grants, closed ones too: users who joined since an upload get
    access, users who left lose it (grants are per user, so rules alone would not reach them)."""
    cases = Case.objects.filter(documents__isnull=False).distinct()
    for case in cases:
        with transaction.atomic():
            evidence_sync_access(actor=None, case=case)
    return cases.count()


def evidence_upload(
    *, actor, case: Case, title: str, classification: str, upload
) -> EvidenceDocument:
    policies.cases.require(actor, "upload_evidence", case)
    with stored_documents(folder="evidence") as store, transaction.atomic():
        stored = store(upload)
        document = EvidenceDocument.objects.create(
            case=case,
            title=title,
            classification=classification,
            **stored.fields(),
            uploaded_by=actor,
        )
        audit_record(
            actor=actor,
            action="evidence.uploaded",
            obj=document,
            after={
                "case": case.reference,
                "classification": classification,
                "sha256": stored.sha256,
                "size": stored.size,
                "content_type": stored.content_type,
            },
        )
        if classification == EvidenceDocument.Classification.NAMED:
            evidence_grant(actor=actor, document=document, users=[actor])
        evidence_sync_access(actor=actor, case=case)
    return document


def evidence_grant(*, actor, document: EvidenceDocument, users) -> None:
    """Name recipients of a `named-recipients` document."""
    policies.evidence.require(actor, "grant", document)
    _grant_named(actor=actor, document=document, users=users)


def _grant_named(*, actor, document: EvidenceDocument, users) -> None:
    if document.classification != EvidenceDocument.Classification.NAMED:
        raise ValidationError("Only named-recipient documents are granted to individuals.")
    with transaction.atomic():
        entries = []
        for user in users:
            if not user.has_perm(f"governance.{VIEW_DOCUMENT}", document):
                assign_perm(VIEW_DOCUMENT, user, document)
                entries.append(
                    AuditEntry(
                        "evidence.access_granted",
                        document,
                        after={"user": user.username, "rule": "named"},
                    )
                )
        audit_record_many(actor=actor, entries=entries)


def evidence_revoke(*, actor, document: EvidenceDocument, user: User) -> None:
    """Un-name a recipient of a `named-recipients` document (audited)."""
    with transaction.atomic():
        # Locked: two revokes sent at once find the grant once.
        document = EvidenceDocument.objects.select_for_update().get(pk=document.pk)
        policies.evidence.require(actor, "grant", document)
        user = type(user).objects.get(pk=user.pk)  # its permission cache read afresh
        if not user.has_perm(f"governance.{VIEW_DOCUMENT}", document):
            raise ValidationError(f"{user.get_full_name() or user} has no access to revoke.")
        remove_perm(VIEW_DOCUMENT, user, document)
        audit_record(
            actor=actor,
            action="evidence.access_revoked",
            obj=document,
            after={"user": user.username, "rule": "named"},
        )


def evidence_reclassify(*, actor, document: EvidenceDocument, classification: str) -> None:
    """Change who may open a document (audited). Its grants follow the new rule; to
    `named-recipients`, only the secretary who re-classified it keeps access until others
    are named."""
    if classification not in EvidenceDocument.Classification.values:
        raise ValidationError("Choose one of the classifications.")
    with transaction.atomic():
        document = EvidenceDocument.objects.select_for_update().get(pk=document.pk)
        policies.evidence.require(actor, "manage_access", document)
        before = document.classification
        if classification == before:
            raise ValidationError("The document already has this classification.")
        document.classification = classification
        document.save(update_fields=["classification"])
        audit_record(
            actor=actor,
            action="evidence.reclassified",
            obj=document,
            before={"classification": before},
            after={"classification": classification},
        )
        if classification == EvidenceDocument.Classification.NAMED:
            holders = User.objects.filter(
                pk__in=get_users_with_perms(  # type: ignore[union-attr]
                    document, only_with_perms_in=[VIEW_DOCUMENT]
                ).values("pk")
            ).exclude(pk=actor.pk)
            entries = []
            for user in holders:
                remove_perm(VIEW_DOCUMENT, user, document)
                entries.append(
                    AuditEntry("evidence.access_revoked", document, after={"user": user.username})
                )
            audit_record_many(actor=actor, entries=entries)
            _grant_named(actor=actor, document=document, users=[actor])
        evidence_sync_access(actor=actor, case=document.case)


def evidence_access_list(document: EvidenceDocument) -> list[dict]:
    """Who may open the document now, and why (the classification's rule or a named grant),
    by name and organisation."""
    holders = get_users_with_perms(document, only_with_perms_in=[VIEW_DOCUMENT])
    why = (
        "Named by the secretariat"
        if document.classification == EvidenceDocument.Classification.NAMED
        else f"Rule: {document.get_classification_display()}"
    )
    people = User.objects.filter(pk__in=holders.values("pk")).select_related("organisation")  # type: ignore[union-attr]
    return sorted(
        (
            {
                "user": u,
                "name": u.get_full_name() or u.username,
                "organisation": u.organisation,
                "why": why,
            }
            for u in people
        ),
        key=lambda row: (str(row["organisation"] or ""), row["name"]),
    )


def evidence_record_download(*, actor, document: EvidenceDocument) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="evidence.downloaded",
            obj=document,
            after={"sha256": document.sha256},
        )


def expert_invite(
    *, actor, case: Case, expert: User, expires_at: datetime.datetime, documents=()
) -> ExpertInvitation:
    policies.cases.require(actor, "invite_expert", case)
    if not policies.experts().filter(pk=expert.pk).exists():
        raise ValidationError(f"{expert} is not a technical expert.")
    if expires_at <= timezone.now():
        raise ValidationError("The access must end in the future.")
    with transaction.atomic():
        invitation, _ = ExpertInvitation.objects.update_or_create(
            case=case, expert=expert, defaults={"expires_at": expires_at, "invited_by": actor}
        )
        audit_record(
            actor=actor,
            action="expert.invited",
            obj=case,
            after={"expert": expert.username, "expires_at": expires_at},
        )
        case_path = reverse("governance:case", args=[case.pk])
        notice_send(
            actor=actor,
            kind=Notice.Kind.EXPERT_INVITATION,
            subject=f"Invitation to advise the SSC on {case.reference}",
            body=f"The SSC invites you to advise on case {case.reference} as a technical expert "
            f"(SEC G7.16(b)). You may read the case and the documents shared with you until "
            f"{timezone.localtime(expires_at):%H:%M on %-d %B %Y}.",
            users=[expert],
            about=case,
            link=case_path,
            action_link=case_path,
            action_label="Read the case",
        )
        # The chair may share named documents with the expert it invites, too.
        for document in documents:
            if document.case_id == case.pk:
                _grant_named(actor=actor, document=document, users=[expert])
    return invitation


# --- ballots -----------------------------------------------------------------------------------


def ballot_open(
    *, actor, case: Case, closes_at: datetime.datetime, majority: str = Ballot.Majority.SIMPLE
) -> Ballot:
    if majority not in Ballot.Majority.values:
        raise ValidationError("Choose the majority the decision needs.")
    if closes_at <= timezone.now() + datetime.timedelta(minutes=5):
        raise ValidationError("The ballot must stay open for at least five minutes.")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        run_transition(actor=actor, obj=case, name="start_voting", action="open_ballot")
        number = case.ballots.count() + 1
        electorate = ballot_rules.electorate_freeze(case)
        ballot = Ballot.objects.create(
            case=case,
            number=number,
            opened_by=actor,
            closes_at=closes_at,
            majority=majority,
            electorate=electorate,
            eligible_count=len(electorate),
            quorum_required=ballot_rules.quorum_for(len(electorate)),
        )
        audit_record(
            actor=actor,
            action="ballot.opened",
            obj=ballot,
            after={
                "closes_at": closes_at,
                "case": case.reference,
                "majority": majority,
                "electorate": [e["username"] for e in electorate],
                "quorum_required": ballot.quorum_required,
            },
        )
        ballot_path = reverse("governance:ballot", args=[ballot.pk])
        notice_send(
            actor=actor,
            kind=Notice.Kind.BALLOT_OPENED,
            subject=f"Vote: ballot {number} on {case.reference} is open",
            body=f"The SSC ballot on case {case.reference} is open until "
            f"{timezone.localtime(closes_at):%H:%M on %-d %B %Y}. Declare whether you have a "
            f"conflict of interest on the case, then vote.",
            # Conflicted members are recused: they are not asked to vote.
            users=User.objects.filter(pk__in=[e["id"] for e in electorate]),
            about=ballot,
            # The case page: a member recused later (a conflict declared) still opens it.
            link=reverse("governance:case", args=[case.pk]),
            action_link=f"{ballot_path}#vote-panel",
            action_label="Vote in the ballot",
            action="vote",
        )
    return ballot


def vote_cast(
    *, actor, ballot: Ballot, choice: str, no_conflict: bool = False, reason: str = ""
) -> Vote:
    """A member who has not declared yet confirms `no_conflict` with the vote (one step). A vote
    may carry a reason; a changed vote keeps its history (VoteEvent)."""
    if choice not in VoteChoice.values:
        raise ValidationError("Choose one of the options.")
    with transaction.atomic():
        # Fresh rows, locked (the ballot and its case, in one statement): the ballot may have
        # closed or the member declared meanwhile. The case's declarations are read once, for
        # the policy and for the check below.
        locked = (
            Ballot.objects.select_for_update(of=("self", "case"))
            .select_related("case__certificate", "case__acting_chair")
            .get(pk=ballot.pk)
        )
        prefetch_related_objects([locked.case], "conflicts")
        policies.ballots.require(actor, "vote", locked)
        entries: list[AuditEntry] = []
        if policies.declaration_for(actor, locked.case) is None:
            if not no_conflict:
                raise ValidationError(
                    "Confirm that you have no conflict of interest on this case, or declare "
                    "one on the case page."
                )
            # A first declaration of "no conflict" reads no ballot (check_declare_conflict reads
            # them for a standing conflict only): the vote is then read once, below.
            _, entries = _declare(actor, locked.case, has_conflict=False, reason="")
        # The locked ballot serialises its votes: no savepoint of update_or_create needed.
        vote = Vote.objects.filter(ballot=locked, member=actor).first()
        created = vote is None
        reason = reason.strip()
        if vote is None:
            vote = Vote.objects.create(ballot=locked, member=actor, choice=choice, reason=reason)
        else:
            vote.choice, vote.reason = choice, reason
            vote.save(update_fields=["choice", "reason", "changed_at"])
        kind = VoteEvent.Kind.CAST if created else VoteEvent.Kind.CHANGED
        ballot_rules.vote_event(
            ballot=locked, member=actor, kind=kind, choice=choice, reason=reason
        )
        vote.ballot = locked  # with its case and declarations, for the page that follows
        # Sealed until the close: the chair reads the audit log, so it says who voted, not how
        # (the tally's audit event and the decision snapshot carry every vote and its history).
        entries.append(
            AuditEntry(
                "vote.cast" if created else "vote.changed", locked, after={"member": actor.username}
            )
        )
        audit_record_many(actor=actor, entries=entries)
        # "Vote in the ballot" is settled when the ballot closes (run_transition): a vote may
        # still change until then, and a vote stays within its query budget.
    return vote


def _tally(ballot: Ballot) -> tuple[ballot_rules.Count, list[dict]]:
    """The count on the frozen electorate, and each elector's final vote (for the record)."""
    votes = list(ballot.votes.select_related("member"))
    count = ballot_rules.count(ballot, votes)
    final = {v.member_id: v.choice for v in votes}
    eligible = ballot_rules.eligible_ids(ballot)
    recorded = [
        {"member": e["username"], "choice": final.get(e["id"], "did not vote")}
        for e in ballot.electorate
        if e["id"] in eligible
    ]
    return count, sorted(recorded, key=lambda r: r["member"])


def ballot_close(*, actor, ballot: Ballot) -> Ballot:
    """Close a ballot (the case's chair, or the beat task at closing time). Exactly one close
    wins."""
    with transaction.atomic():
        ballot = Ballot.objects.select_for_update().select_related("case").get(pk=ballot.pk)
        if not ballot.is_open:
            raise BallotAlreadyClosed(f"{ballot} is already {ballot.get_state_display().lower()}.")
        policies.ballots.require(actor, "close", ballot)
        count, recorded = _tally(ballot)
        ballot.tallies, ballot.eligible_count, ballot.quorum_required = (
            count.tallies,
            count.eligible,
            count.quorum,
        )
        ballot.closed_at, ballot.closed_by = timezone.now(), actor
        case = Case.objects.select_for_update().get(pk=ballot.case_id)
        closing = {"actor": actor, "obj": ballot, "consequence_of": "ballot.close"}
        if count.outcome in (ballot_rules.NO_QUORUM, ballot_rules.NO_MAJORITY):
            run_transition(**closing, name="fail")
            run_transition(
                actor=actor, obj=case, name="voting_failed", consequence_of="ballot.fail"
            )
        elif count.outcome == ballot_rules.TIE:
            run_transition(**closing, name="await_casting_vote")
        else:
            run_transition(**closing, name="close", result=count.outcome)
            _record_decision(actor=actor, case=case, ballot=ballot, votes=recorded, count=count)
        audit_record(
            actor=actor,
            action="ballot.tallied",
            obj=ballot,
            after={
                "tallies": ballot.tallies,
                "eligible": count.eligible,
                "quorum_required": count.quorum,
                "majority": ballot.majority,
                "outcome": count.outcome,
                "result": ballot.result,
                # Unsealed now: every vote with its history, into the hash chain.
                "votes": [
                    {"member": str(e.member), "kind": e.kind, "choice": e.choice, "at": e.at}
                    for e in ballot.vote_events.select_related("member")
                ],
            },
        )
    return ballot


def ballot_cast_deciding_vote(*, actor, ballot: Ballot, choice: str) -> Ballot:
    if choice not in Decision.values:
        raise ValidationError("Choose removal from the CPL or remedial plans.")
    with transaction.atomic():
        ballot = Ballot.objects.select_for_update().select_related("case").get(pk=ballot.pk)
        if ballot.state != Ballot.State.AWAITING_CASTING_VOTE:
            raise BallotAlreadyClosed("This ballot is not waiting for a casting vote.")
        run_transition(actor=actor, obj=ballot, name="cast_deciding_vote", choice=choice)
        _, recorded = _tally(ballot)
        case = Case.objects.select_for_update().get(pk=ballot.case_id)
        _record_decision(actor=actor, case=case, ballot=ballot, votes=recorded, casting=True)
    return ballot


def _record_decision(
    *, actor, case: Case, ballot: Ballot, votes, casting=False, count=None
) -> DecisionRecord:
    run_transition(
        actor=actor, obj=case, name="decide", consequence_of="ballot.close", decision=ballot.result
    )
    conflicts = [
        {"member": d.member.username, "reason": d.reason}
        for d in case.conflicts.filter(has_conflict=True).select_related("member")
    ]
    from .record import decision_snapshot, snapshot_sha256

    # The snapshot holds the representations and recommendations too (governance.record).
    snapshot = decision_snapshot(case, ballot, count)
    record = DecisionRecord.objects.create(
        case=case,
        ballot=ballot,
        decision=ballot.result,
        tallies=ballot.tallies,
        votes=votes,
        conflicts=conflicts,
        casting_vote=casting,
        representations=snapshot["representations"],
        recommendations=snapshot["recommendations"],
        snapshot=snapshot,
        snapshot_sha256=snapshot_sha256(snapshot),
    )
    audit_record(
        actor=actor,
        action="decision.snapshot_recorded",
        obj=case,
        after={"ballot": ballot.number, "snapshot_sha256": record.snapshot_sha256},
    )
    return record


def decision_issue(
    *,
    actor,
    case: Case,
    reasons: str,
    security_factors: str,
    operational_impact: str,
    party_summary: str = "",
    no_devices_reason: str = "",
) -> DecisionRecord:
    """The chair issues the decision notice and the decision takes effect on the CPL.
    `no_devices_reason`: the chair's confirmation that no supplier has devices of the models the
    latest inventory does not cover (clause 6.3 is never silent: governance.clause63)."""
    from .clause63 import decision_coverage_confirm
    from .referrals import decision_address

    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        record = DecisionRecord.objects.select_for_update().get(case=case)
        name = "apply_suspension" if record.decision == Decision.SUSPEND else "apply_remediation"
        decision_coverage_confirm(
            actor=actor, case=case, record=record, no_devices_reason=no_devices_reason
        )
        run_transition(actor=actor, obj=case, name=name, action="issue_decision")
        record.reasons, record.security_factors = reasons, security_factors
        record.operational_impact = operational_impact
        # The chair approves the reasons for Parties by issuing them (the secretariat's draft,
        # or the chair's own); none given, the Parties read only the decision.
        record.party_summary = party_summary or record.party_summary
        record.issued_at, record.issued_by = timezone.now(), actor
        record.save()
        models = list(case.device_models.select_related("manufacturer"))
        if record.decision == Decision.SUSPEND:
            for model in models:
                if model.status == DeviceModel.Status.LISTED:
                    device_model_remove(
                        actor=actor,
                        model=model,
                        basis=DeviceModel.RemovalBasis.SSC_DECISION,
                        reference=case.reference,
                        reason=f"SSC decision on case {case.reference}: removed from the CPL.",
                        consequence_of="decision.issue",
                    )
        told: set[int] = set()
        if record.decision == Decision.REMEDIAL_PLAN:
            from .plans import plan_requirements_create
            from .referrals import referral_window_text

            # Each supplier's clause 6.3 notice is its decision notice too (with the referral
            # window): one notice of the decision per Party.
            required = plan_requirements_create(
                actor=actor, case=case, also=referral_window_text(record.issued_at)
            )
            told = {r.supplier_id for r in required}
        # Addressed to the DCC and every supplier with devices: they may refer it (SEC F2.7B).
        decision_address(case)
        recipients = list(case.addressed_to.all())
        notice = notice_send(
            actor=actor,
            kind=Notice.Kind.DECISION,
            organisations=[o for o in recipients if o.pk not in told],
            subject=f"SSC decision on {case.reference}: {record.get_decision_display()}",
            body=_decision_notice_body(case, record, models),
            about=case,
            link=reverse("governance:case", args=[case.pk]),
            action_link=reverse("governance:referral-lodge", args=[case.pk]),
            action_label="Refer the decision to the Authority",
        )
        audit_record(
            actor=actor,
            action="decision.issued",
            obj=case,
            after={
                "decision": record.decision,
                "notice": notice.pk,
                "recipients": sorted(o.name for o in set(recipients)),
            },
        )
    return record


def _decision_notice_body(case, record, models) -> str:
    from .record import party_text

    # Only what a Party may read: the SSC's reasons and factors stay on the record.
    lines = [party_text(case)]
    if record.decision == Decision.REMEDIAL_PLAN:
        from .clause63 import clause63_decision_lines

        lines += clause63_decision_lines(case, record)
    from .referrals import referral_window_text

    lines += ["", referral_window_text(record.issued_at)]
    return "\n".join(lines)


def ballots_close_due(*, now=None) -> int:
    now = now or timezone.now()
    closed = 0
    for ballot in Ballot.objects.filter(state=Ballot.State.OPEN, closes_at__lte=now):
        try:
            ballot_close(actor=None, ballot=ballot)
            closed += 1
        except BallotAlreadyClosed:
            pass
    return closed


def ballots_send_reminders(*, now=None) -> int:
    """Remind members who have not voted, once per ballot, shortly before it closes."""
    now = now or timezone.now()
    window = now + datetime.timedelta(hours=settings.BALLOT_REMINDER_HOURS)
    sent = 0
    due = Ballot.objects.filter(
        state=Ballot.State.OPEN,
        reminder_sent_at__isnull=True,
        closes_at__gt=now,
        closes_at__lte=window,
    ).select_related("case")
    for ballot in due:
        with transaction.atomic():
            locked = Ballot.objects.select_for_update().get(pk=ballot.pk)
            if locked.reminder_sent_at is not None:
                continue
            voted = set(locked.votes.values_list("member_id", flat=True))
            locked.case = ballot.case
            electors = ballot_rules.eligible_ids(locked) - voted  # the frozen electorate's
            to_remind = list(User.objects.filter(pk__in=electors).order_by("username"))
            locked.reminder_sent_at = now
            locked.save(update_fields=["reminder_sent_at"])
            audit_record(
                actor=None,
                action="ballot.reminded",
                obj=locked,
                after={"members": [u.username for u in to_remind]},
            )
            if not to_remind:
                continue
            ballot_path = reverse("governance:ballot", args=[locked.pk])
            # Through the outbox, written with reminder_sent_at: sent once, even if SMTP is down.
            notice_send(
                actor=None,
                kind=Notice.Kind.BALLOT_REMINDER,
                subject=f"Vote needed: {ballot.case.reference} closes "
                f"{timezone.localtime(ballot.closes_at):%d %b %H:%M}",
                body=f"The SSC ballot on case {ballot.case.reference} closes at "
                f"{timezone.localtime(ballot.closes_at):%H:%M on %-d %B %Y} and you have not "
                f"voted yet.",
                users=to_remind,
                about=locked,
                link=ballot_path,
                action_link=f"{ballot_path}#vote-panel",
                action_label="Vote in the ballot",
                action="vote",
            )
            sent += len(to_remind)
    return sent


# --- CPA Security Characteristics -------------------------------------------------------------


def characteristics_upload(
    *,
    actor,
    device_type: str,
    version_label: str,
    effective_date: datetime.date,
    ncsc_reference: str,
    upload,
) -> SecurityCharacteristics:
    policies.characteristics.require(actor, "upload", None)
    if SecurityCharacteristics.objects.filter(
        device_type=device_type, version_label=version_label
    ).exists():
        raise ValidationError(f"Version {version_label} for {device_type} is already recorded.")
    with stored_documents(folder="characteristics") as store, transaction.atomic():
        stored = store(upload)
        current = (
            SecurityCharacteristics.objects.select_for_update()
            .filter(device_type=device_type, is_current=True)
            .first()
        )
        becomes_current = current is None or effective_date >= current.effective_date
        if becomes_current and current is not None:
            current.is_current = False
            current.save(update_fields=["is_current"])
        try:
            with transaction.atomic():
                document = SecurityCharacteristics.objects.create(
                    device_type=device_type,
                    version_label=version_label,
                    effective_date=effective_date,
                    ncsc_reference=ncsc_reference,
                    **stored.fields(),
                    is_current=becomes_current,
                    uploaded_by=actor,
                )
        except IntegrityError:  # another upload for this type committed meanwhile
            raise ValidationError(
                f"Another version for {device_type} was recorded at the same time. "
                "Check the list, then upload again if this one is still needed."
            ) from None
        audit_record(
            actor=actor,
            action="characteristics.uploaded",
            obj=document,
            after={
                "device_type": device_type,
                "version": version_label,
                "current": becomes_current,
                "sha256": stored.sha256,
            },
        )
    return document
