"""Who may see and do what in the CPL register, for one object and for lists (portal.policies).

DESIGN.md section 2: the SSC Secretariat keeps the register (imports, certificate events,
published versions, inventory extracts); the SSC, suppliers and other SEC Parties read it; CPL
change notices go to the SSC and the DCC, which sets the SMI status of the devices.

A check called with `obj=None` answers the page-level question "may this user do this to any of
them?", as Django's `has_perm` does without an object: views ask it first and answer 403, then
look the object up through `get_or_404`. Rules that depend on the object's state pass when there
is no object; a refusal because of the state is `NotNow` (the page was stale: 409, not 403).

Actions only the system takes (beat tasks, the import worker, the consequences of decisions and
determinations) are in `SYSTEM_ACTIONS` alone: no user is ever offered them.
"""

from django.db.models import QuerySet

from portal.models import Organisation
from portal.policies import NotNow, Policy, Refusal, register
from portal.roles import Role

from .models import (
    AssuranceCertificate,
    CPLChangeNotice,
    CPLImport,
    CPLVersion,
    DeviceModel,
    EmergencyEntryRequest,
    InventorySnapshot,
    ProductCombination,
    SmetsGeneration,
    VulnerabilityClassification,
)

Cert = AssuranceCertificate

NOT_A_REGISTER_READER = (
    "The Central Products List is open to the SSC, Supplier Parties and other SEC Parties."
)
# CPA non-compliance that goes to the SSC: a cancelled certificate takes the withdrawn one's route.
CPA_CASE_EVENTS = (Cert.Status.EXPIRED, Cert.Status.WITHDRAWN, Cert.Status.CANCELLED)
SECRETARIAT_KEEPS_THE_REGISTER = "Only the SSC Secretariat, who keeps the register, may do this."

# The CPA route (CPA certificates, flags for the SSC, cases, remedial plans) is SMETS2's (BEIS
# response, chapter 6): a SMETS1 model is on the CPL because an Eligible Product Combination
# includes it, and carries no CPA certificate.
CPA_ROUTE_GENERATIONS = (SmetsGeneration.SMETS2,)
SMETS1_HAS_NO_CPA = "SMETS1 device models carry no CPA certificate"


def on_cpa_route(device_model) -> bool:
    return device_model.smets_generation in CPA_ROUTE_GENERATIONS


def cpa_route_refusal(device_models) -> Refusal:
    """Why no CPA case may cover these device models, or None: every one is on the CPA route."""
    off_route = [str(m) for m in device_models if not on_cpa_route(m)]
    if not off_route:
        return None
    return (
        "The CPA route (cases, remedial plans) applies to SMETS2 device models only; "
        f"SMETS1 device models carry no CPA certificate: {', '.join(off_route)}."
    )


def supersede_refusal(certificate, device_model=None, kind: str = Cert.Kind.CPA) -> Refusal:
    """Why a new certificate (of `kind`, recorded for `device_model`) may not supersede this
    one, or None. Re-certification replaces a CPA certificate no longer valid (withdrawn,
    cancelled, expired or its renewal lapsed), once; the person is asked by
    DeviceModelPolicy.check_record_certificate."""
    if certificate.kind != Cert.Kind.CPA or kind != Cert.Kind.CPA:
        return "Only a CPA certificate is superseded by a re-certification."
    if (
        device_model is not None
        and not certificate.device_models.filter(pk=device_model.pk).exists()
    ):
        return f"{certificate} is not a certificate of {device_model}."
    if certificate.status == Cert.Status.VALID:
        return NotNow(f"{certificate} is still valid: it is superseded once no longer valid.")
    if certificate.superseded_by_id is not None:
        return NotNow(f"{certificate} is already superseded by {certificate.superseded_by}.")
    return None


def _reads_register(user) -> Refusal:
    return None if user.has_perm("cpl.view_devicemodel") else NOT_A_REGISTER_READER


