"""Writes to the CPL register. Each service is one transaction with its audit events."""

import datetime
import hashlib
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_fsm import ConcurrentTransition

from portal.audit import AuditEntry, audit_record, audit_record_many
from portal.models import Notice, Organisation
from portal.notices import notice_send
from portal.transitions import run_transition

from .exchange import read_exchange_file
from .import_staging import ImportStaging
from .models import (
    DLMS_DEVICE_TYPES,
    AssuranceCertificate,
    CPLChangeNotice,
    CPLRemoval,
    CPLVersion,
    DeviceModel,
)
from .policies import (
    CPA_ROUTE_GENERATIONS,
    DEVICE_MODELS,
    SMETS1_HAS_NO_CPA,
    VERSIONS,
    on_cpa_route,
    supersede_refusal,
)
from .selectors import register_rows, row_identity

logger = logging.getLogger(__name__)

Cert = AssuranceCertificate
Status = DeviceModel.Status


class NothingToPublish(Exception):
    pass


# --- import ----------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    file_name: str
    file_sha256: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    certificates_created: int = 0
    certificates_updated: int = 0
    removed: int = 0

    @property
    def changed_anything(self) -> bool:
        return bool(
            self.created or self.updated or self.certificates_created or self.certificates_updated
        )


def file_sha256(binary) -> str:
    digest = hashlib.sha256()
    binary.seek(0)
    while chunk := binary.read(1024 * 1024):
        digest.update(chunk)
    binary.seek(0)
    return digest.hexdigest()


def cpl_import(*, actor, binary, size: int, file_name: str, progress=None) -> ImportSummary:
    """Import a CPL exchange file, all or nothing. Raises ExchangeFileRejected on any bad row.

    One streaming pass validates the rows and stages them (import_staging); the rules across
    rows run over the staged rows; then one transaction merges them set-based, acts on the
    certificates, and writes ONE audit event (the file's SHA-256 and the counts) with the
    per-row changes kept under it (ImportChange)."""
    sha = file_sha256(binary)
    reading = read_exchange_file(
        binary,
        size=size,
        max_bytes=settings.CPL_IMPORT_MAX_BYTES,
        max_errors=settings.CPL_IMPORT_MAX_REPORTED_ERRORS,
        progress=progress,
    )
    with ImportStaging() as staging:
        staging.load(reading)
        with transaction.atomic():
            reading.reject_if_any(*staging.cross_row_errors(reading.errors.limit))
            summary = ImportSummary(file_name=file_name, file_sha256=sha, rows=staging.rows)
            counts = staging.merge(now=timezone.now())
            summary.created, summary.updated = counts.created, counts.updated
            summary.unchanged = summary.rows - counts.created - counts.updated
            summary.certificates_created = counts.certificates_created
            summary.certificates_updated = counts.certificates_updated
            # Act on the facts at once: the whole register, as the periodic check would.
            check = certificates_check(actor=actor)
            summary.removed = check.removed
            event = audit_record(
                actor=actor,
                action="cpl.imported",
                object_type="cpl.import",
                object_repr=file_name,
                after=asdict(summary),
            )
            staging.record_changes(event_id=event.pk)
            if summary.changed_anything:
                staging.analyze()
    return summary


def cpl_import_path(*, actor, path: Path, progress=None) -> ImportSummary:
    with open(path, "rb") as binary:
        return cpl_import(
            actor=actor,
            binary=binary,
            size=path.stat().st_size,
            file_name=path.name,
            progress=progress,
        )


# --- the periodic certificate check ------------------------------------------------------------


@dataclass
class CheckResult:
    expired: int = 0
    removed: int = 0
    cpa_flagged: int = 0


def _holding_valid(kind: str, device_model_ids) -> set[int]:
    """Ids of the device models that hold a valid certificate of this kind."""
    links = DeviceModel.certificates.through.objects.filter(
        assurancecertificate__kind=kind, assurancecertificate__status=Cert.Status.VALID
    )
    if device_model_ids is not None:
        links = links.filter(devicemodel_id__in=device_model_ids)
    return set(links.values_list("devicemodel_id", flat=True))


