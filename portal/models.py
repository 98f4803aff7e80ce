import hashlib
import json

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.functional import cached_property

from .roles import SSC_ROLES, Role


class Organisation(models.Model):
    class PartyType(models.TextChoices):
        LARGE_SUPPLIER = "large_supplier", "Large Supplier Party"
        SMALL_SUPPLIER = "small_supplier", "Small Supplier Party"
        NETWORK_OPERATOR = "network_operator", "Network Party"
        DCC = "dcc", "DCC"
        OTHER = "other", "Other SEC Party"
        SSC = "ssc", "Security Sub-Committee"
        AUTHORITY = "authority", "The Authority (Ofgem)"

    name = models.CharField(max_length=200, unique=True)
    party_type = models.CharField(max_length=32, choices=PartyType.choices)
    # The SEC Party identifier used in DCC inventory extracts; empty for the SSC and the Authority.
    party_id = models.CharField(max_length=32, unique=True, null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def notice_contacts(self):
        users = self.users.filter(is_active=True)
        named = users.filter(is_notice_contact=True)
        return named if named.exists() else users

    @property
    def is_supplier(self) -> bool:
        return self.party_type in {self.PartyType.LARGE_SUPPLIER, self.PartyType.SMALL_SUPPLIER}


class User(AbstractUser):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="users", null=True, blank=True
    )

    # Formal notices to the user's organisation go to its named contacts (all its users when
    # it names none).
    is_notice_contact = models.BooleanField("receives formal notices", default=False)
    # Bumped on every change to what the user may do (portal.permission_cache): the key of the
    # cached roles, permissions and second-factor device.
    access_version = models.PositiveIntegerField(default=0, editable=False)

    @cached_property
    def roles(self) -> frozenset[str]:
        from .permission_cache import user_roles

        if not self.is_authenticated or not self.is_active or self.pk is None:
            return frozenset()
        return user_roles(self)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def requires_second_factor(self) -> bool:
        """Every user, whatever the role: all see vulnerability details, plans or decisions."""
        return True

    @property
    def is_ssc(self) -> bool:
        return bool(self.roles & SSC_ROLES)

    @property
    def role_labels(self) -> list[str]:
        return [role.label for role in Role if role in self.roles]


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only.")

    def delete(self):
        raise PermissionError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One link of the append-only, hash-chained audit log (DESIGN.md section 4)."""

    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    occurred_at = models.DateTimeField(editable=False, db_index=True)
    # PROTECT: deactivate users instead of deleting them, or the chain would change under them.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        indexes = [models.Index(fields=["object_type", "object_id", "seq"])]
        permissions = [("view_audit_log", "Can view the audit log")]

    def __str__(self):
        return f"#{self.seq} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only.")

    def compute_hash(self) -> str:
        payload = {
            "seq": self.seq,
            "occurred_at": self.occurred_at.isoformat(),
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "object_repr": self.object_repr,
            "before": self.before,
            "after": self.after,
            "prev_hash": self.prev_hash,
        }
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


class AuditChainHead(models.Model):
    """The single row that holds the chain's last link; locking it serialises appends."""

    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self):
        return f"audit head #{self.last_seq}"


def absolute_url(path: str) -> str:
    """Links in e-mails and notices are absolute: the reader may be in a mail client."""
    if not path or "://" in path:
        return path
    return f"{settings.PORTAL_BASE_URL}{path}"


