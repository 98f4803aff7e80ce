import hashlib
import json
from functools import partial

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import FormView, ListView, TemplateView

from cpl import selectors as cpl_selectors
from cpl.models import AssuranceCertificate
from cpl.policies import CERTIFICATES
from portal.confirm import confirmation_page
from portal.documents import attachment_response
from portal.forms import AlreadySubmitted
from portal.models import User
from portal.paging import querystring_without_page
from portal.permissions import ObjectActionMixin, PolicyRequiredMixin, PortalPermissionRequiredMixin
from portal.policies import ActionNotNow, policy_for

from . import ballots as ballot_rules
from . import policies, record, selectors, services
from .ballots import ballot_record_votes
from .forms import (
    ActingChairForm,
    BallotOpenForm,
    CaseFilterForm,
    CaseOpenForm,
    CastingVoteForm,
    CharacteristicsUploadForm,
    CommentForm,
    ConflictForm,
    DecisionIssueForm,
    EvidenceGrantForm,
    EvidenceReclassifyForm,
    EvidenceUploadForm,
    ExpertInviteForm,
    VoteForm,
)
from .models import Ballot, Decision, EvidenceDocument, VoteChoice
from .progress import case_tasks


def _form_errors(form, exc: ValidationError, field=None):
    for message in exc.messages:
        form.add_error(field, message)


class CaseMixin(ObjectActionMixin):
    """The case in the URL if the user may see it (else 404, never revealing it exists)."""

    policy, object_attr = policies.cases, "case"

    @cached_property
    def case(self):
        return selectors.case_for_page(self.request.user, self.kwargs["case_pk"])


class CaseListView(PolicyRequiredMixin, ListView):
    policy = policies.cases
    template_name = "governance/case_list.html"
    context_object_name = "cases"
    paginate_by = 50

    def get_queryset(self):
        user = self.request.user
        self.filter_form = CaseFilterForm(self.request.GET or None)
        if not policies.cases.can(user, "view_deliberation", None):
            del self.filter_form.fields["severity"]  # never offered to whom it is never shown
        if not self.filter_form.is_valid():
            return selectors.case_list_for_user(user)
        data = self.filter_form.cleaned_data
        return selectors.case_list_filtered(
            user,
            query=data["q"],
            state=data["state"],
            device_type=data["device_type"],
            severity=data.get("severity", ""),
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(
            filter_form=self.filter_form,
            querystring=querystring_without_page(self.request),
            filtered=any(self.request.GET.get(f) for f in self.filter_form.fields),
            **kwargs,
        )
        for case in context["cases"]:  # severity is an SSC-only detail (governance.record)
            case.sees_ssc_details = record.sees_ssc_details(self.request.user, case)
        return context


class CaseOpenView(LoginRequiredMixin, FormView):
    template_name = "governance/case_open.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            CERTIFICATES.require(request.user, "open_case", None)  # 403 before revealing
            CERTIFICATES.require(request.user, "open_case", self.certificate)
        return super().dispatch(request, *args, **kwargs)

    @cached_property
    def certificate(self):
        return get_object_or_404(
            AssuranceCertificate,
            pk=self.kwargs["certificate_pk"],
            kind=AssuranceCertificate.Kind.CPA,
        )

    def get_form(self, form_class=None):
        return CaseOpenForm(**self.get_form_kwargs(), certificate=self.certificate)

    def get_context_data(self, **kwargs):
        return super().get_context_data(certificate=self.certificate, **kwargs)

    def form_valid(self, form):
        try:
            case = services.case_open(
                actor=self.request.user, certificate=self.certificate, **form.cleaned_data
            )
        except ValidationError as exc:
            _form_errors(form, exc)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Case {case.reference} opened for {self.certificate.number}. Next: add the NCSC's "
            "advice and other evidence, then start the assessment: the chair can then open a "
            "ballot.",
        )
        return redirect("governance:case", case_pk=case.pk)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


