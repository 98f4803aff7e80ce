"""SEC F2.7B referrals to the Authority and SEC G7.21(j) information requests."""

import datetime
import logging
import uuid
from typing import cast

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_fsm import TransitionNotAllowed, can_proceed

from cpl import selectors as cpl_selectors
from cpl.models import CPLRemoval, DeviceModel
from cpl.services import device_model_relist_on_determination, device_model_remove
from portal.audit import audit_record
from portal.documents import stored_documents
from portal.models import Notice, Organisation, User, absolute_url
from portal.notices import notice_send
from portal.policies import NotNow
from portal.roles import Role
from portal.transitions import run_transition
from portal.working_days import add_working_days

from . import policies
from .clause63 import case_close_on_completion
from .models import (
    Case,
    Decision,
    InformationRequest,
    PlanRequirement,
    Referral,
    ReferralDocument,
    ReferralPack,
)
from .packs import pack_build

Kind = Referral.Kind
logger = logging.getLogger(__name__)


def _organisations(*party_types):
    return list(Organisation.objects.filter(party_type__in=party_types))


def _notify(
    actor,
    referral: Referral,
    subject: str,
    body: str,
    *,
    action: str = "",
    authority: bool = False,
    party: bool = False,
    kind=Notice.Kind.REFERRAL,
):
    """One notice per step of a referral per recipient, only to those it concerns: the SSC
    and Authority users who may take the referral's next `action` (the secretariat sends the
    pack, the Authority determines), asked to take it; and, told without being asked anything
    (a notice its reader acknowledges), the Authority as a whole with `authority` (it follows
    every referral from its lodging) and the referring Party with `party` (the determination).
    Referral and determination notices are filed as referral notices; the G7.21(j) exchange as
    information requests."""
    path = reverse("governance:referral", args=[referral.pk])
    subject = f"{referral.reference}: {subject}"
    told = [
        *([referral.organisation] if party else []),
        *(_organisations(Organisation.PartyType.AUTHORITY) if authority else []),
    ]
    if told:
        notice_send(
            actor=actor,
            kind=kind,
            organisations=told,
            subject=subject,
            body=body,
            about=referral,
            link=path,
            action_link=path,
            action_label="Read the referral",
        )
    if not action:
        return
    reached = {u.pk for o in told for u in o.notice_contacts()}
    candidates = User.objects.filter(is_active=True).filter(
        Q(pk__in=policies.ssc_users().values("pk")) | Q(groups__name=Role.AUTHORITY)
    )
    users = [
        u
        for u in policies.referrals.users_with(action, referral, candidates.distinct())
        if u.pk not in reached and u != actor  # who took the step knows
    ]
    if users:
        notice_send(
            actor=actor,
            kind=kind,
            users=users,
            subject=subject,
            body=body,
            about=referral,
            link=path,
            action_link=path,
            action_label=_NEXT_STEP[action],
            action=action,
        )


_NEXT_STEP = {
    "send_pack": "Send the referral pack",
    "determine": "Record the determination",
    "provide_information": "Answer the Authority's request",
    "close": "Close the referral",
}


def what_happens_next(referral: Referral) -> str:
    """For the referring Party: where its referral stands and who acts next (SEC F2.7B,
    G7.21(j))."""
    S = Referral.State
    if referral.state == S.LODGED:
        due = referral.pack_due_date
        by = f" by {due.day} {due:%B %Y}" if due else ""
        return f"The SSC sends the Authority its pack{by}."
    return {
        S.PACK_SENT: "The Authority is considering it; it may ask the SSC for information.",
        S.INFORMATION_REQUESTED: "The Authority has asked the SSC for information.",
        S.INFORMATION_PROVIDED: "The SSC has answered the Authority, which now determines it.",
        S.DETERMINED: "The Authority has determined it; the SSC Secretariat closes the referral.",
    }.get(referral.state, "Nothing more is needed on it.")


def decision_address(case: Case) -> list[Organisation]:
    """SEC F2.7B: a decision is addressed to the DCC and to every supplier with devices of its
    models in the latest inventory (installing or not), beside the Parties the secretariat
    added; any of them may refer it, and make representations while the SSC assesses the case
    (called when the assessment starts, and again on issue). Returns the Parties it adds."""
    affected = cpl_selectors.affected_suppliers(case.device_models.values("pk"))
    added = [
        *Organisation.objects.filter(party_type=Organisation.PartyType.DCC),
        *Organisation.objects.filter(pk__in=[row["supplier_id"] for row in affected]),
    ]
    already = set(case.addressed_to.values_list("pk", flat=True))
    added = [o for o in dict.fromkeys(added) if o.pk not in already]
    case.addressed_to.add(*added)
    return added


