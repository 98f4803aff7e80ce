"""Writes to the CPL register. Each service is one transaction with its audit events."""

import datetime
import hashlib
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from portal.audit import AuditEntry, audit_record, audit_record_many
from portal.models import Notice, Organisation
from portal.notices import notice_send
from portal.transitions import run_transition

from .exchange import DeviceModelRow, read_exchange_file
from .models import (
    DLMS_DEVICE_TYPES,
    AssuranceCertificate,
    CPLChangeNotice,
    CPLVersion,
    DeviceModel,
    Manufacturer,
)
from .policies import DEVICE_MODELS, VERSIONS
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


CHUNK = 2000


def cpl_import_path(*, actor, path: Path, progress=None) -> ImportSummary:
    with open(path, "rb") as binary:
        return cpl_import(
            actor=actor,
            binary=binary,
            size=path.stat().st_size,
            file_name=path.name,
            progress=progress,
        )


def _model_entry(action: str, pk: int, row: DeviceModelRow, **payload) -> AuditEntry:
    return AuditEntry(
        action,
        object_type="cpl.devicemodel",
        object_id=str(pk),
        object_repr=DeviceModel.describe(row.device_type, *row.identity),
        **payload,
    )


def _apply_manufacturers(rows, entries) -> dict[str, int]:
    manufacturers = {m.manufacturer_id: m for m in Manufacturer.objects.select_for_update()}
    wanted = {r.manufacturer_id: r.manufacturer_name for r in rows}
    created = [
        Manufacturer(manufacturer_id=mid, name=name)
        for mid, name in wanted.items()
        if mid not in manufacturers
    ]
    Manufacturer.objects.bulk_create(created)
    for manufacturer in created:
        entries.append(
            AuditEntry("manufacturer.created", manufacturer, after={"name": manufacturer.name})
        )
    for mid, manufacturer in manufacturers.items():
        if mid in wanted and manufacturer.name != wanted[mid]:
            entries.append(
                AuditEntry(
                    "manufacturer.renamed",
                    manufacturer,
                    before={"name": manufacturer.name},
                    after={"name": wanted[mid]},
                )
            )
            manufacturer.name = wanted[mid]
            manufacturer.save(update_fields=["name"])
    return {m.manufacturer_id: m.pk for m in [*manufacturers.values(), *created]}


def _apply_certificates(rows, entries, summary) -> dict[tuple[str, str], int]:
    """One row per (kind, number), shared by the device models that cite it. Returns their ids."""
    known = {
        (kind, number): (pk, issued, expiry)
        for pk, kind, number, issued, expiry in Cert.objects.select_for_update().values_list(
            "pk", "kind", "number", "issued", "expiry"
        )
    }
    new, changed = {}, []
    for row in rows:
        for fact in row.certificates:
            key = (fact.kind, fact.number)
            if key in new:
                continue
            if key not in known:
                new[key] = Cert(
                    kind=fact.kind, number=fact.number, issued=fact.issued, expiry=fact.expiry
                )
                continue
            pk, issued, expiry = known[key]
            if (issued, expiry) != (fact.issued, fact.expiry):
                entries.append(
                    AuditEntry(
                        "certificate.updated",
                        object_type="cpl.assurancecertificate",
                        object_id=str(pk),
                        object_repr=f"{fact.kind} {fact.number}",
                        before={"issued": issued, "expiry": expiry},
                        after={"issued": fact.issued, "expiry": fact.expiry},
                    )
                )
                changed.append(Cert(pk=pk, issued=fact.issued, expiry=fact.expiry))
                known[key] = (pk, fact.issued, fact.expiry)
    Cert.objects.bulk_update(changed, ["issued", "expiry"], batch_size=CHUNK)
    ids = {key: value[0] for key, value in known.items()}
    created = list(new.values())
    for start in range(0, len(created), CHUNK):
        for certificate in Cert.objects.bulk_create(created[start : start + CHUNK]):
            ids[(certificate.kind, certificate.number)] = certificate.pk
    summary.certificates_created, summary.certificates_updated = len(created), len(changed)
    return ids


