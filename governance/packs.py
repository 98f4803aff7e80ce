"""Referral packs: an immutable set of files (PDF summary, documents, audit.json, and
SHA256SUMS for `sha256sum -c`) listed with their SHA-256 in manifest.json, streamed as one ZIP
with the manifest's Ed25519 signature (manifest.json.sig, raw 64 bytes, by the key published at
/signing-key/), and verifiable offline (verify_pack, or sha256sum and openssl)."""

import datetime
import hashlib
import json
import re
import uuid
import zipfile
from collections import Counter
from pathlib import Path
from xml.sax.saxutils import escape  # nosec B406  # escapes text for reportlab; parses nothing

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from zipstream import ZIP_STORED, ZipStream

from portal import signing
from portal.audit import audit_checkpoint_on_commit
from portal.models import AuditEvent, absolute_url

from .models import Referral, ReferralPack, RepresentationDocument

CHUNK = 1024 * 1024
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
CHECKSUMS = "SHA256SUMS"
MANIFEST_MAX_BYTES = 16 * 1024 * 1024  # far more than any pack's manifest: a bomb is refused
# A damaged, encrypted or oddly compressed member: a problem to report, not a traceback.
_UNREADABLE = (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError)


def _private(folder: str, stored_name: str) -> Path:
    return Path(settings.PRIVATE_STORAGE_ROOT) / folder / stored_name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name)[-120:] or "document"


def _write_private(folder: str, data: bytes) -> str:
    stored_name = uuid.uuid4().hex
    path = _private(folder, stored_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return stored_name


def _requirements(referral: Referral):
    """The plans a pack holds: the refused plan referred, or every plan of the case."""
    requirements = referral.case.plan_requirements.all()
    if referral.plan_requirement_id:
        requirements = requirements.filter(pk=referral.plan_requirement_id)
    return requirements


# --- audit.json: the events about what the pack discloses, in words ----------------------------

# The case's own events that concern its decision; comments, expert invitations and drafts of the
# summary for Parties stay with the SSC.
_CASE_DECISION_ACTIONS = frozenset(
    {
        "case.opened",
        "case.acting_chair_designated",
        "conflict.declared",
        "decision.snapshot_recorded",
        "decision.issued",
        "decision.no_devices_confirmed",
        "party_summary.approved",
    }
)
# Keys whose values are identifiers of rows: each is named (or dropped) by `_AuditWords`.
_ID_KEYS = frozenset({"device_models", "addressed_to", "disclosed", "notice", "comment"})
_AUTOMATIC = "The portal (automatic)"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"
)


def _vocabulary() -> dict[str, dict]:
    """Each code an audit event may hold, by key, with its label."""
    from cpl.models import DeviceModel

    from . import ballots as ballot_rules
    from .models import (
        Ballot,
        Case,
        Decision,
        EvidenceDocument,
        PlanReview,
        RemedialPlan,
        Representation,
        VoteChoice,
        VoteEvent,
    )

    classification = {
        **dict(EvidenceDocument.Classification.choices),
        **dict(Representation.Classification.choices),
    }
    decisions = {**dict(Decision.choices), **dict(PlanReview.Decision.choices)}
    outcomes = {
        **dict(Decision.choices),
        **dict(Referral.Outcome.choices),
        ballot_rules.TIE: "Tie: awaiting the chair's casting vote",
        ballot_rules.NO_MAJORITY: "No majority",
        ballot_rules.NO_QUORUM: "No quorum",
    }
    # How plans are decided (settings.PLAN_APPROVAL_RULE), as the plan page words it.
    approval_rules = {
        "one": "One SSC reviewer decides",
        "two": "Two SSC reviewers must agree; if they disagree, the case's chair decides",
        "ballot": "A sealed ballot of the SSC voting members",
    }
    vocabulary = {
        "classification": classification,
        "rule": {**classification, "named": "Named recipient", **approval_rules},
        "decision": decisions,
        "result": decisions,
        "choice": {**decisions, **dict(VoteChoice.choices)},
        "outcome": {
            **outcomes,
            **dict(PlanReview.Decision.choices),
            "pending": "Awaiting the other review",
            "disagreement": "The reviewers disagree: the case's chair decides",
        },
        "kind": {**dict(Referral.Kind.choices), **dict(VoteEvent.Kind.choices)},
        "majority": dict(Ballot.Majority.choices),
        "event": dict(Case.Event.choices),
        "severity": dict(Case.Severity.choices),
        "basis": dict(DeviceModel.RemovalBasis.choices),
        "review": {**dict(RemedialPlan.Review.choices), **dict(PlanReview.Decision.choices)},
        "why": {"conflict": "The reviewer declared a conflict of interest"},
    }
    vocabulary["recommendation"] = dict(Decision.choices)
    return vocabulary