def certificates_check(
    *, actor=None, today: datetime.date | None = None, device_model_ids=None
) -> CheckResult:
    """Expire certificates past their date and act on the facts.

    A device model without a valid required non-CPA certificate is removed from the CPL
    automatically. Nothing here re-lists one: a renewed certificate is recorded, and the
    secretariat re-lists the model as its own audited action (`device_model_relist`). CPA
    non-compliance is only flagged: the SSC decides (risk-based). A CPA certificate whose
    renewal date passed without a renewal recorded lapses as if it had expired that day."""
    today = today or timezone.localdate()
    result = CheckResult()
    with transaction.atomic():
        entries = []
        expiring = Cert.objects.select_for_update().filter(
            Q(expiry__lt=today) | Q(renewal_due__lt=today), status=Cert.Status.VALID
        )
        if device_model_ids is not None:
            # A subquery, not a join: FOR UPDATE cannot be combined with DISTINCT.
            expiring = expiring.filter(
                pk__in=Cert.objects.filter(device_models__in=device_model_ids).values("pk")
            )
        for certificate in expiring:
            lapsed = certificate.renewal_due is not None and certificate.renewal_due < min(
                today, certificate.expiry
            )
            certificate.expire(on=certificate.renewal_due if lapsed else certificate.expiry)
            if lapsed:
                certificate.status_reason = (
                    f"Its renewal was due on {certificate.renewal_due:%-d %B %Y} and none was "
                    "recorded: treated as an expiry."
                )
            certificate.save()
            result.expired += 1
            action = (
                "certificate.flagged_for_ssc"
                if certificate.kind == Cert.Kind.CPA
                else "certificate.expired"
            )
            result.cpa_flagged += certificate.kind == Cert.Kind.CPA
            entries.append(
                AuditEntry(
                    action,
                    certificate,
                    before={"status": "valid"},
                    after={
                        "status": certificate.status,
                        "expiry": certificate.expiry,
                        **({"renewal_due": certificate.renewal_due} if lapsed else {}),
                    },
                )
            )
        audit_record_many(actor=actor, entries=entries)

        # Set-based, not a correlated subquery per model: linear in the size of the register.
        zigbee = _holding_valid(Cert.Kind.ZIGBEE, device_model_ids)
        dlms = _holding_valid(Cert.Kind.DLMS, device_model_ids)
        # Unordered: the model's default order would sort the register by name for nothing.
        # SMETS1 entries require no certificate (an EPC entry keeps them on the CPL).
        candidates = DeviceModel.objects.filter(
            status=Status.LISTED, smets_generation__in=CPA_ROUTE_GENERATIONS
        ).order_by()
        if device_model_ids is not None:
            candidates = candidates.filter(pk__in=device_model_ids)
        lacking: dict[int, list[str]] = {}
        for pk, device_type in candidates.values_list("pk", "device_type").iterator(
            chunk_size=5000
        ):
            kinds: list[str] = [Cert.Kind.ZIGBEE] if pk not in zigbee else []
            if device_type in DLMS_DEVICE_TYPES and pk not in dlms:
                kinds.append(Cert.Kind.DLMS)
            if kinds:
                lacking[pk] = kinds
        references = _lapsed_certificates(lacking)
        changes = []
        for model in _locked_models(list(lacking)):
            changes.append(
                device_model_remove(
                    actor=actor,
                    model=model,
                    basis=DeviceModel.RemovalBasis.CERTIFICATE,
                    reference=references.get(model.pk, ""),
                    reason="A required non-CPA Assurance Certificate is no longer valid: "
                    "removed from the CPL automatically.",
                    consequence_of="certificates.check",
                    notify_dcc=False,
                )
            )
            result.removed += 1
        # One notice for the whole check: an import may change thousands of models at once.
        cpl_changes_notify(actor=actor, changes=changes)
    return result


