"""State × role tables for every state machine, generated from the models and their policies.

For every model with a django-fsm field and a registered policy, every transition whose
`permission=` is a `policy_permission`, every state of the model and every role (the `users`
fixture, a member and a chair conflicted on the case concerned, and the system actor `None`):

- `has_transition_perm(transition, user)` agrees with the policy (where the state admits it);
- `run_transition` succeeds exactly when the state admits the transition and the policy allows
  it, writing the target state and its audit event; otherwise it raises TransitionNotAllowed
  (the state), ActionNotNow (the policy: not now) or PermissionDenied (the policy: not you), and
  the row in the database keeps its state.

Nothing here lists a machine's states, transitions or roles: a new machine, state or action is
covered as soon as its model and policy exist. Only building one object of a model is written by
hand (BUILDERS); a machine with a policy and no builder fails loudly.
"""

from __future__ import annotations

import datetime
import inspect
from dataclasses import dataclass, field
from functools import cached_property

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed, can_proceed, has_transition_perm

from cpl.models import AssuranceCertificate, CPLImport, DeviceModel, Manufacturer
from governance.management.commands.state_machines import (
    fsm_machines,
    policy_or_none,
    transitions_by_method,
)
from governance.models import (
    Ballot,
    Case,
    ConflictDeclaration,
    Decision,
    DecisionRecord,
    PlanRequirement,
    Referral,
)
from portal.models import AuditEvent
from portal.policies import ActionNotNow, NotNow
from portal.transitions import run_transition

from .helpers import make_user

# --- what to test, read from the models and policies ------------------------------------------


@dataclass(frozen=True)
class Row:
    model: type
    field: str
    transition: str
    action: str

    @property
    def id(self) -> str:
        return f"{self.model._meta.label}.{self.transition}"


def table_rows() -> list[Row]:
    rows = []
    for model, fsm_field in fsm_machines():
        if policy_or_none(model) is None:
            continue
        for name, transitions in sorted(transitions_by_method(model, fsm_field).items()):
            actions = {getattr(t.permission, "policy_action", None) for t in transitions}
            actions.discard(None)
            for action in sorted(actions):
                rows.append(Row(model, fsm_field.name, name, action))
    return rows


ROWS = table_rows()

# Values for the arguments transitions take, by parameter name (a new name fails loudly).
TODAY = datetime.date.today()
ARGUMENTS = {
    "basis": DeviceModel.RemovalBasis.CERTIFICATE,
    "choice": Decision.SUSPEND,
    "decision": Decision.SUSPEND,
    "error_count": 0,
    "errors": [],
    "message": "State table test",
    "on": TODAY,
    "outcome": Referral.Outcome.UPHELD,
    "reason": "State table test",
    "result": Decision.SUSPEND,
    "summary": {},
}


def transition_kwargs(model, name: str) -> dict:
    kwargs = {}
    for parameter in list(inspect.signature(getattr(model, name)).parameters.values())[1:]:
        if parameter.default is not inspect.Parameter.empty:
            continue
        if parameter.name not in ARGUMENTS:
            pytest.fail(
                f"{model.__name__}.{name} takes `{parameter.name}`: add a value for it to "
                "ARGUMENTS in tests/test_state_role_tables.py."
            )
        kwargs[parameter.name] = ARGUMENTS[parameter.name]
    return kwargs


# --- building one object of a model in a given state ------------------------------------------


