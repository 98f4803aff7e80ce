"""A register object's history as people read it: what happened in words, who did it by name,
and each changed field with its label and its value's label. The audit log keeps the codes
(`devicemodel.remove`, `ssc_decision`, `cpa:CPA-1`); pages show these words instead."""

import datetime
from dataclasses import dataclass, field

from .models import AssuranceCertificate, DeviceModel, DeviceType

ACTIONS = {
    "devicemodel.created": "Added to the CPL",
    "devicemodel.updated": "CPL entry updated",
    "devicemodel.remove": "Removed from the CPL",
    "devicemodel.relist": "Re-listed on the CPL by the SSC Secretariat",
    "devicemodel.relist_on_determination": "Re-listed on the CPL on the Authority's determination",
    "certificate.recorded": "Certificate recorded for a device model",
    "certificate.updated": "Certificate dates changed",
    "certificate.expired": "Certificate expired",
    "certificate.flagged_for_ssc": "CPA certificate no longer valid: referred to the SSC",
    "certificate.superseded": "Superseded by a re-certification",
    "assurancecertificate.expire": "Certificate expired",
    "assurancecertificate.withdraw": "Certificate withdrawn",
    "assurancecertificate.cancel": "Certificate cancelled",
}

FIELDS = {
    "status": "Status",
    "basis": "Basis",
    "reason": "Reason",
    "device_type": "Device type",
    "smets_generation": "SMETS generation",
    "smets_chts_version": "SMETS/CHTS version",
    "gbcs_version": "GBCS version",
    "manufacturer_image_hash": "Manufacturer Image hash",
    "date_added": "Date added",
    "certificates": "Certificates",
    "issued": "Issued",
    "expiry": "Expiry",
    "renewal_due": "Renewal due",
    "superseded_by": "Superseded by",
    "supersedes": "Supersedes",
    "on": "On",
    "name": "Name",
}
# Internal references that say nothing to a reader (the reason says why in words).
HIDDEN = frozenset({"consequence_of", "device_model", "created"})

STATUSES = {
    "cpl.devicemodel": dict(DeviceModel.Status.choices),
    "cpl.assurancecertificate": dict(AssuranceCertificate.Status.choices),
}
CERTIFICATE_KINDS = dict(AssuranceCertificate.Kind.choices)
VALUES = {
    "basis": dict(DeviceModel.RemovalBasis.choices),
    "device_type": dict(DeviceType.choices),
}


@dataclass
class HistoryEntry:
    occurred_at: datetime.datetime
    what: str
    who: str
    import_file: str = ""
    before: list[tuple[str, str]] = field(default_factory=list)
    after: list[tuple[str, str]] = field(default_factory=list)


def action_words(action: str) -> str:
    """The action's words; an action this page has no words for reads as its verb."""
    if action in ACTIONS:
        return ACTIONS[action]
    verb = action.rpartition(".")[2].replace("_", " ")
    return verb[:1].upper() + verb[1:]


def actor_name(actor, actor_label: str) -> str:
    if actor is None:
        return "the portal" if actor_label in ("", "system") else actor_label
    return actor.get_full_name() or actor.get_username()


def value_words(key: str, value, object_type: str) -> str:
    if value is None or value == "":
        return "none"
    if key == "status":
        return STATUSES.get(object_type, {}).get(value, value)
    if key == "certificates" and isinstance(value, list):
        return ", ".join(_certificate(item) for item in value) or "none"
    if key in VALUES:
        return VALUES[key].get(value, value)
    if isinstance(value, str) and key in ("date_added", "issued", "expiry", "on"):
        try:
            day = datetime.date.fromisoformat(value)
        except ValueError:
            return value
        return f"{day.day} {day:%B %Y}"
    if isinstance(value, list | dict):
        return ", ".join(str(v) for v in (value.values() if isinstance(value, dict) else value))
    return str(value)


def _certificate(item) -> str:
    kind, _, number = str(item).partition(":")
    return f"{CERTIFICATE_KINDS.get(kind, kind)} {number}" if number else str(item)


def _fields(values: dict | None, object_type: str) -> list[tuple[str, str]]:
    return [
        (FIELDS.get(key, key.replace("_", " ").capitalize()), value_words(key, v, object_type))
        for key, v in (values or {}).items()
        if key not in HIDDEN
    ]


def history_entry(entry, object_type: str) -> HistoryEntry:
    """An audit event or an import's change to the object (read alike)."""
    event = getattr(entry, "event", entry)  # an ImportChange's audit event, or the event itself
    return HistoryEntry(
        occurred_at=entry.occurred_at,
        what=action_words(entry.action),
        who=actor_name(event.actor, event.actor_label),
        import_file=getattr(entry, "import_file", ""),
        before=_fields(entry.before, object_type),
        after=_fields(entry.after, object_type),
    )
