"""The audit log's policy: the list and the page agree for every role."""

import pytest
from django.db import transaction

from portal.audit import audit_record
from portal.models import AuditEvent
from portal.policies import policy_for

from ..helpers import ROLE_USERS

pytestmark = pytest.mark.django_db

ROLES = list(ROLE_USERS)  # one user per role: the `users` fixture


def test_audit_log_visible_exactly_when_the_user_may_view(users, client_for):
    with transaction.atomic():
        audit_record(actor=users["secretariat"], action="test.recorded", obj=users["member"])
    event = AuditEvent.objects.order_by("-seq").first()
    policy = policy_for(AuditEvent)
    readers = set()
    for key in ROLES:
        user = users[key]
        may = policy.can(user, "view", event)
        assert (event in policy.visible(user)) is may, key
        response = client_for(key).get("/audit/")
        assert response.status_code == (200 if may else 403), key
        if may:
            readers.add(key)
            assert event in response.context["events"]
    assert readers == {"secretariat", "chair"}
