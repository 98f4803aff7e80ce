"""Who may read notices and act on their deliveries (portal.policies): a recipient sees and
acknowledges its own deliveries; the SSC follows every notice and its deliveries."""

from django.db.models import QuerySet

from .models import Notice, NoticeDelivery
from .policies import NotNow, Policy, Refusal, register


class NoticePolicy(Policy):
    model = Notice

    def visible(self, user) -> QuerySet:
        if user.is_authenticated and self.can(user, "view", None):
            return Notice.objects.all()
        return Notice.objects.none()

    def check_view(self, user, notice) -> Refusal:
        """SSC users follow every notice and who acknowledged it."""
        return None if user.is_ssc else "The notice register is the SSC's."


class NoticeDeliveryPolicy(Policy):
    model = NoticeDelivery
    ACTIONS = ("view", "acknowledge")

    def visible(self, user) -> QuerySet:
        if not user.is_authenticated:
            return NoticeDelivery.objects.none()
        return NoticeDelivery.objects.filter(recipient=user)

    def check_view(self, user, delivery) -> Refusal:
        """Its recipient only."""
        return None if delivery.recipient_id == user.pk else "This notice was sent to someone else."

    def check_acknowledge(self, user, delivery) -> Refusal:
        """Its recipient, once."""
        refusal = self.check_view(user, delivery)
        if refusal is None and delivery.acknowledged_at is not None:
            return NotNow("You have acknowledged this notice.")
        return refusal


NOTICES = register(NoticePolicy())
NOTICE_DELIVERIES = register(NoticeDeliveryPolicy())
