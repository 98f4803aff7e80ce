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
    InventorySnapshot,
    ProductCombination,
    SmetsGeneration,
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


DEVICE_MODELS = register(DeviceModelPolicy())
CERTIFICATES = register(AssuranceCertificatePolicy())
CHANGE_NOTICES = register(CPLChangeNoticePolicy())
VERSIONS = register(CPLVersionPolicy())
IMPORTS = register(CPLImportPolicy())
INVENTORY = register(InventorySnapshotPolicy())
COMBINATIONS = register(ProductCombinationPolicy())