def issue_waits_for(user, case) -> str:
    """What the case's chair waits for before the decision notice is offered: the summary for
    Parties (the notice carries it), written by the secretariat, then approved by the chair."""
    refusal = policies.cases.why_not(user, "issue_decision", case)
    if refusal != policies.NO_APPROVED_SUMMARY or policies.why_not_chair(user, case):
        return ""
    if not case.party_summary:
        return (
            "Waiting for the secretariat's summary for Parties: the decision notice carries it. "
            "Once it is written, approve it here, then issue the decision notice."
        )
    return (
        "Approve the secretariat's summary for Parties on the case page: the decision notice "
        "carries it. Then issue the decision notice."
    )


class CaseDetailView(CaseMixin, TemplateView):
    template_name = "governance/case_detail.html"

    def get_context_data(self, **kwargs):
        user, case = self.request.user, self.case
        actions = policies.cases.actions(user, case)
        documents = _documents_with_actions(user, case)
        declaration = policies.declaration_for(user, case)
        ballots = list(case.ballots.all())
        device_models = list(case.device_models.all())
        context = {
            "case": case,
            "actions": actions,
            "documents": documents,
            "shows_access": any("manage_access" in d.actions for d in documents),
            "declaration": declaration,
            "ballots": ballots,
            "open_ballot": next((b for b in ballots if b.is_open), None),
            "decision_record": getattr(case, "decision_record", None),
            # Linked only where the register's policy lets this user open the page.
            "device_models": [(m, policy_for(m).can(user, "view", m)) for m in device_models],
            "certificate_visible": policy_for(case.certificate).can(user, "view", case.certificate),
            "requirements": [
                r
                for r in case.plan_requirements.all()
                if policies.plan_requirements.can(user, "view", r)
            ],
        }
        context["case_tasks"] = case_tasks(case, context["requirements"])
        if case.state == case.State.DECIDED and "issue_decision" not in actions:
            context["why_not_issue"] = issue_waits_for(user, case)
        if case.state == case.State.CLOSED:
            from .clause63 import automatic_close

            context["closed_automatically"] = automatic_close(case)
        if "view_deliberation" in actions:
            context["affected"] = cpl_selectors.affected_suppliers([m.pk for m in device_models])
        if "declare_conflict" in actions:
            context["conflict_form"] = ConflictForm(
                initial={
                    "has_conflict": ("yes" if declaration.has_conflict else "no")
                    if declaration
                    else None,
                    "reason": declaration.reason if declaration else "",
                }
            )
        if "open_ballot" in actions:
            context["ballot_form"] = BallotOpenForm(
                initial={
                    "closes_at": (timezone.localtime() + timezone.timedelta(days=3)).strftime(
                        "%Y-%m-%dT%H:%M"
                    )
                }
            )
        if "designate_acting_chair" in actions:
            context["acting_chair_form"] = ActingChairForm(case=case)
        if "comment" in actions:
            context["comment_form"] = CommentForm()  # its one-time token
        context.update(record.case_record_context(user, case, actions))
        context.update(kwargs)
        return super().get_context_data(**context)


def _documents_with_actions(user, case):
    documents = list(selectors.documents_visible(user, case))
    for document in documents:
        document.case = case  # the page's case, with its prefetched conflicts
        document.actions = policies.evidence.actions(user, document)
    return documents


class CaseActionView(CaseMixin, View):
    ACTIONS = {
        "start_assessment": "Case {ref} is now in assessment. The Parties it concerns have "
        "been invited to give their views and may make representations; next, the secretariat "
        "writes the summary for Parties and the chair opens a ballot.",
        "close": "Case {ref} is closed. Nothing more can be recorded on it.",
    }

    def post(self, request, case_pk, action):
        if action not in self.ACTIONS:
            raise Http404
        policies.cases.require(request.user, action, self.case)
        if action == "close":
            ask = confirmation_page(
                request,
                caption=self.case.reference,
                title=f"Close case {self.case.reference}?",
                warning="A closed case cannot be reopened: no more evidence, plans or "
                "declarations can be recorded on it.",
                button="Close the case",
                cancel_url=reverse("governance:case", kwargs={"case_pk": case_pk}),
            )
            if ask:
                return ask
        services.case_transition(actor=request.user, case=self.case, name=action)
        messages.success(request, self.ACTIONS[action].format(ref=self.case.reference))
        return redirect("governance:case", case_pk=case_pk)


