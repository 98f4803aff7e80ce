"""The audit log is append-only and hash-chained; verify_audit names the first bad event."""

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from portal.audit import audit_record, audit_verify_chain
from portal.models import AuditEvent

from ..helpers import import_sample

pytestmark = pytest.mark.django_db


def verify(capsys):
    with pytest.raises(SystemExit) as exited:
        call_command("verify_audit")
    assert exited.value.code == 1
    return capsys.readouterr().err


def sql(statement, *params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def chain(users, extra: int = 12) -> None:
    """An import (one event per import) followed by events nothing else refers to."""
    import_sample(actor=users["secretariat"])
    for index in range(extra):
        audit_record(actor=users["secretariat"], action="test.event", after={"n": index})


def test_intact_chain_verifies(users, capsys):
    chain(users)
    call_command("verify_audit")
    assert f"intact: {AuditEvent.objects.count()} events" in capsys.readouterr().out
    events = list(AuditEvent.objects.order_by("seq"))
    assert events[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
    assert events[-1].actor_label == "secretariat"


def test_altered_event_is_named(users, capsys):
    chain(users)
    target = AuditEvent.objects.filter(action="test.event").order_by("seq")[10]
    sql("UPDATE portal_auditevent SET actor_label = %s WHERE id = %s", "someone else", target.pk)
    assert f"event #{target.seq} was altered" in verify(capsys)


def test_altered_json_payload_is_detected(users, capsys):
    chain(users)
    target = AuditEvent.objects.filter(action="test.event").order_by("seq")[3]
    sql("UPDATE portal_auditevent SET after = %s WHERE id = %s", '{"status": "removed"}', target.pk)
    assert f"event #{target.seq}" in verify(capsys)


def test_deleted_event_is_detected(users, capsys):
    chain(users)
    target = AuditEvent.objects.filter(action="test.event").order_by("seq")[5]
    sql("DELETE FROM portal_auditevent WHERE id = %s", target.pk)
    assert f"event #{target.seq} is missing" in verify(capsys)


def test_deleting_the_latest_events_is_detected(users, capsys):
    chain(users)
    last = AuditEvent.objects.order_by("-seq").first()
    sql("DELETE FROM portal_auditevent WHERE seq >= %s", last.seq - 1)
    assert "the latest events were removed" in verify(capsys)


def test_rewritten_chain_with_recomputed_hash_still_breaks_the_next_link(users):
    chain(users)
    target = AuditEvent.objects.filter(action="test.event").order_by("seq")[2]
    target.actor_label = "forger"
    new_hash = target.compute_hash()
    sql(
        "UPDATE portal_auditevent SET actor_label = %s, hash = %s WHERE id = %s",
        "forger",
        new_hash,
        target.pk,
    )
    report = audit_verify_chain()
    assert not report.ok and report.bad_seq == target.seq + 1


def test_events_cannot_be_changed_or_deleted_through_the_orm(users):
    with transaction.atomic():
        event = audit_record(actor=users["chair"], action="test.event", obj=users["chair"])
    event.action = "changed"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.update(action="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    assert audit_verify_chain().ok


def test_a_rolled_back_change_leaves_no_event_and_no_gap(users):
    with transaction.atomic():
        audit_record(actor=None, action="kept")
    try:
        with transaction.atomic():
            audit_record(actor=None, action="rolled.back")
            raise RuntimeError
    except RuntimeError:
        pass
    with transaction.atomic():
        audit_record(actor=None, action="kept.too")
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", "action")) == [
        (1, "kept"),
        (2, "kept.too"),
    ]
    assert audit_verify_chain().ok


def test_an_undeclared_action_is_refused_and_writes_nothing(users):
    from portal.audit import registered_audit_actions

    before = AuditEvent.objects.count()
    with pytest.raises(ValueError, match="Unregistered audit actions"):
        audit_record(actor=None, action="case.opend")  # a typo
    assert AuditEvent.objects.count() == before
    # Every state machine's transitions are declared from the models themselves.
    declared = {
        "case.close",
        "ballot.cast_deciding_vote",
        "devicemodel.remove",
        "devicemodel.relist",
    }
    assert declared <= registered_audit_actions()