def _first(*refusals) -> Refusal:
    """The first reason for refusing, or None when every rule allows."""
    return next((r for r in refusals if r is not None), None)


class WholeTablePolicy(Policy):
    """A table whose readers see every row (the register is one list, not per-object grants):
    `visible` is all or nothing, decided by the page-level `check_view(user, None)`."""

    def visible(self, user) -> QuerySet:
        rows = self.model._default_manager.all()
        return rows if user is not None and self.can(user, "view", None) else rows.none()


# --- the register ------------------------------------------------------------------------------


class DeviceModelPolicy(WholeTablePolicy):
    model = DeviceModel
    ACTIONS = ("view", "record_certificate", "relist")
    # The CPL status follows facts and decisions. The system removes a model on the certificate
    # check (a required non-CPA certificate is no longer valid), on an issued SSC decision to
    # remove and on an Authority determination, and re-lists it on a determination
    # (cpl.services). Nothing re-lists a model automatically: re-listing by the secretariat is
    # the one status change a user makes, deliberately, with a reason.
    SYSTEM_ACTIONS = frozenset({"remove", "relist_on_determination"})

    def check_view(self, user, device_model) -> Refusal:
        """The SSC, Supplier Parties and other SEC Parties (DCC, network operators): the whole
        register. Not Technical Experts (they read the case they are invited to) nor the
        Authority (it reads referral packs)."""
        return _reads_register(user)

    def check_record_certificate(self, user, device_model) -> Refusal:
        """The SSC Secretariat, in any status (a renewed certificate does not re-list a removed
        model: re-listing is its own action)."""
        return _first(
            self.check_view(user, device_model),
            None
            if user.has_perm("cpl.record_certificate_event")
            else "Only the SSC Secretariat records certificates.",
        )

    def check_relist(self, user, device_model) -> Refusal:
        """The SSC Secretariat, on a removed model that holds every required Assurance
        Certificate, valid. (An Authority determination re-lists without it.)"""
        missing = device_model.missing_certificates() if device_model is not None else []
        return _first(
            self.check_view(user, device_model),
            None
            if user.has_perm("cpl.change_cpl_status")
            else "Only the SSC Secretariat re-lists a removed device model.",
            None
            if device_model is None or device_model.status == DeviceModel.Status.REMOVED
            else NotNow("This device model is not removed from the CPL."),
            None
            if not missing
            else NotNow(
                "A device model is re-listed only with valid certificates; it has no valid "
                f"{' or '.join(missing)} certificate."
            ),
        )


class AssuranceCertificatePolicy(WholeTablePolicy):
    model = AssuranceCertificate
    ACTIONS = ("view", "record_event", "withdraw", "cancel", "open_case", "view_cases")
    SYSTEM_ACTIONS = frozenset({"expire"})  # the daily certificate check, on the expiry date

    def check_view(self, user, certificate) -> Refusal:
        """Everyone who reads the register."""
        return _reads_register(user)

    def check_record_event(self, user, certificate) -> Refusal:
        """The SSC Secretariat, while the certificate is valid: it records that the certificate
        was withdrawn or cancelled."""
        return _first(
            self.check_view(user, certificate),
            None
            if user.has_perm("cpl.record_certificate_event")
            else "Only the SSC Secretariat records certificate events.",
            None
            if certificate is None or certificate.status == Cert.Status.VALID
            else NotNow(f"This certificate is already {certificate.get_status_display().lower()}."),
        )

    def check_withdraw(self, user, certificate) -> Refusal:
        """The SSC Secretariat, while the certificate is valid."""
        return self.check_record_event(user, certificate)

    def check_cancel(self, user, certificate) -> Refusal:
        """The SSC Secretariat, while the certificate is valid."""
        return self.check_record_event(user, certificate)

    def check_open_case(self, user, certificate) -> Refusal:
        """The SSC Secretariat, on a CPA certificate that has expired or been withdrawn or
        cancelled: only CPA non-compliance goes to the SSC's risk-based decision; other
        certificates are removed automatically."""
        return _first(
            self.check_view(user, certificate),
            None
            if user.has_perm("governance.open_case")
            else "Only the SSC Secretariat opens cases.",
            None
            if certificate is None or certificate.kind == Cert.Kind.CPA
            else "Other certificates than CPA are removed automatically: no case is opened.",
            None
            if certificate is None or certificate.status in CPA_CASE_EVENTS
            else NotNow(
                "A case is opened when the CPA certificate has expired or been withdrawn or "
                "cancelled."
            ),
            # Re-certified: the flag cleared (a case opened before stays, for the SSC).
            None
            if certificate is None or certificate.superseded_by_id is None
            else NotNow(f"{certificate} is superseded by a re-certification: no case is opened."),
        )

    def check_view_cases(self, user, certificate) -> Refusal:
        """SSC users see which cases were opened on the certificate (each case's own page
        decides what else they see)."""
        return _first(
            self.check_view(user, certificate),
            None if user.is_ssc else "Only the SSC sees which cases concern a certificate.",
        )


