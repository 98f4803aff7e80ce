"""SMETS1 Eligible and Pending Product Combinations (docs/product-combinations-format.md).

The one place the EPC and PPC lists are written (`combinations_import`,
`product_combination_save`: one set of rules, all or nothing), read (`combination_list`,
`export_rows`) and asked (`enrolment_eligibility`). Files are read with the CPL exchange
format's reader (CSV or XLSX, its bounds and hostile-file checks) and written with its writers.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from portal.audit import AuditEntry, audit_record_many

from . import exchange
from .exchange import ExchangeFileRejected, ExportLayout, RowError, RowErrors, normalise_header
from .models import DeviceModel, ProductCombination, SmetsGeneration
from .policies import COMBINATIONS
from .services import file_sha256

List = ProductCombination.List
Identity = tuple[str, str, str, str]

# The EPC holds hundreds of entries: a file is small, and is checked whole in the request.
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 2000
# A SMETS1 installation: meters, communications hub, in-home display and a few more devices.
MAX_MEMBERS = 10
MAX_REPORTED_ERRORS = 200

COLUMNS = (
    "Combination ID",
    "List",
    "CSP",
    "Device Models",
    "Subset Of",
    "Date First Added to EPC",
)
REQUIRED = ("Combination ID", "List", "CSP", "Device Models")
# Written by exports for readers; accepted and ignored on import (the device models say it).
DEVICE_TYPES_COLUMN = "Device Types"
EXPORT_COLUMNS = (*COLUMNS, DEVICE_TYPES_COLUMN)
LAYOUT = ExportLayout(EXPORT_COLUMNS, sheet="Product combinations", list_key="combinations")
_KNOWN_HEADERS = {normalise_header(column): column for column in EXPORT_COLUMNS}

REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,19}")
CSP_TEXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9 &/(),.-]{0,49}")
IDENTITY = re.compile(r"([0-9A-Fa-f]{4})/([0-9A-Fa-f]{4})/([0-9A-Fa-f]{4})/([0-9A-Fa-f]{8})")
MEMBER_SEPARATOR = ";"


class CombinationRefused(ValueError):
    """A change `product_combination_save` refuses, with every reason."""

    def __init__(self, reasons: list[str]):
        super().__init__(" ".join(reasons))
        self.reasons = reasons


# --- identities --------------------------------------------------------------------------------


def identity_text(identity: Iterable[str]) -> str:
    return "/".join(identity)


def parse_identity(text: str) -> Identity:
    """A device model written Manufacturer ID/Model ID/Hardware Version/Firmware Version."""
    match = IDENTITY.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"'{text.strip()[:40]}' is not a device model written MANUFACTURER/MODEL/HARDWARE/"
            "FIRMWARE (4, 4, 4 and 8 hexadecimal digits)"
        )
    mid, model, hardware, firmware = (part.upper() for part in match.groups())
    return mid, model, hardware, firmware


def normalise_csp(text: str) -> str:
    return " ".join(str(text).split())


def identity_key(csp: str, model_ids: Iterable[int]) -> str:
    """One combination, whichever list it is on: the CSP (any case) and the sorted ids."""
    ids = ",".join(str(pk) for pk in sorted(set(model_ids)))
    return f"{normalise_csp(csp).casefold()}|{ids}"


def _identity_q(identities: Iterable[Identity]) -> Q:
    q = Q(pk__in=[])
    for mid, model, hardware, firmware in identities:
        q |= Q(
            manufacturer__manufacturer_id=mid,
            model_id=model,
            hardware_version=hardware,
            firmware_version=firmware,
        )
    return q


def device_models_by_identity(identities: Iterable[Identity]) -> dict[Identity, DeviceModel]:
    """The register's device models with these identities, in batches of a bounded query."""
    wanted, found = sorted(set(identities)), {}
    for start in range(0, len(wanted), 200):
        models = DeviceModel.objects.filter(_identity_q(wanted[start : start + 200]))
        for model in models.select_related("manufacturer"):
            found[model.identity] = model
    return found


def known_csps() -> list[str]:
    """The CSPs the lists name, one spelling each. One query."""
    return list(ProductCombination.objects.order_by("csp").values_list("csp", flat=True).distinct())


def _csp_spellings() -> dict[str, str]:
    spellings: dict[str, str] = {}
    for csp in known_csps():
        spellings.setdefault(csp.casefold(), csp)
    return spellings


