"""Writing and verifying the hash-chained audit log.

Every append locks the chain head row (SELECT … FOR UPDATE) so that concurrent
transactions in several web and worker processes extend one chain, never fork it.

The chain alone cannot show that it was truncated or rewritten by someone with database
access (they can fix the head and recompute the hashes). Checkpoints anchor it outside the
database: the head's sequence number and hash, signed with the portal's Ed25519 key
(portal.signing), appended as JSON lines to PORTAL_AUDIT_ANCHOR_DIR. `audit_verify_chain`
checks every checkpoint against the chain.
"""

import base64
import binascii
import datetime
import decimal
import fcntl
import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from . import signing
from .models import AuditChainHead, AuditEvent

logger = logging.getLogger(__name__)

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


# --- Anchors: signed checkpoints of the chain head, outside the database ----------------------

CHECKPOINT_FILE = "audit-checkpoints.jsonl"
_CHECKPOINT_CONTEXT = b"portal-audit-checkpoint-v1\n"


def _anchor_dir() -> Path:
    return Path(settings.PORTAL_AUDIT_ANCHOR_DIR)


def _checkpoint_payload(seq: int, head_hash: str, at: str, key: str) -> bytes:
    body = {"seq": seq, "hash": head_hash, "at": at, "key": key}
    return _CHECKPOINT_CONTEXT + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _last_checkpoint(path: Path) -> dict | None:
    """The file's last line, read from its end (the file only grows)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 4096))
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return None
    try:
        return json.loads(lines[-1]) if lines else None
    except ValueError:
        return None


def audit_checkpoint(*, only_if_moved: bool = False) -> dict | None:
    """Sign the committed chain head and append it to the anchor file. With only_if_moved, a
    head already anchored under the same key is not written again (the periodic task)."""
    head = AuditChainHead.objects.get(pk=1)
    key = signing.fingerprint()
    path = _anchor_dir() / CHECKPOINT_FILE
    if only_if_moved:
        last = _last_checkpoint(path)
        if last and (last.get("seq"), last.get("hash"), last.get("key")) == (
            head.last_seq,
            head.last_hash,
            key,
        ):
            return None
    at = timezone.now().isoformat()
    signature = signing.sign(_checkpoint_payload(head.last_seq, head.last_hash, at, key))
    checkpoint = {
        "seq": head.last_seq,
        "hash": head.last_hash,
        "at": at,
        "key": key,
        "signature": base64.b64encode(signature).decode(),
    }
    line = (json.dumps(checkpoint, sort_keys=True) + "\n").encode()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Append-only: O_APPEND and one write per line under an exclusive lock, so web and worker
    # processes never interleave; fsync so a crash cannot lose a checkpoint already reported.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return checkpoint


def audit_checkpoint_on_commit() -> None:
    """A checkpoint once the caller's transaction commits: a rolled-back head is never signed.
    A failure is logged, never raised into the committed request; the periodic task catches up."""

    def write():
        try:
            audit_checkpoint()
        except Exception:
            logger.exception("The audit chain checkpoint could not be written")

    transaction.on_commit(write)


@dataclass
class Checkpoint:
    seq: int
    hash: str
    at: str
    where: str


def _read_checkpoints() -> tuple[list[Checkpoint], str | None]:
    """Every checkpoint in the anchor directory, each signature checked; or the first problem."""
    try:
        keys = signing.trusted_public_keys()
    except signing.SigningKeyError as exc:
        return [], f"the checkpoints cannot be checked: {exc}"
    checkpoints = []
    for path in sorted(_anchor_dir().glob("audit-checkpoints*.jsonl")):
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                where = f"{path.name} line {number}"
                if not raw.strip():
                    continue
                try:
                    entry = json.loads(raw)
                    seq, head_hash = int(entry["seq"]), str(entry["hash"])
                    at, key = str(entry["at"]), str(entry["key"])
                    signature = base64.b64decode(entry["signature"], validate=True)
                except (ValueError, KeyError, TypeError, binascii.Error):
                    return [], f"checkpoint {where} is not a readable checkpoint"
                public_key = keys.get(key)
                if public_key is None:
                    return [], (
                        f"checkpoint {where} names a key ({key[:16]}…) that is neither the "
                        "portal's signing key nor a retired one"
                    )
                payload = _checkpoint_payload(seq, head_hash, at, key)
                if signing.verify_with([public_key], payload, signature) is None:
                    return [], (f"checkpoint {where} has a bad signature: it was forged or altered")
                checkpoints.append(Checkpoint(seq, head_hash, at, where))
    return checkpoints, None


@dataclass
class ChainReport:
    checked: int
    error: str | None = None
    bad_seq: int | None = None
    checkpoints: int = 0
    anchored_seq: int = 0  # the highest sequence number a checkpoint signed
    unanchored: bool = False  # sound as far as it goes, but no checkpoint vouches for it

    @property
    def ok(self) -> bool:
        return self.error is None


def audit_verify_chain() -> ChainReport:
    """Recompute every link and compare the chain with every signed checkpoint; name the first
    event that was altered, removed or inserted."""
    checkpoints, problem = _read_checkpoints()
    if problem:
        return ChainReport(0, problem)
    by_seq: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        by_seq.setdefault(checkpoint.seq, []).append(checkpoint)
    for checkpoint in by_seq.get(0, []):
        if checkpoint.hash != GENESIS_HASH:
            return ChainReport(0, f"checkpoint {checkpoint.where} does not match the chain", 1)
    anchored = max(by_seq, default=0)
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
        for checkpoint in by_seq.get(event.seq, []):
            if checkpoint.hash != event.hash:
                return ChainReport(
                    checked,
                    f"event #{event.seq} differs from the checkpoint signed at {checkpoint.at} "
                    f"({checkpoint.where}): the chain was rewritten up to it",
                    event.seq,
                )
        expected_prev = event.hash
        expected_seq += 1
        checked += 1
    if anchored > checked:
        at = max((c for c in checkpoints if c.seq == anchored), key=lambda c: c.at).at
        return ChainReport(
            checked,
            f"the chain ends at #{checked} but a checkpoint signed at {at} records "
            f"#{anchored}: the latest events were removed",
            checked + 1,
        )
    head = AuditChainHead.objects.get(pk=1)
    if head.last_seq != checked or head.last_hash != expected_prev:
        return ChainReport(
            checked,
            f"the chain ends at #{checked} but its head records "
            f"#{head.last_seq}: the latest events were removed",
            checked + 1,
        )
    # Deleting the anchor files (or a wrong PORTAL_AUDIT_ANCHOR_DIR) must not pass for a chain
    # that was never anchored: then nothing shows it was not truncated.
    if checked and not checkpoints and settings.AUDIT_ANCHOR_REQUIRED:
        return ChainReport(
            checked,
            f"No signed checkpoint found in {_anchor_dir()}: the chain cannot be shown to be "
            "untruncated. Restore the anchor files or run `manage.py audit_checkpoint` on a "
            "chain you trust",
            unanchored=True,
        )
    return ChainReport(checked, checkpoints=len(checkpoints), anchored_seq=anchored)


def check_audit_anchor_dir(app_configs=None, **kwargs):
    """Deploy system check: where checkpoints are appended exists and can be written."""
    from django.core.checks import Error

    if not settings.AUDIT_ANCHOR_REQUIRED:
        return []
    folder = _anchor_dir()
    if not folder.is_dir():
        problem = "does not exist (or is not a folder)"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = "is not writable by the portal"
    else:
        return []
    return [
        Error(
            f"The audit anchor folder {folder} {problem}: no checkpoint can be written, and "
            "verify_audit fails without one.",
            hint="Create it, or set PORTAL_AUDIT_ANCHOR_DIR; see the README, section "
            "'Signing key and audit anchors'.",
            id="portal.E002",
        )
    ]