class CPLChangeNoticePolicy(WholeTablePolicy):
    model = CPLChangeNotice

    def check_view(self, user, notice) -> Refusal:
        """The SSC, and the DCC, which sets the SMI status of the devices; not other Parties."""
        if not user.has_perm("cpl.view_cplchangenotice"):
            return "CPL change notices go to the SSC and the DCC."
        if user.has_role(Role.OTHER_PARTY) and not user.is_ssc:
            organisation = user.organisation
            if organisation is None or organisation.party_type != Organisation.PartyType.DCC:
                return "CPL change notices go to the SSC and the DCC."
        return None


class CPLVersionPolicy(WholeTablePolicy):
    model = CPLVersion
    ACTIONS = ("view", "export", "publish")

    def check_view(self, user, version) -> Refusal:
        """Everyone who reads the register."""
        return _reads_register(user)

    def check_export(self, user, version) -> Refusal:
        """Everyone who reads the register: a published version, or (without one) the current
        register, as CSV, XLSX or JSON."""
        return self.check_view(user, version)

    def check_publish(self, user, version) -> Refusal:
        """The SSC Secretariat: a new immutable version of the register as it is now."""
        return _first(
            self.check_view(user, version),
            None
            if user.has_perm("cpl.publish_cplversion")
            else "Only the SSC Secretariat publishes CPL versions.",
        )


# --- imports -----------------------------------------------------------------------------------


class CPLImportPolicy(WholeTablePolicy):
    model = CPLImport
    ACTIONS = ("view", "import")
    # The worker runs an import; `manage.py import_cpl` imports as the system.
    SYSTEM_ACTIONS = frozenset({"import", "start", "succeed", "reject", "fail"})

    def check_view(self, user, job) -> Refusal:
        """The SSC Secretariat, who may import the register: every import and its report."""
        return self.check_import(user, job)

    def check_import(self, user, job) -> Refusal:
        """The SSC Secretariat (a new import, whatever the state of earlier ones)."""
        return None if user.has_perm("cpl.import_cpl") else SECRETARIAT_KEEPS_THE_REGISTER


class InventorySnapshotPolicy(WholeTablePolicy):
    model = InventorySnapshot
    ACTIONS = ("view", "import")
    SYSTEM_ACTIONS = frozenset({"import"})  # `manage.py import_inventory`, the demo loader

    def check_view(self, user, snapshot) -> Refusal:
        """The SSC: which suppliers are responsible for devices of which models."""
        if user.has_perm("cpl.view_inventorysnapshot"):
            return None
        return "DCC inventory extracts are for the SSC."

    def check_import(self, user, snapshot) -> Refusal:
        """The SSC Secretariat."""
        if user.has_perm("cpl.import_inventory"):
            return None
        return "Only the SSC Secretariat imports DCC inventory extracts."