# --- reading the lists --------------------------------------------------------------------------


def _members_prefetch() -> Prefetch:
    return Prefetch(
        "device_models",
        queryset=DeviceModel.objects.select_related("manufacturer").order_by(
            "device_type", "manufacturer__manufacturer_id", "model_id", "hardware_version"
        ),
    )


def _device_model_search(query: str) -> QuerySet:
    """Device models a search term finds: an identity or its beginning (1A2B/0001), or a
    manufacturer's name (contains) or ID, a model ID or a firmware version (exact)."""
    query = query.strip()
    if "/" in query:
        parts = [part.strip().upper() for part in query.split("/")][:4]
        fields = ("manufacturer__manufacturer_id", "model_id", "hardware_version")
        filters = dict(zip((*fields, "firmware_version"), parts, strict=False))
        return DeviceModel.objects.filter(**filters)
    return DeviceModel.objects.filter(
        Q(manufacturer__name__icontains=query)
        | Q(manufacturer__manufacturer_id__iexact=query)
        | Q(model_id__iexact=query)
        | Q(firmware_version__iexact=query)
    )


def combination_list(*, user, csp: str = "", on_list: str = "", query: str = "") -> QuerySet:
    """Both lists as this user may see them, filtered; each entry with its device models and
    superset (two queries for a page, however many entries and members)."""
    combinations = (
        COMBINATIONS.visible(user)
        .select_related("subset_of")
        .prefetch_related(_members_prefetch())
        .order_by("on_list", "reference")
    )
    if csp:
        combinations = combinations.filter(csp__iexact=normalise_csp(csp))
    if on_list:
        combinations = combinations.filter(on_list=on_list)
    if query:
        links = ProductCombination.device_models.through.objects.filter(
            devicemodel__in=_device_model_search(query)
        )
        combinations = combinations.filter(pk__in=links.values("productcombination_id"))
    return combinations


def export_row(combination: ProductCombination) -> dict:
    members = list(combination.device_models.all())
    return {
        "Combination ID": combination.reference,
        "List": combination.list_code,
        "CSP": combination.csp,
        "Device Models": f"{MEMBER_SEPARATOR} ".join(identity_text(m.identity) for m in members),
        "Subset Of": combination.subset_of.reference if combination.subset_of_id else "",
        "Date First Added to EPC": (
            combination.first_added_to_epc.isoformat() if combination.first_added_to_epc else ""
        ),
        DEVICE_TYPES_COLUMN: f"{MEMBER_SEPARATOR} ".join(m.device_type for m in members),
    }


def export_rows(combinations: QuerySet) -> Iterator[dict]:
    """The entries in the exchange format, read a chunk at a time (prefetches included)."""
    for combination in combinations.iterator(chunk_size=500):
        yield export_row(combination)


# --- writing: one set of rules for a file and for one entry -------------------------------------


@dataclass
class _Entry:
    """One entry as a file row (or a service call) gives it, checked and resolved."""

    row: int
    reference: str
    on_list: str
    csp: str
    identities: list[Identity]
    subset_of: str = ""
    first_added: datetime.date | None = None
    members: list[DeviceModel] = field(default_factory=list)
    key: str = ""


@dataclass
class CombinationImportSummary:
    file_name: str
    file_sha256: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _map_header(cells: list[str]) -> dict[str, int]:
    errors, mapping = [], {}
    for position, name in enumerate(cells):
        key = normalise_header(name)
        if not key:
            if any(str(c).strip() for c in cells[position:]):
                errors.append(RowError(1, f"column {position + 1}", "column has no header"))
            continue
        column = _KNOWN_HEADERS.get(key)
        if column is None:
            errors.append(RowError(1, str(name)[:60], "unknown column"))
        elif column in mapping:
            errors.append(RowError(1, str(name)[:60], f"column appears twice (as '{column}')"))
        else:
            mapping[column] = position
    errors += [RowError(1, c, "missing column") for c in REQUIRED if c not in mapping]
    if errors:
        raise ExchangeFileRejected(
            "The header row does not match the product combinations format.", errors
        )
    return mapping


