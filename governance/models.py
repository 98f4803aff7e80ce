from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from cpl.models import AssuranceCertificate, DeviceModel, DeviceType
from portal.fsm import ConcurrentTransitionMixin
from portal.models import Organisation, StoredDocument
from portal.policies import policy_permission

User = settings.AUTH_USER_MODEL


class Decision(models.TextChoices):
    # The value stays `suspend`; the device model is removed, its devices' SMI status suspended.
    SUSPEND = "suspend", "Remove the device models from the CPL"
    REMEDIAL_PLAN = "remedial_plan", "Require CPA Certificate Remedial Plans"


class Case(ConcurrentTransitionMixin, models.Model):
    """One CPA non-compliance event covering one or more device models."""

    class State(models.TextChoices):
        OPENED = "opened", "Opened"
        ASSESSMENT = "assessment", "Assessment"
        VOTING = "voting", "Voting"
        DECIDED = "decided", "Decided"
        REMEDIATION = "remediation", "Remediation"
        # The value stays: the SEC removes the device model from the CPL; its devices are suspended.
        SUSPENSION = "suspension", "Removed from the CPL (devices suspended)"
        CLOSED = "closed", "Closed"

    class Event(models.TextChoices):
        EXPIRED = "expired", "CPA certificate expired"
        WITHDRAWN = "withdrawn", "CPA certificate withdrawn"
        CANCELLED = "cancelled", "CPA certificate cancelled"

    class Severity(models.TextChoices):
        NONE = "none", "None"
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    reference = models.CharField(max_length=20, unique=True)
    certificate = models.ForeignKey(
        AssuranceCertificate, on_delete=models.PROTECT, related_name="cases"
    )
    device_models = models.ManyToManyField(DeviceModel, related_name="cases")
    event = models.CharField(max_length=16, choices=Event.choices)
    event_date = models.DateField()
    reason = models.TextField()
    severity = models.CharField(
        "Severity (NCSC assessment)", max_length=16, choices=Severity.choices
    )
    summary = models.TextField()
    # Two texts: reason, severity and summary are the SSC's. Parties and experts read only this,
    # written by the secretariat and approved by the case's chair (governance.record).
    party_summary = models.TextField("Summary for Parties", blank=True)
    party_summary_approved_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    party_summary_approved_at = models.DateTimeField(null=True, blank=True)
    # The Parties the case concerns: they see its decision and its `parties` evidence.
    addressed_to = models.ManyToManyField(Organisation, related_name="cases", blank=True)
    state = FSMField(
        max_length=16, choices=State.choices, default=State.OPENED, protected=True, db_index=True
    )
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    # Designated by the secretariat when the chair is conflicted on this case: chairs it instead.
    acting_chair = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    opened_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-opened_at"]
        permissions = [("open_case", "Can open a CPA non-compliance case")]
        constraints = [
            # One case per certificate event: a replayed or parallel "open a case" makes one.
            # A later event on the same certificate has its own date.
            models.UniqueConstraint(
                fields=["certificate", "event", "event_date"], name="one_case_per_certificate_event"
            )
        ]

    def __str__(self):
        return f"{self.reference}: {self.certificate.number}"

    @transition(
        field=state,
        source=State.OPENED,
        target=State.ASSESSMENT,
        permission=policy_permission("start_assessment"),
    )
    def start_assessment(self):
        pass

    @transition(
        field=state,
        source=State.ASSESSMENT,
        target=State.VOTING,
        permission=policy_permission("open_ballot"),
    )
    def start_voting(self):
        pass

    @transition(field=state, source=State.VOTING, target=State.ASSESSMENT)
    def voting_failed(self):
        pass

    @transition(field=state, source=State.VOTING, target=State.DECIDED)
    def decide(self, decision: str):
        self.decision = decision

    @transition(
        field=state,
        source=State.DECIDED,
        target=State.SUSPENSION,
        permission=policy_permission("issue_decision"),
        conditions=[lambda case: case.decision == Decision.SUSPEND],
    )
    def apply_suspension(self):
        pass

    @transition(
        field=state,
        source=State.DECIDED,
        target=State.REMEDIATION,
        permission=policy_permission("issue_decision"),
        conditions=[lambda case: case.decision == Decision.REMEDIAL_PLAN],
    )
    def apply_remediation(self):
        pass

    # SEC F2.7B: the Authority's determination overturns the SSC's decision.
    @transition(field=state, source=State.SUSPENSION, target=State.REMEDIATION)
    def overturn_to_remediation(self):
        self.decision = Decision.REMEDIAL_PLAN

    @transition(field=state, source=State.REMEDIATION, target=State.SUSPENSION)
    def overturn_to_suspension(self):
        self.decision = Decision.SUSPEND

    @transition(
        field=state,
        source=[State.REMEDIATION, State.SUSPENSION],
        target=State.CLOSED,
        permission=policy_permission("close"),
    )
    def close(self):
        pass


class CaseUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Case, on_delete=models.CASCADE)


class CaseGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Case, on_delete=models.CASCADE)


class ConflictDeclaration(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="conflicts")
    member = models.ForeignKey(User, on_delete=models.PROTECT, related_name="conflict_declarations")
    has_conflict = models.BooleanField()
    reason = models.TextField(blank=True)
    declared_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case", "member"], name="one_declaration_per_member_per_case"
            )
        ]

    def __str__(self):
        return (
            f"{self.member} on {self.case.reference}: {'conflict' if self.has_conflict else 'none'}"
        )


class EvidenceDocument(StoredDocument):
    class Classification(models.TextChoices):
        SSC_ONLY = "ssc-only", "SSC only"
        NAMED = "named-recipients", "Named recipients"
        PARTIES = "parties", "Parties"

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="documents")
    title = models.CharField(max_length=200)
    classification = models.CharField(max_length=20, choices=Classification.choices)
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self):
        return f"{self.title} ({self.get_classification_display()})"


class EvidenceDocumentUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(EvidenceDocument, on_delete=models.CASCADE)


class EvidenceDocumentGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(EvidenceDocument, on_delete=models.CASCADE)


class ExpertInvitation(models.Model):
    """SEC G7.16(b): a technical expert reads one case, and the documents granted, until expiry."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="experts")
    expert = models.ForeignKey(User, on_delete=models.PROTECT, related_name="expert_invitations")
    expires_at = models.DateTimeField()
    invited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    invited_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case", "expert"], name="one_invitation_per_expert_per_case"
            )
        ]

    def __str__(self):
        return f"{self.expert} on {self.case.reference} until {self.expires_at:%Y-%m-%d}"


class CaseComment(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"Comment by {self.author} on {self.case.reference}"


class VoteChoice(models.TextChoices):
    SUSPEND = "suspend", "Remove from the CPL"
    REMEDIAL_PLAN = "remedial_plan", "Require CPA Certificate Remedial Plans"
    ABSTAIN = "abstain", "Abstain"


class Ballot(ConcurrentTransitionMixin, models.Model):
    class State(models.TextChoices):
        OPEN = "open", "Open"
        AWAITING_CASTING_VOTE = "awaiting_casting_vote", "Tied: awaiting the chair's casting vote"
        CLOSED = "closed", "Closed"
        FAILED = "failed", "Failed: no quorum or no majority"

    class Majority(models.TextChoices):
        SIMPLE = "simple", "Simple majority (the chair's casting vote on a tie)"
        TWO_THIRDS = "two_thirds", "Two-thirds majority of the votes for either option"

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="ballots")
    # Frozen when the ballot opens (governance.ballots): who may vote and whom quorum counts.
    # [{"id", "username", "name"}]; a member who joins the SSC later has no vote in it.
    electorate = models.JSONField(default=list, blank=True)
    majority = models.CharField(max_length=16, choices=Majority.choices, default=Majority.SIMPLE)
    number = models.PositiveSmallIntegerField()
    state = FSMField(
        max_length=24, choices=State.choices, default=State.OPEN, protected=True, db_index=True
    )
    opened_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(auto_now_add=True)
    closes_at = models.DateTimeField(db_index=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    result = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    tallies = models.JSONField(default=dict, blank=True)
    eligible_count = models.PositiveSmallIntegerField(default=0)
    quorum_required = models.PositiveSmallIntegerField(default=0)
    casting_vote = models.CharField(max_length=16, choices=Decision.choices, blank=True)

    class Meta:
        ordering = ["case", "number"]
        constraints = [
            models.UniqueConstraint(fields=["case", "number"], name="ballot_number_per_case"),
            models.UniqueConstraint(
                fields=["case"], condition=Q(state="open"), name="one_open_ballot_per_case"
            ),
        ]

    def __str__(self):
        return f"Ballot {self.number} on {self.case.reference}"

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPEN

    @transition(
        field=state, source=State.OPEN, target=State.CLOSED, permission=policy_permission("close")
    )
    def close(self, result: str):
        self.result = result

    @transition(field=state, source=State.OPEN, target=State.FAILED)
    def fail(self):
        pass

    @transition(field=state, source=State.OPEN, target=State.AWAITING_CASTING_VOTE)
    def await_casting_vote(self):
        pass

    @transition(
        field=state,
        source=State.AWAITING_CASTING_VOTE,
        target=State.CLOSED,
        permission=policy_permission("cast_deciding_vote"),
    )
    def cast_deciding_vote(self, choice: str):
        self.casting_vote = self.result = choice


class Vote(models.Model):
    ballot = models.ForeignKey(Ballot, on_delete=models.PROTECT, related_name="votes")
    member = models.ForeignKey(User, on_delete=models.PROTECT, related_name="votes")
    choice = models.CharField(max_length=16, choices=VoteChoice.choices)
    reason = models.TextField(blank=True)
    cast_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ballot", "member"], name="one_vote_per_member_per_ballot"
            )
        ]

    def __str__(self):
        return f"{self.member} on {self.ballot}"


class VoteEvent(models.Model):
    """A vote's history, append-only: each cast, change and removal (a conflict declared after
    voting), sealed like the votes until the ballot closes."""

    class Kind(models.TextChoices):
        CAST = "cast", "Cast"
        CHANGED = "changed", "Changed"
        REMOVED = "removed", "Removed: conflict of interest declared"

    ballot = models.ForeignKey(Ballot, on_delete=models.PROTECT, related_name="vote_events")
    member = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    choice = models.CharField(max_length=16, choices=VoteChoice.choices, blank=True)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ballot", "at", "id"]

    def __str__(self):
        return f"{self.member} on {self.ballot}: {self.kind}"


class DecisionRecord(models.Model):
    """The SSC's decision on a case, with its reasons; issued as a decision notice."""

    case = models.OneToOneField(Case, on_delete=models.PROTECT, related_name="decision_record")
    ballot = models.OneToOneField(Ballot, on_delete=models.PROTECT, related_name="decision_record")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    tallies = models.JSONField()
    votes = models.JSONField()  # each member's vote, as recorded at closing
    conflicts = models.JSONField()  # the recused members and their reasons
    casting_vote = models.BooleanField(default=False)
    reasons = models.TextField(blank=True)
    security_factors = models.TextField(blank=True)
    operational_impact = models.TextField(blank=True)
    # What the notice and the Parties carry; reasons and the factors above stay the SSC's.
    party_summary = models.TextField("Reasons for Parties", blank=True)
    # Frozen at the ballot's close: what the SSC had before it (governance.record).
    representations = models.JSONField(default=list, blank=True)
    recommendations = models.JSONField(default=list, blank=True)
    # What the SSC decided on, frozen at the ballot's close (governance.record.decision_snapshot)
    # with its SHA-256: later edits of the CPL or the evidence change nothing in it.
    snapshot = models.JSONField(default=dict, blank=True)
    snapshot_sha256 = models.CharField(max_length=64, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # CPL Requirements clause 6.3, at issue: per device model, the devices the latest DCC
    # inventory shows (governance.clause63). A remedial-plan decision on a model it does not
    # cover is issued only on the chair's confirmation, with a reason, that no supplier has such
    # devices.
    inventory_coverage = models.JSONField(default=dict, blank=True)
    no_devices_reason = models.TextField(blank=True)
    no_devices_confirmed_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    no_devices_confirmed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Decision on {self.case.reference}: {self.get_decision_display()}"


class Representation(models.Model):
    """A Party's views on a case, put to the SSC while it assesses the case (stakeholder views
    are a factor: BEIS response, January 2019, chapter 6). Classified like evidence."""

    class Classification(models.TextChoices):
        SSC_ONLY = "ssc-only", "SSC only"
        PARTIES = "parties", "Parties"

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="representations")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    classification = models.CharField(max_length=20, choices=Classification.choices)
    submitted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["submitted_at", "id"]

    def __str__(self):
        return f"Representation by {self.organisation} on {self.case.reference}"


