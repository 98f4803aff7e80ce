"""SMETS1 emergency CPL entries (DESIGN.md section 1): a supplier's tracked request to list new
firmware that fixes a security vulnerability ahead of its Pending Product Combination Tests.

submitted → accepted | rejected; accepted → listed (the new firmware goes on the CPL as an
emergency entry, the DCC and the SSC are told) → fast_track_ppct (due within
EMERGENCY_PPCT_WORKING_DAYS Working Days) → confirmed (passed: the affected combinations with
the new firmware join the EPC) | withdrawn (failed or overdue: the model leaves the CPL).

Each service is one transaction: the state change, its audit event and its notices.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from portal.audit import audit_record
from portal.documents import stored_documents
from portal.models import Notice, Organisation, User
from portal.notices import notice_send
from portal.transitions import run_transition
from portal.working_days import add_working_days

from . import combinations as combination_lists
from .models import (
    DeviceModel,
    EmergencyEntryRequest,
    EmergencyEvidence,
    ProductCombination,
    SmetsGeneration,
    VulnerabilityClassification,
)
from .policies import (
    EMERGENCY_REQUESTS,
    emergency_ppct_failed_or_overdue,
)
from .services import device_model_remove

EVIDENCE_FOLDER = "emergency"
FIRMWARE = re.compile(r"[0-9A-Fa-f]{8}")
MAX_SUMMARY = 10_000
MAX_EVIDENCE = 10
State = EmergencyEntryRequest.State


class EmergencyRequestInvalid(ValueError):
    """What is wrong with a request, {field: [messages]}."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(m for ms in errors.values() for m in ms))
        self.errors = errors


def epc_device_models() -> QuerySet:
    """The device models an emergency entry may replace: SMETS1, on the CPL, in an EPC entry."""
    return (
        DeviceModel.objects.filter(
            smets_generation=SmetsGeneration.SMETS1,
            status=DeviceModel.Status.LISTED,
            product_combinations__on_list=ProductCombination.List.EPC,
        )
        .select_related("manufacturer")
        .distinct()
        .order_by(
            "manufacturer__manufacturer_id", "model_id", "hardware_version", "firmware_version"
        )
    )


def epc_combinations_of(device_model: DeviceModel | None) -> QuerySet:
    rows = ProductCombination.objects.filter(on_list=ProductCombination.List.EPC)
    return rows.filter(device_models=device_model) if device_model else rows.none()


def combinations_outside_message(device_model: DeviceModel, combinations) -> str:
    """The specific refusal when chosen combinations do not include the device model, or ""."""
    allowed = set(epc_combinations_of(device_model).values_list("pk", flat=True))
    outside = [c.reference for c in combinations if c.pk not in allowed]
    if not outside:
        return ""
    return (
        f"{', '.join(outside)} {'does' if len(outside) == 1 else 'do'} not include "
        f"{device_model}: select only the Eligible Product Combinations that include the "
        "chosen device model."
    )


def firmware_on_cpl(device_model: DeviceModel, firmware: str) -> bool:
    """Whether `firmware` of this device model (same manufacturer, model and hardware) is
    already on the CPL: a request for it is refused, and it is never listed twice."""
    return DeviceModel.objects.filter(
        manufacturer=device_model.manufacturer,
        model_id=device_model.model_id,
        hardware_version=device_model.hardware_version,
        firmware_version__iexact=firmware,
    ).exists()


