"""Reads of the CPL register."""

import datetime
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from .models import AssuranceCertificate, CPLChangeNotice, CPLRemoval, DeviceModel, Manufacturer
from .policies import CHANGE_NOTICES, CPA_ROUTE_GENERATIONS, DEVICE_MODELS

Cert = AssuranceCertificate
KIND_COLUMNS = {
    Cert.Kind.CPA: ("CPA Certificate Number", "CPA Expiry Date"),
    Cert.Kind.ZIGBEE: ("ZigBee Certificate Number", "ZigBee Expiry Date"),
    Cert.Kind.DLMS: ("DLMS Certificate Number", "DLMS Expiry Date"),
}
# The CPL proper: what the DCC works from. A removed entry leaves it (and its exports and
# published versions) for the removed-entries register (`removed_entries`).
ON_REGISTER = (DeviceModel.Status.LISTED,)


def removed_entries(*, user, include_relisted: bool = False) -> QuerySet[CPLRemoval]:
    """The removed-entries register as `user` may see it (everyone who reads the CPL), newest
    first: the models off the CPL now, or (`include_relisted`) every removal ever made."""
    if not DEVICE_MODELS.can(user, "view", None):
        return CPLRemoval.objects.none()
    removals = CPLRemoval.objects.select_related(
        "device_model__manufacturer", "removed_by", "relisted_by"
    )
    return removals if include_relisted else removals.filter(relisted_at__isnull=True)


# Removals and re-listings whose reference (and generated reason) names an SSC case or referral.
CASE_BASES = ("ssc_decision", "authority_determination")


def removals_as_seen(user, removals) -> list:
    """The removals, each marked with what `user` may read of the case process behind it:
    `shows_reference` (the removal's case or referral, and its reason, which names them) and
    `shows_relisting` (the same for an Authority re-listing). Certificates are always shown."""
    from . import hooks

    removals = list(removals)
    named = {r.reference for r in removals if r.basis in CASE_BASES and r.reference} | {
        r.relisting_reference
        for r in removals
        if r.relisting_basis == "authority_determination" and r.relisting_reference
    }
    readable = hooks.readable_references(user, named) if named else set()
    for r in removals:
        r.shows_reference = r.basis not in CASE_BASES or r.reference in readable
        r.shows_relisting = (
            r.relisting_basis != "authority_determination" or r.relisting_reference in readable
        )
    return removals


def row_identity(row: dict) -> str:
    return "/".join(
        row[c] for c in ("Manufacturer ID", "Model ID", "Hardware Version", "Firmware Version")
    )


def device_model_list(
    *,
    user,
    device_type: str = "",
    manufacturer_id: int | None = None,
    status: str = "",
    generation: str = "",
    expiring_before: datetime.date | None = None,
    query: str = "",
) -> QuerySet[DeviceModel]:
    """The register as this user may see it, filtered."""
    models = (
        DEVICE_MODELS.visible(user)
        .select_related("manufacturer")
        .prefetch_related(
            Prefetch("certificates", queryset=Cert.objects.order_by("kind", "-expiry"))
        )
    )
    if device_type:
        models = models.filter(device_type=device_type)
    if manufacturer_id:
        models = models.filter(manufacturer_id=manufacturer_id)
    if status:
        models = models.filter(status=status)
    if generation:
        models = models.filter(smets_generation=generation)
    if expiring_before:
        # A renewal date lapses like an expiry date.
        models = models.filter(
            Exists(
                Cert.objects.filter(
                    Q(expiry__lt=expiring_before) | Q(renewal_due__lt=expiring_before),
                    device_models=OuterRef("pk"),
                )
            )
        )
    if query:
        models = models.filter(pk__in=_search_matches(query.strip()))
    return models