class CaseFormView(CaseMixin, FormView):
    """A form on its own page about one case; re-rendered with 400 when invalid."""

    def get_context_data(self, **kwargs):
        return super().get_context_data(case=self.case, **kwargs)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)

    @property
    def case_url(self):
        return reverse("governance:case", kwargs={"case_pk": self.case.pk})

    def done(self, text):
        messages.success(self.request, text)
        return redirect(self.case_url)


class EvidenceUploadView(CaseFormView):
    required_action = "upload_evidence"
    template_name = "governance/evidence_upload.html"
    form_class = EvidenceUploadForm

    def form_valid(self, form):
        with form.submitted_once(self.request.user) as submission:
            document = services.evidence_upload(
                actor=self.request.user,
                case=self.case,
                title=form.cleaned_data["title"],
                classification=form.cleaned_data["classification"],
                upload=form.cleaned_data["file"],
            )
            submission.result_url = self.case_url
        return self.done(
            f"{document.title} uploaded. Who may open it follows its classification; grant "
            "named recipients from the evidence list."
        )


class EvidenceGrantView(CaseFormView):
    """A document's access: who may open it and why, named recipients granted and revoked, and
    its classification changed (the secretariat)."""

    template_name = "governance/evidence_grant.html"
    form_class = EvidenceGrantForm

    def dispatch(self, request, *args, **kwargs):
        # The page is the access manager's; each POST asks for its own action below.
        if request.user.is_authenticated and request.method != "POST":
            policies.evidence.require(request.user, "manage_access", self.document)
        return super().dispatch(request, *args, **kwargs)

    @cached_property
    def document(self):
        user = self.request.user
        document = get_object_or_404(
            EvidenceDocument.objects.select_related("case"),
            pk=self.kwargs["document_pk"],
            case=self.case,
        )
        # Who may neither open nor manage it is not told it exists.
        if not (
            policies.evidence.can(user, "view", document)
            or policies.evidence.can(user, "manage_access", document)
        ):
            raise Http404
        return document

    def get_form(self, form_class=None):
        if not policies.evidence.can(self.request.user, "grant", self.document):
            return None  # rule-based: nobody is named
        return super().get_form(form_class)

    def get_context_data(self, **kwargs):
        kwargs.setdefault(
            "reclassify_form",
            EvidenceReclassifyForm(initial={"classification": self.document.classification}),
        )
        return super().get_context_data(
            document=self.document,
            holders=services.evidence_access_list(self.document),
            may_revoke=policies.evidence.can(self.request.user, "grant", self.document),
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        action = request.POST.get("action", "grant")
        if action == "revoke":
            return self._revoke(request)
        if action == "reclassify":
            return self._reclassify(request)
        policies.evidence.require(request.user, "grant", self.document)
        return super().post(request, *args, **kwargs)

    def _revoke(self, request):
        policies.evidence.require(request.user, "grant", self.document)
        chosen = request.POST.get("user", "")
        user = get_object_or_404(User, pk=int(chosen) if chosen.isdigit() else 0)
        ask = confirmation_page(
            request,
            caption=self.document.title,
            title=f"Revoke {user.get_full_name() or user}'s access?",
            warning="They can no longer open the document; they are not told.",
            button="Revoke access",
            cancel_url=request.path,
        )
        if ask:
            return ask
        try:
            services.evidence_revoke(actor=request.user, document=self.document, user=user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(request.path)
        messages.success(request, f"{user.get_full_name() or user} can no longer open it.")
        return redirect(request.path)

    def _reclassify(self, request):
        policies.evidence.require(request.user, "manage_access", self.document)
        form = EvidenceReclassifyForm(request.POST)
        if not form.is_valid():
            context = self.get_context_data(reclassify_form=form)
            return self.render_to_response(context, status=400)
        new = form.cleaned_data["classification"]
        label = dict(EvidenceDocument.Classification.choices)[new]
        ask = confirmation_page(
            request,
            caption=self.document.title,
            title=f"Re-classify as {label}?",
            details=[("Now", self.document.get_classification_display()), ("New", label)],
            warning="Access changes at once to follow the new classification"
            + (
                ": only you keep it until you name recipients."
                if new == EvidenceDocument.Classification.NAMED
                else "."
            ),
            button="Re-classify",
            cancel_url=request.path,
        )
        if ask:
            return ask
        try:
            services.evidence_reclassify(
                actor=request.user, document=self.document, classification=new
            )
        except ValidationError as exc:
            form.add_error("classification", " ".join(exc.messages))
            return self.render_to_response(self.get_context_data(reclassify_form=form), status=400)
        messages.success(request, f"{self.document.title} is now classified {label}.")
        return redirect(request.path)

    def form_valid(self, form):
        with form.submitted_once(self.request.user) as submission:
            services.evidence_grant(
                actor=self.request.user, document=self.document, users=form.cleaned_data["users"]
            )
            submission.result_url = self.case_url
        return self.done(
            f"Access to {self.document.title} granted. The people you named can open it now."
        )


class EvidenceDownloadView(CaseMixin, View):
    def get(self, request, case_pk, document_pk):
        document = policies.evidence.get_or_404(
            request.user, document_pk, EvidenceDocument.objects.filter(case=self.case)
        )
        services.evidence_record_download(actor=request.user, document=document)
        return attachment_response(document, folder="evidence")


class ConflictDeclareView(CaseFormView):
    required_action = "declare_conflict"
    template_name = "governance/conflict.html"
    form_class = ConflictForm

    def form_valid(self, form):
        try:
            declaration = services.conflict_declare(
                actor=self.request.user,
                case=self.case,
                has_conflict=form.cleaned_data["has_conflict"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
            return self.form_invalid(form)
        except ActionNotNow as exc:  # the conflict stands while a ballot is open: 409
            form.add_error("has_conflict", str(exc))
            return self.render_to_response(self.get_context_data(form=form), status=409)
        if getattr(declaration, "vote_withdrawn", False):
            return self.done(
                "Your vote was withdrawn: you declared a conflict of interest, so you are "
                "recused from the ballot on this case. Your declaration is recorded."
            )
        if form.cleaned_data["has_conflict"]:
            return self.done(
                "Your declaration is recorded. You take no part in the ballot on this case, "
                "and its SSC-only evidence is closed to you."
            )
        return self.done("Your declaration is recorded. You may vote on this case.")


class ActingChairView(CaseFormView):
    required_action = "designate_acting_chair"
    template_name = "governance/acting_chair.html"

    def get_form(self, form_class=None):
        return ActingChairForm(**self.get_form_kwargs(), case=self.case)

    def form_valid(self, form):
        member = form.cleaned_data["member"]
        try:
            with form.submitted_once(self.request.user) as submission:
                services.case_designate_acting_chair(
                    actor=self.request.user, case=self.case, member=member
                )
                submission.result_url = self.case_url
        except ValidationError as exc:
            _form_errors(form, exc, "member")
            return self.form_invalid(form)
        return self.done(
            f"{member.get_full_name() or member} is acting chair for this case. They have a "
            "notice and can open the ballot."
        )


class ExpertInviteView(CaseFormView):
    required_action = "invite_expert"
    template_name = "governance/expert_invite.html"
    form_class = ExpertInviteForm

    def get_form(self, form_class=None):
        return ExpertInviteForm(**self.get_form_kwargs(), case=self.case)

    def form_valid(self, form):
        try:
            with form.submitted_once(self.request.user) as submission:
                invitation = services.expert_invite(
                    actor=self.request.user,
                    case=self.case,
                    expert=form.cleaned_data["expert"],
                    expires_at=form.expires_at,
                    documents=form.cleaned_data["documents"],
                )
                submission.result_url = self.case_url
        except ValidationError as exc:
            _form_errors(form, exc)
            return self.form_invalid(form)
        return self.done(
            f"{invitation.expert.get_full_name() or invitation.expert} may read this "
            f"case until {timezone.localtime(invitation.expires_at):%-d %B %Y}."
        )


class CommentView(CaseMixin, View):
    required_action = "comment"

    def post(self, request, case_pk):
        form = CommentForm(request.POST)
        comments = reverse("governance:case", kwargs={"case_pk": case_pk}) + "#comments"
        if form.is_valid():
            with form.submitted_once(request.user) as submission:
                services.case_comment(
                    actor=request.user, case=self.case, text=form.cleaned_data["text"]
                )
                submission.result_url = comments
            messages.success(request, "Comment added. The SSC members on the case can read it.")
        else:
            messages.error(request, "Write a comment before you add it.")
        return redirect(comments)


class BallotOpenView(CaseMixin, View):
    required_action = "open_ballot"

    def post(self, request, case_pk):
        form = BallotOpenForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Enter when voting closes, for example 2026-12-01 17:00.")
            return redirect("governance:case", case_pk=case_pk)
        closes_at = timezone.localtime(form.cleaned_data["closes_at"])
        majority = dict(form.fields["majority"].choices).get(form.cleaned_data["majority"], "")
        ask = confirmation_page(
            request,
            caption=self.case.reference,
            title=f"Open a ballot on case {self.case.reference}?",
            details=[
                ("Voting closes", f"{closes_at:%H:%M on %-d %B %Y}"),
                ("Majority needed", str(majority)),
            ],
            warning="The electorate is fixed when the ballot opens and every eligible member "
            "is asked to vote; the closing time cannot be changed afterwards.",
            button="Open the ballot",
            cancel_url=reverse("governance:case", kwargs={"case_pk": case_pk}),
        )
        if ask:
            return ask
        try:
            ballot = services.ballot_open(
                actor=request.user,
                case=self.case,
                closes_at=form.cleaned_data["closes_at"],
                majority=form.cleaned_data["majority"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("governance:case", case_pk=case_pk)
        messages.success(
            request,
            f"Ballot {ballot.number} on case {self.case.reference} is open until "
            f"{timezone.localtime(ballot.closes_at):%H:%M on %-d %B %Y}. The eligible members "
            f"have been asked to vote; this page shows who has voted as they do.",
        )
        return redirect("governance:ballot", ballot_pk=ballot.pk)


class BallotMixin(ObjectActionMixin):
    policy, object_attr = policies.ballots, "ballot"

    @cached_property
    def ballot(self) -> Ballot:
        return selectors.ballot_for_page(self.request.user, self.kwargs["ballot_pk"])

    def vote_panel_context(self, ballot: Ballot, my_vote, **extra):
        """The vote panel: the user's own vote and what they may do about it. It reads only the
        ballot, its case and the case's declarations, so re-rendering it after a vote costs
        no query per member or vote."""
        user, case = self.request.user, ballot.case
        return {
            "ballot": ballot,
            "case": case,
            "actions": policies.ballots.actions(user, ballot),
            "why_not_vote": policies.ballots.why_not(user, "vote", ballot),
            "my_vote": my_vote,
            "vote_form": VoteForm(
                initial={
                    "choice": my_vote.choice if my_vote else None,
                    "reason": my_vote.reason if my_vote else "",
                }
            ),
            "declaration": policies.declaration_for(user, case),
            # Called by the template only where it shows it (a member who may not vote): the
            # check reads the case's ballots and their votes.
            "may_declare": partial(policies.cases.can, user, "declare_conflict", case),
            **extra,
        }

    @staticmethod
    def members_context(ballot: Ballot, voted: set) -> dict:
        """The members list: the electorate frozen at opening, less those recused since; who
        has voted is open, how is sealed until the close. Reads the case's declarations."""
        eligible_ids = ballot_rules.eligible_ids(ballot)
        eligible = [e for e in ballot.electorate if e["id"] in eligible_ids]
        not_voted_ids = {e["id"] for e in eligible if e["id"] not in voted}
        # What the list shows, fingerprinted: the page's poll sends it back and is answered
        # 204 (nothing swapped, nothing announced) while it still holds.
        shown = [ballot.state, sorted(eligible_ids), sorted(not_voted_ids)]
        return {
            "eligible": eligible,
            "not_voted_ids": not_voted_ids,
            "not_voted": [e for e in eligible if e["id"] not in voted],
            "conflicted": [d for d in ballot.case.conflicts.all() if d.has_conflict],
            "live_version": hashlib.sha256(json.dumps(shown).encode()).hexdigest()[:16],
            "poll_seconds": settings.BALLOT_POLL_SECONDS,
        }

    def ballot_context(self, **extra):
        user, ballot = self.request.user, self.ballot
        votes = list(ballot.votes.all())
        mine = next((v for v in votes if v.member_id == user.pk), None)
        # Votes are passed to the page only once the ballot is closed.
        return self.vote_panel_context(
            ballot,
            mine,
            **self.members_context(ballot, {v.member_id for v in votes}),
            sealed=ballot_rules.sealed(ballot),
            vote_record=None if ballot_rules.sealed(ballot) else ballot_record_votes(ballot),
            failure_reason=ballot_rules.failure_reason(ballot)
            if ballot.state == Ballot.State.FAILED
            else "",
            may_issue_decision=policies.cases.can(user, "issue_decision", ballot.case),
            why_not_issue=issue_waits_for(user, ballot.case),
            **extra,
        )


class BallotDetailView(BallotMixin, TemplateView):
    template_name = "governance/ballot_detail.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            **self.ballot_context(
                casting_form=CastingVoteForm(), vote_options=VoteChoice.values, **kwargs
            )
        )


class BallotVotersView(BallotMixin, View):
    """Polled by htmx from the ballot page: who has voted (never how: sealed until the count)
    and whether the ballot has closed. `seen` is what the page shows: unchanged, it is answered
    204 and the page is left alone; changed, the list is swapped and one short sentence is
    announced. Only those who may see the ballot get it (404 otherwise, as the page)."""

    def get(self, request, ballot_pk):
        ballot = self.ballot
        members = self.members_context(ballot, {v.member_id for v in ballot.votes.all()})
        if request.GET.get("seen") == members["live_version"]:
            return HttpResponse(status=204)
        if ballot.is_open:
            voted = len(members["eligible"]) - len(members["not_voted"])
            announce = (
                f"Members list updated: {voted} of {len(members['eligible'])} eligible "
                f"member{pluralize(len(members['eligible']))} ha{pluralize(voted, 's,ve')} voted."
            )
        else:
            announce = f"Ballot {ballot.number} has closed. Reload the page to see the result."
        context = {"ballot": ballot, "case": ballot.case, "announce": announce, **members}
        return render(request, "governance/_ballot_live.html", context)


VOTE_RECORDED = (
    "Your vote is recorded. You may change it until the ballot closes; the result is shown on "
    "this page then."
)


class VoteView(BallotMixin, View):
    """htmx: the vote panel is swapped in place; without htmx, back to the ballot page."""

    def post(self, request, ballot_pk):
        # Who may see ballots does not depend on the ballot: the service reads it once, locked,
        # and the policy decides on that row rather than on a copy read before it.
        if not policies.ballots.can(request.user, "view", None):
            raise Http404
        form = VoteForm(request.POST)
        status, note, vote = 200, "", None
        if not form.is_valid():
            status, note = 400, "Choose one of the options."
        else:
            try:
                with form.submitted_once(request.user) as submission:
                    vote = services.vote_cast(
                        actor=request.user,
                        ballot=Ballot(pk=ballot_pk),
                        choice=form.cleaned_data["choice"],
                        no_conflict=form.cleaned_data["no_conflict"],
                        reason=form.cleaned_data["reason"],
                    )
                    submission.result_url = reverse("governance:ballot", args=[ballot_pk])
                note = VOTE_RECORDED
            except AlreadySubmitted:  # a double click: the first one counted
                note = VOTE_RECORDED
            except Ballot.DoesNotExist:
                raise Http404 from None
            except ValidationError as exc:
                status, note = 400, " ".join(exc.messages)
            except ActionNotNow as exc:
                status, note, refusal = 409, str(exc), exc
            except PermissionDenied as exc:
                self.ballot  # noqa: B018  a ballot hidden from the user (conflicted): 404
                status, note = 403, str(exc) or "You may not vote in this ballot."
        if not request.headers.get("HX-Request"):
            if status == 409:
                raise refusal
            if status == 403:
                raise PermissionDenied(note)
            (messages.success if status == 200 else messages.error)(request, note)
            return redirect("governance:ballot", ballot_pk=ballot_pk)
        if vote is not None:  # the rows the vote was cast on, read under its lock
            ballot = vote.ballot
            voted = set(ballot.votes.values_list("member_id", flat=True))
            context = self.vote_panel_context(
                ballot, vote, note=note, **self.members_context(ballot, voted)
            )
        else:
            context = self.ballot_context(note=note, note_is_error=status != 200)
        # Who has voted changes with the vote: sent out of band beside the panel.
        context["members_oob"] = True
        return render(request, "governance/_vote_panel.html", context, status=status)


class BallotCloseView(BallotMixin, View):
    required_action = "close"

    def post(self, request, ballot_pk):
        ballot = self.ballot
        eligible = ballot_rules.eligible_ids(ballot)
        voted = {v.member_id for v in ballot.votes.all()}
        waiting = [e["name"] for e in ballot.electorate if e["id"] in eligible - voted]
        ask = confirmation_page(
            request,
            caption=ballot.case.reference,
            title=f"Close ballot {ballot.number} now?",
            details=[
                (
                    "Closes by itself at",
                    f"{timezone.localtime(ballot.closes_at):%H:%M on %-d %B %Y}",
                ),
                ("Voted", f"{len(eligible & voted)} of {len(eligible)} eligible members"),
                ("Not voted yet", ", ".join(waiting) or "Nobody"),
            ],
            warning="The votes are counted now and the ballot cannot be reopened: members who "
            "have not voted lose their vote.",
            button="Close the ballot and count the votes",
            cancel_url=reverse("governance:ballot", args=[ballot_pk]),
        )
        if ask:
            return ask
        try:
            ballot = services.ballot_close(actor=request.user, ballot=self.ballot)
        except services.BallotAlreadyClosed as exc:
            raise ActionNotNow(str(exc)) from None  # closed meanwhile: 409, like every race
        text = {
            Ballot.State.FAILED: "No quorum: the ballot failed. You may run it again.",
            Ballot.State.AWAITING_CASTING_VOTE: "The vote is tied: give your casting vote.",
            Ballot.State.CLOSED: f"Ballot closed: {ballot.get_result_display()}.",
        }[ballot.state]
        messages.success(request, text)
        return redirect("governance:ballot", ballot_pk=ballot_pk)


class CastingVoteView(BallotMixin, View):
    required_action = "cast_deciding_vote"

    def post(self, request, ballot_pk):
        form = CastingVoteForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose the option your casting vote supports.")
            return redirect("governance:ballot", ballot_pk=ballot_pk)
        try:
            ballot = services.ballot_cast_deciding_vote(
                actor=request.user, ballot=self.ballot, choice=form.cleaned_data["choice"]
            )
        except services.BallotAlreadyClosed as exc:
            raise ActionNotNow(str(exc)) from None
        messages.success(
            request,
            f"Casting vote given: the ballot decided {ballot.get_result_display()}. Next, the "
            f"decision notice is issued to the Parties once the summary for Parties is approved.",
        )
        return redirect("governance:ballot", ballot_pk=ballot_pk)


class DecisionIssueView(CaseFormView):
    required_action = "issue_decision"
    template_name = "governance/decision_issue.html"
    form_class = DecisionIssueForm

    def dispatch(self, request, *args, **kwargs):
        # The chair who opens the page before the summary for Parties is approved reads what
        # to do first, not a bare refusal; a POST is refused (409).
        if request.method == "GET" and request.user.is_authenticated:
            refusal = policies.cases.why_not(request.user, "issue_decision", self.case)
            if refusal == policies.NO_APPROVED_SUMMARY:
                return render(
                    request,
                    self.template_name,
                    {"case": self.case, "record": self.case.decision_record, "blocked": refusal},
                )
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        from .clause63 import case_coverage

        coverage, uncovered = case_coverage(self.case)
        return super().get_context_data(
            record=self.case.decision_record,
            coverage=coverage,
            uncovered=uncovered,
            **kwargs,
        )

    def get_initial(self):
        return {"party_summary": self.case.decision_record.party_summary}  # the secretariat's

    def get_form(self, form_class=None):
        from .clause63 import case_coverage

        form = super().get_form(form_class)
        # Asked only when clause 6.3 needs it: a plans decision on a model the latest inventory
        # does not cover (governance.clause63.decision_coverage_confirm).
        plans = self.case.decision_record.decision == Decision.REMEDIAL_PLAN
        if not (plans and case_coverage(self.case)[1]):
            del form.fields["no_devices_reason"]
        return form

    def form_valid(self, form):
        record = self.case.decision_record
        # A missing clause 6.3 reason is the service's error on the form, before any question.
        unreasoned = (
            "no_devices_reason" in form.fields
            and not (form.cleaned_data.get("no_devices_reason") or "").strip()
        )
        ask = not unreasoned and confirmation_page(
            self.request,
            caption=self.case.reference,
            title="Issue the decision notice now?",
            details=[
                ("Decision", record.get_decision_display()),
                ("Reasons for Parties", form.cleaned_data["party_summary"]),
            ],
            warning=(
                "The device models are removed from the CPL and the DCC is told to suspend their "
                "devices. A notice cannot be withdrawn."
                if record.decision == Decision.SUSPEND
                else "Each supplier with devices of these models gets its clause 6.3 notice and "
                "must put a plan in place. A notice cannot be withdrawn."
            ),
            button="Issue the decision notice",
            cancel_url=reverse("governance:case", args=[self.case.pk]),
        )
        if ask:
            return ask
        try:
            record = services.decision_issue(
                actor=self.request.user, case=self.case, **form.cleaned_data
            )
        except ValidationError as exc:
            # The inventory may have changed since the page was read: say so above the form.
            field = "no_devices_reason" if "no_devices_reason" in form.fields else None
            _form_errors(form, exc, field)
            return self.form_invalid(form)
        return self.done(
            f"Decision notice issued: {record.get_decision_display()}. The Parties it is "
            "addressed to have a notice; any of them may refer it to the Authority."
        )


class CharacteristicsListView(PortalPermissionRequiredMixin, ListView):
    permission_required = "governance.view_securitycharacteristics"
    template_name = "governance/characteristics_list.html"
    context_object_name = "documents"

    def get_queryset(self):
        return policies.characteristics.visible(self.request.user).select_related("uploaded_by")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if policies.characteristics.can(self.request.user, "upload", None):
            context.setdefault("form", CharacteristicsUploadForm())
        return context

    def post(self, request):
        policies.characteristics.require(request.user, "upload", None)
        form = CharacteristicsUploadForm(request.POST, request.FILES)
        self.object_list = self.get_queryset()
        if form.is_valid():
            try:
                data = dict(form.cleaned_data)
                with form.submitted_once(request.user) as submission:
                    data.pop(form.TOKEN_FIELD)
                    document = services.characteristics_upload(
                        actor=request.user, upload=data.pop("file"), **data
                    )
                    submission.result_url = reverse("governance:characteristics")
            except ValidationError as exc:
                _form_errors(form, exc, "version_label")
            else:
                messages.success(
                    request,
                    f"{document} uploaded{' and is now current' if document.is_current else ''}.",
                )
                return redirect("governance:characteristics")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class CharacteristicsDownloadView(PortalPermissionRequiredMixin, View):
    permission_required = "governance.view_securitycharacteristics"

    def get(self, request, pk):
        document = policies.characteristics.get_or_404(request.user, pk)
        return attachment_response(document, folder="characteristics")