def _person(user) -> str:
    """Full name and organisation: the Authority reads people, never accounts."""
    if user is None:
        return _AUTOMATIC
    name = user.get_full_name() or "A user with no name recorded"
    return f"{name} ({user.organisation})" if user.organisation_id else name


def _words(key: str) -> str:
    text = key.replace("_", " ").replace("sha256", "SHA-256").strip()
    return text[:1].upper() + text[1:]


# What each event the pack may quote was, in the words of the SEC process (state changes are
# audited as "<model>.<transition>", other events as "<subject>.<what happened>").
_ACTIONS = {
    "case.opened": "Case opened",
    "case.start_assessment": "Assessment of the case started",
    "case.start_voting": "Voting on the case started",
    "case.decide": "The ballot decided the case",
    "case.voting_failed": "The ballot made no decision",
    "case.apply_suspension": "Decision applied: device models removed from the CPL",
    "case.apply_remediation": "Decision applied: CPA Certificate Remedial Plans required",
    "case.overturn_to_remediation": "Determination applied: remedial plans required instead",
    "case.overturn_to_suspension": "Determination applied: device models removed instead",
    "case.close": "Case closed",
    "case.acting_chair_designated": "Acting chair designated",
    "conflict.declared": "Conflict of interest declaration",
    "party_summary.approved": "Summary for Parties approved by the chair",
    "decision.snapshot_recorded": "Decision record written",
    "decision.issued": "Decision issued",
    "decision.issue": "Decision issued",
    "decision.no_devices_confirmed": "Chair confirmed that no supplier has devices not covered",
    "ballot.opened": "Ballot opened",
    "ballot.tallied": "Votes counted",
    "ballot.close": "Ballot closed with a decision",
    "ballot.fail": "Ballot closed without a decision",
    "ballot.await_casting_vote": "Ballot tied: the chair's casting vote awaited",
    "ballot.cast_deciding_vote": "Casting vote given",
    "ballot.reminded": "Members reminded to vote",
    "vote.cast": "Vote cast",
    "vote.changed": "Vote changed",
    "vote.removed": "Vote withdrawn (conflict of interest declared)",
    "evidence.uploaded": "Evidence uploaded",
    "evidence.access_granted": "Evidence access granted",
    "evidence.access_revoked": "Evidence access revoked",
    "evidence.reclassified": "Evidence re-classified",
    "evidence.downloaded": "Evidence downloaded",
    "plan_requirement.created": "CPA Certificate Remedial Plan required (clause 6.3 notice)",
    "planrequirement.submit": "Remedial plan submitted",
    "planrequirement.resubmit": "Remedial plan resubmitted",
    "planrequirement.approve": "Remedial plan approved by the SSC",
    "planrequirement.not_approve": "Remedial plan not approved by the SSC",
    "planrequirement.mark_overdue": "Remedial plan overdue",
    "planrequirement.lapse": "Remedial plan approval expired",
    "planrequirement.complete": "Remedial plan completed",
    "planrequirement.approve_by_determination": "Remedial plan approved by determination",
    "plan.submit": "Remedial plan submitted",
    "plan.submitted": "Remedial plan version received",
    "plan.review": "Remedial plan reviewed",
    "plan.reviewed": "Remedial plan reviewed",
    "plan.review_withdrawn": "Review withdrawn (conflict of interest declared)",
    "plan.approved_by_determination": "Remedial plan approved by the Authority's determination",
    "plan.expiry_warned": "Supplier warned that the plan's approval expires",
    "plan.complete": "Remedial plan completed",
    "plan.open_ballot": "Ballot on the remedial plan opened again",
    "plan_ballot.opened": "Ballot on the remedial plan opened",
    "plan_ballot.tallied": "Votes on the remedial plan counted",
    "plan_ballot.count": "Votes on the remedial plan counted",
    "referral.lodged": "Referral lodged",
    "referral.document_added": "Document added to the referral",
    "referral.send_pack": "Referral pack sent to the Authority",
    "referral.pack_built": "Referral pack built",
    "referral.pack_downloaded": "Referral pack downloaded",
    "referral.document_downloaded": "Referral document downloaded",
    "referral.request_information": "Authority requested information",
    "referral.provide_information": "SSC provided the information requested",
    "referral.determine": "Authority's determination recorded",
    "referral.close": "Referral closed",
    "referral.overturn_already_in_effect": "Determination already in effect",
    "devicemodel.remove": "Device model removed from the CPL",
    "devicemodel.relist": "Device model re-listed on the CPL",
    "devicemodel.relist_on_determination": "Device model re-listed on the CPL by determination",
}