def _check_entry(
    row: int, values: dict[str, str], errors: RowErrors, today: datetime.date
) -> _Entry | None:
    """The row's own rules (each cell alone); None with its problems added to `errors`."""
    start = len(errors)

    def problem(column: str, reason: str) -> None:
        errors.append(RowError(row, column, reason))

    for column in REQUIRED:
        if not values.get(column):
            problem(column, "is required")
    reference = values.get("Combination ID", "").upper()
    if reference and not REFERENCE.fullmatch(reference):
        problem(
            "Combination ID",
            f"'{reference[:40]}' is not a Combination ID (up to 20 letters, digits, '.', '_', "
            "'/' or '-', beginning with a letter or digit)",
        )
    on_list = values.get("List", "").upper()
    if on_list and on_list not in ("EPC", "PPC"):
        problem("List", f"'{on_list[:40]}' is not a list (expected EPC or PPC)")
    csp = normalise_csp(values.get("CSP", ""))
    if csp and not CSP_TEXT.fullmatch(csp):
        problem(
            "CSP",
            f"'{csp[:40]}' is not a CSP name (up to 50 letters, digits, spaces and & / ( ) , . -,"
            " beginning with a letter or digit)",
        )
    identities: list[Identity] = []
    texts = [t for t in values.get("Device Models", "").split(MEMBER_SEPARATOR) if t.strip()]
    if len(texts) > MAX_MEMBERS:
        problem("Device Models", f"has {len(texts)} device models; at most {MAX_MEMBERS}")
    else:
        for text in texts:
            try:
                identity = parse_identity(text)
            except ValueError as exc:
                problem("Device Models", str(exc))
                continue
            if identity in identities:
                problem("Device Models", f"{identity_text(identity)} appears twice")
            identities.append(identity)
    subset_of = values.get("Subset Of", "").upper()
    if subset_of and not REFERENCE.fullmatch(subset_of):
        problem("Subset Of", f"'{subset_of[:40]}' is not a Combination ID")
    elif subset_of and subset_of == reference:
        problem("Subset Of", "an entry is not a subset of itself")
    first_added = None
    column = "Date First Added to EPC"
    if values.get(column):
        first_added = exchange._parse_date(values[column], column, errors, row)
        if first_added and first_added > today:
            problem(column, "is in the future")
    if len(errors) > start:
        return None
    return _Entry(
        row=row,
        reference=reference,
        on_list=on_list.lower(),
        csp=csp,
        identities=identities,
        subset_of=subset_of,
        first_added=first_added,
    )


def _read_entries(binary, size: int, errors: RowErrors, today: datetime.date) -> list[_Entry]:
    """Every row of the file, checked alone; the file is bounded before anything is read."""
    if size == 0:
        raise ExchangeFileRejected("The file is empty.")
    if size > MAX_BYTES:
        raise ExchangeFileRejected(
            f"The file is {size / 1048576:.1f} MB; a product combinations file is at most "
            f"{MAX_BYTES / 1048576:.0f} MB."
        )
    entries, header, width, count = [], None, 0, 0
    for row, cells, _percent in exchange._open_records(binary, size):
        if header is None:
            if any(str(c).strip() for c in cells):
                header, width = _map_header(cells), len(cells)
            continue
        if not "".join(cells).strip():
            continue
        count += 1
        if count > MAX_ROWS:
            raise ExchangeFileRejected(
                f"The file has more than {MAX_ROWS:,} product combinations; import it in parts."
            )
        if any(c.strip() for c in cells[width:]):
            errors.append(
                RowError(row, f"column {width + 1}", "value outside the header's columns")
            )
            continue
        values = {}
        for column, position in header.items():
            value = cells[position].strip() if position < len(cells) else ""
            # Our exports neutralise formulas with a quote: read back, the value is checked.
            values[column] = exchange._restore_neutralised(value)
        entry = _check_entry(row, values, errors, today)
        if entry is not None:
            entries.append(entry)
    if header is None:
        raise ExchangeFileRejected("The file has no header row: it is empty.")
    if not count:
        raise ExchangeFileRejected("The file has a header row but no product combinations.")
    return entries


def _snapshot(combination: ProductCombination, members, subset_of: str) -> dict:
    return {
        "list": combination.list_code,
        "csp": combination.csp,
        "device_models": sorted(identity_text(m.identity) for m in members),
        "subset_of": subset_of or None,
        "first_added_to_epc": combination.first_added_to_epc,
    }


