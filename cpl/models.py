import hashlib
import json
import re

from django.conf import settings
from django.db import models
from django_fsm import FSMField, transition

from portal.fsm import ConcurrentTransitionMixin
from portal.models import StoredDocument
from portal.policies import policy_permission


class DeviceType(models.TextChoices):
    ESME = "ESME", "Electricity Smart Metering Equipment (ESME)"
    GSME = "GSME", "Gas Smart Metering Equipment (GSME)"
    CHF = "CHF", "Communications Hub Function (CHF)"
    GPF = "GPF", "Gas Proxy Function (GPF)"
    PPMID = "PPMID", "Prepayment Meter Interface Device (PPMID)"
    HCALCS = "HCALCS", "HAN Connected Auxiliary Load Control Switch (HCALCS)"


# Device types that must also hold a DLMS/COSEM certificate (CPL exchange format).
DLMS_DEVICE_TYPES = frozenset({DeviceType.ESME, DeviceType.GSME})


class SmetsGeneration(models.TextChoices):
    # SMETS1 models are on the CPL through an Eligible Product Combination, not through CPA.
    SMETS1 = "SMETS1", "SMETS1"
    SMETS2 = "SMETS2", "SMETS2"


def validate_image_hash(value: str) -> None:
    """A Manufacturer Image hash: a SHA-256 in hex, stored lower-case."""
    from django.core.exceptions import ValidationError

    if value and not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValidationError("A Manufacturer Image hash is 64 lower-case hexadecimal digits.")


class Manufacturer(models.Model):
    manufacturer_id = models.CharField("Manufacturer ID", max_length=4, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.manufacturer_id})"


class DeviceModel(ConcurrentTransitionMixin, models.Model):
    # "Removed" is the CPL's word; the DCC then gives the model's devices the SMI status
    # "Suspended" (CPLRemoval.SMI_STATUS). A model enters the register listed: the exchange
    # format has no pending entries.
    class Status(models.TextChoices):
        LISTED = "listed", "Listed"
        REMOVED = "removed", "Removed"

    class RemovalBasis(models.TextChoices):
        NONE = "", "Not removed"
        CERTIFICATE = "certificate", "Non-CPA Assurance Certificate not valid (automatic removal)"
        SSC_DECISION = "ssc_decision", "SSC decision"
        AUTHORITY_DETERMINATION = "authority_determination", "Authority determination"
        EMERGENCY_WITHDRAWN = "emergency_withdrawn", "Emergency entry withdrawn"

    device_type = models.CharField(max_length=8, choices=DeviceType.choices, db_index=True)
    manufacturer = models.ForeignKey(
        Manufacturer, on_delete=models.PROTECT, related_name="device_models"
    )
    model_id = models.CharField("Model ID", max_length=4)
    hardware_version = models.CharField(max_length=4)
    firmware_version = models.CharField(max_length=8)
    smets_generation = models.CharField(
        "SMETS generation",
        max_length=8,
        choices=SmetsGeneration.choices,
        default=SmetsGeneration.SMETS2,
        db_index=True,
    )
    # Optional for SMETS1: the SMETS1 sub-version (the 2019 changes made it so).
    smets_chts_version = models.CharField("SMETS/CHTS version", max_length=50, blank=True)
    gbcs_version = models.CharField("GBCS version", max_length=50, blank=True, default="")
    manufacturer_image_hash = models.CharField(
        "Manufacturer Image hash",
        max_length=64,
        blank=True,
        default="",
        validators=[validate_image_hash],
    )
    date_added = models.DateField()
    status = FSMField(
        max_length=16, choices=Status.choices, default=Status.LISTED, protected=True, db_index=True
    )
    removal_basis = models.CharField(
        max_length=32, choices=RemovalBasis.choices, blank=True, default=""
    )
    # Listed ahead of its fast-track PPCT on an emergency entry request (EmergencyEntryRequest).
    emergency_entry = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["manufacturer__name", "model_id", "hardware_version", "firmware_version"]
        constraints = [
            models.UniqueConstraint(
                fields=["manufacturer", "model_id", "hardware_version", "firmware_version"],
                name="cpl_devicemodel_identity",
            )
        ]
        permissions = [
            ("import_cpl", "Can import the CPL register from a file"),
            ("change_cpl_status", "Can change a device model's CPL status"),
        ]

    def __str__(self):
        return self.describe(self.device_type, *self.identity)

    @staticmethod
    def describe(device_type, manufacturer_id, model_id, hardware, firmware) -> str:
        return f"{device_type} {manufacturer_id}/{model_id} hw {hardware} fw {firmware}"

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (
            self.manufacturer.manufacturer_id,
            self.model_id,
            self.hardware_version,
            self.firmware_version,
        )

    @property
    def is_on_cpl(self) -> bool:
        return self.status == self.Status.LISTED

    def missing_certificates(self) -> list[str]:
        """The Assurance Certificates this model lacks a valid one of, as labels: every entry
        of the exchange format holds CPA and ZigBee certificates, and ESME and GSME a DLMS/COSEM
        one too; a SMETS1 entry requires none. Re-listing a removed model needs none missing."""
        if self.smets_generation == SmetsGeneration.SMETS1:
            return []
        kinds = [AssuranceCertificate.Kind.CPA, AssuranceCertificate.Kind.ZIGBEE]
        if self.device_type in DLMS_DEVICE_TYPES:
            kinds.append(AssuranceCertificate.Kind.DLMS)
        valid = {c.kind for c in self.certificates.all() if c.is_valid}
        return [AssuranceCertificate.Kind(kind).label for kind in kinds if kind not in valid]

    @transition(
        field=status,
        source=Status.LISTED,
        target=Status.REMOVED,
        permission=policy_permission("remove"),
    )
    def remove(self, basis: str):
        self.removal_basis = basis

    @transition(
        field=status,
        source=Status.REMOVED,
        target=Status.LISTED,
        permission=policy_permission("relist"),
    )
    def relist(self):
        self.removal_basis = self.RemovalBasis.NONE

    @transition(
        field=status,
        source=Status.REMOVED,
        target=Status.LISTED,
        permission=policy_permission("relist_on_determination"),
    )
    def relist_on_determination(self):
        self.removal_basis = self.RemovalBasis.NONE


