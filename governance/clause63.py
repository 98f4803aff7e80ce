"""CPL Requirements Document clause 6.3: the SSC notifies the relevant Parties that a CPA
Certificate Remedial Plan is required. Never silent: a remedial-plan decision is issued only
when the latest DCC inventory covers every device model of the case, or the chair confirms,
with a reason, that no supplier has devices of the models it does not cover. A remediation case
closes when every plan requirement is completed, and only then."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import prefetch_related_objects
from django.urls import reverse
from django.utils import timezone

from portal.audit import audit_record
from portal.models import AuditEvent, Notice
from portal.notices import notice_send
from portal.transitions import run_transition

from . import policies
from .models import Case, Decision, DecisionRecord, PlanRequirement
from .policies import why_not_closable
from .record import party_text
from .selectors import inventory_coverage

WHAT_A_PLAN_COVERS = (
    "A plan must cover every device of these models your organisation is responsible for "
    "(installed by it or gained on change of supplier): the steps that remove or reduce the "
    "security risk (such as a firmware update or a replacement), with milestones, target dates "
    "and the number of devices each covers, proportionate to the severity of the issue and the "
    "number of devices, and in line with your SEC G8.64 policy."
)


def uncovered(coverage: dict) -> list[str]:
    """The device models the latest inventory shows no devices of."""
    return [m["name"] for m in coverage["models"] if not m["devices"]]


def case_coverage(case: Case) -> tuple[dict, list[str]]:
    """The one reading of a case's clause 6.3 coverage: the latest DCC inventory's devices per
    device model, and the models it does not cover. The decision snapshot freezes it at the
    ballot's close; the issue page shows it; the issue checks it and stores it on the record."""
    coverage = inventory_coverage(case)
    return coverage, uncovered(coverage)


def decision_coverage_confirm(
    *, actor, case: Case, record: DecisionRecord, no_devices_reason: str
) -> None:
    """Before a decision is issued (the caller saves the record): its inventory coverage goes on
    the record; a remedial-plan decision on a model the inventory does not cover is refused
    unless the chair confirms, with a reason, that no supplier has such devices (audited)."""
    from .policies import cases

    cases.require(actor, "issue_decision", case)  # who may issue is asked before anything else
    coverage, missing = case_coverage(case)
    if record.decision != Decision.REMEDIAL_PLAN:
        missing = []
    reason = no_devices_reason.strip()
    if missing and not reason:
        raise ValidationError(
            {
                "no_devices_reason": "The latest DCC inventory shows no devices of "
                + "; ".join(missing)
                + ": no supplier would be notified under clause 6.3. Import an inventory "
                "extract that covers them, or confirm, with your reason, that no supplier has "
                "such devices."
            }
        )
    record.inventory_coverage = coverage
    if missing:
        record.no_devices_reason = reason
        record.no_devices_confirmed_by, record.no_devices_confirmed_at = actor, timezone.now()
        audit_record(
            actor=actor,
            action="decision.no_devices_confirmed",
            obj=case,
            after={
                "device_models": missing,
                "inventory_as_of": coverage["inventory_as_of"],
                "reason": reason,
            },
        )


def plan_obligation_body(case: Case, *, devices: int, as_of, due) -> str:
    """The clause 6.3 notice to one supplier: its own device count only, and of the issue only
    what Parties may read (need to know)."""
    return "\n".join(
        [
            "The Security Sub-Committee (SSC) notifies you under CPL Requirements Document "
            f"clause 6.3: it decided not to remove the device models of case {case.reference} "
            "from the CPL, and requires a CPA Certificate Remedial Plan from each supplier "
            "responsible for devices of them.",
            "",
            party_text(case),
            "",
            "Severity: as far as the summary above states it. The SSC's own assessment is "
            "shared only with those who need to know; ask the SSC Secretariat if your plan "
            "needs more.",
            "",
            f"Your organisation is responsible for {devices:,} devices of these models (DCC "
            f"inventory as of {as_of:%-d %B %Y}).",
            "",
            "What your plan must cover:",
            WHAT_A_PLAN_COVERS,
            "",
            f"Submit your plan in the portal by {due:%-d %B %Y}: "
            f"{settings.PLAN_DUE_WORKING_DAYS} Working Days after the decision (local practice: "
            "the SEC text sets no date).",
        ]
    )


