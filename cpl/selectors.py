"""Reads of the CPL register."""

import datetime

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from .models import AssuranceCertificate, CPLChangeNotice, DeviceModel

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
    device_type: str = "",
    manufacturer_id: int | None = None,
    status: str = "",
    expiring_before: datetime.date | None = None,
    query: str = "",
) -> QuerySet[DeviceModel]:
    models = DeviceModel.objects.select_related("manufacturer").prefetch_related(
        Prefetch("certificates", queryset=Cert.objects.order_by("kind", "-expiry"))
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


def exchange_row(model: DeviceModel) -> dict:
    row = {
        "Device Type": model.device_type,
        "Manufacturer ID": model.manufacturer.manufacturer_id,
        "Manufacturer Name": model.manufacturer.name,
        "Model ID": model.model_id,
        "Hardware Version": model.hardware_version,
        "Firmware Version": model.firmware_version,
        "SMETS CHTS Version": model.smets_chts_version,
        "Date Added": model.date_added.isoformat(),
        "CPA Issue Date": "",
        "CPL Status": model.get_status_display(),
    }
    current = current_certificates(model.certificates.all())
    for kind, (number_column, expiry_column) in KIND_COLUMNS.items():
        certificate = current.get(kind)
        row[number_column] = certificate.number if certificate else ""
        row[expiry_column] = certificate.expiry.isoformat() if certificate else ""
        if kind == Cert.Kind.CPA and certificate and certificate.issued:
            row["CPA Issue Date"] = certificate.issued.isoformat()
    return row


def register_rows() -> list[dict]:
    """The current register in the exchange format, ordered by identity."""
    models = (
        DeviceModel.objects.filter(status__in=ON_REGISTER)
        .select_related("manufacturer")
        .prefetch_related("certificates")
        .order_by(
            "manufacturer__manufacturer_id", "model_id", "hardware_version", "firmware_version"
        )
    )
    return [exchange_row(model) for model in models.iterator(chunk_size=2000)]


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
        .prefetch_related("device_models__manufacturer")
        .order_by("status_date", "number")
    )


def cpl_change_notices(*, since: datetime.datetime | None = None):
    notices = CPLChangeNotice.objects.select_related("device_model__manufacturer", "created_by")
    if since is not None:
        notices = notices.filter(created_at__gte=since)
    return notices