def removal_referrals_pending(model: DeviceModel) -> list[str]:
    """Referrals of an SSC decision that removed `model` which the Authority has not yet
    determined: re-listing now would pre-empt its determination (the cpl relist page warns)."""
    pending = (
        Referral.objects.filter(kind=Kind.REMOVE, case__device_models=model)
        .exclude(state__in=[Referral.State.DETERMINED, Referral.State.CLOSED])
        .select_related("case", "organisation")
        .order_by("lodged_at")
    )
    return [
        f"Referral {r.reference} by {r.organisation} of the SSC's decision on case "
        f"{r.case.reference} to remove this model is with the Authority "
        f"({r.get_state_display().lower()}): its determination is final and binding."
        for r in pending
    ]


def readable_references(user, references) -> set[str]:
    """Of these case and referral references, those the user may see (the register shows only
    those beside its removals)."""
    references = set(references)
    if not references:
        return set()
    return set(
        policies.cases.visible(user)
        .filter(reference__in=references)
        .values_list("reference", flat=True)
    ) | set(
        policies.referrals.visible(user)
        .filter(reference__in=references)
        .values_list("reference", flat=True)
    )


def referral_window_text(start) -> str:
    """The F2.7B window as the decision notice and the referral page state it."""
    first, last = policies.referral_window(start)
    right = (
        "Any Party this decision is addressed to that disagrees with it may refer it to the "
        "Authority for a final and binding determination (SEC F2.7B)"
    )
    if last is None:
        return f"{right}. The portal sets no time limit for a referral (the SEC text sets none)."
    return (
        f"{right} until {last:%-d %B %Y}: {settings.REFERRAL_WINDOW_WORKING_DAYS} Working Days "
        f"after {first:%-d %B %Y} (local practice: the SEC text sets no time limit)."
    )


def pack_due_date(referral: Referral) -> datetime.date:
    """The day by which the secretariat sends the pack (local practice: the SEC sets none)."""
    return add_working_days(
        timezone.localdate(referral.lodged_at), settings.REFERRAL_PACK_DUE_WORKING_DAYS
    )


def pack_due_text(referral: Referral) -> str:
    return (
        f"The SSC Secretariat sends the referral pack to the Authority by "
        f"{referral.pack_due_date:%-d %B %Y} ({settings.REFERRAL_PACK_DUE_WORKING_DAYS} Working "
        f"Days after the referral was lodged; local practice: the SEC text sets no time limit)."
    )


def _require_referable(refusal) -> None:
    """Who may never refer is refused (403); a closed window or a decision already referred or
    determined is a clear error on the form."""
    if isinstance(refusal, NotNow):
        raise ValidationError(refusal)
    if refusal is not None:
        raise PermissionDenied(refusal)