def _check(device_model, firmware, image_hash, combinations, summary, classification):
    errors: dict[str, list[str]] = {}

    def problem(name, message):
        errors.setdefault(name, []).append(message)

    if device_model is None:
        problem("device_model", "Select the device model the new firmware replaces.")
    elif device_model.smets_generation != SmetsGeneration.SMETS1:
        problem("device_model", f"{device_model} is not a SMETS1 device model.")
    elif device_model.status != DeviceModel.Status.LISTED:
        problem("device_model", f"{device_model} is not on the CPL.")
    elif not epc_combinations_of(device_model).exists():
        problem("device_model", f"{device_model} is in no Eligible Product Combination.")
    if not FIRMWARE.fullmatch(firmware or ""):
        problem("new_firmware_version", "Enter the new firmware version as 8 hexadecimal digits.")
    elif device_model is not None:
        firmware = firmware.upper()
        if firmware == device_model.firmware_version.upper():
            problem("new_firmware_version", "The new firmware is the device model's current one.")
        elif firmware_on_cpl(device_model, firmware):
            problem(
                "new_firmware_version", f"Firmware {firmware} of this model is already on the CPL."
            )
        elif EmergencyEntryRequest.objects.filter(
            device_model=device_model,
            new_firmware_version=firmware,
            state__in=[State.SUBMITTED, State.ACCEPTED, State.LISTED, State.FAST_TRACK_PPCT],
        ).exists():
            problem(
                "new_firmware_version",
                f"An emergency entry request for firmware {firmware} of this model is already "
                "open.",
            )
    if image_hash and not re.fullmatch(r"[0-9a-fA-F]{64}", image_hash):
        problem("new_image_hash", "A Manufacturer Image hash is 64 hexadecimal digits (SHA-256).")
    if not combinations:
        problem("combinations", "Select the Eligible Product Combinations the firmware affects.")
    elif device_model is not None and (
        outside := combinations_outside_message(device_model, combinations)
    ):
        problem("combinations", outside)
    if not summary:
        problem("vulnerability_summary", "Summarise the vulnerability the firmware fixes.")
    elif len(summary) > MAX_SUMMARY or "\x00" in summary:
        problem(
            "vulnerability_summary",
            f"The summary must be text of at most {MAX_SUMMARY:,} characters.",
        )
    if classification not in VulnerabilityClassification.values:
        problem("summary_classification", "Select who may read the vulnerability summary.")
    return errors


def emergency_request_submit(
    *,
    actor,
    device_model: DeviceModel | None,
    new_firmware_version: str,
    combinations: Iterable[ProductCombination],
    vulnerability_summary: str,
    summary_classification: str,
    new_image_hash: str = "",
    evidence: Iterable = (),
) -> EmergencyEntryRequest:
    """A supplier user submits a request for their organisation."""
    EMERGENCY_REQUESTS.require(actor, "submit", None)
    combinations = list(dict.fromkeys(combinations))
    evidence = list(evidence)
    summary = (vulnerability_summary or "").strip()
    image_hash = (new_image_hash or "").strip().lower()
    firmware = (new_firmware_version or "").strip().upper()
    errors = _check(
        device_model, firmware, image_hash, combinations, summary, summary_classification
    )
    if len(evidence) > MAX_EVIDENCE:
        errors.setdefault("evidence", []).append(f"Attach at most {MAX_EVIDENCE} documents.")
    if errors:
        raise EmergencyRequestInvalid(errors)
    try:
        with stored_documents(folder=EVIDENCE_FOLDER) as store, transaction.atomic():
            request = EmergencyEntryRequest.objects.create(
                requester=actor,
                organisation=actor.organisation,
                device_model=device_model,
                new_firmware_version=firmware,
                new_image_hash=image_hash,
                vulnerability_summary=summary,
                summary_classification=summary_classification,
            )
            request.combinations.set(combinations)
            for upload in evidence:
                EmergencyEvidence.objects.create(
                    request=request, uploaded_by=actor, **store(upload).fields()
                )
            audit_record(
                actor=actor,
                action="emergencyentryrequest.submitted",
                obj=request,
                after={
                    "device_model": device_model.pk,
                    "new_firmware_version": firmware,
                    "new_image_hash": image_hash,
                    "combinations": [c.reference for c in combinations],
                    "summary_classification": summary_classification,
                    "evidence": len(evidence),
                },
            )
            _notify_secretariat(
                actor=actor,
                request=request,
                kind=Notice.Kind.REMINDER,
                subject=f"Emergency CPL entry request {request.reference} to decide",
                body=f"{request.organisation} asks for an emergency CPL entry: "
                f"{device_model} with new firmware {firmware}.",
                action="accept",
            )
    except IntegrityError:
        # Two submissions of the same firmware at once: the open-request constraint kept one.
        raise EmergencyRequestInvalid(
            {
                "new_firmware_version": [
                    f"An emergency entry request for firmware {firmware} of this model is "
                    "already open."
                ]
            }
        ) from None
    return request