class RepresentationDocument(StoredDocument):
    representation = models.ForeignKey(
        Representation, on_delete=models.PROTECT, related_name="documents"
    )

    def __str__(self):
        return self.original_name


class Recommendation(models.Model):
    """The secretariat's or an invited expert's recommendation, made before the ballot and kept
    apart from the SSC's decision."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="recommendations")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recommendation = models.CharField(max_length=16, choices=Decision.choices)
    reasons = models.TextField()
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["recorded_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "author"], name="one_recommendation_per_author_per_case"
            )
        ]

    def __str__(self):
        return f"Recommendation by {self.author} on {self.case.reference}"


class SecurityCharacteristics(StoredDocument):
    """A version of the CPA Security Characteristics for a device type (published by the NCSC)."""

    device_type = models.CharField(max_length=8, choices=DeviceType.choices)
    version_label = models.CharField(max_length=50)
    effective_date = models.DateField()
    ncsc_reference = models.CharField("NCSC publication reference", max_length=100)
    is_current = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["device_type", "-effective_date", "-id"]
        verbose_name_plural = "CPA Security Characteristics"
        constraints = [
            models.UniqueConstraint(
                fields=["device_type"],
                condition=Q(is_current=True),
                name="one_current_characteristics_per_device_type",
            ),
            models.UniqueConstraint(
                fields=["device_type", "version_label"], name="characteristics_version_unique"
            ),
        ]
        permissions = [("upload_securitycharacteristics", "Can upload Security Characteristics")]

    def __str__(self):
        return f"{self.device_type} Security Characteristics {self.version_label}"


class PlanRequirement(ConcurrentTransitionMixin, models.Model):
    """CPL Requirements Document 6.3: one supplier's obligation to put a CPA Certificate
    Remedial Plan in place for the devices it is responsible for."""

    class State(models.TextChoices):
        NOTIFIED = "notified", "Notified: plan due"
        SUBMITTED = "submitted", "Submitted"
        APPROVED = "approved", "Approved"
        NOT_APPROVED = "not_approved", "Not approved"
        RESUBMITTED = "resubmitted", "Resubmitted"
        COMPLETED = "completed", "Completed"
        OVERDUE = "overdue", "Overdue"

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="plan_requirements")
    supplier = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="plan_requirements"
    )
    device_count = models.PositiveBigIntegerField()
    due_date = models.DateField()
    state = FSMField(
        max_length=16, choices=State.choices, default=State.NOTIFIED, protected=True, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "supplier"], name="one_requirement_per_case_supplier"
            )
        ]

    def __str__(self):
        return f"Remedial plan for {self.case.reference} from {self.supplier}"

    @transition(
        field=state,
        source=[State.NOTIFIED, State.OVERDUE],
        target=State.SUBMITTED,
        permission=policy_permission("submit"),
    )
    def submit(self):
        pass

    @transition(
        field=state,
        source=State.NOT_APPROVED,
        target=State.RESUBMITTED,
        permission=policy_permission("submit"),
    )
    def resubmit(self):
        pass

    @transition(
        field=state,
        source=[State.SUBMITTED, State.RESUBMITTED],
        target=State.APPROVED,
        permission=policy_permission("review"),
    )
    def approve(self):
        pass

    @transition(
        field=state,
        source=[State.SUBMITTED, State.RESUBMITTED],
        target=State.NOT_APPROVED,
        permission=policy_permission("review"),
    )
    def not_approve(self):
        pass

    @transition(field=state, source=State.NOT_APPROVED, target=State.APPROVED)
    def approve_by_determination(self):
        """SEC F2.7B: the Authority overturned the SSC's decision not to approve."""

    @transition(
        field=state,
        source=State.APPROVED,
        target=State.COMPLETED,
        permission=policy_permission("complete"),
    )
    def complete(self):
        pass

    @transition(field=state, source=State.NOTIFIED, target=State.OVERDUE)
    def mark_overdue(self):
        pass

    @transition(field=state, source=State.APPROVED, target=State.OVERDUE)
    def lapse(self):
        """The approved plan expired before it was completed: a new plan is due at once."""


