import datetime

from django import forms
from django.utils import timezone

from cpl.models import DeviceModel, DeviceType
from portal.documents import (
    PENDING_GONE,
    PendingUpload,
    pending_upload_discard,
    pending_upload_get,
    pending_upload_keep,
)
from portal.forms import (
    DocumentField,
    ObjectsField,
    OneTimeSubmissionMixin,
    not_in_future,
    say_what_is_missing,
    within_years,
)
from portal.models import Organisation, User
from portal.widgets import GovukDateField, GovukDateInput

from . import policies
from .models import Ballot, Case, Decision, EvidenceDocument, Representation, VoteChoice

DATE = GovukDateInput()  # day, month and year boxes (GOV.UK date input)


class CaseOpenForm(forms.Form):
    device_models = ObjectsField(
        label="Device models covered",
        queryset=DeviceModel.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one device model"},
    )
    event = forms.ChoiceField(
        label="What happened",
        choices=Case.Event.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Select what happened to the certificate"},
    )
    event_date = GovukDateField(label="Date of the event", widget=DATE, validators=[not_in_future])
    reason = forms.CharField(
        label="Reason given for the withdrawal, cancellation or expiry",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Enter the reason given for the event"},
    )
    severity = forms.ChoiceField(
        label="Severity as assessed by the NCSC",
        choices=Case.Severity.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Select the severity the NCSC assessed"},
    )
    summary = forms.CharField(
        label="Summary",
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": "Enter a summary of the case"},
    )
    addressed_to = ObjectsField(
        label="Parties the case concerns",
        required=False,
        # SEC Parties only: each has its SEC Party identifier (an evaluation lab invited as an
        # expert, the SSC and the Authority have none).
        queryset=Organisation.objects.exclude(party_type__in=["ssc", "authority"]).filter(
            party_id__isnull=False
        ),
        widget=forms.CheckboxSelectMultiple,
        help_text="They will see the decision and the evidence classified for Parties.",
    )

    def __init__(self, *args, certificate, **kwargs):
        super().__init__(*args, **kwargs)
        models = certificate.device_models.select_related("manufacturer")
        self.fields["device_models"].queryset = models
        # Pre-filled from what the portal knows: the secretariat checks it and writes the summary.
        known = self.known_from(certificate, [m.pk for m in models])
        for name, value in known.items():
            self.initial.setdefault(name, value)
        if known["addressed_to"]:
            self.fields["addressed_to"].help_text = (
                "Chosen for you: the suppliers responsible for devices of these models in the "
                "latest DCC inventory extract. " + self.fields["addressed_to"].help_text
            )

    @staticmethod
    def known_from(certificate, model_ids) -> dict:
        from cpl.selectors import affected_suppliers

        event = certificate.status if certificate.status in Case.Event.values else None
        on = certificate.status_date
        if event == Case.Event.EXPIRED and on is None:
            on = certificate.expiry
        reason = certificate.status_reason
        if event == Case.Event.EXPIRED and not reason:
            reason = f"The CPA certificate expired on {certificate.expiry:%-d %B %Y}."
        return {
            "event": event,
            "event_date": on,
            "reason": reason,
            "device_models": model_ids,
            "addressed_to": [s["supplier_id"] for s in affected_suppliers(model_ids)],
        }


class EvidenceUploadForm(OneTimeSubmissionMixin, forms.Form):
    title = forms.CharField(label="Title", max_length=200)
    classification = forms.ChoiceField(
        label="Classification",
        choices=EvidenceDocument.Classification.choices,
        widget=forms.RadioSelect,
        help_text="SSC only: non-conflicted SSC members. Named recipients: only people you name. "
        "Parties: also the Parties the case concerns.",
    )
    file = DocumentField(
        label="Document", help_text="PDF, DOCX, XLSX, CSV, PNG or plain text, up to 25 MB"
    )