def _locked(request: EmergencyEntryRequest) -> EmergencyEntryRequest:
    return (
        EmergencyEntryRequest.objects.select_related(
            "device_model__manufacturer", "organisation", "emergency_device_model"
        )
        .select_for_update(of=("self",))
        .get(pk=request.pk)
    )


def _tell_the_requester(*, actor, request: EmergencyEntryRequest, subject: str, body: str):
    """The requesting supplier hears of every decision on its request."""
    notice_send(
        actor=actor,
        kind=Notice.Kind.DECISION,
        subject=f"Emergency CPL entry request {request.reference}: {subject}",
        body=body,
        users=[request.requester],
        about=request,
        link=reverse("cpl:emergency", args=[request.pk]),
    )


def emergency_request_accept(*, actor, request: EmergencyEntryRequest) -> EmergencyEntryRequest:
    with transaction.atomic():
        run_transition(actor=actor, obj=request, name="accept")
        _tell_the_requester(
            actor=actor,
            request=request,
            subject="accepted",
            body=f"The SSC Secretariat accepted the request for {request.device_model} with "
            f"firmware {request.new_firmware_version}. It lists the new firmware on the CPL as "
            "an emergency entry next; a fast-track PPCT then becomes due.",
        )
    return request


def emergency_request_reject(
    *, actor, request: EmergencyEntryRequest, reason: str
) -> EmergencyEntryRequest:
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("Give the reasons for rejecting the request.")
    with transaction.atomic():
        run_transition(actor=actor, obj=request, name="reject", reason=reason)
        _tell_the_requester(
            actor=actor,
            request=request,
            subject="rejected",
            body=f"The SSC Secretariat rejected the request for {request.device_model} with "
            f"firmware {request.new_firmware_version}.\n\nReasons: {reason}",
        )
    return request


def emergency_request_list(
    *, actor, request: EmergencyEntryRequest, today=None
) -> EmergencyEntryRequest:
    """List the new firmware on the CPL as an emergency entry, tell the DCC and the SSC, and
    set the fast-track PPCT due date."""
    today = today or timezone.localdate()
    with transaction.atomic():
        EMERGENCY_REQUESTS.require(actor, "list_on_cpl", request)
        current = request.device_model
        if firmware_on_cpl(current, request.new_firmware_version):
            raise ValueError(
                f"Firmware {request.new_firmware_version} of this model is already on the CPL."
            )
        model = DeviceModel.objects.create(
            device_type=current.device_type,
            manufacturer=current.manufacturer,
            model_id=current.model_id,
            hardware_version=current.hardware_version,
            firmware_version=request.new_firmware_version,
            smets_generation=SmetsGeneration.SMETS1,
            smets_chts_version=current.smets_chts_version,
            gbcs_version=current.gbcs_version,
            manufacturer_image_hash=request.new_image_hash,
            date_added=today,
            emergency_entry=True,
        )
        audit_record(
            actor=actor,
            action="devicemodel.created",
            obj=model,
            after={"emergency_entry": True, "request": request.reference},
        )
        request.emergency_device_model = model
        run_transition(actor=actor, obj=request, name="list_on_cpl")
        due = add_working_days(today, settings.EMERGENCY_PPCT_WORKING_DAYS)
        run_transition(
            actor=actor, obj=request, name="schedule_ppct", consequence_of="list_on_cpl", on=due
        )
        dcc = Organisation.objects.filter(party_type=Organisation.PartyType.DCC)
        ssc = Organisation.objects.filter(party_type=Organisation.PartyType.SSC)
        notice_send(
            actor=actor,
            kind=Notice.Kind.CPL_CHANGE,
            subject=f"CPL change: emergency entry {model} listed",
            body="An emergency CPL entry has been added to the Central Products List: process "
            f"Service Requests for it.\n\n- {model}: emergency entry, replacing firmware "
            f"{current.firmware_version} for a security vulnerability (request "
            f"{request.reference}).\n\nA fast-track PPCT is due by {due:%-d %B %Y}.",
            organisations=[*dcc, *ssc, request.organisation],
            about=request,
            link=reverse("cpl:emergency", args=[request.pk]),
            action_link=reverse("cpl:device-model", args=[model.pk]),
            action_label="See the emergency entry",
        )
    return request