# --- SMETS1 product combinations ----------------------------------------------------------------


class ProductCombinationPolicy(WholeTablePolicy):
    """The EPC and PPC lists: read like the register, kept like it (the CPL import's permission:
    the secretariat imports both)."""

    model = ProductCombination
    ACTIONS = ("view", "export", "check_eligibility", "change")
    # The system adds the combination of a confirmed emergency entry (fast-track PPCT passed).
    SYSTEM_ACTIONS = frozenset({"change"})

    def check_view(self, user, combination) -> Refusal:
        """Everyone who reads the register: both lists, every entry."""
        return _reads_register(user)

    def check_export(self, user, combination) -> Refusal:
        """Everyone who reads the register, as CSV, XLSX or JSON."""
        return self.check_view(user, combination)

    def check_check_eligibility(self, user, combination) -> Refusal:
        """Everyone who reads the register: whether a SMETS1 installation may be enrolled."""
        return self.check_view(user, combination)

    def check_change(self, user, combination) -> Refusal:
        """The SSC Secretariat, who keeps the register and imports the CPL: imports the lists,
        adds entries and moves them between the EPC and the PPC."""
        return _first(
            self.check_view(user, combination),
            None if user.has_perm("cpl.import_cpl") else SECRETARIAT_KEEPS_THE_REGISTER,
        )


# --- SMETS1 emergency CPL entries -------------------------------------------------------------

Emergency = EmergencyEntryRequest.State


def _is_dcc(user) -> bool:
    organisation = user.organisation
    return organisation is not None and organisation.party_type == Organisation.PartyType.DCC


