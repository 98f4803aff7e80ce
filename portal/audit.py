"""Writing and verifying the hash-chained audit log.

Every append locks the chain head row (SELECT … FOR UPDATE) so that concurrent
transactions in several web and worker processes extend one chain, never fork it.
"""

import datetime
import decimal
import uuid
from dataclasses import dataclass, field

from django.db import models, transaction
from django.utils import timezone

from .models import AuditChainHead, AuditEvent

GENESIS_HASH = "0" * 64


def to_json_value(value):
    """Turn model field values into JSON values that hash the same after a database round trip."""
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json_value(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


@dataclass
class AuditEntry:
    action: str
    obj: models.Model | None = None
    object_type: str = ""
    object_id: str = ""
    object_repr: str = ""
    before: dict | None = None
    after: dict | None = None
    extra: dict = field(default_factory=dict)


def _describe(entry: AuditEntry) -> tuple[str, str, str]:
    if entry.obj is not None:
        meta = entry.obj._meta
        return meta.label_lower, str(entry.obj.pk), str(entry.obj)[:300]
    return entry.object_type, entry.object_id, entry.object_repr[:300]


# Every audit action name is declared (each app's `audit_actions.AUDIT_ACTIONS`, and
# "<model>.<transition>" for every state machine): a typo cannot start a new kind of event.
_ACTIONS: set[str] = set()


def register_audit_actions(*names: str) -> None:
    _ACTIONS.update(names)


def registered_audit_actions() -> frozenset[str]:
    return frozenset(_ACTIONS)


def register_transition_actions(models) -> None:
    """ "<model>.<transition>" for every transition of every state machine (portal.transitions
    writes these)."""
    from django_fsm import FSMFieldMixin

    for model in models:
        for model_field in model._meta.fields:
            if isinstance(model_field, FSMFieldMixin):
                for transition in model_field.get_all_transitions(model):
                    register_audit_actions(f"{model._meta.model_name}.{transition.name}")


def audit_record_many(*, actor, entries: list[AuditEntry]) -> list[AuditEvent]:
    """Append entries to the chain in order, inside the caller's transaction."""
    if not entries:
        return []
    unknown = {e.action for e in entries} - _ACTIONS
    if unknown:
        raise ValueError(f"Unregistered audit actions {sorted(unknown)}: declare them first.")
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().get(pk=1)
        now = timezone.now()
        actor_id = actor.pk if actor is not None and actor.is_authenticated else None
        actor_label = actor.get_username() if actor_id else "system"
        events = []
        seq, prev_hash = head.last_seq, head.last_hash
        for entry in entries:
            object_type, object_id, object_repr = _describe(entry)
            after = to_json_value(entry.after)
            if entry.extra:
                after = {**(after or {}), **to_json_value(entry.extra)}
            seq += 1
            event = AuditEvent(
                seq=seq,
                occurred_at=now,
                actor_id=actor_id,
                actor_label=actor_label,
                action=entry.action,
                object_type=object_type,
                object_id=object_id,
                object_repr=object_repr,
                before=to_json_value(entry.before),
                after=after,
                prev_hash=prev_hash,
            )
            event.hash = event.compute_hash()
            prev_hash = event.hash
            events.append(event)
        AuditEvent.objects.bulk_create(events, batch_size=2000)
        head.last_seq, head.last_hash = seq, prev_hash
        head.save(update_fields=["last_seq", "last_hash"])
    return events


def audit_record(*, actor, action: str, obj=None, before=None, after=None, **kwargs) -> AuditEvent:
    entry = AuditEntry(action=action, obj=obj, before=before, after=after, **kwargs)
    return audit_record_many(actor=actor, entries=[entry])[0]


@dataclass
class ChainReport:
    checked: int
    error: str | None = None
    bad_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def audit_verify_chain() -> ChainReport:
    """Recompute every link; name the first event that was altered, removed or inserted."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    events = AuditEvent.objects.order_by("seq").iterator(chunk_size=2000)
    for event in events:
        if event.seq != expected_seq:
            return ChainReport(
                checked,
                f"event #{expected_seq} is missing (next found is #{event.seq})",
                expected_seq,
            )
        if event.prev_hash != expected_prev:
            return ChainReport(
                checked, f"event #{event.seq} does not link to the event before it", event.seq
            )
        if event.compute_hash() != event.hash:
            return ChainReport(
                checked, f"event #{event.seq} was altered after it was written", event.seq
            )
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    head = AuditChainHead.objects.get(pk=1)
    if head.last_seq != checked or head.last_hash != expected_prev:
        return ChainReport(
            checked,
            f"the chain ends at #{checked} but its head records "
            f"#{head.last_seq}: the latest events were removed",
            checked + 1,
        )
    return ChainReport(checked)
