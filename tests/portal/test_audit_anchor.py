"""The audit chain is anchored outside the database: signed checkpoints of its head, written at
every referral pack and by a periodic task, and checked by verify_audit. Someone with database
access who truncates the chain and fixes its head, or rewrites an event and recomputes every
later hash, is caught by the first checkpoint past the change."""

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection

from portal import signing
from portal.audit import CHECKPOINT_FILE, audit_checkpoint, audit_record
from portal.models import AuditChainHead, AuditEvent
from portal.tasks import audit_checkpoint as audit_checkpoint_task

from ..helpers import referral_pack_sent

pytestmark = pytest.mark.django_db


def record(count: int) -> None:
    for index in range(count):
        audit_record(actor=None, action="test.event", after={"n": index})


def checkpoint_lines() -> list[dict]:
    path = settings.PORTAL_AUDIT_ANCHOR_DIR / CHECKPOINT_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_lines(lines: list[dict]) -> None:
    path = settings.PORTAL_AUDIT_ANCHOR_DIR / CHECKPOINT_FILE
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def sql(statement, *params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def verify_fails(capsys) -> str:
    with pytest.raises(SystemExit) as exited:
        call_command("verify_audit")
    assert exited.value.code == 1
    return capsys.readouterr().err


def test_a_healthy_anchored_chain_verifies(capsys):
    record(5)
    audit_checkpoint()
    record(3)  # events after the last checkpoint are reported, not failed
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert "Audit chain intact: 8 events." in out
    assert "1 signed checkpoint(s) match it, the latest at #5." in out
    assert "#6–#8 are not anchored yet" in out


def test_truncation_with_the_head_fixed_is_detected(capsys):
    record(6)
    audit_checkpoint()
    # The attacker deletes the last two events and makes the head agree with what is left:
    # the chain alone is consistent again.
    sql("DELETE FROM portal_auditevent WHERE seq > 4")
    fourth = AuditEvent.objects.get(seq=4)
    sql("UPDATE portal_auditchainhead SET last_seq = 4, last_hash = %s", fourth.hash)
    err = verify_fails(capsys)
    assert "the chain ends at #4 but a checkpoint signed at" in err
    assert "records #6: the latest events were removed" in err


def test_a_rewritten_event_with_every_later_hash_recomputed_is_detected(capsys):
    record(6)
    audit_checkpoint()
    # Rewrite event #2 and recompute #2…#6 and the head: every link checks out again.
    events = list(AuditEvent.objects.order_by("seq"))
    prev_hash = events[0].hash
    for event in events[1:]:
        if event.seq == 2:
            event.after = {"n": "rewritten"}
        event.prev_hash = prev_hash
        event.hash = event.compute_hash()
        prev_hash = event.hash
        sql(
            "UPDATE portal_auditevent SET after = %s, prev_hash = %s, hash = %s WHERE id = %s",
            json.dumps(event.after),
            event.prev_hash,
            event.hash,
            event.pk,
        )
    sql("UPDATE portal_auditchainhead SET last_hash = %s", prev_hash)
    err = verify_fails(capsys)
    assert "event #6 differs from the checkpoint signed at" in err
    assert "the chain was rewritten" in err


def test_a_forged_checkpoint_is_detected(capsys):
    record(3)
    audit_checkpoint()
    genuine = checkpoint_lines()[0]
    # Altered after signing: the attacker lowers the checkpoint to match a truncated chain.
    write_lines([{**genuine, "seq": 2}])
    assert "has a bad signature" in verify_fails(capsys)
    # Signed with a key of the attacker's own, naming the portal's key.
    forger = Ed25519PrivateKey.generate()
    forged = {**genuine, "signature": base64.b64encode(forger.sign(b"anything")).decode()}
    write_lines([forged])
    assert "has a bad signature" in verify_fails(capsys)
    # Signed with the attacker's key and naming it: not a key the portal trusts.
    write_lines([{**genuine, "key": signing.fingerprint(forger.public_key())}])
    assert "neither the portal's signing key nor a retired one" in verify_fails(capsys)
    write_lines([genuine])
    call_command("verify_audit")


def test_an_unreadable_checkpoint_line_fails_cleanly(capsys):
    record(2)
    audit_checkpoint()
    path = settings.PORTAL_AUDIT_ANCHOR_DIR / CHECKPOINT_FILE
    path.write_text(path.read_text() + '{"seq": "x"}\n')
    assert "line 2 is not a readable checkpoint" in verify_fails(capsys)


def test_a_checkpoint_is_written_when_a_referral_pack_is_built(
    committee, django_capture_on_commit_callbacks
):
    before = len(checkpoint_lines())
    with django_capture_on_commit_callbacks(execute=True):
        referral_pack_sent(committee)
    lines = checkpoint_lines()
    assert len(lines) == before + 1
    head = AuditChainHead.objects.get(pk=1)
    # Signed after the pack's transaction: the head includes the pack's own audit event.
    assert (lines[-1]["seq"], lines[-1]["hash"]) == (head.last_seq, head.last_hash)
    assert AuditEvent.objects.get(seq=head.last_seq).action in {
        "referral.pack_built",
        "notice.written",
    }
    call_command("verify_audit")


def test_the_periodic_task_anchors_the_head_when_it_moved():
    assert any(
        entry["task"] == "portal.tasks.audit_checkpoint"
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
    )
    record(2)
    assert audit_checkpoint_task.delay().get() is True
    assert [line["seq"] for line in checkpoint_lines()] == [2]
    assert audit_checkpoint_task.delay().get() is False  # nothing new to anchor
    record(1)
    audit_checkpoint_task.delay().get()
    assert [line["seq"] for line in checkpoint_lines()] == [2, 3]


def test_production_without_a_signing_key_fails_the_system_check(settings):
    settings.PORTAL_SIGNING_KEY = ""
    settings.PORTAL_SIGNING_KEY_FILE = ""
    settings.PORTAL_DEV_SIGNING_KEY_FILE = None
    with pytest.raises(SystemCheckError, match="No signing key"):
        call_command("check")


def test_the_key_is_read_from_the_environment_as_pem_or_seed(settings, tmp_path):
    key = Ed25519PrivateKey.generate()
    expected = signing.fingerprint(key.public_key())
    settings.PORTAL_SIGNING_KEY = signing.private_key_pem(key).decode()
    assert signing.fingerprint() == expected
    seed = key.private_bytes_raw()
    settings.PORTAL_SIGNING_KEY = base64.b64encode(seed).decode()
    assert signing.fingerprint() == expected
    settings.PORTAL_SIGNING_KEY = ""
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(signing.private_key_pem(key))
    settings.PORTAL_SIGNING_KEY_FILE = str(key_file)
    assert signing.fingerprint() == expected
    settings.PORTAL_SIGNING_KEY = "not a key"
    with pytest.raises(signing.SigningKeyError, match="not an Ed25519 private key"):
        signing.signing_key()


def test_checkpoints_of_a_retired_key_still_verify_after_rotation(settings, tmp_path, capsys):
    record(2)
    audit_checkpoint()
    old_public = signing.public_key_pem()
    new_key = Ed25519PrivateKey.generate()
    settings.PORTAL_SIGNING_KEY = signing.private_key_pem(new_key).decode()
    assert "neither the portal's signing key nor a retired one" in verify_fails(capsys)
    retired = tmp_path / "retired.pem"
    retired.write_text(old_public)
    settings.PORTAL_SIGNING_RETIRED_KEYS_FILE = str(retired)
    record(1)
    audit_checkpoint()
    call_command("verify_audit")
    assert "2 signed checkpoint(s) match it, the latest at #3." in capsys.readouterr().out


# --- anchors required: deleting them (or a wrong folder) cannot pass for a fresh chain ------------


def test_a_chain_without_any_checkpoint_fails_when_anchors_are_required(settings, capsys):
    settings.AUDIT_ANCHOR_REQUIRED = True
    record(3)
    # The folder is missing: deleted, or PORTAL_AUDIT_ANCHOR_DIR points elsewhere.
    assert not settings.PORTAL_AUDIT_ANCHOR_DIR.exists()
    err = verify_fails(capsys)
    assert err.startswith(f"No signed checkpoint found in {settings.PORTAL_AUDIT_ANCHOR_DIR}:")
    assert "the chain cannot be shown to be untruncated" in err
    assert "run `manage.py audit_checkpoint` on a chain you trust" in err
    # The folder is there but its files were deleted.
    settings.PORTAL_AUDIT_ANCHOR_DIR.mkdir()
    assert "No signed checkpoint found in" in verify_fails(capsys)
    audit_checkpoint()
    call_command("verify_audit")
    assert "1 signed checkpoint(s) match it, the latest at #3." in capsys.readouterr().out


def test_an_empty_chain_needs_no_checkpoint_and_anchors_can_be_optional(settings, capsys):
    settings.AUDIT_ANCHOR_REQUIRED = True
    assert not AuditEvent.objects.exists()
    call_command("verify_audit")  # a new deployment: nothing to anchor yet
    settings.AUDIT_ANCHOR_REQUIRED = False
    record(2)
    call_command("verify_audit")
    assert "No signed checkpoint found" in capsys.readouterr().out


def anchor_check_errors() -> list[str]:
    return [
        str(message.msg)
        for message in checks.run_checks(include_deployment_checks=True)
        if message.id == "portal.E002"
    ]


def test_the_deploy_check_wants_a_writable_anchor_folder_when_anchors_are_required(
    settings, tmp_path
):
    settings.AUDIT_ANCHOR_REQUIRED = True
    settings.PORTAL_AUDIT_ANCHOR_DIR = tmp_path / "missing"
    (error,) = anchor_check_errors()
    assert f"The audit anchor folder {tmp_path / 'missing'} does not exist" in error
    settings.PORTAL_AUDIT_ANCHOR_DIR = tmp_path / "a-file"
    settings.PORTAL_AUDIT_ANCHOR_DIR.write_text("")
    assert anchor_check_errors()
    settings.PORTAL_AUDIT_ANCHOR_DIR = tmp_path
    assert anchor_check_errors() == []
    # Not run outside `check --deploy`, nor when anchors are optional.
    settings.PORTAL_AUDIT_ANCHOR_DIR = tmp_path / "missing"
    assert not [m for m in checks.run_checks() if m.id == "portal.E002"]
    settings.AUDIT_ANCHOR_REQUIRED = False
    assert anchor_check_errors() == []
