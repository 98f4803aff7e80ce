"""Referral packs: an immutable set of files (PDF summary, documents, audit.json) listed with
their SHA-256 in manifest.json, streamed as one ZIP with the manifest's Ed25519 signature
(manifest.json.sig, raw 64 bytes, by the key published at /signing-key/), and verifiable
offline (verify_pack)."""

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
from django.utils import timezone
from zipstream import ZIP_STORED, ZipStream

from portal import signing
from portal.audit import audit_checkpoint_on_commit
from portal.models import AuditEvent

from .models import Referral, ReferralPack, RepresentationDocument

CHUNK = 1024 * 1024
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
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


def _case_events(referral: Referral) -> list[dict]:
    """The audit events of the case and of what the pack holds, in chain order. Evidence the
    secretariat did not disclose stays out: not even its title, hash or access list."""
    case = referral.case
    objects = {("governance.case", case.pk)}
    objects |= {("governance.ballot", pk) for pk in case.ballots.values_list("pk", flat=True)}
    objects |= {
        ("governance.evidencedocument", pk)
        for pk in referral.disclosed_documents.values_list("pk", flat=True)
    }
    objects |= {
        ("governance.planrequirement", pk)
        for pk in _requirements(referral).values_list("pk", flat=True)
    }
    objects |= {("governance.referral", pk) for pk in case.referrals.values_list("pk", flat=True)}
    objects |= {("cpl.devicemodel", pk) for pk in case.device_models.values_list("pk", flat=True)}
    query = Q()
    for object_type, pk in objects:
        query |= Q(object_type=object_type, object_id=str(pk))
    return [
        {
            "seq": e.seq,
            "at": e.occurred_at.isoformat(),
            "actor": e.actor_label,
            "action": e.action,
            "object": e.object_repr,
            "object_type": e.object_type,
            "before": e.before,
            "after": e.after,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
        for e in AuditEvent.objects.filter(query).order_by("seq")
    ]


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
        para(f"Referred by {referral.organisation} on {referral.lodged_at:%d %B %Y}."),
        para("Grounds", "Heading3"),
        para(referral.grounds),
        para("The case", "Heading2"),
        para(
            f"{case.get_event_display()}: certificate {case.certificate.number} on "
            f"{case.event_date:%d %B %Y}. NCSC severity: {case.get_severity_display()}."
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
                f"issued {record.issued_at:%d %B %Y}."
                if record.issued_at
                else record.get_decision_display()
            ),
            para(f"Reasons: {record.reasons}"),
            para(f"Security factors: {record.security_factors}"),
            para(f"Operational impact: {record.operational_impact}"),
            para("Ballot", "Heading3"),
            *_ballot_story(record, para),
            para("Conflict declarations", "Heading3"),
            para(
                "; ".join(f"{c['member']} (recused): {c['reason']}" for c in record.conflicts)
                or "No member declared a conflict."
            ),
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
                    f"{requirement.due_date:%d %B %Y}"
                )
            )
            for plan in requirement.plans.all():
                story.append(
                    para(
                        f"Version {plan.version} ({plan.submitted_at:%d %B %Y}): "
                        f"{plan.get_review_display()}. {plan.review_comments}"
                    )
                )
    for request in referral.information_requests.all():
        story += [
            para(f"Information requested on {request.requested_at:%d %B %Y}", "Heading3"),
            para(request.text),
            para(f"Response: {request.response or 'awaited'}"),
        ]
    story += [para("Files in this pack", "Heading2")]
    story += [para(f"{f['path']} — {f['size']} bytes — SHA-256 {f['sha256']}") for f in files]
    story.append(Spacer(1, 6 * mm))
    story.append(
        para(
            f"Built {timezone.now():%d %B %Y %H:%M %Z}. manifest.json lists every "
            "file with its SHA-256; `manage.py verify_pack` re-checks a download."
        )
    )
    out = io.BytesIO()
    SimpleDocTemplate(
        out, pagesize=A4, title=header, author="SSC portal", topMargin=22 * mm, bottomMargin=18 * mm
    ).build(story, onFirstPage=on_page, onLaterPages=on_page)
    return out.getvalue()


def _ballot_story(record, para) -> list:
    """From the decision snapshot frozen at the close (older records: their vote list)."""
    snapshot = record.snapshot
    if not snapshot:
        return [
            para(", ".join(f"{k}: {v}" for k, v in record.tallies.items())),
            para("; ".join(f"{v['member']}: {v['choice']}" for v in record.votes)),
        ]
    electorate, tallies = snapshot["electorate"], snapshot["tallies"]
    story = [
        para(
            f"Electorate frozen at opening: {len(electorate['members'])} members; "
            f"{electorate['eligible']} eligible at close, quorum {electorate['quorum_required']}; "
            f"{tallies['majority']} majority."
        ),
        para(", ".join(f"{k}: {v}" for k, v in tallies["counts"].items())),
    ]
    for vote in snapshot["votes"]:
        history = "; ".join(
            f"{e['at'][:19]} {e['kind']} {e['choice']}"
            + (f" (reason: {e['reason']})" if e["reason"] else "")
            for e in vote["history"]
        )
        story.append(para(f"{vote['member']}: {vote['choice'] or 'no vote'}. History: {history}"))
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
            f"{r.author.get_full_name() or r.author.username} ({r.recorded_at:%d %B %Y}): "
            f"{r.get_recommendation_display()}. {r.reasons}"
        )
        for r in case.recommendations.select_related("author")
    ] or [para("None recorded.")]
    story.append(para("Stakeholder representations", "Heading2"))
    found = list(case.representations.select_related("organisation").prefetch_related("documents"))
    for r in found:
        heading = (
            f"{r.organisation}, {r.submitted_at:%d %B %Y %H:%M} ({r.get_classification_display()})"
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
    audit = json.dumps(_case_events(referral), indent=1, ensure_ascii=False).encode()
    add("audit.json", "packs", _write_private("packs", audit))
    add("summary.pdf", "packs", _write_private("packs", _summary_pdf(referral, version, files)))
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