def referral_lodge(
    *,
    actor,
    case: Case,
    kind: str,
    grounds: str,
    uploads=(),
    requirement: PlanRequirement | None = None,
) -> Referral:
    # Fresh rows: the decision, its referrals and the plan are what they are now.
    case = Case.objects.get(pk=case.pk)
    # The policy admits a referral only once the decision is issued (its refusal says so).
    _require_referable(policies.cases.why_not(actor, "refer", case))
    record = case.decision_record
    if requirement is not None:
        requirement = PlanRequirement.objects.get(pk=requirement.pk)
    if kind == Kind.REMOVE and record.decision != Decision.SUSPEND:
        raise ValidationError("The SSC did not decide to remove these device models.")
    if kind == Kind.NOT_REMOVE and record.decision != Decision.REMEDIAL_PLAN:
        raise ValidationError("The SSC did not decide against removing these device models.")
    if kind == Kind.PLAN_NOT_APPROVED:
        if requirement is None or requirement.case_id != case.pk:
            raise ValidationError("Choose the remedial plan whose review you refer.")
        refusal = policies.plan_requirements.why_not(actor, "refer", requirement)
    elif kind not in Kind.values:
        raise ValidationError("This kind of decision cannot be referred to the Authority.")
    else:
        requirement = None
        refusal = policies.cases.why_not_refer_decision(actor, case)
    _require_referable(refusal)
    uploads = list(uploads)
    try:
        # One referral per decision per Party (database constraints): a parallel or replayed
        # lodge rolls back whole, its stored files removed by `stored_documents`.
        with stored_documents(folder="referrals") as store, transaction.atomic():
            referral = Referral.objects.create(
                reference=f"tmp-{uuid.uuid4().hex[:20]}",  # numbered below
                case=case,
                kind=kind,
                plan_requirement=requirement,
                organisation_id=actor.organisation_id,
                lodged_by=actor,
                grounds=grounds,
            )
            referral.reference = f"REF-{timezone.localdate().year}-{referral.pk:04d}"
            referral.pack_due_date = pack_due_date(referral)
            referral.save(update_fields=["reference", "pack_due_date"])
            for upload in uploads:
                _store_document(actor, referral, store(upload), ReferralDocument.Source.GROUNDS)
            audit_record(
                actor=actor,
                action="referral.lodged",
                obj=referral,
                after={
                    "case": case.reference,
                    "kind": kind,
                    "documents": len(uploads),
                    "pack_due": referral.pack_due_date,
                },
            )
            _notify(
                actor,
                referral,
                "referral lodged",
                f"{referral.organisation} referred the SSC's decision on case {case.reference} "
                f"to the Authority ({referral.get_kind_display().lower()}).\n\n{grounds}\n\n"
                f"{pack_due_text(referral)}",
                # The secretariat sends the pack; the Authority follows the referral from now.
                action="send_pack",
                authority=True,
            )
    except IntegrityError:
        if Referral.objects.filter(
            case=case, kind=kind, plan_requirement=requirement, organisation=actor.organisation_id
        ).exists():
            raise ValidationError("Your organisation has already referred this decision.") from None
        raise
    return referral


def _store_document(actor, referral, stored, source, request=None):
    document = ReferralDocument.objects.create(
        referral=referral,
        information_request=request,
        source=source,
        **stored.fields(),
        uploaded_by=actor,
    )
    audit_record(
        actor=actor,
        action="referral.document_added",
        obj=referral,
        after={"document": document.original_name, "sha256": stored.sha256},
    )
    return document


def _transition(actor, referral: Referral, name: str, **kwargs) -> Referral:
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    try:
        run_transition(actor=actor, obj=referral, name=name, **kwargs)
    except TransitionNotAllowed:
        raise ValidationError(
            f"The referral is {referral.get_state_display().lower()}: it "
            f"cannot be {name.replace('_', ' ')} now."
        ) from None
    return referral


def _pack_check(pack: ReferralPack) -> str:
    """What the Authority checks a download against: the manifest's hash, stated outside the
    ZIP, and the key that signs it."""
    return (
        f"Pack version {pack.version}: the SHA-256 of its manifest.json is "
        f"{pack.manifest_sha256}. Its signature (manifest.json.sig) verifies with the portal's "
        f"public key, published at {absolute_url(reverse('signing-key'))}."
    )


def referral_send_pack(*, actor, referral: Referral, disclosed=()) -> ReferralPack:
    """The secretariat assembles the pack (with the evidence it discloses) and sends it."""
    disclosed = list(disclosed)
    if any(d.case_id != referral.case_id for d in disclosed):
        raise ValidationError("A pack discloses evidence of its own case only.")
    # The evidence policy decides the pack's contents: nothing the sender may not see.
    for document in disclosed:
        policies.evidence.require(actor, "view", document)
    with transaction.atomic():
        referral = _transition(actor, referral, "send_pack")
        referral.disclosed_documents.set(disclosed)
        pack = pack_build(actor=actor, referral=referral)
        audit_record(
            actor=actor,
            action="referral.pack_built",
            obj=referral,
            after={
                "version": pack.version,
                "manifest_sha256": pack.manifest_sha256,
                "disclosed": [d.pk for d in disclosed],
            },
        )
        _notify(
            actor,
            referral,
            "referral pack sent to the Authority",
            f"The pack for referral {referral.reference} (case {referral.case.reference}) "
            f"is with the Authority.\n\n{_pack_check(pack)}",
            action="determine",
        )
    return pack