def emergency_ppct_record(
    *, actor, request: EmergencyEntryRequest, passed: bool, notes: str
) -> EmergencyEntryRequest:
    """The secretariat records the fast-track PPCT's outcome. Passed: the affected combinations
    with the new firmware join the EPC, and the entry is confirmed. Failed: the secretariat may
    withdraw the entry."""
    notes = (notes or "").strip()
    with transaction.atomic():
        request = _locked(request)
        EMERGENCY_REQUESTS.require(actor, "record_ppct", request)
        request.ppct_outcome = (
            EmergencyEntryRequest.PPCTOutcome.PASSED
            if passed
            else EmergencyEntryRequest.PPCTOutcome.FAILED
        )
        request.ppct_recorded_at = timezone.now()
        if not passed:
            request.outcome_notes = notes
            request.save(update_fields=["ppct_outcome", "ppct_recorded_at", "outcome_notes"])
            audit_record(
                actor=actor,
                action="emergencyentryrequest.ppct_failed",
                obj=request,
                after={"notes": notes},
            )
            _tell_the_requester(
                actor=actor,
                request=request,
                subject="fast-track PPCT failed",
                body=f"The fast-track PPCT of the emergency entry {request.emergency_device_model} "
                f"failed.\n\n{notes}".strip()
                + "\n\nThe SSC Secretariat withdraws the entry from the CPL.",
            )
            _notify_secretariat(
                actor=actor,
                request=request,
                kind=Notice.Kind.REMINDER,
                subject=f"Fast-track PPCT failed: {request.reference}",
                body=f"The fast-track PPCT of the emergency entry {request.emergency_device_model} "
                "failed. Withdraw the emergency entry from the CPL.",
                action="withdraw",
            )
            return request
        request.save(update_fields=["ppct_outcome", "ppct_recorded_at"])
        added = _combinations_add(request)
        run_transition(
            actor=actor,
            obj=request,
            name="confirm",
            consequence_of="record_ppct",  # asked above, before the outcome was written
            reason=notes,
            audit_extra={"epc_entries": [c.reference for c in added]},
        )
        _tell_the_requester(
            actor=actor,
            request=request,
            subject="confirmed",
            body=f"The fast-track PPCT of the emergency entry {request.emergency_device_model} "
            f"passed: the entry is confirmed, and these combinations with the new firmware are on "
            f"the Eligible Product Combinations: {', '.join(c.reference for c in added)}.",
        )
    return request