class _Plan:
    """The entries checked together, against each other and the lists as they are: the rules
    across rows. `errors` gets every problem; `apply` writes only when there is none."""

    def __init__(self, entries: list[_Entry], errors: RowErrors, today: datetime.date):
        self.entries, self.errors, self.today = entries, errors, today
        self.resolve_members()
        references = {e.reference for e in entries} | {e.subset_of for e in entries}
        self.existing = {
            c.reference: c
            for c in ProductCombination.objects.filter(reference__in=references)
            .select_related("subset_of")
            .prefetch_related(_members_prefetch())
        }
        self.check_uniqueness()
        self.check_dates()
        self.check_subsets()

    def problem(self, entry: _Entry, column: str, reason: str) -> None:
        self.errors.append(RowError(entry.row, column, reason))

    def resolve_members(self) -> None:
        found = device_models_by_identity(i for e in self.entries for i in e.identities)
        spellings = _csp_spellings()
        for entry in self.entries:
            # One spelling per CSP: the lists' own, or this file's first.
            entry.csp = spellings.setdefault(entry.csp.casefold(), entry.csp)
            for identity in entry.identities:
                model = found.get(identity)
                if model is None:
                    self.problem(
                        entry, "Device Models", f"{identity_text(identity)} is not on the CPL"
                    )
                elif model.smets_generation != SmetsGeneration.SMETS1:
                    self.problem(
                        entry,
                        "Device Models",
                        f"{identity_text(identity)} is a {model.smets_generation} device model; "
                        "a product combination is of SMETS1 device models",
                    )
                else:
                    entry.members.append(model)
            entry.key = identity_key(entry.csp, [m.pk for m in entry.members])

    def check_uniqueness(self) -> None:
        owners = dict(
            ProductCombination.objects.filter(
                identity_key__in=[e.key for e in self.entries]
            ).values_list("identity_key", "reference")
        )
        references: dict[str, int] = {}
        keys: dict[str, int] = {}
        for entry in self.entries:
            if entry.reference in references:
                self.problem(
                    entry,
                    "Combination ID",
                    f"appears twice: also row {references[entry.reference]}",
                )
            references.setdefault(entry.reference, entry.row)
            if len(entry.members) != len(entry.identities):
                continue  # a member is missing: its key is not the combination's
            if entry.key in keys:
                self.problem(
                    entry,
                    "Device Models",
                    f"the same device models and CSP as row {keys[entry.key]}: a combination "
                    "appears once",
                )
            keys.setdefault(entry.key, entry.row)
            owner = owners.get(entry.key)
            if owner is not None and owner != entry.reference:
                self.problem(
                    entry,
                    "Device Models",
                    f"the same device models and CSP are entry {owner}: a combination appears "
                    "once, on one list",
                )

    def check_dates(self) -> None:
        column = "Date First Added to EPC"
        for entry in self.entries:
            existing = self.existing.get(entry.reference)
            kept = existing.first_added_to_epc if existing else None
            if kept is not None:
                if entry.first_added is not None and entry.first_added != kept:
                    self.problem(
                        entry,
                        column,
                        f"{entry.reference} was first added to the EPC on {kept.isoformat()}; "
                        "that date never changes",
                    )
                entry.first_added = kept
            elif entry.on_list == List.PPC and entry.first_added is not None:
                self.problem(entry, column, "must be empty: this entry has never been on the EPC")
            elif entry.on_list == List.EPC and entry.first_added is None:
                entry.first_added = self.today

    def planned(self, reference: str) -> tuple[str, set[int], str] | None:
        """(CSP, device model ids, list) of an entry as it will be."""
        for entry in self.entries:
            if entry.reference == reference:
                return entry.csp, {m.pk for m in entry.members}, entry.on_list
        existing = self.existing.get(reference)
        if existing is None:
            return None
        return existing.csp, {m.pk for m in existing.device_models.all()}, existing.on_list

    def check_subsets(self) -> None:
        for entry in self.entries:
            if not entry.subset_of:
                continue
            superset = self.planned(entry.subset_of)
            if superset is None:
                self.problem(
                    entry, "Subset Of", f"there is no entry {entry.subset_of} (here or listed)"
                )
                continue
            csp, members, on_list = superset
            reason = self.why_not_subset(entry.csp, {m.pk for m in entry.members}, csp, members)
            if reason:
                self.problem(entry, "Subset Of", f"{reason} {entry.subset_of}")
            elif on_list != List.EPC:
                self.problem(
                    entry,
                    "Subset Of",
                    f"{entry.subset_of} is not on the EPC: a subset is added on the strength of "
                    "a tested combination",
                )
        # Entries recorded earlier as subsets of an entry changed here must still be subsets.
        changed = {e.reference: e for e in self.entries}
        kept_subsets = (
            ProductCombination.objects.filter(subset_of__reference__in=list(changed))
            .exclude(reference__in=list(changed))
            .select_related("subset_of")
            .prefetch_related("device_models")
        )
        for subset in kept_subsets:
            entry = changed[subset.subset_of.reference]
            reason = self.why_not_subset(
                subset.csp,
                {m.pk for m in subset.device_models.all()},
                entry.csp,
                {m.pk for m in entry.members},
            )
            if reason:
                self.problem(
                    entry,
                    "Device Models",
                    f"{subset.reference} is recorded as a subset of this entry and would no "
                    "longer be one",
                )

    @staticmethod
    def why_not_subset(csp: str, members: set[int], super_csp: str, super_members: set[int]):
        if csp.casefold() != super_csp.casefold():
            return "a subset has the CSP of its superset, not of"
        if not members < super_members:
            return "its device models are not a strict subset of those of"
        return None

    def apply(self, *, actor, file_name: str = "", file_sha256: str = "") -> tuple[int, int, list]:
        """Write the entries (unchanged ones are not touched) with one audit event each, in the
        caller's transaction. Returns (created, updated, combinations)."""
        created = updated = 0
        entries_audit, written = [], []
        by_reference = {}
        befores = {}
        for entry in self.entries:
            combination = self.existing.get(entry.reference)
            if combination is None:
                combination = ProductCombination(reference=entry.reference)
            else:
                befores[entry.reference] = _snapshot(
                    combination,
                    combination.device_models.all(),
                    combination.subset_of.reference if combination.subset_of_id else "",
                )
            combination.csp, combination.on_list = entry.csp, entry.on_list
            combination.identity_key = entry.key
            if combination.first_added_to_epc is None:
                combination.first_added_to_epc = entry.first_added
            by_reference[entry.reference] = combination
        for entry in self.entries:  # supersets first exist, then subsets point at them
            combination = by_reference[entry.reference]
            before = befores.get(entry.reference)
            after = _snapshot(combination, entry.members, entry.subset_of)
            if before == after:
                continue
            if entry.subset_of and entry.subset_of not in by_reference:
                combination.subset_of = self.existing[entry.subset_of]
            elif not entry.subset_of:
                combination.subset_of = None
            combination.save()
            combination.device_models.set(entry.members)
            written.append((entry, combination, before, after))
        for entry, combination, before, after in written:
            if entry.subset_of in by_reference:
                combination.subset_of = by_reference[entry.subset_of]
                combination.save(update_fields=["subset_of", "updated_at"])
            action = "productcombination.updated" if before else "productcombination.created"
            created, updated = created + (before is None), updated + (before is not None)
            extra = {"file": file_name, "file_sha256": file_sha256} if file_name else {}
            entries_audit.append(
                AuditEntry(action=action, obj=combination, before=before, after=after, extra=extra)
            )
        audit_record_many(actor=actor, entries=entries_audit)
        return created, updated, [c for _, c, _, _ in written]