class Notice(models.Model):
    """A formal message, written in the same transaction as the change that causes it (outbox),
    e-mailed to each recipient once and shown in the inbox. It lives below both apps, so it
    refers to what it is about generically (a case, a ballot, a plan, a CPL change …)."""

    class Kind(models.TextChoices):
        DECISION = "decision", "Decision notice"
        PLAN_OBLIGATION = "plan_obligation", "Remedial plan obligation (CPL Requirements 6.3)"
        PLAN_REVIEW = "plan_review", "Remedial plan review"
        REMINDER = "reminder", "Reminder"
        INFORMATION_REQUEST = "information_request", "Information request"
        REFERRAL = "referral", "Referral to the Authority"
        CPL_CHANGE = "cpl_change", "CPL change notice"
        BALLOT_OPENED = "ballot_opened", "Ballot opened"
        BALLOT_REMINDER = "ballot_reminder", "Ballot reminder"
        EXPERT_INVITATION = "expert_invitation", "Technical expert invitation"
        CHASER = "chaser", "Reminder to acknowledge a notice"
        CHAIRING = "chairing", "Chairing a case"
        SIGN_IN_ALERT = "sign_in_alert", "Failed sign-ins alert"
        REPRESENTATION = "representation", "Representation received"
        CASE_CLOSED = "case_closed", "Case closed"
        VIEWS_INVITED = "views_invited", "Case in assessment: views invited"

    # Prompts to act that are overtaken by events (a ballot closes) or are chasers themselves:
    # chasing them would only add noise.
    NOT_CHASED = frozenset(
        {
            Kind.BALLOT_OPENED,
            Kind.BALLOT_REMINDER,
            Kind.EXPERT_INVITATION,
            Kind.CHASER,
            Kind.CHAIRING,
            Kind.REPRESENTATION,
            Kind.CASE_CLOSED,
            Kind.VIEWS_INVITED,
        }
    )

    kind = models.CharField(max_length=24, choices=Kind.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    about = GenericForeignKey("content_type", "object_id")
    # Kept as text so lists need not load the object (and it outlives a renamed one).
    reference = models.CharField(max_length=200, blank=True)
    link = models.CharField("path of the object's page", max_length=300, blank=True)
    action_link = models.CharField("path of the next action", max_length=300, blank=True)
    action_label = models.CharField(max_length=100, blank=True)
    # The policy action on `about` the notice asks its recipients to take ("send_pack" on a
    # referral, "review" on a plan): once a recipient has taken it or can no longer take it,
    # the notice is settled for them (portal.notices.notices_settle). Empty: a formal notice,
    # acknowledged by its reader.
    action = models.CharField(max_length=40, blank=True)
    recipients = models.ManyToManyField(Organisation, related_name="notices", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self):
        return self.subject

    @property
    def link_url(self) -> str:
        return absolute_url(self.link)

    @property
    def action_url(self) -> str:
        return absolute_url(self.action_link)


class NoticeDelivery(models.Model):
    """One recipient of one notice: delivered at most once (the row is the idempotency key),
    acknowledged in the inbox, chased when not acknowledged in time."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="deliveries")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="notices"
    )
    # The organisation the notice reached the user through; empty when sent to the user directly
    # (a ballot notice to a member) and the user belongs to none.
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    delivered_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    # Acknowledged by the portal, not the reader: the step the notice asked for was taken.
    settled = models.BooleanField("closed once its next step was taken", default=False)
    chased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-notice__created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["notice", "recipient"], name="notice_delivered_once_per_recipient"
            )
        ]
        verbose_name_plural = "notice deliveries"

    def __str__(self):
        return f"{self.notice} → {self.recipient}"


class StoredDocument(models.Model):
    """A file kept under PRIVATE_STORAGE_ROOT by a generated name (portal.documents)."""

    original_name = models.CharField(max_length=255)
    stored_name = models.CharField(max_length=64, unique=True)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        abstract = True


class SubmissionToken(models.Model):
    """A form's one-time token (portal.forms.OneTimeSubmissionMixin), written in the same
    transaction as the form's effect. The unique constraint makes a double click or a replayed
    request of the same form wait for the first and then find its token taken: one effect."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token = models.UUIDField()
    used_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Where the first submission's result is, for the replay's answer.
    result_url = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "token"], name="one_effect_per_form_token")
        ]

    def __str__(self):
        return f"{self.user_id}:{self.token}"