class RemedialPlan(StoredDocument):
    """One version of a supplier's plan; every revision is kept."""

    class Review(models.TextChoices):
        PENDING = "", "Awaiting review"
        APPROVED = "approved", "Approved"
        NOT_APPROVED = "not_approved", "Not approved"

    requirement = models.ForeignKey(PlanRequirement, on_delete=models.PROTECT, related_name="plans")
    version = models.PositiveSmallIntegerField()
    summary = models.TextField()
    submitted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(auto_now_add=True)
    review = models.CharField(max_length=16, choices=Review.choices, blank=True)
    review_comments = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # An approval may run until a date: then the requirement lapses to overdue unless completed.
    expires_on = models.DateField(null=True, blank=True)
    expiry_warned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["requirement", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["requirement", "version"], name="plan_version_unique")
        ]
        permissions = [("review_remedialplan", "Can review CPA Certificate Remedial Plans")]

    def __str__(self):
        return f"{self.requirement} v{self.version}"


class PlanReview(models.Model):
    """One SSC reviewer's review of one plan version (PLAN_APPROVAL_RULE decides which reviews
    make the SSC's decision): the record of who reviewed and how."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        NOT_APPROVE = "not_approve", "Do not approve"

    plan = models.ForeignKey(RemedialPlan, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="plan_reviews")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    comments = models.TextField(blank=True)
    expires_on = models.DateField(null=True, blank=True)
    # The chair's decision when two reviewers disagreed.
    deciding = models.BooleanField(default=False)
    reviewed_at = models.DateTimeField(auto_now_add=True)
    # The reviewer declared a conflict before the outcome: the review no longer counts.
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["reviewed_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "reviewer", "deciding"],
                condition=Q(withdrawn_at__isnull=True),
                name="one_counted_review_per_reviewer_per_plan",
            )
        ]

    def __str__(self):
        return f"{self.reviewer} on {self.plan}: {self.get_decision_display()}"


class PlanBallot(ConcurrentTransitionMixin, models.Model):
    """Under PLAN_APPROVAL_RULE "ballot": the SSC's sealed ballot on one plan version. The
    votes are the version's PlanReview rows; the electorate is frozen when it opens."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        TIED = "tied", "Tied: awaiting the chair's decision"
        CLOSED = "closed", "Closed"
        FAILED = "failed", "Failed: no quorum"
        SUPERSEDED = "superseded", "Superseded: the supplier submitted a newer version"

    plan = models.OneToOneField(RemedialPlan, on_delete=models.PROTECT, related_name="ballot")
    electorate = models.JSONField(default=list)  # [{"id", "username", "name"}], as for Ballot
    state = FSMField(
        max_length=16, choices=State.choices, default=State.OPEN, protected=True, db_index=True
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    closes_at = models.DateTimeField(db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    result = models.CharField(max_length=16, choices=PlanReview.Decision.choices, blank=True)
    tallies = models.JSONField(default=dict, blank=True)
    eligible_count = models.PositiveSmallIntegerField(default=0)
    quorum_required = models.PositiveSmallIntegerField(default=0)

    def __str__(self):
        return f"Ballot on {self.plan}"

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPEN

    @transition(field=state, source=State.OPEN, target=State.CLOSED)
    def close(self, result: str):
        self.result = result

    @transition(field=state, source=State.OPEN, target=State.TIED)
    def tie(self):
        pass

    @transition(field=state, source=State.TIED, target=State.CLOSED)
    def decide_tie(self, result: str):
        self.result = result

    @transition(field=state, source=State.OPEN, target=State.FAILED)
    def fail(self):
        pass

    @transition(field=state, source=State.FAILED, target=State.OPEN)
    def reopen(self):
        pass

    @transition(field=state, source=[State.OPEN, State.TIED, State.FAILED], target=State.SUPERSEDED)
    def supersede(self):
        pass


class PlanMilestone(models.Model):
    plan = models.ForeignKey(RemedialPlan, on_delete=models.CASCADE, related_name="milestones")
    description = models.CharField(max_length=500)
    target_date = models.DateField()
    devices_covered = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["target_date", "id"]

    def __str__(self):
        return self.description


class SupplierPolicy(StoredDocument):
    """SEC G8.64: a Supplier Party's policy for creating and managing compliance with CPA
    Certificate Remedial Plans. The latest upload is the policy in force."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="remedial_plan_policies"
    )
    review_date = models.DateField()
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation", "-uploaded_at"]
        verbose_name_plural = "supplier policies"

    def __str__(self):
        return f"G8.64 policy of {self.organisation} (review {self.review_date})"


class Referral(ConcurrentTransitionMixin, models.Model):
    """SEC F2.7B: a Party refers an SSC decision to the Authority for a final determination."""

    class Kind(models.TextChoices):
        REMOVE = "remove", "The decision to remove the device models from the CPL"
        NOT_REMOVE = "not_remove", "The decision not to remove the device models"
        PLAN_NOT_APPROVED = "plan_not_approved", "The decision not to approve a remedial plan"

    class State(models.TextChoices):
        LODGED = "lodged", "Lodged"
        PACK_SENT = "pack_sent", "Pack sent to the Authority"
        INFORMATION_REQUESTED = "information_requested", "Information requested"
        INFORMATION_PROVIDED = "information_provided", "Information provided"
        DETERMINED = "determined", "Determined"
        CLOSED = "closed", "Closed"

    class Outcome(models.TextChoices):
        UPHELD = "upheld", "Upheld: the SSC's decision stands"
        OVERTURNED = "overturned", "Overturned"

    reference = models.CharField(max_length=24, unique=True)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="referrals")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    plan_requirement = models.ForeignKey(
        PlanRequirement, on_delete=models.PROTECT, null=True, blank=True, related_name="referrals"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="referrals"
    )
    lodged_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    lodged_at = models.DateTimeField(auto_now_add=True)
    # The secretariat sends the pack by then (REFERRAL_PACK_DUE_WORKING_DAYS, local practice).
    pack_due_date = models.DateField(null=True, blank=True)
    grounds = models.TextField()
    state = FSMField(
        max_length=24, choices=State.choices, default=State.LODGED, protected=True, db_index=True
    )
    disclosed_documents = models.ManyToManyField(
        EvidenceDocument, blank=True, related_name="disclosed_in"
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    determination_reasons = models.TextField(blank=True)
    effective_date = models.DateField(null=True, blank=True)
    determined_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    determined_at = models.DateTimeField(null=True, blank=True)
    # An overturning determination takes effect on its effective date (a beat task applies it).
    effect_applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-lodged_at"]
        # SEC F2.7B: a Party refers a decision once. Two conditional constraints, because a
        # decision referral has no plan requirement and NULLs are distinct in a unique index
        # (NULLS NOT DISTINCT is PostgreSQL 15+ only, and not SQLite).
        constraints = [
            models.UniqueConstraint(
                fields=["case", "kind", "organisation"],
                condition=Q(plan_requirement__isnull=True),
                name="one_referral_per_decision_per_organisation",
            ),
            models.UniqueConstraint(
                fields=["case", "kind", "plan_requirement", "organisation"],
                condition=Q(plan_requirement__isnull=False),
                name="one_referral_per_plan_refusal_per_organisation",
            ),
        ]

    def __str__(self):
        return f"Referral {self.reference} on {self.case.reference}"

    @transition(
        field=state,
        source=State.LODGED,
        target=State.PACK_SENT,
        permission=policy_permission("send_pack"),
    )
    def send_pack(self):
        pass

    @transition(
        field=state,
        source=[State.PACK_SENT, State.INFORMATION_PROVIDED],
        target=State.INFORMATION_REQUESTED,
        permission=policy_permission("request_information"),
    )
    def request_information(self):
        pass

    @transition(
        field=state,
        source=State.INFORMATION_REQUESTED,
        target=State.INFORMATION_PROVIDED,
        permission=policy_permission("provide_information"),
    )
    def provide_information(self):
        pass

    @transition(
        field=state,
        source=[State.PACK_SENT, State.INFORMATION_PROVIDED],
        target=State.DETERMINED,
        permission=policy_permission("determine"),
    )
    def determine(self, outcome: str):
        self.outcome = outcome

    @transition(
        field=state,
        source=State.DETERMINED,
        target=State.CLOSED,
        permission=policy_permission("close"),
    )
    def close(self):
        pass


class ReferralDocument(StoredDocument):
    """The referring Party's grounds, or documents the SSC provides on request."""

    class Source(models.TextChoices):
        GROUNDS = "grounds", "Grounds for the referral"
        RESPONSE = "response", "Information provided by the SSC"

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="documents")
    information_request = models.ForeignKey(
        "InformationRequest",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="documents",
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self):
        return self.original_name


class InformationRequest(models.Model):
    """SEC G7.21(j): the Authority asks the SSC for information or documents."""

    referral = models.ForeignKey(
        Referral, on_delete=models.CASCADE, related_name="information_requests"
    )
    text = models.TextField()
    due_date = models.DateField()
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    response = models.TextField(blank=True)
    responded_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["requested_at", "id"]

    def __str__(self):
        return f"Information request on {self.referral.reference}"


class ReferralPack(models.Model):
    """One immutable version of the pack sent to the Authority: its files are fixed when it is
    built and listed with their SHA-256 in the manifest."""

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="packs")
    version = models.PositiveSmallIntegerField()
    built_at = models.DateTimeField(auto_now_add=True)
    built_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    # [{"path", "sha256", "size", "folder", "stored_name"}]; folder/stored_name locate the bytes.
    files = models.JSONField()
    manifest_sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["referral", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["referral", "version"], name="pack_version_unique")
        ]

    def __str__(self):
        return f"Pack v{self.version} of {self.referral.reference}"

    @property
    def total_size(self) -> int:
        return sum(f["size"] for f in self.files)
