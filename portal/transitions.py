"""The one path every state change takes (Case, Ballot, PlanRequirement, Referral, DeviceModel,
AssuranceCertificate, CPL imports, and machines to come): inside the caller's transaction, lock
the row, ask the object's policy, run the transition, save, and write its audit event. The
caller writes its outbox notices in the same transaction."""

from django.db import transaction
from django_fsm import ConcurrentTransition, TransitionNotAllowed, can_proceed

from .audit import audit_record
from .notices import notices_settle
from .policies import policy_for


def fsm_field_name(method) -> str:
    field = method._django_fsm.field
    return field if isinstance(field, str) else field.name


def run_transition(
    *,
    actor,
    obj,
    name: str,
    action: str | None = None,
    consequence_of: str = "",
    audit_extra: dict | None = None,
    **kwargs,
):
    """Run transition `name` on `obj`. The policy is asked for `action` (default: the
    transition's name); `consequence_of` names an already-checked action this move follows
    from (a ballot closing decides the case), so no second check applies. A row changed by
    someone else since `obj` was read raises ConcurrentTransition (answered with 409)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("run_transition must run inside the caller's transaction")
    method = getattr(obj, name)
    field = fsm_field_name(method)
    before = getattr(obj, field)
    current = (
        type(obj)
        ._default_manager.select_for_update()
        .filter(pk=obj.pk)
        .values_list(field, flat=True)
        .first()
    )
    if current != before:
        raise ConcurrentTransition(f"{obj} changed while you were looking at it.")
    if not can_proceed(method):
        raise TransitionNotAllowed(f"{obj} cannot {name.replace('_', ' ')} now.")
    if not consequence_of:
        policy_for(obj).require(actor, action or name, obj)
    method(**kwargs)
    obj.save()
    after = {field: getattr(obj, field), **kwargs, **(audit_extra or {})}
    if consequence_of:
        after["consequence_of"] = consequence_of
    audit_record(
        actor=actor,
        action=f"{obj._meta.model_name}.{name}",
        obj=obj,
        before={field: before},
        after=after,
    )
    # A notice whose next step this move made impossible (or took) asks for nothing now.
    notices_settle(obj)
    return obj
