"""Fault drill: the database connection is dropped in the middle of a state-changing request
(PostgreSQL terminates the request's backend from another connection, after the view has
written its first rows). The user gets the portal's 503 page, and nothing is half-written."""

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from governance import services
from governance.models import Case
from portal.models import AuditEvent, Notice

from ..governance.test_idempotency import case_form, expired_certificate
from ..helpers import sign_in
from .stack import real_stack

pytestmark = [pytest.mark.faults, real_stack, pytest.mark.usefixtures("committed_db")]


def terminate_backend(pid: int) -> None:
    """From another connection, as an operator, a failover or a crash would."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cursor.fetchone() == (True,)
    finally:
        other.close()


@pytest.fixture
def connection_dropped_at_audit(monkeypatch):
    """The request's connection dies when the service writes its audit event: the case row is
    already written in the transaction by then."""
    real, drops = services.audit_record, []

    def audit_record(**kwargs):
        if not drops:
            drops.append(kwargs["action"])
            assert Case.objects.exists()  # written in this transaction, not yet committed
            terminate_backend(connection.connection.info.backend_pid)
        return real(**kwargs)

    monkeypatch.setattr(services, "audit_record", audit_record)
    return drops


def test_a_connection_dropped_mid_request_is_a_clean_503_with_nothing_written(
    users, connection_dropped_at_audit
):
    certificate = expired_certificate()
    client = Client(raise_request_exception=False)
    sign_in(client, users["secretariat"])
    events, notices = AuditEvent.objects.count(), Notice.objects.count()

    response = client.post(
        reverse("governance:case-open", args=[certificate.pk]), case_form(certificate)
    )
    connection.close()  # the test client keeps Django from closing a broken connection itself

    assert connection_dropped_at_audit == ["case.opened"]
    assert response.status_code == 503
    assert "503.html" in [t.name for t in response.templates]
    body = response.content.decode()
    assert 'class="govuk-template"' in body and "Traceback" not in body
    assert "terminat" not in body  # the database's own message stays in the log
    assert not Case.objects.exists()
    assert AuditEvent.objects.count() == events
    assert Notice.objects.count() == notices

    # The portal carries on: the same form, sent again, opens the case once.
    again = client.post(
        reverse("governance:case-open", args=[certificate.pk]), case_form(certificate)
    )
    assert again.status_code == 302
    assert Case.objects.filter(certificate=certificate).count() == 1