def _lapsed_certificates(lacking: dict[int, list[str]]) -> dict[int, str]:
    """Per device model, the certificates (of the kinds it lacks a valid one of) that are no
    longer valid: the reference of an automatic removal."""
    found: dict[int, list[str]] = {}
    ids = list(lacking)
    labels = dict(Cert.Kind.choices)
    for start in range(0, len(ids), 500):
        links = (
            DeviceModel.certificates.through.objects.filter(
                devicemodel_id__in=ids[start : start + 500]
            )
            .exclude(assurancecertificate__status=Cert.Status.VALID)
            .order_by(
                "devicemodel_id", "assurancecertificate__kind", "assurancecertificate__number"
            )
            .values_list(
                "devicemodel_id", "assurancecertificate__kind", "assurancecertificate__number"
            )
        )
        for pk, kind, number in links:
            if kind in lacking[pk]:
                found.setdefault(pk, []).append(f"{labels[kind]} {number}")
    return {pk: ", ".join(numbers) for pk, numbers in found.items()}


def _locked_models(ids: list[int]):
    for start in range(0, len(ids), 500):
        yield from (
            DeviceModel.objects.select_related("manufacturer")
            .select_for_update(of=("self",))
            .filter(pk__in=ids[start : start + 500])
            .order_by("pk")
        )