def combinations_import(
    *, actor, binary, size: int, file_name: str, today: datetime.date | None = None
) -> CombinationImportSummary:
    """Import EPC and PPC entries from a CSV or XLSX file, all or nothing: every row is checked,
    alone and against the others and the lists, and any problem rejects the whole file
    (ExchangeFileRejected, with row-numbered problems). Entries the file does not name stay as
    they are; none is ever deleted (its first-added date is history)."""
    COMBINATIONS.require(actor, "change", None)
    today = today or timezone.localdate()
    errors = RowErrors(MAX_REPORTED_ERRORS)
    entries = _read_entries(binary, size, errors, today)
    sha = file_sha256(binary)
    summary = CombinationImportSummary(file_name=file_name[:255], file_sha256=sha)
    try:
        with transaction.atomic():
            plan = _Plan(entries, errors, today)
            errors.reject_if_any()
            summary.rows = len(entries)
            summary.created, summary.updated, _ = plan.apply(
                actor=actor, file_name=summary.file_name, file_sha256=sha
            )
            summary.unchanged = summary.rows - summary.created - summary.updated
            audit_record_many(
                actor=actor,
                entries=[
                    AuditEntry(
                        action="productcombination.imported",
                        object_type="cpl.productcombinationimport",
                        object_repr=summary.file_name,
                        after=asdict(summary),
                    )
                ],
            )
    except IntegrityError:
        raise ExchangeFileRejected(
            "The lists changed while the file was being imported; nothing was imported. "
            "Import it again."
        ) from None
    return summary