class EmergencyEntryRequestPolicy(Policy):
    """A supplier asks for an emergency CPL entry; the SSC Secretariat decides it, lists it and
    tracks its fast-track PPCT. The requesting organisation, the SSC and the DCC (which must
    process Service Requests for the emergency entry) see a request; other Parties do not."""

    model = EmergencyEntryRequest
    ACTIONS = (
        "view",
        "submit",
        "view_summary",
        "accept",
        "reject",
        "list_on_cpl",
        "record_ppct",
        "withdraw",
    )
    # Listing schedules the fast-track PPCT at once (cpl.emergency.emergency_request_list).
    SYSTEM_ACTIONS = frozenset({"schedule_ppct"})

    def visible(self, user) -> QuerySet:
        rows = EmergencyEntryRequest.objects.all()
        if user is None or not user.is_authenticated or not user.is_active:
            return rows.none()
        if user.is_ssc or _is_dcc(user):
            return rows
        if user.has_role(Role.SUPPLIER) and user.organisation_id is not None:
            return rows.filter(organisation_id=user.organisation_id)
        return rows.none()

    def candidates(self, user, action: str) -> QuerySet:
        rows = self.visible(user)
        sources = {
            "accept": [Emergency.SUBMITTED],
            "reject": [Emergency.SUBMITTED],
            "list_on_cpl": [Emergency.ACCEPTED],
            "record_ppct": [Emergency.FAST_TRACK_PPCT],
            "withdraw": [Emergency.FAST_TRACK_PPCT],
        }.get(action)
        return rows.filter(state__in=sources) if sources else rows

    def prepare(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related(
            "organisation", "requester", "device_model__manufacturer", "emergency_device_model"
        )

    def _requester_side(self, user, request) -> bool:
        return (
            user.has_role(Role.SUPPLIER)
            and user.organisation_id is not None
            and user.organisation_id == request.organisation_id
        )

    def check_view(self, user, request) -> Refusal:
        """The SSC and the DCC: every request. A supplier: its own organisation's requests.
        Nobody else."""
        if user.is_ssc or _is_dcc(user):
            return None
        if user.has_role(Role.SUPPLIER) and (
            request is None or self._requester_side(user, request)
        ):
            return None
        return "Emergency CPL entry requests are seen by their supplier, the SSC and the DCC."

    def check_submit(self, user, request) -> Refusal:
        """A supplier user, for their own Supplier Party."""
        organisation = user.organisation
        if user.has_role(Role.SUPPLIER) and organisation is not None and organisation.is_supplier:
            return None
        return "Only a Supplier Party's users request emergency CPL entries."

    def check_view_summary(self, user, request) -> Refusal:
        """The vulnerability summary and evidence of a request: the SSC and the requesting
        supplier always; the DCC only when it is classified for Parties."""
        refusal = self.check_view(user, request)
        if refusal is not None or request is None:
            return refusal
        if user.is_ssc or self._requester_side(user, request):
            return None
        if request.summary_classification == VulnerabilityClassification.PARTIES:
            return None
        return "The vulnerability summary is for the SSC only."

    def _secretariat(self, user, request, sources, not_now: str) -> Refusal:
        return _first(
            None if user.has_perm("cpl.change_cpl_status") else SECRETARIAT_DECIDES_EMERGENCY,
            self.check_view(user, request),
            None if request is None or request.state in sources else NotNow(not_now),
        )

    def check_accept(self, user, request) -> Refusal:
        """The SSC Secretariat, on a submitted request."""
        return self._secretariat(
            user, request, [Emergency.SUBMITTED], "This request has already been decided."
        )

    def check_reject(self, user, request) -> Refusal:
        """The SSC Secretariat, on a submitted request, giving its reasons."""
        return self.check_accept(user, request)

    def check_list_on_cpl(self, user, request) -> Refusal:
        """The SSC Secretariat, on an accepted request: the new firmware goes on the CPL as an
        emergency entry."""
        return self._secretariat(
            user, request, [Emergency.ACCEPTED], "Only an accepted request is listed on the CPL."
        )

    def check_record_ppct(self, user, request) -> Refusal:
        """The SSC Secretariat, while the fast-track PPCT is due: it passed (the entry is
        confirmed) or failed."""
        refusal = self._secretariat(
            user,
            request,
            [Emergency.FAST_TRACK_PPCT],
            "A PPCT outcome is recorded while the fast-track PPCT is due.",
        )
        if refusal is None and request is not None and request.ppct_outcome:
            # A failure stands: the entry is withdrawn, and a new request follows a retest.
            return NotNow("The fast-track PPCT's outcome is recorded: withdraw the entry.")
        return refusal

    def check_withdraw(self, user, request) -> Refusal:
        """The SSC Secretariat, on a listed emergency entry whose fast-track PPCT failed or is
        overdue: the device model leaves the CPL."""
        refusal = self._secretariat(
            user,
            request,
            [Emergency.FAST_TRACK_PPCT],
            "Only an emergency entry awaiting its fast-track PPCT is withdrawn.",
        )
        if refusal is not None or request is None:
            return refusal
        if emergency_ppct_failed_or_overdue(request):
            return None
        return NotNow(
            "An emergency entry is withdrawn when its fast-track PPCT has failed or its due date "
            "has passed."
        )


SECRETARIAT_DECIDES_EMERGENCY = (
    "Only the SSC Secretariat decides and tracks emergency CPL entry requests."
)


def emergency_ppct_failed_or_overdue(request, today=None) -> bool:
    from django.utils import timezone

    today = today or timezone.localdate()
    return request.ppct_outcome == EmergencyEntryRequest.PPCTOutcome.FAILED or (
        request.ppct_due is not None and request.ppct_due < today
    )


DEVICE_MODELS = register(DeviceModelPolicy())
CERTIFICATES = register(AssuranceCertificatePolicy())
CHANGE_NOTICES = register(CPLChangeNoticePolicy())
VERSIONS = register(CPLVersionPolicy())
IMPORTS = register(CPLImportPolicy())
INVENTORY = register(InventorySnapshotPolicy())
COMBINATIONS = register(ProductCombinationPolicy())
EMERGENCY_REQUESTS = register(EmergencyEntryRequestPolicy())
