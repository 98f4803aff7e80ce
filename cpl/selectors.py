"""Reads of the CPL register."""

import datetime

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from .models import AssuranceCertificate, CPLChangeNotice, DeviceModel
from .policies import CHANGE_NOTICES, DEVICE_MODELS

Cert = AssuranceCertificate
KIND_COLUMNS = {
    Cert.Kind.CPA: ("CPA Certificate Number", "CPA Expiry Date"),
    Cert.Kind.ZIGBEE: ("ZigBee Certificate Number", "ZigBee Expiry Date"),
    Cert.Kind.DLMS: ("DLMS Certificate Number", "DLMS Expiry Date"),
}
# The CPL proper: what the DCC works from. Suspended entries stay, marked, so the DCC sees them.
ON_REGISTER = (DeviceModel.Status.LISTED, DeviceModel.Status.SUSPENDED)


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
    if expiring_before:
        models = models.filter(
            Exists(Cert.objects.filter(device_models=OuterRef("pk"), expiry__lt=expiring_before))
        )
    if query:
        query = query.strip()
        models = models.filter(
            Q(manufacturer__name__icontains=query)
            | Q(manufacturer__manufacturer_id__iexact=query)
            | Q(model_id__iexact=query)
            | Q(firmware_version__icontains=query)
            | Q(smets_chts_version__icontains=query)
            | Exists(Cert.objects.filter(device_models=OuterRef("pk"), number__icontains=query))
        )
    return models


def current_certificates(certificates) -> dict[str, Cert]:
    """Per kind, the certificate a device model holds now: the latest expiry."""
    current = {}
    for certificate in certificates:
        held = current.get(certificate.kind)
        if held is None or (certificate.expiry, certificate.pk) > (held.expiry, held.pk):
            current[certificate.kind] = certificate
    return current


def register_rows() -> list[dict]:
    """The current register in the exchange format, ordered by identity.

    Built from plain values (two queries), not model instances: a 50,000-model register
    exports in about a second.
    """
    on_register = {"status__in": ON_REGISTER}
    held: dict[tuple[int, str], tuple] = {}
    links = DeviceModel.certificates.through.objects.filter(
        **{f"devicemodel__{k}": v for k, v in on_register.items()}
    ).values_list(
        "devicemodel_id",
        "assurancecertificate__kind",
        "assurancecertificate__expiry",
        "assurancecertificate_id",
        "assurancecertificate__number",
        "assurancecertificate__issued",
    )
    for model_id, kind, expiry, cert_id, number, issued in links.iterator(chunk_size=10000):
        current = held.get((model_id, kind))
        if current is None or (expiry, cert_id) > current[:2]:
            held[(model_id, kind)] = (expiry, cert_id, number, issued)
    status_labels = dict(DeviceModel.Status.choices)
    models = (
        DeviceModel.objects.filter(**on_register)
        .order_by(
            "manufacturer__manufacturer_id", "model_id", "hardware_version", "firmware_version"
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
        )
    )
    rows = []
    for pk, device_type, mid, name, model_id, hw, fw, version, added, status in models.iterator(
        chunk_size=10000
    ):
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
            "CPL Status": status_labels[status],
        }
        for kind, (number_column, expiry_column) in KIND_COLUMNS.items():
            expiry, _, number, issued = held.get((pk, kind), ("", None, "", None))
            row[number_column] = number
            row[expiry_column] = expiry.isoformat() if expiry else ""
            if kind == Cert.Kind.CPA and issued:
                row["CPA Issue Date"] = issued.isoformat()
        rows.append(row)
    return rows


def certificates_expiring(*, within_days: int, today: datetime.date | None = None):
    today = today or timezone.localdate()
    return (
        Cert.objects.filter(
            status=Cert.Status.VALID,
            expiry__gte=today,
            expiry__lte=today + datetime.timedelta(days=within_days),
        )
        .prefetch_related("device_models__manufacturer")
        .order_by("expiry", "number")
    )


def cpa_certificates_flagged():
    """CPA certificates no longer valid whose device models are still listed: for the SSC."""
    return (
        Cert.objects.filter(kind=Cert.Kind.CPA)
        .exclude(status=Cert.Status.VALID)
        .filter(
            Exists(
                DeviceModel.objects.filter(
                    certificates=OuterRef("pk"), status=DeviceModel.Status.LISTED
                )
            )
        )
        .prefetch_related("device_models__manufacturer", "cases")
        .order_by("status_date", "number")
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