class EvidenceGrantForm(OneTimeSubmissionMixin, forms.Form):
    users = ObjectsField(
        label="Give access to",
        queryset=User.objects.filter(is_active=True).order_by("username"),
        widget=forms.CheckboxSelectMultiple,
    )


class EvidenceReclassifyForm(forms.Form):
    classification = forms.ChoiceField(
        label="Who may open it",
        choices=EvidenceDocument.Classification.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Select who may open the document"},
    )


class ConflictForm(forms.Form):
    has_conflict = forms.TypedChoiceField(
        label="Do you have a conflict of interest on this case?",
        widget=forms.RadioSelect,
        coerce=lambda value: value == "yes",
        choices=[("no", "No conflict"), ("yes", "Yes, I have a conflict of interest")],
    )
    reason = forms.CharField(
        label="If yes, why",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean(self):
        data = super().clean()
        if data.get("has_conflict") and not data.get("reason", "").strip():
            self.add_error("reason", "Give the reason for your conflict of interest")
        return data


def person_name(user) -> str:
    """Pickers name people, not usernames."""
    return user.get_full_name() or user.username


class ExpertInviteForm(OneTimeSubmissionMixin, forms.Form):
    expert = forms.ModelChoiceField(
        label="Technical expert",
        queryset=policies.experts(),
    )
    expires_on = GovukDateField(
        label="Access ends at the end of",
        subject="The date access ends",
        widget=DATE,
        validators=[within_years],
    )
    documents = ObjectsField(
        label="Named-recipient documents to share",
        required=False,
        queryset=EvidenceDocument.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, case, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expert"].label_from_instance = person_name
        self.fields["documents"].queryset = case.documents.filter(
            classification=EvidenceDocument.Classification.NAMED
        )

    def clean_expires_on(self):
        value = self.cleaned_data["expires_on"]
        if value < timezone.localdate():
            raise forms.ValidationError("The end of access must be today or later")
        return value

    @property
    def expires_at(self):
        end = datetime.datetime.combine(self.cleaned_data["expires_on"], datetime.time.max)
        return timezone.make_aware(end)


class ActingChairForm(OneTimeSubmissionMixin, forms.Form):
    member = forms.ModelChoiceField(
        label="Acting chair for this case",
        queryset=User.objects.none(),
        help_text="An SSC member with no conflict of interest on this case.",
    )

    def __init__(self, *args, case, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = policies.eligible_voters(case)
        self.fields["member"].label_from_instance = person_name


class CommentForm(OneTimeSubmissionMixin, forms.Form):
    text = forms.CharField(
        label="Comment", max_length=10000, widget=forms.Textarea(attrs={"rows": 3})
    )


class BallotOpenForm(forms.Form):
    closes_at = forms.DateTimeField(
        label="Voting closes at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    # Local practice: the SEC text sets no majority; the chair chooses it before any vote.
    majority = forms.ChoiceField(
        label="Majority needed",
        choices=Ballot.Majority.choices,
        initial=Ballot.Majority.SIMPLE,
        widget=forms.RadioSelect,
    )


class VoteForm(OneTimeSubmissionMixin, forms.Form):
    choice = forms.ChoiceField(
        label="Your vote", choices=VoteChoice.choices, widget=forms.RadioSelect
    )
    reason = forms.CharField(
        label="Reason for your vote (optional)",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Sealed with your vote until the ballot closes, then kept in the record.",
    )
    # Asked until the member has declared: voting and "no conflict" are then one step.
    no_conflict = forms.BooleanField(
        label="I have no conflict of interest on this case", required=False
    )

    def clean_no_conflict(self):
        # A formal declaration: only the ticked box ("on") counts, not any non-empty value.
        raw = self.data.get("no_conflict", "")
        if raw not in ("", "on"):
            raise forms.ValidationError("Tick the box to confirm you have no conflict of interest.")
        return raw == "on"


class CastingVoteForm(forms.Form):
    choice = forms.ChoiceField(
        label="Your casting vote", choices=Decision.choices, widget=forms.RadioSelect
    )


class DecisionIssueForm(forms.Form):
    reasons = forms.CharField(
        label="Reasons for the decision", max_length=20000, widget=forms.Textarea(attrs={"rows": 5})
    )
    security_factors = forms.CharField(
        label="Security factors considered",
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    operational_impact = forms.CharField(
        label="Operational impact considered",
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    party_summary = forms.CharField(
        label="Reasons for Parties",
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="The decision notice and the Parties carry only this text; the reasons and "
        "factors above stay with the SSC. Issuing approves it.",
    )
    # Clause 6.3 is never silent (governance.clause63): needed only for a remedial-plan decision
    # on device models the latest DCC inventory does not cover.
    no_devices_reason = forms.CharField(
        label="Confirm that no supplier has devices of the models the inventory does not cover",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Only when the page lists models without inventory coverage: give your reason. "
        "It is audited and shown in the decision record.",
    )


class CharacteristicsUploadForm(OneTimeSubmissionMixin, forms.Form):
    device_type = forms.ChoiceField(label="Device type", choices=DeviceType.choices)
    version_label = forms.CharField(label="Version", max_length=50)
    effective_date = GovukDateField(
        label="Effective from",
        subject="The date it takes effect",
        widget=DATE,
        validators=[within_years],
    )
    ncsc_reference = forms.CharField(label="NCSC publication reference", max_length=100)
    file = DocumentField(label="Document")


class MilestoneForm(forms.Form):
    description = forms.CharField(
        label="Milestone",
        max_length=500,
        error_messages={"required": "Describe the milestone"},
    )
    target_date = GovukDateField(label="Target date", widget=DATE, validators=[within_years])
    devices_covered = forms.IntegerField(
        label="Devices covered",
        min_value=0,
        max_value=2**63 - 1,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "spellcheck": "false"}),
        error_messages={
            "required": "Enter how many devices the milestone covers",
            "invalid": "Enter the number of devices as a whole number, like 1200",
            "min_value": "The number of devices cannot be negative",
            "max_value": "Enter a smaller number of devices",
        },
    )


MAX_MILESTONES = 50


class BaseMilestoneFormSet(forms.BaseFormSet):
    """The rows the supplier adds and removes; a revision starts from the previous version's.
    Every row is new (none is a stored row left unchanged), so a blank row is left out wherever
    it is. At least one milestone, at most MAX_MILESTONES rows."""

    default_error_messages = {
        "too_few_forms": "Enter at least one milestone",
        "too_many_forms": "A plan can have at most %(num)d milestones",
    }

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "empty_permitted": True}

    def initial_form_count(self):
        return 0

    def total_form_count(self):
        if self.is_bound:
            return super().total_form_count()
        return min(max(len(self.initial or ()), self.min_num) + self.extra, self.max_num)

    def typed_rows(self) -> list[dict]:
        """The posted rows as typed, unchecked: shown again when a row is added or removed."""
        return [{name: form[name].data for name in form.fields} for form in self.forms]


MilestoneFormSet = forms.formset_factory(
    MilestoneForm,
    formset=BaseMilestoneFormSet,
    extra=0,
    min_num=1,
    validate_min=True,
    max_num=MAX_MILESTONES,
    validate_max=True,
    absolute_max=MAX_MILESTONES,
)


class KeepsChosenFile:
    """One rule for every form with a document: a file that passed its checks on a POST with
    other errors is kept (portal.documents.pending_upload_keep), so the user need not choose it
    again; the next POST carries its token (`kept_file`), not the file. The file, chosen now or
    kept, is `cleaned_data["document"]`; the template shows a kept one as "File chosen"
    (includes/kept_file_field.html)."""

    file_field = "file"
    # The message when no file came and none was kept; None when the document is optional.
    file_missing: str | None = None

    def _init_kept_file(self, *, user, scope: str):
        self.user, self.scope = user, scope
        self.chosen_file = None  # a kept PendingUpload, shown as "File chosen"
        self._chosen_upload = None
        # No max_length: any bad token, however long, gets the one "cannot be used" message (the
        # request's size limit bounds it).
        self.fields["kept_file"] = forms.CharField(required=False, widget=forms.HiddenInput)

    def _clean_kept_file(self, data):
        upload, token = data.get(self.file_field), data.get("kept_file")
        upload = upload if upload and not isinstance(upload, PendingUpload) else None
        kept = None
        if token:
            try:
                kept = pending_upload_get(token, user=self.user, scope=self.scope)
            except forms.ValidationError as exc:
                if not upload and self.file_field not in self.errors:
                    self.add_error(self.file_field, exc)
        if upload:
            if kept:  # replaced by the file chosen now
                pending_upload_discard(kept)
            self._chosen_upload = data["document"] = upload
        elif kept:
            self.chosen_file = data["document"] = kept
        elif self.file_field not in self.errors and self.file_missing:
            self.add_error(self.file_field, self.file_missing)
        else:
            data["document"] = None
        return data

    def keep_chosen_file(self):
        """After a POST that saved nothing (or before a confirmation page): keep the file chosen
        now if it passed its checks, so the next POST need not send it again."""
        if self._chosen_upload is not None:
            self.chosen_file = pending_upload_keep(
                self._chosen_upload, user=self.user, scope=self.scope
            )
            self._chosen_upload = None
            self.cleaned_data["document"] = self.chosen_file  # the service takes the kept one
        elif self.chosen_file and not self.chosen_file.available:
            self.chosen_file = None  # used already (a replay), or by a submission that failed
            if self.file_field not in self.errors:
                self.add_error(
                    self.file_field, forms.ValidationError(PENDING_GONE, code="pending_gone")
                )


class PlanSubmitForm(KeepsChosenFile, OneTimeSubmissionMixin, forms.Form):
    """The plan and its document (kept across errors: KeepsChosenFile)."""

    summary = forms.CharField(
        label="Summary of the plan",
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Enter a summary of the plan"},
    )
    file = DocumentField(
        label="Plan document", required=False, help_text="PDF, DOCX, XLSX, CSV, PNG or text"
    )
    file_missing = "Choose the plan document"

    def __init__(self, *args, user, requirement, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_kept_file(user=user, scope=f"plan-requirement:{requirement.pk}")

    def clean(self):
        return self._clean_kept_file(super().clean())


class PlanReviewForm(forms.Form):
    # The version the reviewer read: a newer submission makes the review fail, not move over.
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    decision = forms.ChoiceField(
        label="Your review",
        widget=forms.RadioSelect,
        choices=[("approve", "Approve the plan"), ("not_approve", "Do not approve the plan")],
    )
    comments = forms.CharField(
        label="Comments or reasons",
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Required when the plan is not approved; the supplier sees them.",
    )
    expires_on = GovukDateField(
        label="Approval expires on (optional)",
        subject="The date the approval expires",
        required=False,
        widget=DATE,
        validators=[within_years],
        help_text="If the approval runs until a date: unless the plan is completed by then, "
        "the supplier must submit a new one.",
    )

    def clean(self):
        data = super().clean()
        if data.get("decision") == "not_approve" and not data.get("comments", "").strip():
            self.add_error("comments", "Give the reasons why the plan is not approved")
        if data.get("decision") == "not_approve" and data.get("expires_on"):
            self.add_error("expires_on", "Only an approval carries an expiry date")
        return data


class PolicyUploadForm(OneTimeSubmissionMixin, forms.Form):
    review_date = GovukDateField(label="Next review date", widget=DATE, validators=[within_years])
    file = DocumentField(label="Policy document")


class ReferralLodgeForm(KeepsChosenFile, forms.Form):
    kind = forms.ChoiceField(
        label="Which decision do you refer?", widget=forms.RadioSelect, choices=[]
    )
    plan_requirement = forms.ModelChoiceField(
        label="The remedial plan concerned", required=False, queryset=None
    )
    grounds = forms.CharField(
        label="Your grounds", max_length=50000, widget=forms.Textarea(attrs={"rows": 6})
    )
    document = DocumentField(label="Supporting document (optional)", required=False)
    file_field = "document"

    def __init__(self, *args, case, user, **kwargs):
        from .models import PlanRequirement, Referral

        super().__init__(*args, **kwargs)
        self._init_kept_file(user=user, scope=f"referral-lodge:{case.pk}")
        # Offer only what this user may refer: the decision taken, and its own refused plans.
        referable = [
            r.pk
            for r in case.plan_requirements.all()
            if policies.plan_requirements.can(user, "refer", r)
        ]
        record = getattr(case, "decision_record", None)
        kinds = []
        if record is not None and policies.cases.why_not_refer_decision(user, case) is None:
            kinds.append(
                Referral.Kind.REMOVE
                if record.decision == Decision.SUSPEND
                else Referral.Kind.NOT_REMOVE
            )
        if referable:
            kinds.append(Referral.Kind.PLAN_NOT_APPROVED)
        plans = self.fields["plan_requirement"]
        plans.queryset = PlanRequirement.objects.filter(pk__in=referable).select_related("supplier")
        plans.empty_label = "Choose the plan"
        # One refused plan: nothing to choose, the kind names it. Several: the user picks one.
        self.only_plan = plans.queryset.get() if len(referable) == 1 else None
        if len(referable) != 1:
            plans.help_text = "Only for a decision not to approve a plan."
        if self.only_plan is not None or not referable:
            del self.fields["plan_requirement"]
        self.fields["kind"].choices = [
            (
                k.value,
                f"The decision not to approve {self.only_plan.supplier}'s remedial plan"
                if k == Referral.Kind.PLAN_NOT_APPROVED and self.only_plan
                else k.label,
            )
            for k in kinds
        ]
        if len(kinds) == 1:
            self.fields["kind"].initial = kinds[0].value

    def clean(self):
        from .models import Referral

        data = self._clean_kept_file(super().clean())
        if self.only_plan is not None and data.get("kind") == Referral.Kind.PLAN_NOT_APPROVED:
            data["plan_requirement"] = self.only_plan
        data.setdefault("plan_requirement", None)
        return data


class SendPackForm(forms.Form):
    disclosed = ObjectsField(
        label="Evidence to disclose to the Authority",
        required=False,
        queryset=EvidenceDocument.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, case, user, **kwargs):
        super().__init__(*args, **kwargs)
        # The evidence policy decides what the sender may put in a pack.
        self.fields["disclosed"].queryset = policies.evidence.visible(user).filter(case=case)


class InformationRequestForm(forms.Form):
    text = forms.CharField(
        label="Information or documents requested",
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    due_date = GovukDateField(
        label="Due by", subject="The due date", widget=DATE, validators=[within_years]
    )


class InformationResponseForm(forms.Form):
    response = forms.CharField(
        label="Your answer", max_length=50000, widget=forms.Textarea(attrs={"rows": 5})
    )
    document = DocumentField(label="Document (optional)", required=False)


class DeterminationForm(forms.Form):
    outcome = forms.ChoiceField(label="Determination", widget=forms.RadioSelect, choices=[])
    reasons = forms.CharField(
        label="Reasons", max_length=50000, widget=forms.Textarea(attrs={"rows": 5})
    )
    effective_date = GovukDateField(
        label="Effective from",
        subject="The date it takes effect",
        widget=DATE,
        validators=[within_years],
    )

    def __init__(self, *args, **kwargs):
        from .models import Referral

        super().__init__(*args, **kwargs)
        self.fields["outcome"].choices = Referral.Outcome.choices


class PartySummaryForm(OneTimeSubmissionMixin, forms.Form):
    party_summary = forms.CharField(
        label="Summary for Parties",
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What the Parties and experts read about the case, and what notices carry. "
        "The chair approves it; a change needs approval again.",
    )
    decision_party_summary = forms.CharField(
        label="Reasons for Parties (draft for the decision notice)",
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="The chair approves these by issuing the decision.",
    )

    def __init__(self, *args, drafts_decision: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not drafts_decision:
            del self.fields["decision_party_summary"]


class RepresentationForm(OneTimeSubmissionMixin, forms.Form):
    text = forms.CharField(
        label="Your views",
        max_length=50000,
        widget=forms.Textarea(attrs={"rows": 8}),
        error_messages={"required": "Enter your views on the case"},
    )
    classification = forms.ChoiceField(
        label="Who may read them",
        choices=Representation.Classification.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Select who may read your views"},
        help_text="SSC only: the SSC (never a member with a conflict of interest). Parties: also "
        "the other Parties the case is addressed to.",
    )
    document = DocumentField(
        label="Supporting document (optional)",
        required=False,
        help_text="PDF, DOCX, XLSX, CSV, PNG or plain text, up to 25 MB",
    )


class RecommendationForm(OneTimeSubmissionMixin, forms.Form):
    recommendation = forms.ChoiceField(
        label="Your recommendation", choices=Decision.choices, widget=forms.RadioSelect
    )
    reasons = forms.CharField(
        label="Reasons", max_length=20000, widget=forms.Textarea(attrs={"rows": 5})
    )


class CaseFilterForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        help_text="Case reference, certificate number, manufacturer or model ID",
    )
    state = forms.ChoiceField(
        label="State", required=False, choices=[("", "Any state"), *Case.State.choices]
    )
    device_type = forms.ChoiceField(
        label="Device type", required=False, choices=[("", "Any device type"), *DeviceType.choices]
    )
    # Offered only to those who see severity (an SSC-only detail): see CaseListView.
    severity = forms.ChoiceField(
        label="Severity", required=False, choices=[("", "Any severity"), *Case.Severity.choices]
    )


say_what_is_missing(
    {
        ActingChairForm: {"member": "Select the member who chairs this case"},
        BallotOpenForm: {
            "closes_at": "Enter when voting closes",
            "majority": "Select the majority the decision needs",
        },
        CastingVoteForm: {"choice": "Select the option your casting vote supports"},
        CharacteristicsUploadForm: {
            "device_type": "Select the device type",
            "version_label": "Enter the version",
            "ncsc_reference": "Enter the NCSC publication reference",
            "file": "Choose the document to upload",
        },
        CommentForm: {"text": "Write a comment before you add it"},
        ConflictForm: {"has_conflict": "Select whether you have a conflict of interest"},
        DecisionIssueForm: {
            "reasons": "Enter the reasons for the decision",
            "security_factors": "Enter the security factors considered",
            "operational_impact": "Enter the operational impact considered",
            "party_summary": "Enter the reasons for Parties",
        },
        DeterminationForm: {
            "outcome": "Select the determination",
            "reasons": "Enter the reasons for the determination",
        },
        EvidenceGrantForm: {"users": "Select at least one person to give access to"},
        EvidenceUploadForm: {
            "title": "Enter a title for the document",
            "classification": "Select who may open the document",
            "file": "Choose the document to upload",
        },
        ExpertInviteForm: {"expert": "Select the technical expert to invite"},
        InformationRequestForm: {"text": "Enter the information or documents you request"},
        InformationResponseForm: {"response": "Enter your answer"},
        PartySummaryForm: {"party_summary": "Enter the summary for Parties"},
        PlanReviewForm: {"decision": "Select whether you approve the plan"},
        PolicyUploadForm: {"file": "Choose your policy document"},
        RecommendationForm: {
            "recommendation": "Select your recommendation",
            "reasons": "Enter the reasons for your recommendation",
        },
        ReferralLodgeForm: {
            "kind": "Select the decision you refer",
            "grounds": "Enter your grounds for the referral",
        },
        VoteForm: {"choice": "Select your vote"},
    }
)