def device_model_change_status(
    *,
    actor,
    model: DeviceModel,
    transition: str,
    reason: str,
    consequence_of: str,
    notify_dcc: bool = True,
    **kwargs,
) -> CPLChangeNotice:
    """Change a device model's CPL status. The status follows facts and decisions
    (cpl.policies): the change is the consequence of an already checked action named by
    `consequence_of` (a decision issued, a determination applied, the certificate check)."""
    notice = CPLChangeNotice(
        device_model=model,
        from_status=model.status,
        reason=reason,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    run_transition(
        actor=actor,
        obj=model,
        name=transition,
        consequence_of=consequence_of,
        audit_extra={"reason": reason},
        **kwargs,
    )
    notice.to_status = model.status
    notice.save()
    if notify_dcc:
        cpl_changes_notify(actor=actor, changes=[notice])
    return notice


def device_model_remove(
    *,
    actor,
    model: DeviceModel,
    basis: str,
    reference: str,
    reason: str,
    consequence_of: str,
    notify_dcc: bool = True,
) -> CPLChangeNotice:
    """Remove a listed device model from the CPL (an SSC decision issued, an Authority
    determination applied, the certificate check) and enter it in the removed-entries register.
    It leaves the published CPL; the DCC gives its devices the SMI status Suspended."""
    notice = device_model_change_status(
        actor=actor,
        model=model,
        transition="remove",
        reason=reason,
        consequence_of=consequence_of,
        notify_dcc=notify_dcc,
        basis=basis,
    )
    CPLRemoval.objects.create(
        device_model=model,
        basis=basis,
        reference=reference,
        reason=reason,
        removed_at=notice.created_at,
        removed_by=notice.created_by,
    )
    return notice


def device_model_relist(*, actor, model: DeviceModel, reason: str) -> CPLChangeNotice:
    """The SSC Secretariat re-lists a removed device model that holds valid certificates again,
    giving its reason (audited; the DCC gets a CPL change notice). Never automatic."""
    reason = reason.strip()
    if not reason:
        raise ValueError("Give the reason for re-listing the device model.")
    with transaction.atomic():
        model = _locked_model(model)
        DEVICE_MODELS.require(actor, "relist", model)  # who, and why not now, in its words
        return _relist(
            actor=actor,
            model=model,
            transition="relist",
            basis=CPLRemoval.RelistingBasis.SECRETARIAT,
            reference="",
            reason=f"Re-listed on the CPL by the SSC Secretariat: {reason}",
            consequence_of="",
        )


def device_model_relist_on_determination(
    *, actor, model: DeviceModel, reference: str, reason: str, consequence_of: str
) -> CPLChangeNotice:
    """An Authority determination re-lists a removed device model (binding: SEC F2.7B)."""
    return _relist(
        actor=actor,
        model=model,
        transition="relist_on_determination",
        basis=CPLRemoval.RelistingBasis.AUTHORITY_DETERMINATION,
        reference=reference,
        reason=reason,
        consequence_of=consequence_of,
    )


def _locked_model(model: DeviceModel) -> DeviceModel:
    locked = (
        DeviceModel.objects.select_related("manufacturer")
        .prefetch_related("certificates")
        .select_for_update(of=("self",))
        .get(pk=model.pk)
    )
    if locked.status != model.status:
        raise ConcurrentTransition(f"{model} changed while you were looking at it.")
    return locked


def _relist(*, actor, model, transition, basis, reference, reason, consequence_of):
    notice = device_model_change_status(
        actor=actor,
        model=model,
        transition=transition,
        reason=reason,
        consequence_of=consequence_of,
    )
    CPLRemoval.objects.filter(device_model=model, relisted_at__isnull=True).update(
        relisted_at=notice.created_at,
        relisted_by=notice.created_by,
        relisting_basis=basis,
        relisting_reference=reference,
        relisting_reason=reason,
    )
    return notice


NOTICE_LIST_LIMIT = 50


def cpl_changes_notify(*, actor, changes: list[CPLChangeNotice]) -> Notice | None:
    """Tell the DCC, which sets the SMI status of the devices, through the notice outbox."""
    dcc = list(Organisation.objects.filter(party_type=Organisation.PartyType.DCC))
    if not changes or not dcc:
        return None
    by_reason: dict[str, list[CPLChangeNotice]] = {}
    for change in changes:
        by_reason.setdefault(change.reason, []).append(change)
    lines = []
    for reason, group in by_reason.items():
        lines += ["", reason]
        lines += [
            f"- {c.device_model}: {c.get_from_status_display()} → {c.get_to_status_display()} "
            f"(devices' SMI status: {c.smi_status})"
            for c in group[:NOTICE_LIST_LIMIT]
        ]
        if len(group) > NOTICE_LIST_LIMIT:
            lines.append(f"… and {len(group) - NOTICE_LIST_LIMIT:,} more")
    changes_path = reverse("cpl:change-list")
    single = changes[0] if len(changes) == 1 else None
    return notice_send(
        actor=actor,
        kind=Notice.Kind.CPL_CHANGE,
        subject=(
            f"CPL change: {single.device_model} {single.get_to_status_display().lower()}"
            if single
            else f"CPL changes: {len(changes):,} device models"
        ),
        body="The Central Products List has changed; set the SMI status of the devices "
        "accordingly.\n" + "\n".join(lines),
        organisations=dcc,
        about=single,
        link=reverse("cpl:device-model", args=[single.device_model_id]) if single else changes_path,
        action_link=changes_path,
        action_label="Review the CPL changes",
    )


# --- certificate events recorded by the secretariat ---------------------------------------------


def certificate_record_event(
    *, actor, certificate: Cert, event: str, on: datetime.date, reason: str
) -> CheckResult:
    """Record a withdrawal or cancellation, then act on it as the periodic check would."""
    if event not in {"withdraw", "cancel"}:
        raise ValueError(f"unknown certificate event {event!r}")
    with transaction.atomic():
        run_transition(actor=actor, obj=certificate, name=event, on=on, reason=reason)
        if certificate.kind == Cert.Kind.CPA:
            # CPA non-compliance goes to the SSC's risk-based decision, not automatic removal.
            audit_record(
                actor=actor,
                action="certificate.flagged_for_ssc",
                obj=certificate,
                after={"status": certificate.status, "on": on},
            )
        ids = list(certificate.device_models.values_list("pk", flat=True))
        return certificates_check(actor=actor, device_model_ids=ids)


def certificate_add(
    *,
    actor,
    device_model: DeviceModel,
    kind: str,
    number: str,
    issued: datetime.date | None,
    expiry: datetime.date,
    renewal_due: datetime.date | None = None,
    supersedes: Cert | None = None,
) -> Cert:
    """Record a (renewed) certificate for a device model. A removed model stays removed: the
    secretariat re-lists it as its own action (`device_model_relist`).

    Re-certification (`supersedes`): the new CPA certificate is recorded for every device model
    of the one no longer valid, which is kept, as history, superseded by it. Its SSC flag clears
    (no case is opened on it any more); a case already open stays, for the SSC to decide."""
    DEVICE_MODELS.require(actor, "record_certificate", device_model)
    if kind == Cert.Kind.CPA and not on_cpa_route(device_model):
        raise ValueError(f"{SMETS1_HAS_NO_CPA}.")
    if renewal_due is not None and kind != Cert.Kind.CPA:
        raise ValueError("Only a CPA certificate has a renewal date.")
    dates = {"issued": issued, "expiry": expiry, "renewal_due": renewal_due}
    with transaction.atomic():
        ids = [device_model.pk]
        if supersedes is not None:
            supersedes = Cert.objects.select_for_update().get(pk=supersedes.pk)
            refusal = supersede_refusal(supersedes, device_model, kind)
            if refusal:
                raise ValueError(str(refusal))
            ids = list(supersedes.device_models.values_list("pk", flat=True))
        certificate, created = Cert.objects.get_or_create(kind=kind, number=number, defaults=dates)
        if not created and (certificate.issued, certificate.expiry, certificate.renewal_due) != (
            issued,
            expiry,
            renewal_due,
        ):
            raise ValueError(f"Certificate {number} is already recorded with other dates.")
        if supersedes is not None and not created:
            raise ValueError(f"Certificate {number} is already recorded: give the new number.")
        certificate.device_models.add(*ids)
        entries = [
            AuditEntry(
                "certificate.recorded",
                certificate,
                after={
                    "device_model": device_model.pk,
                    "issued": issued,
                    "expiry": expiry,
                    **({"renewal_due": renewal_due} if renewal_due else {}),
                    **({"supersedes": str(supersedes)} if supersedes else {}),
                    "created": created,
                },
            )
        ]
        if supersedes is not None:
            supersedes.superseded_by = certificate
            supersedes.save(update_fields=["superseded_by"])
            entries.append(
                AuditEntry(
                    "certificate.superseded",
                    supersedes,
                    before={"status": supersedes.status},
                    after={"superseded_by": str(certificate)},
                )
            )
        audit_record_many(actor=actor, entries=entries)
        certificates_check(actor=actor, device_model_ids=ids)
    return certificate


# --- publishing ----------------------------------------------------------------------------------


def _diff(previous_rows: list[dict], rows: list[dict]) -> dict:
    before = {row_identity(r): r for r in previous_rows}
    after = {row_identity(r): r for r in rows}

    def brief(row, **extra):
        return {
            "identity": row_identity(row),
            "Device Type": row["Device Type"],
            "Manufacturer Name": row["Manufacturer Name"],
            **extra,
        }

    return {
        "added": [brief(after[k], status=after[k]["CPL Status"]) for k in after if k not in before],
        "removed": [
            brief(before[k], status=before[k]["CPL Status"]) for k in before if k not in after
        ],
        "status_changed": [
            brief(after[k], before=before[k]["CPL Status"], after=after[k]["CPL Status"])
            for k in after
            if k in before and before[k]["CPL Status"] != after[k]["CPL Status"]
        ],
    }


def cpl_version_publish(*, actor) -> CPLVersion:
    VERSIONS.require(actor, "publish", None)
    try:
        with transaction.atomic():
            previous = CPLVersion.objects.select_for_update().order_by("-number").first()
            rows = register_rows()
            content_hash = CPLVersion.hash_rows(rows)
            if previous is not None and previous.content_hash == content_hash:
                raise NothingToPublish(
                    f"The register has not changed since version {previous.number}."
                )
            version = CPLVersion.objects.create(
                number=(previous.number + 1) if previous else 1,
                published_at=timezone.now(),
                published_by=actor,
                content_hash=content_hash,
                row_count=len(rows),
                rows=rows,
                diff=_diff(previous.rows if previous else [], rows),
                previous=previous,
            )
            audit_record(
                actor=actor,
                action="cplversion.published",
                obj=version,
                after={
                    "number": version.number,
                    "content_hash": content_hash,
                    "row_count": version.row_count,
                    **version.diff_counts,
                },
            )
    except IntegrityError:
        raise NothingToPublish(
            "Another version was published at the same moment; reload the page to see it."
        ) from None
    return version
