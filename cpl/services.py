"""Writes to the CPL register. Each service is one transaction with its audit events."""

import datetime
import hashlib
import logging
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed, can_proceed, has_transition_perm

from portal.audit import AuditEntry, audit_record, audit_record_many

from .exchange import DeviceModelRow, read_exchange_file
from .models import (
    DLMS_DEVICE_TYPES,
    AssuranceCertificate,
    CPLChangeNotice,
    CPLVersion,
    DeviceModel,
    Manufacturer,
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
    suspended: int = 0
    reinstated: int = 0

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
    """Import a CPL exchange file, all or nothing. Raises ExchangeFileRejected on any bad row."""
    sha = file_sha256(binary)
    rows = read_exchange_file(
        binary,
        size=size,
        max_bytes=settings.CPL_IMPORT_MAX_BYTES,
        max_errors=settings.CPL_IMPORT_MAX_REPORTED_ERRORS,
        progress=progress,
    )
    summary = ImportSummary(file_name=file_name, file_sha256=sha, rows=len(rows))
    with transaction.atomic():
        _apply_rows(actor=actor, rows=rows, summary=summary)
        # Act on the facts at once: the whole register, as the periodic check would.
        check = certificates_check(actor=actor)
        summary.suspended, summary.reinstated = check.suspended, check.reinstated
        audit_record(
            actor=actor,
            action="cpl.imported",
            object_type="cpl.import",
            object_repr=file_name,
            after=asdict(summary),
        )
    return summary


def _apply_rows(*, actor, rows: list[DeviceModelRow], summary: ImportSummary) -> None:
    entries: list[AuditEntry] = []
    manufacturers = {m.manufacturer_id: m for m in Manufacturer.objects.select_for_update()}
    wanted_names = {r.manufacturer_id: r.manufacturer_name for r in rows}
    new_manufacturers = [
        Manufacturer(manufacturer_id=mid, name=name)
        for mid, name in wanted_names.items()
        if mid not in manufacturers
    ]
    Manufacturer.objects.bulk_create(new_manufacturers)
    for manufacturer in new_manufacturers:
        entries.append(
            AuditEntry("manufacturer.created", manufacturer, after={"name": manufacturer.name})
        )
    for mid, manufacturer in manufacturers.items():
        if mid in wanted_names and manufacturer.name != wanted_names[mid]:
            entries.append(
                AuditEntry(
                    "manufacturer.renamed",
                    manufacturer,
                    before={"name": manufacturer.name},
                    after={"name": wanted_names[mid]},
                )
            )
            manufacturer.name = wanted_names[mid]
            manufacturer.save(update_fields=["name"])
    manufacturers.update({m.manufacturer_id: m for m in new_manufacturers})

    # Certificates: one row per (kind, number), shared by the device models that cite it.
    certificates = {(c.kind, c.number): c for c in Cert.objects.select_for_update()}
    new_certificates, changed_certificates = {}, []
    for row in rows:
        for fact in row.certificates:
            key = (fact.kind, fact.number)
            existing = certificates.get(key) or new_certificates.get(key)
            if existing is None:
                new_certificates[key] = Cert(
                    kind=fact.kind, number=fact.number, issued=fact.issued, expiry=fact.expiry
                )
            elif existing.pk and (existing.issued, existing.expiry) != (fact.issued, fact.expiry):
                entries.append(
                    AuditEntry(
                        "certificate.updated",
                        existing,
                        before={"issued": existing.issued, "expiry": existing.expiry},
                        after={"issued": fact.issued, "expiry": fact.expiry},
                    )
                )
                existing.issued, existing.expiry = fact.issued, fact.expiry
                changed_certificates.append(existing)
    Cert.objects.bulk_create(new_certificates.values(), batch_size=2000)
    Cert.objects.bulk_update(changed_certificates, ["issued", "expiry"], batch_size=2000)
    certificates.update(new_certificates)
    summary.certificates_created = len(new_certificates)
    summary.certificates_updated = len(changed_certificates)

    existing_models = {
        dm.identity: dm
        for dm in DeviceModel.objects.select_related("manufacturer").select_for_update()
    }
    through = DeviceModel.certificates.through
    links = set(through.objects.values_list("devicemodel_id", "assurancecertificate_id"))
    new_models, changed_models, pending_links = [], [], []
    for row in rows:
        model = existing_models.get(row.identity)
        if model is None:
            model = DeviceModel(
                device_type=row.device_type,
                manufacturer=manufacturers[row.manufacturer_id],
                model_id=row.model_id,
                hardware_version=row.hardware_version,
                firmware_version=row.firmware_version,
                smets_chts_version=row.smets_chts_version,
                date_added=row.date_added,
                status=Status.LISTED,
            )
            new_models.append((row, model))
            continue
        before, after = {}, {}
        for name in ("device_type", "smets_chts_version", "date_added"):
            if getattr(model, name) != getattr(row, name):
                before[name], after[name] = getattr(model, name), getattr(row, name)
                setattr(model, name, getattr(row, name))
        new_numbers = []
        for fact in row.certificates:
            certificate = certificates[(fact.kind, fact.number)]
            if (model.pk, certificate.pk) not in links:
                pending_links.append(
                    through(devicemodel_id=model.pk, assurancecertificate_id=certificate.pk)
                )
                new_numbers.append(str(certificate))
        if new_numbers:
            after["certificates_added"] = new_numbers
        if after:
            changed_models.append(model)
            entries.append(AuditEntry("devicemodel.updated", model, before=before, after=after))
        else:
            summary.unchanged += 1
    DeviceModel.objects.bulk_create([m for _, m in new_models], batch_size=2000)
    DeviceModel.objects.bulk_update(
        changed_models,
        ["device_type", "smets_chts_version", "date_added", "updated_at"],
        batch_size=2000,
    )
    for row, model in new_models:
        for fact in row.certificates:
            pending_links.append(
                through(
                    devicemodel_id=model.pk,
                    assurancecertificate_id=certificates[(fact.kind, fact.number)].pk,
                )
            )
        entries.append(
            AuditEntry(
                "devicemodel.created",
                model,
                after={
                    "status": model.status,
                    "device_type": model.device_type,
                    "smets_chts_version": model.smets_chts_version,
                    "date_added": model.date_added,
                    "certificates": [f"{f.kind}:{f.number}" for f in row.certificates],
                },
            )
        )
    through.objects.bulk_create(pending_links, batch_size=5000)
    summary.created, summary.updated = len(new_models), len(changed_models)
    audit_record_many(actor=actor, entries=entries)


# --- the periodic certificate check ------------------------------------------------------------


@dataclass
class CheckResult:
    expired: int = 0
    suspended: int = 0
    reinstated: int = 0
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

    Non-CPA certificates are removed automatically (the device model is suspended until a valid
    certificate is recorded). CPA non-compliance is only flagged: the SSC decides (risk-based).
    """
    today = today or timezone.localdate()
    result = CheckResult()
    with transaction.atomic():
        entries = []
        expiring = Cert.objects.select_for_update().filter(
            status=Cert.Status.VALID, expiry__lt=today
        )
        if device_model_ids is not None:
            # A subquery, not a join: FOR UPDATE cannot be combined with DISTINCT.
            expiring = expiring.filter(
                pk__in=Cert.objects.filter(device_models__in=device_model_ids).values("pk")
            )
        for certificate in expiring:
            certificate.expire(on=certificate.expiry)
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
                    after={"status": certificate.status, "expiry": certificate.expiry},
                )
            )
        audit_record_many(actor=actor, entries=entries)

        # Set-based, not a correlated subquery per model: linear in the size of the register.
        zigbee = _holding_valid(Cert.Kind.ZIGBEE, device_model_ids)
        dlms = _holding_valid(Cert.Kind.DLMS, device_model_ids)
        candidates = DeviceModel.objects.filter(status__in=[Status.LISTED, Status.SUSPENDED])
        if device_model_ids is not None:
            candidates = candidates.filter(pk__in=device_model_ids)
        to_suspend, to_reinstate = [], []
        for pk, status, basis, device_type in candidates.values_list(
            "pk", "status", "suspension_basis", "device_type"
        ).iterator(chunk_size=5000):
            compliant = pk in zigbee and (device_type not in DLMS_DEVICE_TYPES or pk in dlms)
            if status == Status.LISTED and not compliant:
                to_suspend.append(pk)
            elif (
                status == Status.SUSPENDED
                and compliant
                and basis == DeviceModel.SuspensionBasis.CERTIFICATE
            ):
                to_reinstate.append(pk)
        for model in _locked_models(to_suspend):
            _change_status(
                actor=actor,
                model=model,
                transition="suspend",
                reason="A required non-CPA Assurance Certificate is no longer valid: "
                "removed from the CPL automatically.",
                basis=DeviceModel.SuspensionBasis.CERTIFICATE,
                check_permission=False,
            )
            result.suspended += 1
        for model in _locked_models(to_reinstate):
            _change_status(
                actor=actor,
                model=model,
                transition="reinstate",
                reason="Valid Assurance Certificates recorded: reinstated on the CPL.",
                check_permission=False,
            )
            result.reinstated += 1
    return result


def _locked_models(ids: list[int]):
    for start in range(0, len(ids), 500):
        yield from (
            DeviceModel.objects.select_related("manufacturer")
            .select_for_update(of=("self",))
            .filter(pk__in=ids[start : start + 500])
            .order_by("pk")
        )


def _change_status(
    *,
    actor,
    model: DeviceModel,
    transition: str,
    reason: str,
    check_permission: bool = True,
    **kwargs,
) -> CPLChangeNotice:
    method = getattr(model, transition)
    if check_permission and not has_transition_perm(method, actor):
        raise PermissionDenied("You may not change this device model's CPL status.")
    before = model.status
    method(**kwargs)
    model.save()
    notice = CPLChangeNotice.objects.create(
        device_model=model,
        from_status=before,
        to_status=model.status,
        reason=reason,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    audit_record(
        actor=actor,
        action=f"devicemodel.{transition}",
        obj=model,
        before={"status": before},
        after={"status": model.status, "reason": reason, "cpl_change_notice": notice.pk},
    )
    return notice


# --- certificate events recorded by the secretariat ---------------------------------------------


def certificate_record_event(
    *, actor, certificate: Cert, event: str, on: datetime.date, reason: str
) -> CheckResult:
    """Record a withdrawal or cancellation, then act on it as the periodic check would."""
    if event not in {"withdraw", "cancel"}:
        raise ValueError(f"unknown certificate event {event!r}")
    method = getattr(certificate, event)
    if not can_proceed(method):
        raise TransitionNotAllowed(f"{certificate} is {certificate.get_status_display().lower()}.")
    if not has_transition_perm(method, actor):
        raise PermissionDenied("You may not record certificate events.")
    with transaction.atomic():
        before = certificate.status
        method(on=on, reason=reason)
        certificate.save()
        action = (
            "certificate.flagged_for_ssc"
            if certificate.kind == Cert.Kind.CPA
            else f"certificate.{certificate.status}"
        )
        audit_record(
            actor=actor,
            action=action,
            obj=certificate,
            before={"status": before},
            after={"status": certificate.status, "on": on, "reason": reason},
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
) -> Cert:
    """Record a (renewed) certificate for a device model; reinstates the model if compliant."""
    if not actor.has_perm("cpl.record_certificate_event"):
        raise PermissionDenied("You may not record certificates.")
    with transaction.atomic():
        certificate, created = Cert.objects.get_or_create(
            kind=kind, number=number, defaults={"issued": issued, "expiry": expiry}
        )
        if not created and (certificate.issued, certificate.expiry) != (issued, expiry):
            raise ValueError(f"Certificate {number} is already recorded with other dates.")
        certificate.device_models.add(device_model)
        audit_record(
            actor=actor,
            action="certificate.recorded",
            obj=certificate,
            after={
                "device_model": device_model.pk,
                "issued": issued,
                "expiry": expiry,
                "created": created,
            },
        )
        certificates_check(actor=actor, device_model_ids=[device_model.pk])
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
    if not actor.has_perm("cpl.publish_cplversion"):
        raise PermissionDenied("You may not publish CPL versions.")
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