def _action_words(action: str, transitions=frozenset()) -> str:
    """`planrequirement.submit` → "Remedial plan submitted"; an event the list does not know
    yet in words made from its code ("Referral pack built", "Case: start assessment")."""
    if action in _ACTIONS:
        return _ACTIONS[action]
    subject, _, verb = action.partition(".")
    if verb in transitions:
        return _words(f"{subject}: {verb}")
    return _words(f"{subject} {verb}")


class _AuditWords:
    """Renders audit events for the Authority: codes as labels, people as names and
    organisations, rows by what they are; identifiers of rows it cannot name are dropped."""

    def __init__(self, referral: Referral, events: list[AuditEvent]):
        from cpl.models import DeviceModel
        from portal.models import Organisation, User

        self.vocabulary = _vocabulary()
        self.disclosed = {d.pk: d.title for d in referral.disclosed_documents.all()}
        leaves: set[str] = set()
        ids: dict[str, set[int]] = {"device_models": set(), "addressed_to": set()}
        for event in events:
            for side in (event.before, event.after):
                self._collect(side, leaves, ids)
        self.people = {
            u.username: _person(u)
            for u in User.objects.filter(username__in=leaves).select_related("organisation")
        }
        self.named = {
            "device_models": {
                m.pk: str(m)
                for m in DeviceModel.objects.filter(pk__in=ids["device_models"]).select_related(
                    "manufacturer"
                )
            },
            "addressed_to": {
                o.pk: o.name for o in Organisation.objects.filter(pk__in=ids["addressed_to"])
            },
            "disclosed": self.disclosed,
        }
        self.states: dict[str, tuple[dict, frozenset]] = {}
        for event in events:
            if event.object_type not in self.states:
                self.states[event.object_type] = self._states(event.object_type)

    def _collect(self, value, leaves: set, ids: dict, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                self._collect(v, leaves, ids, k)
        elif isinstance(value, list):
            for v in value:
                self._collect(v, leaves, ids, key)
        elif isinstance(value, str):
            leaves.add(value)
        elif isinstance(value, int) and key in ids:
            ids[key].add(value)

    @staticmethod
    def _states(object_type: str) -> tuple[dict, frozenset]:
        """The labels of the object's states, and the names of its state changes."""
        from django.apps import apps
        from django_fsm import FSMFieldMixin

        try:
            model = apps.get_model(object_type)
        except (LookupError, ValueError):
            return {}, frozenset()
        field = next((f for f in model._meta.fields if f.name in ("state", "status")), None)
        if field is None:
            return {}, frozenset()
        moves = field.get_all_transitions(model) if isinstance(field, FSMFieldMixin) else ()
        return dict(field.choices or ()), frozenset(t.name for t in moves)

    def value(self, key: str, value, object_type: str = ""):
        if key in _ID_KEYS:
            names = self.named.get(key, {})
            if isinstance(value, list):
                return [names[v] for v in value if v in names]
            return names.get(value)  # None: not named, so left out
        if isinstance(value, dict):
            labels = self.vocabulary["choice"] if key in ("tallies", "counts") else {}
            return {
                labels.get(k, _words(k)): self.value(k, v, object_type)
                for k, v in value.items()
                if not (k in _ID_KEYS and self.value(k, v, object_type) in (None, []))
            }
        if isinstance(value, list):
            return [self.value(key, v, object_type) for v in value]
        if value is None:
            return "Not set"
        if isinstance(value, bool):
            return "Yes" if value else "No"
        if not isinstance(value, str):
            return value
        if value in self.people:
            return self.people[value]
        if _ISO_DATE.fullmatch(value):  # dates as people write them: 10 December 2026
            return datetime.date.fromisoformat(value).strftime("%-d %B %Y")
        if _ISO_DATETIME.fullmatch(value):  # and times: 6 December 2026, 18:41
            try:
                moment = datetime.datetime.fromisoformat(value)
            except ValueError:
                return value
            if timezone.is_aware(moment):
                moment = timezone.localtime(moment)
            return moment.strftime("%-d %B %Y, %H:%M")
        if key in ("state", "status", "to_status", "from_status"):
            return self.states.get(object_type, ({}, None))[0].get(value, value)
        if key == "consequence_of":
            return _action_words(value)
        return self.vocabulary.get(key, {}).get(value, value)

    def details(self, event: AuditEvent) -> dict:
        before, after = event.before or {}, event.after or {}
        details = {}
        for key in [*before, *(k for k in after if k not in before)]:
            if before.get(key) is None and after.get(key) is None:
                continue  # nothing to say ("Expires on": none)
            if key in _ID_KEYS and self.value(key, after.get(key, before.get(key))) in (None, []):
                continue
            if key in before and key in after:
                was = self.value(key, before[key], event.object_type)
                now = self.value(key, after[key], event.object_type)
                details[_words(key)] = {"Before": was, "After": now}
            else:
                side = before if key in before else after
                details[_words(key)] = self.value(key, side[key], event.object_type)
        return details

    def event(self, event: AuditEvent) -> dict:
        return {
            "seq": event.seq,
            "at": event.occurred_at.isoformat(),
            "by": _person(event.actor) if event.actor_id else _AUTOMATIC,
            "action": _action_words(event.action, self.states[event.object_type][1]),
            "about": event.object_repr,
            "details": self.details(event),
            "hash": event.hash,
        }


def _disclosed_events(referral: Referral) -> list[dict]:
    """The audit events about what the pack discloses, in chain order: this referral, its
    case's decision (the ballot that made it and its effect on the CPL), the plans the pack
    holds, and the evidence the secretariat chose to disclose with its grants. Evidence it did
    not disclose stays out: not its title, its hash, nor who may read it."""
    case = referral.case
    record = getattr(case, "decision_record", None)
    whole = {("governance.referral", referral.pk)}
    whole |= {
        ("governance.evidencedocument", pk)
        for pk in referral.disclosed_documents.values_list("pk", flat=True)
    }
    whole |= {
        ("governance.planrequirement", pk)
        for pk in _requirements(referral).values_list("pk", flat=True)
    }
    if record is not None:
        whole.add(("governance.ballot", record.ballot_id))
    query = Q(object_type="governance.case", object_id=str(case.pk))
    query &= Q(action__in=_CASE_DECISION_ACTIONS) | Q(action__startswith="case.")
    query &= ~Q(action="case.commented")
    for object_type, pk in whole:
        query |= Q(object_type=object_type, object_id=str(pk))
    models = [str(pk) for pk in case.device_models.values_list("pk", flat=True)]
    query |= Q(object_type="cpl.devicemodel", object_id__in=models)
    events = [
        e
        for e in AuditEvent.objects.filter(query).select_related("actor__organisation")
        # A device model's events: only the decision's effect on it (and the determination's).
        if e.object_type != "cpl.devicemodel" or (e.after or {}).get("reference") == case.reference
    ]
    events.sort(key=lambda e: e.seq)
    words = _AuditWords(referral, events)
    return [words.event(e) for e in events]


def _summary_pdf(referral: Referral, version: int, files: list[dict]) -> bytes:
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    case = referral.case
    styles = getSampleStyleSheet()
    header = f"Case {case.reference} · Referral {referral.reference} · Pack version {version}"

    def on_page(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(18 * mm, 287 * mm, header)
        canvas.drawRightString(192 * mm, 10 * mm, f"{case.reference} · page {doc.page}")
        canvas.restoreState()

    def para(text, style="BodyText"):
        return Paragraph(escape(str(text or "—")).replace("\n", "<br/>"), styles[style])

    story = [
        para(f"Referral to the Authority: {referral.reference}", "Title"),
        para(f"Case {case.reference}: {referral.get_kind_display()}", "Heading2"),
        para(f"Referred by {referral.organisation} on {referral.lodged_at:%-d %B %Y}."),
        para("Grounds", "Heading3"),
        para(referral.grounds),
        para("The case", "Heading2"),
        para(
            f"{case.get_event_display()}: certificate {case.certificate.number} on "
            f"{case.event_date:%-d %B %Y}. NCSC severity: {case.get_severity_display()}."
        ),
        para(f"Reason: {case.reason}"),
        para(f"Summary: {case.summary}"),
        para("Device models: " + "; ".join(str(m) for m in case.device_models.all())),
    ]
    record = getattr(case, "decision_record", None)
    if record is not None:
        story += [
            para("The SSC's decision", "Heading2"),
            para(
                f"{record.get_decision_display()}"
                f"{' (chair' + chr(39) + 's casting vote)' if record.casting_vote else ''}, "
                f"issued {record.issued_at:%-d %B %Y}."
                if record.issued_at
                else record.get_decision_display()
            ),
            para(f"Reasons: {record.reasons}"),
            para(f"Security factors: {record.security_factors}"),
            para(f"Operational impact: {record.operational_impact}"),
            para("Ballot", "Heading3"),
            *_ballot_story(record, para),
            para("Conflict declarations", "Heading3"),
            para(_conflicts_text(record.conflicts)),
        ]
    story += _representations_story(case, para)
    requirements = case.plan_requirements.select_related("supplier")
    if referral.plan_requirement_id:
        requirements = requirements.filter(pk=referral.plan_requirement_id)
    if requirements:
        story.append(para("Remedial plans and reviews", "Heading2"))
        for requirement in requirements:
            story.append(
                para(
                    f"{requirement.supplier}: {requirement.get_state_display()}, "
                    f"{requirement.device_count} devices, due "
                    f"{requirement.due_date:%-d %B %Y}"
                )
            )
            for plan in requirement.plans.all():
                story.append(
                    para(
                        f"Version {plan.version} ({plan.submitted_at:%-d %B %Y}): "
                        f"{plan.get_review_display()}. {plan.review_comments}"
                    )
                )
    for request in referral.information_requests.all():
        story += [
            para(f"Information requested on {request.requested_at:%-d %B %Y}", "Heading3"),
            para(request.text),
            para(f"Response: {request.response or 'awaited'}"),
        ]
    story += [para("Files in this pack", "Heading2")]
    story += [para(f"{f['path']} — {f['size']} bytes — SHA-256 {f['sha256']}") for f in files]
    story.append(Spacer(1, 6 * mm))
    story += _verification_story(para)
    story.append(para(f"Built {timezone.now():%-d %B %Y %H:%M %Z}."))
    out = io.BytesIO()
    SimpleDocTemplate(
        out, pagesize=A4, title=header, author="SSC portal", topMargin=22 * mm, bottomMargin=18 * mm
    ).build(story, onFirstPage=on_page, onLaterPages=on_page)
    return out.getvalue()


def _verification_story(para) -> list:
    """How the Authority checks the pack with the tools any machine has."""
    key_page = absolute_url(reverse("signing-key"))
    return [
        para("Checking this pack", "Heading2"),
        para(
            f"Every file arrived intact: extract the ZIP, and in its folder run "
            f"sha256sum -c {CHECKSUMS} (on macOS: shasum -a 256 -c {CHECKSUMS}). Each file "
            "must be reported OK; a file reported FAILED or missing was altered or lost."
        ),
        para(
            f"The pack is the one the portal sent: {MANIFEST} lists every file with its "
            f"SHA-256 ({CHECKSUMS} among them), and its SHA-256 is stated in the Authority's "
            f"notice (sha256sum {MANIFEST} shows it). {SIGNATURE} is the Ed25519 signature of "
            f"{MANIFEST} by the portal's key, published at {key_page}: with that key saved as "
            f"portal-signing-key.pem, openssl pkeyutl -verify -pubin -inkey "
            f"portal-signing-key.pem -rawin -in {MANIFEST} -sigfile {SIGNATURE} answers "
            "Signature Verified Successfully."
        ),
    ]


def _conflicts_text(conflicts) -> str:
    people = people_by_username(c["member"] for c in conflicts)
    return (
        "; ".join(
            f"{people.get(c['member'], 'A member')} (recused): {c['reason']}" for c in conflicts
        )
        or "No member declared a conflict."
    )


def people_by_username(usernames) -> dict[str, str]:
    """Records that keep usernames (votes, conflicts), read by name and organisation."""
    from portal.models import User

    found = User.objects.filter(username__in=set(usernames)).select_related("organisation")
    return {u.username: _person(u) for u in found}


def _ballot_story(record, para) -> list:
    """From the decision snapshot frozen at the close (older records: their vote list), in
    labels and names."""
    words = _vocabulary()
    choice, kind, majority = words["choice"], words["kind"], words["majority"]

    def counts(tallies) -> str:
        return ", ".join(f"{choice.get(k, k)}: {v}" for k, v in tallies.items())

    snapshot = record.snapshot
    if not snapshot:
        people = people_by_username(v["member"] for v in record.votes)
        return [
            para(counts(record.tallies)),
            para(
                "; ".join(
                    f"{people.get(v['member'], 'A member')}: {choice.get(v['choice'], v['choice'])}"
                    for v in record.votes
                )
            ),
        ]
    electorate, tallies = snapshot["electorate"], snapshot["tallies"]
    people = people_by_username(v["member"] for v in snapshot["votes"])
    story = [
        para(
            f"Electorate frozen at opening: {len(electorate['members'])} members; "
            f"{electorate['eligible']} eligible at close, quorum {electorate['quorum_required']}; "
            f"{majority.get(tallies['majority'], tallies['majority'])}."
        ),
        para(counts(tallies["counts"])),
    ]
    for vote in snapshot["votes"]:
        history = "; ".join(
            f"{e['at'][:16].replace('T', ' ')} {kind.get(e['kind'], e['kind']).lower()}: "
            f"{choice.get(e['choice'], e['choice'])}"
            + (f" (reason: {e['reason']})" if e["reason"] else "")
            for e in vote["history"]
        )
        member = people.get(vote["member"]) or vote.get("name") or "A member"
        final = choice.get(vote["choice"], vote["choice"]) if vote["choice"] else "no vote"
        story.append(para(f"{member}: {final}. History: {history or 'none'}"))
    story.append(
        para(f"Decision snapshot SHA-256: {record.snapshot_sha256} (decision_snapshot.json).")
    )
    return story


def decision_snapshot_for_pack(referral: Referral) -> bytes | None:
    """The record's snapshot, as frozen at the close, with every part's SHA-256 so that the
    Authority can check it against the record's hash. Evidence the secretariat did not disclose
    stays out (its part's hash remains, which reveals nothing of it)."""
    from .record import canonical_json, snapshot_digests

    record = getattr(referral.case, "decision_record", None)
    if record is None or not record.snapshot:
        return None
    disclosed = set(referral.disclosed_documents.values_list("pk", flat=True))
    parts = dict(record.snapshot)
    parts["evidence"] = [e for e in parts["evidence"] if e["id"] in disclosed]
    withheld = len(record.snapshot["evidence"]) - len(parts["evidence"])
    return canonical_json(
        {
            "snapshot_sha256": record.snapshot_sha256,
            "part_sha256": snapshot_digests(record.snapshot),
            "evidence_withheld": withheld,
            "parts": parts,
        }
    )


def _representations_story(case, para) -> list:
    """The recommendations and the Parties' representations the SSC had before it."""
    story = [para("Recommendations made before the ballot", "Heading2")]
    story += [
        para(
            f"{_person(r.author)} ({r.recorded_at:%-d %B %Y}): "
            f"{r.get_recommendation_display()}. {r.reasons}"
        )
        for r in case.recommendations.select_related("author__organisation")
    ] or [para("None recorded.")]
    story.append(para("Stakeholder representations", "Heading2"))
    found = list(case.representations.select_related("organisation").prefetch_related("documents"))
    for r in found:
        heading = (
            f"{r.organisation}, {r.submitted_at:%-d %B %Y %H:%M} ({r.get_classification_display()})"
        )
        story += [para(heading, "Heading3"), para(r.text)]
        story += [
            para(f"Document: {d.original_name}, SHA-256 {d.sha256}") for d in r.documents.all()
        ]
    if not found:
        story.append(para("No Party made a representation."))
    return story


def pack_build(*, actor, referral: Referral) -> ReferralPack:
    """Fix the pack's files now: later changes to the case make a new version, never alter this."""
    version = (
        referral.packs.order_by("-version").values_list("version", flat=True).first() or 0
    ) + 1
    files = []

    def add(path: str, folder: str, stored_name: str, sha256: str | None = None):
        location = _private(folder, stored_name)
        files.append(
            {
                "path": path,
                "folder": folder,
                "stored_name": stored_name,
                "size": location.stat().st_size,
                "sha256": sha256 or _sha256(location),
            }
        )

    for document in referral.documents.all():
        add(
            f"documents/{document.source}/{document.pk}-{_safe(document.original_name)}",
            "referrals",
            document.stored_name,
        )
    for document in referral.disclosed_documents.all():
        add(
            f"documents/evidence/{document.pk}-{_safe(document.original_name)}",
            "evidence",
            document.stored_name,
        )
    for document in RepresentationDocument.objects.filter(representation__case=referral.case):
        add(
            f"documents/representations/{document.representation_id}-{document.pk}-"
            f"{_safe(document.original_name)}",
            "representations",
            document.stored_name,
        )
    for requirement in _requirements(referral):
        for plan in requirement.plans.all():
            add(
                f"documents/plans/{requirement.supplier_id}-v{plan.version}-"
                f"{_safe(plan.original_name)}",
                "plans",
                plan.stored_name,
            )
    snapshot = decision_snapshot_for_pack(referral)
    if snapshot is not None:
        add("decision_snapshot.json", "packs", _write_private("packs", snapshot))
    audit = json.dumps(_disclosed_events(referral), indent=1, ensure_ascii=False).encode()
    add("audit.json", "packs", _write_private("packs", audit))
    add("summary.pdf", "packs", _write_private("packs", _summary_pdf(referral, version, files)))
    # Last: it lists every file before it, for `sha256sum -c` on any machine (two spaces,
    # relative paths). The manifest lists it in turn, so the signature covers it too.
    sums = "".join(f"{f['sha256']}  {f['path']}\n" for f in files).encode()
    add(CHECKSUMS, "packs", _write_private("packs", sums))
    pack = ReferralPack(referral=referral, version=version, built_by=actor, files=files)
    pack.manifest_sha256 = hashlib.sha256(manifest_bytes(pack)).hexdigest()
    pack.save()
    # Every pack anchors the audit chain it quotes (once the pack's transaction commits).
    audit_checkpoint_on_commit()
    return pack


def manifest_bytes(pack: ReferralPack) -> bytes:
    manifest = {
        "referral": pack.referral.reference,
        "case": pack.referral.case.reference,
        "pack_version": pack.version,
        "files": [
            {"path": f["path"], "size": f["size"], "sha256": f["sha256"]} for f in pack.files
        ],
    }
    return json.dumps(manifest, indent=1, sort_keys=True).encode()


def pack_zip(pack: ReferralPack) -> ZipStream:
    """A ZIP streamed from the stored files (never built in memory); its length is known."""
    manifest = manifest_bytes(pack)
    stream = ZipStream(compress_type=ZIP_STORED, sized=True)
    stream.add(manifest, MANIFEST)
    # Ed25519 is deterministic: the same manifest and key give the same signature each download.
    stream.add(signing.sign(manifest), SIGNATURE)
    for entry in pack.files:
        stream.add_path(str(_private(entry["folder"], entry["stored_name"])), entry["path"])
    return stream


def _manifest_entries(data: bytes) -> tuple[dict[str, dict], list[str]]:
    """The manifest's files by path, or the problems that make it no manifest at all."""
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        return {}, [f"{MANIFEST} is not valid JSON ({exc})"]
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list):
        return {}, [f"{MANIFEST} has no list of files"]
    if not files:
        return {}, [f"{MANIFEST} lists no files"]
    listed, problems = {}, []
    for number, entry in enumerate(files, start=1):
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str) or not path:
            problems.append(f"{MANIFEST}: entry {number} has no path")
            continue
        digest, size = entry.get("sha256"), entry.get("size")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            problems.append(f"{MANIFEST}: {path} has no SHA-256")
        elif not isinstance(size, int) or isinstance(size, bool) or size < 0:
            problems.append(f"{MANIFEST}: {path} has no size")
        elif path in listed or path in (MANIFEST, SIGNATURE):
            problems.append(f"{MANIFEST}: {path} is listed twice")
        else:
            listed[path] = entry
    return listed, problems