def _combinations_add(request: EmergencyEntryRequest) -> list[ProductCombination]:
    """Each affected combination with the old firmware replaced by the new, on the EPC."""
    old, new = request.device_model, request.emergency_device_model
    added = []
    for index, combination in enumerate(
        request.combinations.order_by("reference").prefetch_related("device_models"), start=1
    ):
        members = [new if m.pk == old.pk else m for m in combination.device_models.all()]
        reference = f"{combination.reference}-{request.reference}"
        if len(reference) > 20:
            reference = f"{request.reference}-{index}"
        added.append(
            combination_lists.product_combination_save(
                actor=None,  # the consequence of the recorded PPCT pass
                reference=reference,
                csp=combination.csp,
                device_models=members,
                on_list=ProductCombination.List.EPC,
            )
        )
    return added


def emergency_request_withdraw(
    *, actor, request: EmergencyEntryRequest, reason: str
) -> EmergencyEntryRequest:
    """Withdraw an emergency entry whose fast-track PPCT failed or is overdue: the device model
    leaves the CPL (the removed-entries register, a CPL change notice to the DCC)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("Give the reason for withdrawing the emergency entry.")
    with transaction.atomic():
        request = _locked(request)
        run_transition(actor=actor, obj=request, name="withdraw", reason=reason)
        model = request.emergency_device_model
        if model is not None and model.status == DeviceModel.Status.LISTED:
            device_model_remove(
                actor=actor,
                model=model,
                basis=DeviceModel.RemovalBasis.EMERGENCY_WITHDRAWN,
                reference=request.reference,
                reason=f"Emergency entry withdrawn ({request.reference}): {reason}",
                consequence_of="withdraw",
            )
        _tell_the_requester(
            actor=actor,
            request=request,
            subject="emergency entry withdrawn",
            body=f"The SSC Secretariat withdrew the emergency entry {model} from the CPL.\n\n"
            f"Reason: {reason}",
        )
    return request


def emergency_deadlines_check(*, today=None) -> int:
    """Alert the secretariat, once per request, to fast-track PPCTs past their due date
    without a recorded pass (the beat task)."""
    today = today or timezone.localdate()
    alerted = 0
    overdue = EmergencyEntryRequest.objects.filter(
        state=State.FAST_TRACK_PPCT, ppct_due__lt=today, deadline_alerted_at__isnull=True
    ).values_list("pk", flat=True)
    for pk in list(overdue[:500]):
        with transaction.atomic():
            request = (
                # Only the request's row: PostgreSQL locks no nullable side of an outer join.
                EmergencyEntryRequest.objects.select_for_update(of=("self",))
                .select_related("emergency_device_model", "device_model__manufacturer")
                .get(pk=pk)
            )
            if request.deadline_alerted_at is not None or not emergency_ppct_failed_or_overdue(
                request, today
            ):
                continue
            request.deadline_alerted_at = timezone.now()
            request.save(update_fields=["deadline_alerted_at"])
            audit_record(
                actor=None,
                action="emergencyentryrequest.deadline_passed",
                obj=request,
                after={"ppct_due": request.ppct_due},
            )
            _notify_secretariat(
                actor=None,
                request=request,
                kind=Notice.Kind.REMINDER,
                subject=f"Fast-track PPCT overdue: {request.reference}",
                body=f"The fast-track PPCT of the emergency entry "
                f"{request.emergency_device_model} was due by {request.ppct_due:%-d %B %Y} and "
                "has not passed. Record its outcome, or withdraw the emergency entry.",
                action="withdraw",
            )
            alerted += 1
    return alerted


def _notify_secretariat(*, actor, request, kind, subject, body, action) -> None:
    """Tell the users who may take `action` on the request (the policy says who)."""
    candidates = User.objects.filter(
        is_active=True, organisation__party_type=Organisation.PartyType.SSC
    ).select_related("organisation")
    recipients = EMERGENCY_REQUESTS.users_with(action, request, candidates)
    if not recipients:
        return
    notice_send(
        actor=actor,
        kind=kind,
        subject=subject,
        body=body,
        users=recipients,
        about=request,
        link=reverse("cpl:emergency", args=[request.pk]),
        action_link=reverse("cpl:emergency", args=[request.pk]),
        action_label="Open the request",
    )