@dataclass
class World:
    """The rows objects need, made once per test on first use."""

    users: dict
    counter: int = 0
    cases: list = field(default_factory=list)

    def next(self) -> int:
        self.counter += 1
        return self.counter

    @cached_property
    def certificate(self):
        return AssuranceCertificate.objects.create(
            kind=AssuranceCertificate.Kind.CPA,
            number="CPA-TABLE-1",
            issued=TODAY - datetime.timedelta(days=900),
            expiry=TODAY - datetime.timedelta(days=3),
            status=AssuranceCertificate.Status.EXPIRED,
        )

    @cached_property
    def manufacturer(self):
        return Manufacturer.objects.create(manufacturer_id="7A7A", name="Table Metering")

    def case(self, state, decision: str = "") -> Case:
        """A case in `state`; from `decided` on, with the closed ballot and the decision record
        (issued, with the referral window long past, once the decision has taken effect)."""
        n = self.next()
        case = Case.objects.create(
            reference=f"T-{n}",
            certificate=self.certificate,
            event=Case.Event.EXPIRED,
            # One case per certificate event (constraint): each table row is its own event.
            event_date=self.certificate.expiry + datetime.timedelta(days=n),
            reason="Certificate lapsed",
            severity=Case.Severity.HIGH,
            summary="State table test",
            # Approved by the chair: a decision is issued only with it.
            party_summary="A certificate lapsed.",
            party_summary_approved_by=self.users["chair"],
            party_summary_approved_at=timezone.now(),
            state=state,
            decision=decision,
            opened_by=self.users["secretariat"],
        )
        case.addressed_to.set(
            [self.users[k].organisation for k in ("supplier_a", "supplier_b", "dcc")]
        )
        if state not in (Case.State.OPENED, Case.State.ASSESSMENT, Case.State.VOTING):
            decision = decision or Decision.SUSPEND
            long_ago = timezone.now() - datetime.timedelta(days=120)
            ballot = Ballot.objects.create(
                case=case,
                number=1,
                state=Ballot.State.CLOSED,
                opened_by=self.users["chair"],
                closes_at=long_ago,
                closed_at=long_ago,
                result=decision,
            )
            DecisionRecord.objects.create(
                case=case,
                ballot=ballot,
                decision=decision,
                tallies={},
                votes=[],
                conflicts=[],
                issued_at=None if state == Case.State.DECIDED else long_ago,
                issued_by=None if state == Case.State.DECIDED else self.users["chair"],
            )
        self.cases.append(case)
        return case


def build_case(world: World, state):
    if state == Case.State.DECIDED:  # issuing applies whichever decision the ballot reached
        return [world.case(state, Decision.SUSPEND), world.case(state, Decision.REMEDIAL_PLAN)]
    decision = {
        Case.State.REMEDIATION: Decision.REMEDIAL_PLAN,
        Case.State.SUSPENSION: Decision.SUSPEND,
        Case.State.CLOSED: Decision.SUSPEND,
    }.get(state, "")
    return world.case(state, decision)


def build_ballot(world: World, state):
    case_state = {
        Ballot.State.OPEN: Case.State.VOTING,
        Ballot.State.AWAITING_CASTING_VOTE: Case.State.VOTING,
        Ballot.State.FAILED: Case.State.ASSESSMENT,
    }.get(state, Case.State.VOTING)
    return Ballot.objects.create(
        case=world.case(case_state),
        number=1,
        state=state,
        opened_by=world.users["chair"],
        closes_at=timezone.now() + datetime.timedelta(days=1),
        result=Decision.SUSPEND if state == Ballot.State.CLOSED else "",
    )


def build_plan_requirement(world: World, state):
    return PlanRequirement.objects.create(
        case=world.case(Case.State.REMEDIATION, Decision.REMEDIAL_PLAN),
        supplier=world.users["supplier_a"].organisation,
        device_count=1200,
        due_date=TODAY + datetime.timedelta(days=30),
        state=state,
    )


def build_referral(world: World, state):
    # A Party refers a decision once (constraint): each referral state refers its own case.
    case = world.case(Case.State.REMEDIATION, Decision.REMEDIAL_PLAN)
    return Referral.objects.create(
        reference=f"R-{world.next()}",
        case=case,
        kind=Referral.Kind.NOT_REMOVE,
        organisation=world.users["supplier_a"].organisation,
        lodged_by=world.users["supplier_a"],
        grounds="The devices should be removed.",
        state=state,
        outcome=Referral.Outcome.UPHELD if state in ("determined", "closed") else "",
    )