def product_combination_save(
    *,
    actor,
    reference: str,
    csp: str,
    device_models: Iterable[DeviceModel],
    on_list: str,
    subset_of: str = "",
    first_added: datetime.date | None = None,
) -> ProductCombination:
    """Add an entry or change one (by its Combination ID), under the import's rules: the date
    first added to the EPC is set once, the first time the entry is on the EPC, and kept."""
    COMBINATIONS.require(actor, "change", None)
    today = timezone.localdate()
    errors = RowErrors(MAX_REPORTED_ERRORS)
    values = {
        "Combination ID": reference,
        "List": str(on_list),
        "CSP": csp,
        "Device Models": MEMBER_SEPARATOR.join(identity_text(m.identity) for m in device_models),
        "Subset Of": subset_of,
        "Date First Added to EPC": first_added.isoformat() if first_added else "",
    }
    with transaction.atomic():
        entry = _check_entry(0, values, errors, today)
        plan = _Plan([entry] if entry else [], errors, today)
        if errors.count:
            raise CombinationRefused([f"{e.column}: {e.reason}." for e in errors.kept])
        plan.apply(actor=actor)
    return ProductCombination.objects.get(reference=entry.reference)


# --- enrolment eligibility ----------------------------------------------------------------------


class InstallationInvalid(ValueError):
    """The installation asked about is not well formed: {field: [messages]}."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(m for ms in errors.values() for m in ms))
        self.errors = errors


@dataclass(frozen=True)
class Installation:
    csp: str
    identities: tuple[Identity, ...]


def installation_parse(*, csp: str, models: list[str]) -> Installation:
    """A SMETS1 installation from what a user typed: the CSP the lists name (any case) and 1 to
    MAX_MEMBERS distinct device models written MANUFACTURER/MODEL/HARDWARE/FIRMWARE."""
    errors: dict[str, list[str]] = {}
    csp = normalise_csp(csp or "")
    spellings = _csp_spellings()
    if not csp:
        errors["csp"] = ["Enter the CSP of the installation."]
    elif csp.casefold() not in spellings:
        listed = ", ".join(spellings.values()) or "none yet"
        errors["csp"] = [f"No product combination names the CSP '{csp[:50]}'. Known: {listed}."]
    else:
        csp = spellings[csp.casefold()]
    texts = [text for text in models if text.strip()]
    identities: list[Identity] = []
    if not texts:
        errors["model"] = ["Enter the installation's device models."]
    elif len(texts) > MAX_MEMBERS:
        errors["model"] = [f"An installation has at most {MAX_MEMBERS} device models."]
    else:
        for text in texts:
            try:
                identity = parse_identity(text)
            except ValueError as exc:
                errors.setdefault("model", []).append(f"{str(exc)[0].upper()}{str(exc)[1:]}.")
                continue
            if identity in identities:
                errors.setdefault("model", []).append(f"{identity_text(identity)} is given twice.")
            identities.append(identity)
    if errors:
        raise InstallationInvalid(errors)
    return Installation(csp=csp, identities=tuple(identities))


@dataclass(frozen=True)
class Upgrade:
    installed: Identity
    to: DeviceModel

    def as_dict(self) -> dict:
        return {
            "device_type": self.to.device_type,
            "from": identity_text(self.installed),
            "to": identity_text(self.to.identity),
        }


@dataclass
class Eligibility:
    installation: Installation
    # "exact": the entry is the installation's combination; "subset": the installation's
    # device models are all in the entry; "upgrade": one of those after firmware upgrades.
    match: str = ""
    entry: ProductCombination | None = None
    upgrades: list[Upgrade] = field(default_factory=list)
    reason: str = ""

    @property
    def eligible(self) -> bool:
        return self.entry is not None

    def as_dict(self) -> dict:
        entry = self.entry
        return {
            "eligible": self.eligible,
            "match": self.match or None,
            "csp": self.installation.csp,
            "device_models": [identity_text(i) for i in self.installation.identities],
            "entry": None
            if entry is None
            else {
                "combination_id": entry.reference,
                "list": entry.list_code,
                "csp": entry.csp,
                "device_models": [identity_text(m.identity) for m in entry.device_models.all()],
                "subset_of": entry.subset_of.reference if entry.subset_of_id else None,
                "first_added_to_epc": entry.first_added_to_epc.isoformat(),
            },
            "upgrades": [u.as_dict() for u in self.upgrades],
            "reason": self.reason,
        }


def _hardware(identity: Identity) -> tuple[str, str, str]:
    return identity[:3]


def _matching(installation: Installation, members: list[DeviceModel]) -> list[Upgrade] | None:
    """How the entry's members cover the installation: for each installed device model, the
    member of the same manufacturer, model and hardware (the same firmware first). None when a
    device model has no such member; otherwise the firmware upgrades needed (maybe none)."""
    free = list(members)
    upgrades = []
    listed = {m.identity for m in members}
    # The device models the entry holds as they are first, so an upgrade never takes their match.
    for identity in sorted(installation.identities, key=lambda i: i not in listed):
        same = next((m for m in free if m.identity == identity), None)
        if same is None:
            same = next((m for m in free if _hardware(m.identity) == _hardware(identity)), None)
            if same is None:
                return None
            upgrades.append(Upgrade(installed=identity, to=same))
        free.remove(same)
    return upgrades


def enrolment_eligibility(*, installation: Installation) -> Eligibility:
    """Whether a SMETS1 installation may be enrolled: an EPC entry of its CSP whose device
    models are exactly its own (`exact`) or include them all (`subset`: the SEC lets a subset
    of a tested combination on the strength of that testing), or would after upgrading some of
    its device models to another firmware of the same hardware that is on the CPL (`upgrade`,
    naming each). An entry with a device model removed from the CPL enrols nothing. The best
    match wins: no upgrade before upgrades, fewer upgrades, then the smallest entry. Three
    queries."""
    result = Eligibility(installation=installation)
    hardware = {_hardware(i) for i in installation.identities}
    q = Q(pk__in=[])
    for mid, model, hw in hardware:
        q |= Q(manufacturer__manufacturer_id=mid, model_id=model, hardware_version=hw)
    same_hardware = DeviceModel.objects.filter(q).values("pk")
    needed = len(installation.identities)
    candidates = (
        ProductCombination.objects.filter(on_list=List.EPC, csp__iexact=installation.csp)
        .annotate(
            hits=Count("device_models", filter=Q(device_models__in=same_hardware), distinct=True)
        )
        .filter(hits__gte=needed)
        .select_related("subset_of")
        .prefetch_related(_members_prefetch())
    )
    best, best_rank = None, None
    for entry in candidates:
        members = list(entry.device_models.all())
        if any(not m.is_on_cpl for m in members):
            continue
        upgrades = _matching(installation, members)
        if upgrades is None:
            continue
        rank = (bool(upgrades), len(upgrades), len(members) - needed, entry.reference)
        if best_rank is None or rank < best_rank:
            best, best_rank = (entry, upgrades), rank
    if best is None:
        result.reason = (
            f"No entry on the EPC for {installation.csp} holds these device models, nor would "
            "after a firmware upgrade to another firmware version on the CPL."
        )
        return result
    result.entry, result.upgrades = best
    exact = len(result.entry.device_models.all()) == needed
    if result.upgrades:
        result.match = "upgrade"
        names = ", ".join(
            f"{identity_text(u.installed)} to firmware {u.to.firmware_version}"
            for u in result.upgrades
        )
        result.reason = (
            f"Eligible after a firmware upgrade of {names}: the installation is then on the EPC "
            f"as {result.entry.reference}."
        )
    elif exact:
        result.match = "exact"
        result.reason = f"Eligible: the combination is on the EPC as {result.entry.reference}."
    else:
        result.match = "subset"
        result.reason = (
            f"Eligible: the installation's device models are a subset of EPC entry "
            f"{result.entry.reference}."
        )
    if result.entry.subset_of_id:
        entry = result.entry
        result.reason += f" {entry.reference} was added as a subset of {entry.subset_of.reference}."
    return result