def _search_matches(query: str) -> QuerySet:
    """The primary keys of the device models a search term finds: a manufacturer's name
    (contains) or ID (exact), the model ID (exact), the firmware or SMETS/CHTS version
    (contains), or a certificate's number (contains).

    One UNION of small index reads (PostgreSQL: the trigram indexes of migration
    0005_search_trigram_indexes) rather than one OR over a join, which read the whole register.
    """
    manufacturers = Manufacturer.objects.filter(
        Q(name__icontains=query) | Q(manufacturer_id__iexact=query)
    )
    by_manufacturer = (
        DeviceModel.objects.filter(manufacturer__in=manufacturers).order_by().values("pk")
    )
    by_model_id = DeviceModel.objects.filter(model_id__iexact=query).order_by().values("pk")
    by_firmware = (
        DeviceModel.objects.filter(firmware_version__icontains=query).order_by().values("pk")
    )
    by_version = (
        DeviceModel.objects.filter(smets_chts_version__icontains=query).order_by().values("pk")
    )
    by_certificate = DeviceModel.certificates.through.objects.filter(
        assurancecertificate__number__icontains=query
    ).values("devicemodel_id")
    return by_manufacturer.union(by_model_id, by_firmware, by_version, by_certificate)


def _held_key(superseded_by_id, expiry, pk) -> tuple:
    """Which certificate of a kind a device model holds now: one not superseded (a
    re-certification replaced it), then the latest expiry, then the latest recorded."""
    return (superseded_by_id is None, expiry, pk)


def current_certificates(certificates) -> dict[str, Cert]:
    """Per kind, the certificate a device model holds now (`_held_key`)."""
    current: dict[str, Cert] = {}
    for c in certificates:
        held = current.get(c.kind)
        if held is None or _held_key(c.superseded_by_id, c.expiry, c.pk) > _held_key(
            held.superseded_by_id, held.expiry, held.pk
        ):
            current[c.kind] = c
    return current


def certificate_history(certificates) -> list[Cert]:
    """A device model's certificates as its page lists them: those in force first (by kind,
    latest expiry first), then the superseded ones, as history, newest first."""
    return sorted(
        certificates,
        key=lambda c: (
            c.superseded_by_id is not None,
            list(Cert.Kind.values).index(c.kind),
            -c.expiry.toordinal(),
            -c.pk,
        ),
    )


@dataclass(frozen=True, slots=True)
class LineageEntry:
    """Another firmware version of a device model's hardware, as its page lists it."""

    pk: int
    firmware_version: str
    device_type: str
    date_added: datetime.date
    status: str
    status_label: str
    emergency_entry: bool
    newer: bool  # than the version whose page lists it (same order as the list)


def firmware_lineage(*, user, device_model: DeviceModel) -> list[LineageEntry]:
    """The other firmware versions of the same hardware model (same manufacturer, model ID and
    hardware version), newest first: by date added, then firmware version (hexadecimal of fixed
    width, so text order is number order), both descending. One query, however many."""
    fields = ["pk", "firmware_version", "device_type", "date_added", "status"]
    emergency = any(f.name == "emergency_entry" for f in DeviceModel._meta.get_fields())
    rows = (
        DEVICE_MODELS.visible(user)
        .filter(
            manufacturer_id=device_model.manufacturer_id,
            model_id=device_model.model_id,
            hardware_version=device_model.hardware_version,
        )
        .exclude(pk=device_model.pk)
        .order_by("-date_added", "-firmware_version")
        .values_list(*fields, *(["emergency_entry"] if emergency else []))
    )
    labels = dict(DeviceModel.Status.choices)
    this = (device_model.date_added, device_model.firmware_version)
    return [
        LineageEntry(
            pk=pk,
            firmware_version=firmware,
            device_type=device_type,
            date_added=added,
            status=status,
            status_label=labels.get(status, status),
            emergency_entry=bool(rest and rest[0]),
            newer=(added, firmware) > this,
        )
        for pk, firmware, device_type, added, status, *rest in rows
    ]