def build_device_model(world: World, state):
    n = world.next()
    model = DeviceModel.objects.create(
        device_type="CHF",
        manufacturer=world.manufacturer,
        model_id=f"{n:04X}",
        hardware_version="0100",
        firmware_version=f"{n:08X}",
        smets_chts_version="SMETS2 v5.0",
        date_added=TODAY,
        status=state,
        removal_basis=DeviceModel.RemovalBasis.CERTIFICATE if state == "removed" else "",
    )
    if state == "removed":
        # Removed, and its certificates since renewed: the secretariat may re-list it.
        for kind in (AssuranceCertificate.Kind.CPA, AssuranceCertificate.Kind.ZIGBEE):
            AssuranceCertificate.objects.create(
                kind=kind, number=f"{kind}-R-{n}", expiry=TODAY + datetime.timedelta(days=365)
            ).device_models.add(model)
    return model


def build_certificate(world: World, state):
    return AssuranceCertificate.objects.create(
        kind=AssuranceCertificate.Kind.CPA,
        number=f"CPA-T-{world.next()}",
        issued=TODAY - datetime.timedelta(days=365),
        expiry=TODAY + datetime.timedelta(days=365),
        status=state,
        status_date=None if state == AssuranceCertificate.Status.VALID else TODAY,
    )


def build_cpl_import(world: World, state):
    return CPLImport.objects.create(
        status=state,
        file_name="register.csv",
        file_sha256="0" * 64,
        file_size=1,
        stored_name=f"import-{world.next()}",
        uploaded_by=world.users["secretariat"],
    )


def build_emergency_request(world: World, state):
    from cpl.models import EmergencyEntryRequest

    n = world.next()
    model = DeviceModel.objects.create(
        device_type="ESME",
        manufacturer=world.manufacturer,
        model_id=f"{n:04X}",
        hardware_version="0100",
        firmware_version="00000001",
        smets_generation="SMETS1",
        date_added=TODAY,
    )
    # Past its due date while the PPCT is due: the secretariat may withdraw it.
    overdue = state == EmergencyEntryRequest.State.FAST_TRACK_PPCT
    return EmergencyEntryRequest.objects.create(
        requester=world.users["supplier_a"],
        organisation=world.users["supplier_a"].organisation,
        device_model=model,
        new_firmware_version="00000002",
        vulnerability_summary="State table test",
        summary_classification="ssc-only",
        state=state,
        ppct_due=TODAY - datetime.timedelta(days=1) if overdue else None,
    )


# One object of a model in a given state (a list where a condition reads another field).
BUILDERS = {
    "cpl.EmergencyEntryRequest": build_emergency_request,
    "governance.Case": build_case,
    "governance.Ballot": build_ballot,
    "governance.PlanRequirement": build_plan_requirement,
    "governance.Referral": build_referral,
    "cpl.DeviceModel": build_device_model,
    "cpl.AssuranceCertificate": build_certificate,
    "cpl.CPLImport": build_cpl_import,
}


# --- the table ---------------------------------------------------------------------------------


class _RolledBack(Exception):
    """Undo a successful transition so the next role meets the same row."""


def actors(users) -> dict:
    """The `users` fixture, a member and a chair conflicted on every case built, and the system
    actor."""
    return {
        **users,
        "member_conflicted": make_user("member", "member_conflicted"),
        "chair_conflicted": make_user("chair", "chair_conflicted"),
        "system": None,
    }


def declare_conflicts(world: World, people) -> None:
    for case in world.cases:
        for person in people:
            ConflictDeclaration.objects.update_or_create(
                case=case,
                member=person,
                defaults={"has_conflict": True, "reason": "Employed by an affected supplier"},
            )