class AssuranceCertificate(ConcurrentTransitionMixin, models.Model):
    class Kind(models.TextChoices):
        CPA = "cpa", "CPA"
        ZIGBEE = "zigbee", "ZigBee"
        DLMS = "dlms", "DLMS/COSEM"

    class Status(models.TextChoices):
        VALID = "valid", "Valid"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=8, choices=Kind.choices, db_index=True)
    number = models.CharField(max_length=100)
    issued = models.DateField(null=True, blank=True)
    expiry = models.DateField(db_index=True)
    # A lifetime CPA certificate is renewed periodically: a renewal not recorded by this date
    # lapses like an expiry (certificates_check).
    renewal_due = models.DateField("Renewal due", null=True, blank=True, db_index=True)
    status = FSMField(
        max_length=16, choices=Status.choices, default=Status.VALID, protected=True, db_index=True
    )
    status_date = models.DateField(null=True, blank=True)
    status_reason = models.TextField(blank=True)
    device_models = models.ManyToManyField(DeviceModel, related_name="certificates")
    # Re-certification: the certificate no longer valid stays, as history, pointing at the new one.
    superseded_by = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="supersedes"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "number"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "number"], name="cpl_certificate_identity")
        ]
        permissions = [("record_certificate_event", "Can record certificate events")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.number}"

    @property
    def is_valid(self) -> bool:
        return self.status == self.Status.VALID

    @property
    def awaits_ssc_decision(self) -> bool:
        """CPA non-compliance is not removed automatically: the SSC weighs the risk. A
        re-certification (superseded) clears the flag; a case already open stays."""
        return self.kind == self.Kind.CPA and not self.is_valid and self.superseded_by_id is None

    @property
    def renewal_lapsed(self) -> bool:
        """Expired because its renewal was not recorded by its renewal date."""
        return (
            self.status == self.Status.EXPIRED
            and self.renewal_due is not None
            and (self.status_date == self.renewal_due and self.renewal_due < self.expiry)
        )

    @transition(
        field=status,
        source=Status.VALID,
        target=Status.EXPIRED,
        permission=policy_permission("expire"),
    )
    def expire(self, on):
        self.status_date = on

    @transition(
        field=status,
        source=Status.VALID,
        target=Status.WITHDRAWN,
        permission=policy_permission("withdraw"),
    )
    def withdraw(self, on, reason: str):
        self.status_date, self.status_reason = on, reason

    @transition(
        field=status,
        source=Status.VALID,
        target=Status.CANCELLED,
        permission=policy_permission("cancel"),
    )
    def cancel(self, on, reason: str):
        self.status_date, self.status_reason = on, reason