@dataclass(frozen=True, slots=True)
class RegisterRow:
    """A device model as a register page lists it, read as plain values: a page of model
    instances, each with its certificates prefetched as instances, cost more than the rest of
    the page."""

    pk: int
    model_id: str
    hardware_version: str
    firmware_version: str
    device_type: str
    manufacturer_name: str
    manufacturer_id: str
    smets_generation: str
    smets_chts_version: str
    gbcs_version: str
    status: str
    status_label: str
    emergency_entry: bool  # listed ahead of its fast-track PPCT (cpl.emergency)
    cpa_expiry: datetime.date | None  # of the CPA certificate held now; None when there is none
    cpa_status: str
    cpa_status_label: str
    cpa_is_valid: bool


def register_page(models: QuerySet[DeviceModel], offset: int, limit: int) -> list[RegisterRow]:
    """Rows `offset` to `offset + limit` of a register listing (`device_model_list`), each with
    the CPA certificate it holds now, chosen as `current_certificates` chooses: the latest
    expiry, then the latest recorded. Two queries."""
    rows = list(
        models.prefetch_related(None).values_list(
            "pk",
            "model_id",
            "hardware_version",
            "firmware_version",
            "device_type",
            "manufacturer__name",
            "manufacturer__manufacturer_id",
            "smets_generation",
            "smets_chts_version",
            "gbcs_version",
            "status",
            "emergency_entry",
        )[offset : offset + limit]
    )
    held: dict[int, tuple] = {}
    if rows:
        links = DeviceModel.certificates.through.objects.filter(
            devicemodel_id__in=[row[0] for row in rows],
            assurancecertificate__kind=Cert.Kind.CPA,
        ).values_list(
            "devicemodel_id",
            "assurancecertificate__expiry",
            "assurancecertificate_id",
            "assurancecertificate__status",
            "assurancecertificate__superseded_by_id",
        )
        for model_pk, expiry, certificate_pk, status, superseded_by in links:
            key = _held_key(superseded_by, expiry, certificate_pk)
            current = held.get(model_pk)
            if current is None or key > current[0]:
                held[model_pk] = (key, status)
    model_labels = dict(DeviceModel.Status.choices)
    certificate_labels = dict(Cert.Status.choices)
    page = []
    for pk, model_id, hardware, firmware, device_type, name, mid, *versions, emergency in rows:
        generation, version, gbcs, status = versions
        key, cpa_status = held.get(pk, ((None, None, None), ""))
        expiry = key[1]
        page.append(
            RegisterRow(
                pk=pk,
                model_id=model_id,
                hardware_version=hardware,
                firmware_version=firmware,
                device_type=device_type,
                manufacturer_name=name,
                manufacturer_id=mid,
                smets_generation=generation,
                smets_chts_version=version,
                gbcs_version=gbcs,
                status=status,
                status_label=model_labels.get(status, status),
                emergency_entry=emergency,
                cpa_expiry=expiry,
                cpa_status=cpa_status,
                cpa_status_label=certificate_labels.get(cpa_status, cpa_status),
                cpa_is_valid=cpa_status == Cert.Status.VALID,
            )
        )
    return page


def register_rows() -> list[dict]:
    """The current register in the exchange format, ordered by identity (a list: for hashing
    and publishing)."""
    return list(register_rows_streamed())


def register_rows_streamed(chunk_size: int = 2000) -> Iterator[dict]:
    """The current register in the exchange format, ordered by identity, row by row.

    One query read through a server-side cursor (PostgreSQL), from plain values rather than
    model instances: each device model comes with one row per certificate it holds, grouped
    here, so memory stays flat in the register's size and the first row goes out at once.
    """
    status_labels = dict(DeviceModel.Status.choices)
    rows = (
        DeviceModel.objects.filter(status__in=ON_REGISTER)
        .order_by(
            "manufacturer__manufacturer_id",
            "model_id",
            "hardware_version",
            "firmware_version",
            "pk",
        )
        .values_list(
            "pk",
            "device_type",
            "manufacturer__manufacturer_id",
            "manufacturer__name",
            "model_id",
            "hardware_version",
            "firmware_version",
            "smets_chts_version",
            "date_added",
            "status",
            "smets_generation",
            "gbcs_version",
            "manufacturer_image_hash",
            "emergency_entry",
            "certificates__kind",
            "certificates__expiry",
            "certificates__id",
            "certificates__number",
            "certificates__issued",
            "certificates__renewal_due",
            "certificates__superseded_by_id",
        )
    )
    held: dict = {}
    current_pk, model = None, None
    for pk, *fields, kind, expiry, cert_id, number, issued, renewal, successor in rows.iterator(
        chunk_size
    ):
        if pk != current_pk:
            if model is not None:
                yield _exchange_row(model, held, status_labels)
            current_pk, model, held = pk, fields, {}
        if kind is not None:
            key = _held_key(successor, expiry, cert_id)
            current = held.get(kind)
            if current is None or key > current[0]:
                held[kind] = (key, number, issued, renewal)
    if model is not None:
        yield _exchange_row(model, held, status_labels)