def information_request(
    *, actor, referral: Referral, text: str, due_date: datetime.date
) -> InformationRequest:
    if due_date < timezone.localdate():
        raise ValidationError("The due date cannot be in the past.")
    with transaction.atomic():
        referral = _transition(actor, referral, "request_information")
        request = InformationRequest.objects.create(
            referral=referral, text=text, due_date=due_date, requested_by=actor
        )
        _notify(
            actor,
            referral,
            "information requested by the Authority",
            f"SEC G7.21(j): the Authority requests, by {due_date:%-d %B %Y}:\n\n{text}",
            action="provide_information",
            kind=Notice.Kind.INFORMATION_REQUEST,
        )
    return request


def information_provide(
    *, actor, request: InformationRequest, response: str, uploads=()
) -> ReferralPack:
    """The SSC answers; the answer joins a new pack version (earlier versions stay as they were)."""
    with stored_documents(folder="referrals") as store, transaction.atomic():
        request = InformationRequest.objects.select_for_update().get(pk=request.pk)
        if request.responded_at is not None:
            raise ValidationError("This request has already been answered.")
        referral = _transition(actor, request.referral, "provide_information")
        request.response, request.responded_by = response, actor
        request.responded_at = timezone.now()
        request.save()
        for upload in uploads:
            stored = store(upload)
            _store_document(actor, referral, stored, ReferralDocument.Source.RESPONSE, request)
        pack = pack_build(actor=actor, referral=referral)
        _notify(
            actor,
            referral,
            "information provided to the Authority",
            f"The SSC answered; pack version {pack.version} includes the answer."
            f"\n\n{_pack_check(pack)}",
            action="determine",
            kind=Notice.Kind.INFORMATION_REQUEST,
        )
    return pack


def referral_determine(
    *, actor, referral: Referral, outcome: str, reasons: str, effective_date: datetime.date
) -> Referral:
    """The Authority's final and binding determination, applied to the case and the CPL."""
    if outcome not in Referral.Outcome.values:
        raise ValidationError("Choose upheld or overturned.")
    with transaction.atomic():
        referral = _transition(actor, referral, "determine", outcome=outcome)
        referral.determination_reasons, referral.effective_date = reasons, effective_date
        referral.determined_by, referral.determined_at = actor, timezone.now()
        referral.save()
        text = (
            f"The Authority determined referral {referral.reference} on case "
            f"{referral.case.reference}: {referral.get_outcome_display()}, effective "
            f"{effective_date:%-d %B %Y}.\n\n{reasons}"
        )
        # Suppliers a re-instated remedial-plan decision now obliges get one notice each, the
        # clause 6.3 notice carrying the determination.
        notified: set[int] = set()
        if outcome == Referral.Outcome.OVERTURNED and effective_date <= timezone.localdate():
            _apply_overturn(actor, referral, also=text, notified=notified)
        _notify(
            actor,
            referral,
            f"determination: {referral.get_outcome_display()}",
            text,
            # A formal notice to the Party; the secretariat closes the referral.
            action="close",
            party=referral.organisation_id not in notified,
        )
    return referral


def referrals_apply_due(*, today: datetime.date | None = None) -> int:
    """Apply overturning determinations whose effective date has come; the number that changed
    something (one whose effect was already in place is recorded, not counted)."""
    today = today or timezone.localdate()
    due = Referral.objects.filter(
        outcome=Referral.Outcome.OVERTURNED,
        effect_applied_at__isnull=True,
        effective_date__lte=today,
    )
    applied = 0
    for referral_id in list(due.values_list("pk", flat=True)):
        # Each in its own transaction: one that cannot be applied is logged, rolled back whole
        # and stays due; it never blocks the determinations after it.
        try:
            with transaction.atomic():
                referral = Referral.objects.select_for_update().get(pk=referral_id)
                if referral.effect_applied_at is None:
                    applied += _apply_overturn(referral.determined_by, referral)
        except Exception:
            logger.exception(
                "The determination of referral %s could not be applied; it stays due",
                Referral.objects.filter(pk=referral_id).values_list("reference", flat=True).first(),
            )
    return applied


# Where each kind of overturn puts what it overturns, and the transition that puts it there.
_OVERTURN: dict[str, tuple[str, str]] = {
    Kind.REMOVE: (Case.State.REMEDIATION, "overturn_to_remediation"),
    Kind.NOT_REMOVE: (Case.State.SUSPENSION, "overturn_to_suspension"),
}