def clause63_decision_lines(case: Case, record: DecisionRecord) -> list[str]:
    """The decision notice on who notifies under clause 6.3 (the SSC), and whom."""
    notified = case.plan_requirements.count()
    lines = [
        "",
        "Under CPL Requirements Document clause 6.3 the SSC notifies each supplier responsible "
        "for devices of these models (from the latest DCC inventory) that it must put a CPA "
        f"Certificate Remedial Plan in place: {notified} supplier"
        f"{'s are' if notified != 1 else ' is'} notified separately, each of its own devices.",
    ]
    missing = uncovered(record.inventory_coverage) if record.inventory_coverage else []
    if missing and record.no_devices_reason:
        lines += [
            "",
            "The latest DCC inventory shows no devices of "
            + "; ".join(missing)
            + ". The chair confirmed that no supplier has such devices; the reason is on the "
            "SSC's record.",
        ]
    return lines


def closes_on_completion(case: Case) -> bool:
    """A remediation case closes by itself when plans were required (never vacuously) and the
    rule for closing any case holds (`policies.why_not_closable`)."""
    return (
        case.state == Case.State.REMEDIATION
        and bool(case.plan_requirements.all())
        and why_not_closable(case) is None
    )


CLOSED_ON_COMPLETION = "every remedial plan is completed"
# What set the automatic close off (the audit event's `consequence_of`), as the page says it.
CLOSED_WHEN = {
    "plan.complete": "when the last remedial plan was confirmed as completed",
    "referral.close": "when the last referral to the Authority was closed",
    "plans.completed": "once the referral window had passed",
}


def case_close_on_completion(*, actor, case: Case, consequence_of: str) -> bool:
    """Close a remediation case whose every plan requirement is completed (inside the caller's
    transaction, the case locked by it), and tell those who would otherwise have closed it by
    hand (the secretariat and the case's chair). Returns whether it closed."""
    case = Case.objects.select_for_update().get(pk=case.pk)
    # What the closing rule and the chair's rule read, once for every SSC user asked below.
    prefetch_related_objects([case], "conflicts__member", "plan_requirements", "referrals")
    if not closes_on_completion(case):
        return False
    # Asked while the case may still be closed: afterwards no one may.
    told = policies.cases.users_with("close", case, policies.ssc_users())
    run_transition(
        actor=actor,
        obj=case,
        name="close",
        consequence_of=consequence_of,
        audit_extra={"reason": CLOSED_ON_COMPLETION},
    )
    when = CLOSED_WHEN.get(consequence_of, "")
    notice_send(
        actor=actor,
        kind=Notice.Kind.CASE_CLOSED,
        users=told,
        about=case,
        link=reverse("governance:case", args=[case.pk]),
        subject=f"Case {case.reference} closed: every remedial plan is completed",
        body=f"Case {case.reference} closed automatically on "
        f"{timezone.localdate():%-d %B %Y}{' ' + when if when else ''}: "
        f"{CLOSED_ON_COMPLETION}, no referral to the Authority is open and the referral window "
        "has passed (CPL Requirements Document clause 6.3: every supplier's obligation is met).",
    )
    return True


def automatic_close(case: Case) -> dict | None:
    """How a closed case closed by itself, read from its audit event (one query): {"at",
    "reason", "when"}; None when it was closed by hand or is not closed."""
    if case.state != Case.State.CLOSED:
        return None
    event = (
        AuditEvent.objects.filter(
            action="case.close", object_type=Case._meta.label_lower, object_id=str(case.pk)
        )
        .order_by("-seq")
        .first()
    )
    after = (event.after or {}) if event else {}
    if not after.get("consequence_of"):
        return None
    return {
        "at": event.occurred_at,
        "reason": after.get("reason", CLOSED_ON_COMPLETION),
        "when": CLOSED_WHEN.get(after["consequence_of"], ""),
    }


def cases_close_completed() -> int:
    """The beat task: cases whose last plan completed inside the referral window close once it
    has passed."""
    from django.db import transaction

    waiting = (
        Case.objects.filter(state=Case.State.REMEDIATION, plan_requirements__isnull=False)
        .exclude(
            plan_requirements__state__in=[
                s for s in PlanRequirement.State.values if s != PlanRequirement.State.COMPLETED
            ]
        )
        .distinct()
    )
    closed = 0
    for case in waiting:
        with transaction.atomic():
            closed += case_close_on_completion(
                actor=None, case=case, consequence_of="plans.completed"
            )
    return closed