def _exchange_row(model, held: dict, status_labels: dict) -> dict:
    device_type, mid, name, model_id, hw, fw, version, added, status, *smets = model
    generation, gbcs, image_hash, emergency_entry = smets
    row = {
        "Device Type": device_type,
        "Manufacturer ID": mid,
        "Manufacturer Name": name,
        "Model ID": model_id,
        "Hardware Version": hw,
        "Firmware Version": fw,
        "SMETS CHTS Version": version,
        "Date Added": added.isoformat(),
        "CPA Issue Date": "",
        "CPA Renewal Date": "",
        "SMETS Generation": generation,
        "GBCS Version": gbcs,
        "Manufacturer Image Hash": image_hash,
        "CPL Status": status_labels[status],
        "Emergency Entry": "Yes" if emergency_entry else "",
    }
    for kind, (number_column, expiry_column) in KIND_COLUMNS.items():
        absent = ((None, None, None), "", None, None)
        (_, expiry, _), number, issued, renewal = held.get(kind, absent)
        row[number_column] = number
        row[expiry_column] = expiry.isoformat() if expiry else ""
        if kind == Cert.Kind.CPA and issued:
            row["CPA Issue Date"] = issued.isoformat()
        if kind == Cert.Kind.CPA and renewal:
            row["CPA Renewal Date"] = renewal.isoformat()
    return row


def register_stamp() -> str:
    """A cheap fingerprint of the current register's content, for caching its exports: it
    changes whenever a device model is added or changed (status, versions: `updated_at`), a
    certificate is added, or an import completes (which may change certificates in place)."""
    from django.db.models import Count, Max

    from .models import CPLImport

    models = DeviceModel.objects.aggregate(n=Count("pk"), changed=Max("updated_at"))
    certificates = Cert.objects.aggregate(n=Count("pk"), latest=Max("created_at"))
    imports = CPLImport.objects.aggregate(latest=Max("pk"), changed=Max("finished_at"))
    return hashlib.sha256(
        repr(
            (sorted(models.items()), sorted(certificates.items()), sorted(imports.items()))
        ).encode()
    ).hexdigest()


@dataclass(frozen=True, slots=True)
class DeviceModelLink:
    """A device model named as `str(DeviceModel)` names it, for a link from a list."""

    pk: int
    label: str

    def __str__(self) -> str:
        return self.label


def with_device_model_links(certificates: list[Cert]) -> list[Cert]:
    """Each certificate with `.device_model_links`, its device models in the order `.all()`
    gives them, read in one query as plain values (a dashboard panel of 20 certificates
    built some 150 device models and their manufacturers as instances, to print their names).
    """
    links: dict[int, list[DeviceModelLink]] = {c.pk: [] for c in certificates}
    if certificates:
        rows = (
            DeviceModel.certificates.through.objects.filter(assurancecertificate__in=list(links))
            .order_by(*(f"devicemodel__{f}" for f in DeviceModel._meta.ordering))
            .values_list(
                "assurancecertificate_id",
                "devicemodel_id",
                "devicemodel__device_type",
                "devicemodel__manufacturer__manufacturer_id",
                "devicemodel__model_id",
                "devicemodel__hardware_version",
                "devicemodel__firmware_version",
            )
        )
        for certificate_pk, pk, device_type, *identity in rows:
            links[certificate_pk].append(
                DeviceModelLink(pk, DeviceModel.describe(device_type, *identity))
            )
    for certificate in certificates:
        certificate.device_model_links = links[certificate.pk]  # type: ignore[attr-defined]
    return certificates