def _apply_overturn(actor, referral: Referral, *, also: str = "", notified=None) -> bool:
    """Apply an overturning determination. Idempotent in the case's state: when two Parties
    referred the same decision and both were overturned, the second finds the case (or plan
    requirement) already where the overturn puts it, records that and changes nothing. One
    that cannot be applied (the case moved elsewhere) is a ValidationError, never a 500.
    Clause 6.3 notices it sends carry `also`; their suppliers are added to `notified`.
    Returns whether anything changed."""
    from .plans import plan_requirements_create

    referral.effect_applied_at = timezone.now()
    referral.save(update_fields=["effect_applied_at"])

    case = Case.objects.select_for_update().get(pk=referral.case_id)
    obj: Case | PlanRequirement = case
    if referral.kind in _OVERTURN:
        target, name = _OVERTURN[referral.kind]
    else:
        obj = PlanRequirement.objects.select_for_update().get(pk=referral.plan_requirement_id)
        target, name = PlanRequirement.State.APPROVED, "approve_by_determination"
    if obj.state == target:
        audit_record(
            actor=actor,
            action="referral.overturn_already_in_effect",
            obj=referral,
            after={"case": case.reference, "of": str(obj), "state": obj.state},
        )
        return False
    if not can_proceed(getattr(obj, name)):
        raise ValidationError(
            f"{obj} is {obj.get_state_display().lower()}: the determination on referral "
            f"{referral.reference} cannot be applied to it."
        )
    models = list(case.device_models.select_related("manufacturer"))
    reason = f"Authority determination on referral {referral.reference}"
    if referral.kind == Kind.REMOVE:
        # Only the removal the determination overturns: a model removed since on another basis
        # (a lapsed non-CPA certificate) stays removed.
        removed_by_case = set(
            CPLRemoval.objects.filter(
                device_model__in=models,
                relisted_at__isnull=True,
                basis=DeviceModel.RemovalBasis.SSC_DECISION,
                reference=case.reference,
            ).values_list("device_model_id", flat=True)
        )
        for model in models:
            if model.status == DeviceModel.Status.REMOVED and model.pk in removed_by_case:
                device_model_relist_on_determination(
                    actor=actor,
                    model=model,
                    reference=referral.reference,
                    reason=f"{reason} (case {case.reference}): re-listed on the CPL.",
                    consequence_of="referral.determine",
                )
        run_transition(
            actor=actor,
            obj=case,
            name="overturn_to_remediation",
            consequence_of="referral.determine",
            audit_extra={"decision": Decision.REMEDIAL_PLAN},
        )
        required = plan_requirements_create(actor=actor, case=case, also=also)
        if notified is not None:
            notified.update(r.supplier_id for r in required)
    elif referral.kind == Kind.NOT_REMOVE:
        for model in models:
            if model.status == DeviceModel.Status.LISTED:
                device_model_remove(
                    actor=actor,
                    model=model,
                    basis=DeviceModel.RemovalBasis.AUTHORITY_DETERMINATION,
                    reference=referral.reference,
                    reason=f"{reason} (case {case.reference}): removed from the CPL.",
                    consequence_of="referral.determine",
                )
        run_transition(
            actor=actor,
            obj=case,
            name="overturn_to_suspension",
            consequence_of="referral.determine",
            audit_extra={"decision": Decision.SUSPEND},
        )
    else:
        requirement = cast(PlanRequirement, obj)
        run_transition(
            actor=actor,
            obj=requirement,
            name="approve_by_determination",
            consequence_of="referral.determine",
            audit_extra={"referral": referral.reference},
        )
        # The SSC's refusal stays on the plan as it was (what was referred, its reasons, who
        # decided): the Authority's approval is the referral's, shown beside it.
        plan = requirement.plans.latest("version")  # a referred review has a plan
        audit_record(
            actor=actor,
            action="plan.approved_by_determination",
            obj=requirement,
            after={"referral": referral.reference, "version": plan.version},
        )
    return True


def referral_close(*, actor, referral: Referral) -> Referral:
    with transaction.atomic():
        referral = _transition(actor, referral, "close")
        # The last open referral closed: a case whose plans are all completed closes now.
        case_close_on_completion(actor=actor, case=referral.case, consequence_of="referral.close")
        # Nobody has anything left to do: no notice (the determination was the last).
    return referral