def attempt(row: Row, policy, obj, who: str, user, kwargs) -> str | None:
    """One cell of the table: None when the transition, the policy and run_transition agree."""
    model = row.model
    obj = model._default_manager.get(pk=obj.pk)  # fresh: nothing cached from earlier cells
    before = getattr(obj, row.field)
    method = getattr(obj, row.transition)
    refusal = policy.why_not(user, row.action, obj)
    admitted = can_proceed(method)
    where = f"{row.id} from {before!r} as {who}"

    permitted = has_transition_perm(method, user)
    if permitted != (admitted and refusal is None):
        return (
            f"{where}: has_transition_perm says {permitted}, the policy says "
            f"{refusal or 'allowed'}, the state {'admits' if admitted else 'does not admit'} it"
        )

    audit_before = AuditEvent.objects.count()
    try:
        with transaction.atomic():
            run_transition(actor=user, obj=obj, name=row.transition, action=row.action, **kwargs)
            stored = model._default_manager.filter(pk=obj.pk).values_list(row.field, flat=True)
            target = getattr(obj, row.field)
            if stored.get() != target or target == before:
                return f"{where}: succeeded but the database holds {stored.get()!r}"
            if AuditEvent.objects.count() != audit_before + 1:
                return f"{where}: succeeded without its audit event"
            raise _RolledBack
    except _RolledBack:
        outcome = None
    except (PermissionDenied, TransitionNotAllowed) as exc:
        outcome = exc
    stored = model._default_manager.filter(pk=obj.pk).values_list(row.field, flat=True).get()
    if outcome is not None and stored != before:
        return f"{where}: refused ({outcome!r}) but the state changed to {stored!r}"

    if not admitted:
        expected = TransitionNotAllowed
    elif refusal is None:
        expected = None
    elif isinstance(refusal, NotNow):
        expected = ActionNotNow
    else:
        expected = PermissionDenied
    got = None if outcome is None else type(outcome)
    if expected is None and got is not None:
        return f"{where}: the policy allows it but run_transition raised {outcome!r}"
    if expected is not None and got is None:
        return f"{where}: expected {expected.__name__} ({refusal}) but it succeeded"
    if expected is not None and (
        not issubclass(got, expected)
        or (expected is PermissionDenied and issubclass(got, ActionNotNow))
    ):
        return f"{where}: expected {expected.__name__}, got {outcome!r}"
    return None


@pytest.mark.django_db
@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_state_role_table(row: Row, users):
    label = row.model._meta.label
    builder = BUILDERS.get(label)
    if builder is None:
        pytest.fail(
            f"{label} has a state machine and a policy but no builder: add one to BUILDERS in "
            "tests/test_state_role_tables.py so its state × role table is tested.",
            pytrace=False,
        )
    policy = policy_or_none(row.model)
    everyone = actors(users)
    world = World(users=everyone)
    state_field = row.model._meta.get_field(row.field)
    objects = []
    for state, _label in state_field.choices:
        built = builder(world, state)
        for obj in built if isinstance(built, list) else [built]:
            assert getattr(obj, row.field) == state, f"{label} builder ignored state {state!r}"
            objects.append(obj)
    declare_conflicts(world, [everyone["member_conflicted"], everyone["chair_conflicted"]])
    kwargs = transition_kwargs(row.model, row.transition)

    disagreements, taken = [], 0
    for obj in objects:
        for who, user in everyone.items():
            problem = attempt(row, policy, obj, who, user, kwargs)
            if problem is not None:
                disagreements.append(problem)
            elif policy.can(user, row.action, obj) and can_proceed(getattr(obj, row.transition)):
                taken += 1
    assert not disagreements, "\n".join(disagreements)
    # Otherwise the builders never reach a state where anyone (the system included) may take it.
    assert taken, f"Nobody may take {row.id} in any state the builder made"


def test_transition_permissions_are_policy_actions():
    """Every transition is guarded by an action its policy knows, or is a system move (no
    permission): never a bare permission string, which passes on a model-wide grant."""
    problems = []
    for model, fsm_field in fsm_machines():
        policy = policy_or_none(model)
        for name, transitions in transitions_by_method(model, fsm_field).items():
            for t in transitions:
                where = f"{model._meta.label}.{name} from {t.source!r}"
                if t.permission is None:
                    continue
                action = getattr(t.permission, "policy_action", None)
                if action is None:
                    problems.append(f"{where}: permission {t.permission!r} is not a policy action")
                elif policy is None:
                    problems.append(f"{where}: policy action {action!r} but no policy")
                elif action not in policy.ACTIONS and action not in policy.SYSTEM_ACTIONS:
                    problems.append(f"{where}: {type(policy).__name__} knows no {action!r}")
    assert not problems, "\n".join(problems)