def certificates_expiring(*, within_days: int, today: datetime.date | None = None):
    """Valid certificates expiring, or (CPA) due for renewal, in the next `within_days`,
    soonest first by whichever comes first, `due` (pass a page of them through
    `with_device_model_links` to list their device models)."""
    from django.db.models.functions import Coalesce, Least

    today = today or timezone.localdate()
    until = today + datetime.timedelta(days=within_days)
    return (
        Cert.objects.filter(
            Q(expiry__gte=today, expiry__lte=until)
            | Q(renewal_due__gte=today, renewal_due__lte=until),
            status=Cert.Status.VALID,
        )
        .annotate(due=Least("expiry", Coalesce("renewal_due", "expiry")))
        .order_by("due", "number")
    )


def cpa_certificates_flagged():
    """CPA certificates no longer valid whose device models are still listed: for the SSC.

    The statuses are named (not "other than valid") so the status index finds the few flagged
    certificates instead of reading every CPA certificate; a join (not EXISTS) so PostgreSQL
    follows the links of those few by index rather than hashing every link of the register.
    Pass a page of them through `with_device_model_links` to list their device models."""
    not_valid = [status for status in Cert.Status.values if status != Cert.Status.VALID]
    return (
        Cert.objects.filter(
            kind=Cert.Kind.CPA,
            status__in=not_valid,
            superseded_by__isnull=True,  # re-certified: the flag cleared
            device_models__status=DeviceModel.Status.LISTED,
            device_models__smets_generation__in=CPA_ROUTE_GENERATIONS,
        )
        .distinct()
        .prefetch_related("cases")
        .order_by("status_date", "number", "pk")
    )


def cpl_change_notices(*, user=None, since: datetime.datetime | None = None):
    """CPL change notices, newest first: those `user` may see (pages always pass the user)."""
    notices = CHANGE_NOTICES.visible(user) if user is not None else CPLChangeNotice.objects.all()
    notices = notices.select_related("device_model__manufacturer", "created_by")
    if since is not None:
        notices = notices.filter(created_at__gte=since)
    return notices


def latest_inventory():
    from .models import InventorySnapshot

    return InventorySnapshot.objects.order_by("-as_of", "-imported_at", "-id").first()


def affected_suppliers(device_model_ids) -> list[dict]:
    """Suppliers responsible for devices of these models in the latest inventory snapshot,
    installing or not, with their device counts (largest first)."""
    from django.db.models import Sum

    from .models import InventoryCount

    snapshot = latest_inventory()
    if snapshot is None:
        return []
    rows = (
        InventoryCount.objects.filter(snapshot=snapshot, device_model__in=device_model_ids)
        .values("supplier", "supplier__name")
        .annotate(devices=Sum("device_count"))
        .order_by("-devices", "supplier__name")
    )
    return [
        {
            "supplier_id": r["supplier"],
            "name": r["supplier__name"],
            "devices": r["devices"],
            "as_of": snapshot.as_of,
        }
        for r in rows
    ]


def object_history(object_type: str, object_id, limit: int = 100) -> list:
    """An object's audit events and the changes CPL imports made to it (kept under each import's
    single audit event), newest first, in words and names (cpl.history) for the history
    template."""
    from portal.models import AuditEvent

    from .history import history_entry
    from .models import ImportChange

    object_id = str(object_id)
    events = AuditEvent.objects.filter(object_type=object_type, object_id=object_id)
    imported = ImportChange.objects.filter(
        object_type=object_type, object_id=object_id
    ).select_related("event__actor")
    merged: list[AuditEvent | ImportChange] = [
        *events.select_related("actor").order_by("-seq")[:limit],
        *imported.order_by("-event__seq")[:limit],
    ]
    merged.sort(key=lambda entry: entry.seq, reverse=True)
    return [history_entry(entry, object_type) for entry in merged[:limit]]
