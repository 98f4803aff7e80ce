"""Who may read the audit log (portal.policies). Object pages show their own history as part of
the object; this policy is for the whole, append-only log."""

from django.db.models import QuerySet

from .models import AuditEvent
from .policies import Policy, Refusal, register


class AuditEventPolicy(Policy):
    model = AuditEvent

    def visible(self, user) -> QuerySet:
        events = AuditEvent.objects.all()
        return events if user is not None and self.can(user, "view", None) else events.none()

    def check_view(self, user, event) -> Refusal:
        """The SSC Secretariat and the SSC Chair: every event."""
        if user.has_perm("portal.view_audit_log"):
            return None
        return "The audit log is open to the SSC Secretariat and the SSC Chair."


AUDIT_EVENTS = register(AuditEventPolicy())