def verify_pack(path, public_keys=None) -> list[str]:
    """Problems found in a downloaded pack; an empty list means it verifies. The manifest must
    carry a valid signature by one of public_keys (default: the portal's current and retired
    keys), list at least one file, each with its SHA-256 and size, and match the ZIP exactly."""
    problems = []
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return [f"not a readable ZIP file ({exc})"]
    with archive:
        counts = Counter(archive.namelist())
        names = set(counts)
        for name in sorted(n for n, count in counts.items() if count > 1):
            problems.append(f"{name}: appears more than once in the ZIP")
        if MANIFEST not in names:
            return [*problems, f"{MANIFEST} is missing"]
        for name in (MANIFEST, SIGNATURE):
            if name in names and archive.getinfo(name).file_size > MANIFEST_MAX_BYTES:
                return [*problems, f"{name} is too large"]
        try:
            manifest = archive.read(MANIFEST)
            signature = archive.read(SIGNATURE) if SIGNATURE in names else None
        except _UNREADABLE as exc:
            return [*problems, f"{MANIFEST} cannot be read ({exc})"]
        if signature is None:
            problems.append(f"{SIGNATURE} is missing: the manifest is not signed")
        else:
            keys = public_keys
            if keys is None:
                try:
                    keys = list(signing.trusted_public_keys().values())
                except signing.SigningKeyError as exc:
                    return [*problems, f"no public key to check the signature with ({exc})"]
            if signing.verify_with(keys, manifest, signature) is None:
                problems.append(
                    f"{SIGNATURE} does not verify: the manifest was not signed by the portal's "
                    "key, or was altered after"
                )
        listed, manifest_problems = _manifest_entries(manifest)
        problems += manifest_problems
        if not listed:
            return problems
        for extra in sorted(names - set(listed) - {MANIFEST, SIGNATURE}):
            problems.append(f"{extra}: not listed in the manifest")
        for name, entry in listed.items():
            if name not in names:
                problems.append(f"{name}: listed in the manifest but missing")
                continue
            digest, size = hashlib.sha256(), 0
            try:
                with archive.open(name) as member:
                    while chunk := member.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
            except _UNREADABLE as exc:
                problems.append(f"{name}: cannot be read from the ZIP ({exc})")
                continue
            if digest.hexdigest() != entry["sha256"] or size != entry["size"]:
                problems.append(f"{name}: SHA-256 does not match the manifest")
    return problems