def _apply_rows(*, actor, rows: list[DeviceModelRow], summary: ImportSummary) -> None:
    """Write the validated rows. Plain tuples, not model instances, for what is only compared:
    memory stays modest on registers of tens of thousands of device models."""
    entries: list[AuditEntry] = []
    manufacturer_ids = _apply_manufacturers(rows, entries)
    certificate_ids = _apply_certificates(rows, entries, summary)
    through = DeviceModel.certificates.through
    compared = ("device_type", "smets_chts_version", "date_added")
    existing = {
        (mid, model_id, hw, fw): (pk, values)
        for pk, mid, model_id, hw, fw, *values in DeviceModel.objects.select_for_update(
            of=("self",)
        )
        .values_list(
            "pk",
            "manufacturer__manufacturer_id",
            "model_id",
            "hardware_version",
            "firmware_version",
            *compared,
        )
        .iterator(chunk_size=CHUNK)
    }
    links = set(
        through.objects.values_list("devicemodel_id", "assurancecertificate_id").iterator(
            chunk_size=10000
        )
    )
    new_rows, changed, new_links = [], [], []
    now = timezone.now()
    for row in rows:
        if row.identity not in existing:
            new_rows.append(row)
            continue
        pk, values = existing[row.identity]
        before, after = {}, {}
        for name, value in zip(compared, values, strict=True):
            if value != getattr(row, name):
                before[name], after[name] = value, getattr(row, name)
        added = []
        for fact in row.certificates:
            certificate_id = certificate_ids[(fact.kind, fact.number)]
            if (pk, certificate_id) not in links:
                new_links.append(through(devicemodel_id=pk, assurancecertificate_id=certificate_id))
                added.append(f"{fact.kind}:{fact.number}")
        if added:
            after["certificates_added"] = added
        if after:
            changed.append(
                DeviceModel(
                    pk=pk, updated_at=now, **{name: getattr(row, name) for name in compared}
                )
            )
            entries.append(_model_entry("devicemodel.updated", pk, row, before=before, after=after))
        else:
            summary.unchanged += 1
    DeviceModel.objects.bulk_update(changed, [*compared, "updated_at"], batch_size=CHUNK)
    through.objects.bulk_create(new_links, batch_size=CHUNK)
    audit_record_many(actor=actor, entries=entries)
    for start in range(0, len(new_rows), CHUNK):
        _create_models(actor, new_rows[start : start + CHUNK], manufacturer_ids, certificate_ids)
    summary.created, summary.updated = len(new_rows), len(changed)


def _create_models(actor, rows, manufacturer_ids, certificate_ids) -> None:
    models = DeviceModel.objects.bulk_create(
        [
            DeviceModel(
                device_type=row.device_type,
                manufacturer_id=manufacturer_ids[row.manufacturer_id],
                model_id=row.model_id,
                hardware_version=row.hardware_version,
                firmware_version=row.firmware_version,
                smets_chts_version=row.smets_chts_version,
                date_added=row.date_added,
                status=Status.LISTED,
            )
            for row in rows
        ]
    )
    through = DeviceModel.certificates.through
    through.objects.bulk_create(
        [
            through(
                devicemodel_id=model.pk,
                assurancecertificate_id=certificate_ids[(fact.kind, fact.number)],
            )
            for row, model in zip(rows, models, strict=True)
            for fact in row.certificates
        ]
    )
    audit_record_many(
        actor=actor,
        entries=[
            _model_entry(
                "devicemodel.created",
                model.pk,
                row,
                after={
                    "status": Status.LISTED,
                    "device_type": row.device_type,
                    "smets_chts_version": row.smets_chts_version,
                    "date_added": row.date_added,
                    "certificates": [f"{f.kind}:{f.number}" for f in row.certificates],
                },
            )
            for row, model in zip(rows, models, strict=True)
        ],
    )


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
        changes = []
        for model in _locked_models(to_suspend):
            changes.append(
                device_model_change_status(
                    actor=actor,
                    model=model,
                    transition="suspend",
                    reason="A required non-CPA Assurance Certificate is no longer valid: "
                    "removed from the CPL automatically.",
                    basis=DeviceModel.SuspensionBasis.CERTIFICATE,
                    consequence_of="certificates.check",
                    notify_dcc=False,
                )
            )
            result.suspended += 1
        for model in _locked_models(to_reinstate):
            changes.append(
                device_model_change_status(
                    actor=actor,
                    model=model,
                    transition="reinstate",
                    reason="Valid Assurance Certificates recorded: reinstated on the CPL.",
                    consequence_of="certificates.check",
                    notify_dcc=False,
                )
            )
            result.reinstated += 1
        # One notice for the whole check: an import may change thousands of models at once.
        cpl_changes_notify(actor=actor, changes=changes)
    return result


def _locked_models(ids: list[int]):
    for start in range(0, len(ids), 500):
        yield from (
            DeviceModel.objects.select_related("manufacturer")
            .select_for_update(of=("self",))
            .filter(pk__in=ids[start : start + 500])
            .order_by("pk")
        )


# DeviceModel transitions whose policy action has another name.
STATUS_ACTIONS = {"list_on_cpl": "list"}


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
        action=STATUS_ACTIONS.get(transition, transition),
        consequence_of=consequence_of,
        audit_extra={"reason": reason},
        **kwargs,
    )
    notice.to_status = model.status
    notice.save()
    if notify_dcc:
        cpl_changes_notify(actor=actor, changes=[notice])
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
) -> Cert:
    """Record a (renewed) certificate for a device model; reinstates the model if compliant."""
    DEVICE_MODELS.require(actor, "record_certificate", device_model)
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