class CPLChangeNotice(models.Model):
    """A change to the CPL that the DCC must act on (it sets the SMI status of the devices)."""

    device_model = models.ForeignKey(
        DeviceModel, on_delete=models.PROTECT, related_name="change_notices"
    )
    from_status = models.CharField(max_length=16, choices=DeviceModel.Status.choices)
    to_status = models.CharField(max_length=16, choices=DeviceModel.Status.choices)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.device_model}: {self.from_status} → {self.to_status}"

    @property
    def smi_status(self) -> str:
        return (
            "Suspended" if self.to_status != DeviceModel.Status.LISTED else "Commissioned/Installed"
        )


class CPLRemoval(models.Model):
    """One removal of a device model from the CPL: an entry of the removed-entries register.

    Kept after re-listing, which closes it (who, when, on what basis and why), so the register
    answers "since when, and why, was this model off the CPL?" for any date."""

    # What the DCC must give the devices of a removed model (DESIGN.md section 3).
    SMI_STATUS = "Suspended"

    class RelistingBasis(models.TextChoices):
        SECRETARIAT = "secretariat", "Re-listed by the SSC Secretariat (valid certificates)"
        AUTHORITY_DETERMINATION = "authority_determination", "Authority determination"

    device_model = models.ForeignKey(DeviceModel, on_delete=models.PROTECT, related_name="removals")
    basis = models.CharField(max_length=32, choices=DeviceModel.RemovalBasis.choices)
    # The SSC case, the Authority referral, or the certificate(s) no longer valid.
    reference = models.CharField(max_length=200, blank=True)
    reason = models.TextField()
    removed_at = models.DateTimeField(db_index=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    relisted_at = models.DateTimeField(null=True, blank=True)
    relisted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    relisting_basis = models.CharField(max_length=32, choices=RelistingBasis.choices, blank=True)
    relisting_reference = models.CharField(max_length=200, blank=True)
    relisting_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-removed_at", "-id"]
        verbose_name = "CPL removal"
        constraints = [
            models.UniqueConstraint(
                fields=["device_model"],
                condition=models.Q(relisted_at__isnull=True),
                name="one_open_removal_per_device_model",
            )
        ]

    def __str__(self):
        return f"{self.device_model} removed on {self.removed_at:%-d %B %Y}"

    @property
    def smi_status(self) -> str:
        return self.SMI_STATUS


class ImmutableModel(models.Model):
    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError(f"A published {self._meta.verbose_name} cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError(f"A published {self._meta.verbose_name} cannot be deleted.")


class CPLVersion(ImmutableModel):
    """An immutable published snapshot of the register."""

    number = models.PositiveIntegerField(unique=True)
    published_at = models.DateTimeField()
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    content_hash = models.CharField(max_length=64)
    row_count = models.PositiveIntegerField()
    rows = models.JSONField()
    diff = models.JSONField()
    previous = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="next"
    )

    class Meta:
        ordering = ["-number"]
        verbose_name = "CPL version"
        permissions = [("publish_cplversion", "Can publish a CPL version")]

    def __str__(self):
        return f"CPL version {self.number}"

    @staticmethod
    def hash_rows(rows: list[dict]) -> str:
        canonical = json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def diff_counts(self) -> dict[str, int]:
        return {key: len(self.diff.get(key, [])) for key in ("added", "removed", "status_changed")}


class CPLImport(ConcurrentTransitionMixin, models.Model):
    """An import of the register from an uploaded CSV/XLSX file, run by a Celery task."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Imported"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Failed"

    status = FSMField(max_length=16, choices=Status.choices, default=Status.QUEUED, protected=True)
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    file_size = models.PositiveBigIntegerField()
    stored_name = models.CharField(max_length=100)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when a worker starts it: a job still running past CPL_IMPORT_STALE_AFTER lost its
    # worker (the task's hard time limit is shorter), and cpl_imports_reap fails it.
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    phase = models.CharField(max_length=32, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "CPL import"

    def __str__(self):
        return f"Import {self.pk} of {self.file_name}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.REJECTED, self.Status.FAILED}

    @property
    def succeeded(self) -> bool:
        return self.status == self.Status.SUCCEEDED

    @transition(
        field=status,
        source=Status.QUEUED,
        target=Status.RUNNING,
        permission=policy_permission("start"),
    )
    def start(self):
        pass

    @transition(
        field=status,
        source=Status.RUNNING,
        target=Status.SUCCEEDED,
        permission=policy_permission("succeed"),
    )
    def succeed(self, summary: dict):
        self.summary = summary

    @transition(
        field=status,
        source=[Status.QUEUED, Status.RUNNING],
        target=Status.REJECTED,
        permission=policy_permission("reject"),
    )
    def reject(self, message: str, errors: list[dict], error_count: int):
        self.message, self.errors, self.error_count = message, errors, error_count

    @transition(
        field=status,
        source=[Status.QUEUED, Status.RUNNING],
        target=Status.FAILED,
        permission=policy_permission("fail"),
    )
    def fail(self, message: str):
        self.message = message


class ImportChange(models.Model):
    """What one CPL import changed for one object (a device model, certificate or manufacturer).

    An import writes one audit event (`cpl.imported`: the file's SHA-256 and the counts), not one
    per row; its per-row changes are kept here, under that event, and shown in each object's
    history beside its audit events."""

    event = models.ForeignKey("portal.AuditEvent", on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self):
        return f"{self.action} {self.object_type} {self.object_id} (import #{self.event_id})"

    # Read like an audit event by the history templates.
    @property
    def occurred_at(self):
        return self.event.occurred_at

    @property
    def actor_label(self):
        return self.event.actor_label

    @property
    def seq(self):
        return self.event.seq

    @property
    def import_file(self) -> str:
        return self.event.object_repr


class InventorySnapshot(models.Model):
    """Device counts per (device model, responsible supplier) as of a date, from a DCC extract."""

    class Format(models.TextChoices):
        AGGREGATED = "aggregated", "Aggregated counts"
        DEVICE_LEVEL = "device_level", "Device-level extract"

    as_of = models.DateField(db_index=True)
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    format = models.CharField(max_length=16, choices=Format.choices)
    rows_read = models.PositiveBigIntegerField()
    device_count = models.PositiveBigIntegerField()
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-as_of", "-imported_at"]
        permissions = [("import_inventory", "Can import DCC inventory extracts")]

    def __str__(self):
        return f"Inventory as of {self.as_of} ({self.file_name})"


class InventoryCount(models.Model):
    snapshot = models.ForeignKey(InventorySnapshot, on_delete=models.CASCADE, related_name="counts")
    device_model = models.ForeignKey(
        DeviceModel, on_delete=models.PROTECT, related_name="inventory_counts"
    )
    supplier = models.ForeignKey(
        "portal.Organisation", on_delete=models.PROTECT, related_name="inventory_counts"
    )
    device_count = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "device_model", "supplier"],
                name="one_count_per_model_supplier_snapshot",
            )
        ]

    def __str__(self):
        return f"{self.device_count} × {self.device_model} for {self.supplier}"


class ProductCombination(models.Model):
    """A SMETS1 Device Model Combination on the Eligible (EPC) or Pending (PPC) Product
    Combinations list: a set of device models together with the communications service provider
    (CSP) whose network serves them. Written only by cpl.combinations.

    The CSP is text, as the lists spell it ("CSP North"), not a choice in code: which CSPs
    exist is a fact of the lists the secretariat imports, not a rule of the portal, and a CSP
    has nothing else to record. `identity_key` (CSP and sorted device model ids) makes one
    combination appear once, whichever list it is on."""

    class List(models.TextChoices):
        EPC = "epc", "Eligible Product Combinations (EPC)"
        PPC = "ppc", "Pending Product Combinations (PPC)"

    reference = models.CharField("Combination ID", max_length=20, unique=True)
    csp = models.CharField("Communications service provider (CSP)", max_length=50, db_index=True)
    device_models = models.ManyToManyField(DeviceModel, related_name="product_combinations")
    identity_key = models.CharField(max_length=255, unique=True, editable=False)
    on_list = models.CharField("List", max_length=3, choices=List.choices, db_index=True)
    # Added on the strength of the testing of this (tested) superset.
    subset_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="subsets"
    )
    # Set when the entry first reaches the EPC; kept through edits, moves to the PPC and
    # re-listing (save() refuses to change it).
    first_added_to_epc = models.DateField("Date first added to the EPC", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["reference"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(on_list="ppc") | models.Q(first_added_to_epc__isnull=False),
                name="cpl_productcombination_epc_has_first_added",
            )
        ]

    def __str__(self):
        return f"{self.reference} ({self.list_code}, {self.csp})"

    def save(self, *args, **kwargs):
        # The date an entry was first added to the EPC is history: it never changes once set.
        loaded = getattr(self, "_first_added_loaded", None)
        if loaded is not None and self.first_added_to_epc != loaded:
            raise ValueError(
                f"{self.reference} was first added to the EPC on {loaded:%-d %B %Y}; that date "
                "never changes."
            )
        super().save(*args, **kwargs)
        self._first_added_loaded = self.first_added_to_epc

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._first_added_loaded = instance.__dict__.get("first_added_to_epc")
        return instance

    @property
    def list_code(self) -> str:
        """EPC or PPC, as the lists and the exchange format name them."""
        return self.on_list.upper()


class VulnerabilityClassification(models.TextChoices):
    # The values of governance's evidence classification (cpl cannot import governance).
    SSC_ONLY = "ssc-only", "SSC only"
    PARTIES = "parties", "Parties"


class EmergencyEntryRequest(ConcurrentTransitionMixin, models.Model):
    """A supplier's request to list new SMETS1 firmware that fixes a security vulnerability
    ahead of its Pending Product Combination Tests: the emergency CPL entry and its fast-track
    PPCT, tracked (cpl.emergency). Replaces the form-and-e-mail route."""

    class State(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        LISTED = "listed", "Listed on the CPL"
        FAST_TRACK_PPCT = "fast_track_ppct", "Fast-track PPCT due"
        CONFIRMED = "confirmed", "Confirmed"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class PPCTOutcome(models.TextChoices):
        NONE = "", "Not recorded"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    organisation = models.ForeignKey(
        "portal.Organisation", on_delete=models.PROTECT, related_name="emergency_requests"
    )
    # The SMETS1 model of an EPC entry, at its current firmware.
    device_model = models.ForeignKey(
        DeviceModel, on_delete=models.PROTECT, related_name="emergency_requests"
    )
    new_firmware_version = models.CharField(max_length=8)
    new_image_hash = models.CharField(
        "New Manufacturer Image hash",
        max_length=64,
        blank=True,
        default="",
        validators=[validate_image_hash],
    )
    combinations = models.ManyToManyField(ProductCombination, related_name="emergency_requests")
    vulnerability_summary = models.TextField()
    summary_classification = models.CharField(
        max_length=20, choices=VulnerabilityClassification.choices
    )
    state = FSMField(
        max_length=20,
        choices=State.choices,
        default=State.SUBMITTED,
        protected=True,
        db_index=True,
    )
    rejection_reason = models.TextField(blank=True)
    ppct_due = models.DateField("Fast-track PPCT due", null=True, blank=True, db_index=True)
    ppct_outcome = models.CharField(
        max_length=8, choices=PPCTOutcome.choices, blank=True, default=""
    )
    ppct_recorded_at = models.DateTimeField(null=True, blank=True)
    outcome_notes = models.TextField(blank=True)
    # The secretariat was told once that the due date passed without a recorded pass.
    deadline_alerted_at = models.DateTimeField(null=True, blank=True)
    emergency_device_model = models.OneToOneField(
        DeviceModel,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="emergency_request",
    )
    submitted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        constraints = [
            # One open request per new firmware of a hardware model (a double submit).
            models.UniqueConstraint(
                fields=["device_model", "new_firmware_version"],
                condition=models.Q(
                    state__in=["submitted", "accepted", "listed", "fast_track_ppct"]
                ),
                name="one_open_emergency_request_per_firmware",
            )
        ]

    def __str__(self):
        return f"{self.reference}: {self.device_model} → fw {self.new_firmware_version}"

    @property
    def reference(self) -> str:
        return f"EMR-{self.pk:05d}" if self.pk else "EMR-new"

    @property
    def new_identity(self) -> tuple[str, str, str, str]:
        model = self.device_model
        return (
            model.manufacturer.manufacturer_id,
            model.model_id,
            model.hardware_version,
            self.new_firmware_version,
        )

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_EMERGENCY_STATES

    @transition(
        field=state,
        source=State.SUBMITTED,
        target=State.ACCEPTED,
        permission=policy_permission("accept"),
    )
    def accept(self):
        pass

    @transition(
        field=state,
        source=State.SUBMITTED,
        target=State.REJECTED,
        permission=policy_permission("reject"),
    )
    def reject(self, reason: str):
        self.rejection_reason = reason

    @transition(
        field=state,
        source=State.ACCEPTED,
        target=State.LISTED,
        permission=policy_permission("list_on_cpl"),
    )
    def list_on_cpl(self):
        pass

    # Listing schedules the fast-track PPCT at once (cpl.emergency): `listed` is recorded in
    # the audit trail, and the request waits in `fast_track_ppct`.
    @transition(
        field=state,
        source=State.LISTED,
        target=State.FAST_TRACK_PPCT,
        permission=policy_permission("schedule_ppct"),
    )
    def schedule_ppct(self, on):
        self.ppct_due = on

    @transition(
        field=state,
        source=State.FAST_TRACK_PPCT,
        target=State.CONFIRMED,
        permission=policy_permission("record_ppct"),
    )
    def confirm(self, reason: str):
        self.outcome_notes = reason

    @transition(
        field=state,
        source=State.FAST_TRACK_PPCT,  # `listed` never rests: listing schedules the PPCT
        target=State.WITHDRAWN,
        permission=policy_permission("withdraw"),
    )
    def withdraw(self, reason: str):
        self.outcome_notes = reason


OPEN_EMERGENCY_STATES = (
    EmergencyEntryRequest.State.SUBMITTED,
    EmergencyEntryRequest.State.ACCEPTED,
    EmergencyEntryRequest.State.LISTED,
    EmergencyEntryRequest.State.FAST_TRACK_PPCT,
)


class EmergencyEvidence(StoredDocument):
    """Evidence of an emergency entry request (test reports, the vendor's advisory): read by
    whoever may read the request's vulnerability summary."""

    request = models.ForeignKey(
        EmergencyEntryRequest, on_delete=models.PROTECT, related_name="evidence"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self):
        return self.original_name
