from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import FormView, ListView, TemplateView
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from cpl import selectors as cpl_selectors
from cpl.models import AssuranceCertificate
from portal.permissions import PortalPermissionRequiredMixin
from portal.roles import Role

from . import permissions, selectors, services
from .documents import attachment_response
from .forms import (
    BallotOpenForm,
    CaseOpenForm,
    CastingVoteForm,
    CharacteristicsUploadForm,
    CommentForm,
    ConflictForm,
    DecisionIssueForm,
    EvidenceGrantForm,
    EvidenceUploadForm,
    ExpertInviteForm,
    VoteForm,
)
from .models import Ballot, Case, EvidenceDocument, SecurityCharacteristics

CHANGED = (
    "This changed while you were looking at it. The page now shows what it is; check it "
    "and try again."
)


def _form_errors(form, exc: ValidationError, field=None):
    for message in exc.messages:
        form.add_error(field, message)


class CaseMixin(LoginRequiredMixin):
    """The case in the URL, if the user may see it; otherwise 404 (never reveal it exists)."""

    @cached_property
    def case(self) -> Case:
        try:
            case = selectors.case_for_page(self.kwargs["case_pk"])
        except Case.DoesNotExist:
            raise Http404 from None
        if not permissions.can_view_case(self.request.user, case):
            raise Http404
        return case

    def require_role(self, *roles):
        if not self.request.user.has_role(*roles):
            raise PermissionDenied


class CaseListView(PortalPermissionRequiredMixin, ListView):
    permission_required = "governance.view_case"
    template_name = "governance/case_list.html"
    context_object_name = "cases"
    paginate_by = 50

    def get_queryset(self):
        return selectors.case_list_for_user(self.request.user)


class CaseOpenView(PortalPermissionRequiredMixin, FormView):
    permission_required = "governance.open_case"
    template_name = "governance/case_open.html"

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
        messages.success(self.request, f"Case {case.reference} opened.")
        return redirect("governance:case", case_pk=case.pk)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class CaseDetailView(CaseMixin, TemplateView):
    template_name = "governance/case_detail.html"

    def get_context_data(self, **kwargs):
        user, case = self.request.user, self.case
        declaration = permissions.declaration_for(user, case)
        ballots = list(case.ballots.all())
        context = {
            "case": case,
            "documents": selectors.documents_visible(user, case),
            "is_ssc": user.is_ssc,
            "is_secretariat": user.has_role(Role.SECRETARIAT),
            "is_chair": user.has_role(Role.CHAIR),
            "declaration": declaration,
            "ballots": ballots,
            "open_ballot": next((b for b in ballots if b.is_open), None),
            "decision_record": getattr(case, "decision_record", None),
            "can_comment": not user.has_role(Role.SUPPLIER, Role.OTHER_PARTY),
            "can_refer": user.has_perm("governance.add_referral")
            and getattr(getattr(case, "decision_record", None), "issued_at", None) is not None,
            "requirements": [
                r
                for r in case.plan_requirements.all()
                if user.is_ssc or r.supplier_id == user.organisation_id
            ],
        }
        if user.is_ssc:
            # Device counts per supplier: the SSC's eyes only.
            context["affected"] = cpl_selectors.affected_suppliers(
                [m.pk for m in case.device_models.all()]
            )
        if user.has_role(Role.MEMBER, Role.CHAIR) and case.state in {
            Case.State.OPENED,
            Case.State.ASSESSMENT,
            Case.State.VOTING,
        }:
            context["conflict_form"] = ConflictForm(
                initial={
                    "has_conflict": ("yes" if declaration.has_conflict else "no")
                    if declaration
                    else None,
                    "reason": declaration.reason if declaration else "",
                }
            )
        if context["is_chair"] and case.state == Case.State.ASSESSMENT:
            context["ballot_form"] = BallotOpenForm(
                initial={
                    "closes_at": (timezone.localtime() + timezone.timedelta(days=3)).strftime(
                        "%Y-%m-%dT%H:%M"
                    )
                }
            )
        context.update(kwargs)
        return super().get_context_data(**context)


class CaseActionView(CaseMixin, View):
    def post(self, request, case_pk, action):
        try:
            services.case_transition(actor=request.user, case=self.case, name=action)
        except ValueError:
            raise Http404 from None
        except (TransitionNotAllowed, ConcurrentTransition):
            messages.error(request, CHANGED)
            return redirect("governance:case", case_pk=case_pk)
        messages.success(
            request, f"Case {self.case.reference} is now {self.case.get_state_display().lower()}."
        )
        return redirect("governance:case", case_pk=case_pk)


class CaseFormView(CaseMixin, FormView):
    """A form on its own page about one case; re-rendered with 400 when invalid."""

    roles: tuple = ()

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            _ = self.case  # 404 first (it raises), then the role check
            self.require_role(*self.roles)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(case=self.case, **kwargs)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def done(self, text):
        messages.success(self.request, text)
        return redirect("governance:case", case_pk=self.case.pk)


class EvidenceUploadView(CaseFormView):
    roles = (Role.SECRETARIAT,)
    template_name = "governance/evidence_upload.html"
    form_class = EvidenceUploadForm

    def form_valid(self, form):
        document = services.evidence_upload(
            actor=self.request.user,
            case=self.case,
            title=form.cleaned_data["title"],
            classification=form.cleaned_data["classification"],
            upload=form.cleaned_data["file"],
        )
        return self.done(f"{document.title} uploaded.")


class EvidenceGrantView(CaseFormView):
    roles = (Role.SECRETARIAT,)
    template_name = "governance/evidence_grant.html"
    form_class = EvidenceGrantForm

    @cached_property
    def document(self):
        return get_object_or_404(
            self.case.documents,
            pk=self.kwargs["document_pk"],
            classification=EvidenceDocument.Classification.NAMED,
        )

    def get_context_data(self, **kwargs):
        return super().get_context_data(document=self.document, **kwargs)

    def form_valid(self, form):
        services.evidence_grant(
            actor=self.request.user, document=self.document, users=form.cleaned_data["users"]
        )
        return self.done(f"Access to {self.document.title} granted.")


class EvidenceDownloadView(CaseMixin, View):
    def get(self, request, case_pk, document_pk):
        document = get_object_or_404(EvidenceDocument, pk=document_pk, case_id=case_pk)
        if not permissions.can_view_document(request.user, document, case_visible=bool(self.case)):
            raise Http404
        services.evidence_record_download(actor=request.user, document=document)
        return attachment_response(document, folder="evidence")


class ConflictDeclareView(CaseFormView):
    roles = (Role.MEMBER, Role.CHAIR)
    template_name = "governance/conflict.html"
    form_class = ConflictForm

    def form_valid(self, form):
        try:
            services.conflict_declare(
                actor=self.request.user,
                case=self.case,
                has_conflict=form.cleaned_data["has_conflict"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
            return self.form_invalid(form)
        return self.done("Your declaration is recorded.")


class ExpertInviteView(CaseFormView):
    roles = (Role.CHAIR, Role.SECRETARIAT)
    template_name = "governance/expert_invite.html"
    form_class = ExpertInviteForm

    def get_form(self, form_class=None):
        return ExpertInviteForm(**self.get_form_kwargs(), case=self.case)

    def form_valid(self, form):
        try:
            invitation = services.expert_invite(
                actor=self.request.user,
                case=self.case,
                expert=form.cleaned_data["expert"],
                expires_at=form.expires_at,
                documents=form.cleaned_data["documents"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
            return self.form_invalid(form)
        return self.done(
            f"{invitation.expert.get_full_name() or invitation.expert} may read this "
            f"case until {timezone.localtime(invitation.expires_at):%d %B %Y}."
        )


class CommentView(CaseMixin, View):
    def post(self, request, case_pk):
        form = CommentForm(request.POST)
        if form.is_valid():
            services.case_comment(
                actor=request.user, case=self.case, text=form.cleaned_data["text"]
            )
            messages.success(request, "Comment added.")
        else:
            messages.error(request, "Write a comment before you add it.")
        return redirect(reverse("governance:case", kwargs={"case_pk": case_pk}) + "#comments")


class BallotOpenView(CaseMixin, View):
    def post(self, request, case_pk):
        self.require_role(Role.CHAIR)
        form = BallotOpenForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Enter when voting closes, for example 2026-12-01 17:00.")
            return redirect("governance:case", case_pk=case_pk)
        try:
            ballot = services.ballot_open(
                actor=request.user, case=self.case, closes_at=form.cleaned_data["closes_at"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("governance:case", case_pk=case_pk)
        except (TransitionNotAllowed, ConcurrentTransition):
            messages.error(request, CHANGED)
            return redirect("governance:case", case_pk=case_pk)
        messages.success(request, f"Ballot {ballot.number} is open.")
        return redirect("governance:ballot", ballot_pk=ballot.pk)


class BallotMixin(LoginRequiredMixin):
    @cached_property
    def ballot(self) -> Ballot:
        try:
            ballot = selectors.ballot_for_page(self.kwargs["ballot_pk"])
        except Ballot.DoesNotExist:
            raise Http404 from None
        if not self.request.user.is_ssc:
            raise Http404  # ballots are the SSC's business
        return ballot

    def ballot_context(self, **extra):
        user, ballot = self.request.user, self.ballot
        votes = list(ballot.votes.all())
        mine = next((v for v in votes if v.member_id == user.pk), None)
        allowed, why = permissions.can_vote(user, ballot)
        eligible = list(permissions.eligible_voters(ballot.case))
        voted = {v.member_id for v in votes}
        return {
            "ballot": ballot,
            "case": ballot.case,
            "my_vote": mine,
            "can_vote": allowed,
            "why_not": why,
            "vote_form": VoteForm(initial={"choice": mine.choice if mine else None}),
            "eligible": eligible,
            "not_voted": [u for u in eligible if u.pk not in voted],
            "votes": votes,
            "is_chair": user.has_role(Role.CHAIR),
            "is_member": permissions.is_voting_member(user),
            "conflicted": [d for d in ballot.case.conflicts.all() if d.has_conflict],
            "declaration": permissions.declaration_for(user, ballot.case),
            **extra,
        }


class BallotDetailView(BallotMixin, TemplateView):
    template_name = "governance/ballot_detail.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            **self.ballot_context(casting_form=CastingVoteForm(), **kwargs)
        )


class VoteView(BallotMixin, View):
    """htmx: the vote panel is swapped in place; without htmx, back to the ballot page."""

    def post(self, request, ballot_pk):
        form = VoteForm(request.POST)
        status, note = 200, ""
        if not form.is_valid():
            status, note = 400, "Choose one of the options."
        else:
            try:
                services.vote_cast(
                    actor=request.user, ballot=self.ballot, choice=form.cleaned_data["choice"]
                )
                note = "Your vote is recorded. You may change it until the ballot closes."
            except PermissionDenied as exc:
                status, note = 403, str(exc) or "You may not vote in this ballot."
        if not request.headers.get("HX-Request"):
            if status == 200:
                messages.success(request, note)
                return redirect("governance:ballot", ballot_pk=ballot_pk)
            raise PermissionDenied(note) if status == 403 else Http404
        self.__dict__.pop("ballot", None)  # re-read with the new vote
        return render(
            request,
            "governance/_vote_panel.html",
            self.ballot_context(note=note, note_is_error=status != 200),
            status=status,
        )


class BallotCloseView(BallotMixin, View):
    def post(self, request, ballot_pk):
        if not request.user.has_role(Role.CHAIR):
            raise PermissionDenied
        try:
            ballot = services.ballot_close(actor=request.user, ballot=self.ballot)
        except services.BallotAlreadyClosed as exc:
            messages.error(request, str(exc))
            return redirect("governance:ballot", ballot_pk=ballot_pk)
        text = {
            Ballot.State.FAILED: "No quorum: the ballot failed. You may run it again.",
            Ballot.State.AWAITING_CASTING_VOTE: "The vote is tied: give your casting vote.",
            Ballot.State.CLOSED: f"Ballot closed: {ballot.get_result_display()}.",
        }[ballot.state]
        messages.success(request, text)
        return redirect("governance:ballot", ballot_pk=ballot_pk)


class CastingVoteView(BallotMixin, View):
    def post(self, request, ballot_pk):
        if not request.user.has_role(Role.CHAIR):
            raise PermissionDenied
        form = CastingVoteForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose the option your casting vote supports.")
            return redirect("governance:ballot", ballot_pk=ballot_pk)
        try:
            ballot = services.ballot_cast_deciding_vote(
                actor=request.user, ballot=self.ballot, choice=form.cleaned_data["choice"]
            )
        except services.BallotAlreadyClosed as exc:
            messages.error(request, str(exc))
            return redirect("governance:ballot", ballot_pk=ballot_pk)
        messages.success(request, f"Casting vote given: {ballot.get_result_display()}.")
        return redirect("governance:ballot", ballot_pk=ballot_pk)


class DecisionIssueView(CaseFormView):
    roles = (Role.CHAIR,)
    template_name = "governance/decision_issue.html"
    form_class = DecisionIssueForm

    def get_context_data(self, **kwargs):
        record = getattr(self.case, "decision_record", None)
        if record is None or self.case.state != Case.State.DECIDED:
            raise Http404
        return super().get_context_data(record=record, **kwargs)

    def form_valid(self, form):
        try:
            record = services.decision_issue(
                actor=self.request.user, case=self.case, **form.cleaned_data
            )
        except (TransitionNotAllowed, ConcurrentTransition):
            messages.error(self.request, CHANGED)
            return redirect("governance:case", case_pk=self.case.pk)
        return self.done(f"Decision notice issued: {record.get_decision_display()}.")


class CharacteristicsListView(PortalPermissionRequiredMixin, ListView):
    permission_required = "governance.view_securitycharacteristics"
    template_name = "governance/characteristics_list.html"
    context_object_name = "documents"

    def get_queryset(self):
        return SecurityCharacteristics.objects.select_related("uploaded_by")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.request.user.has_perm("governance.upload_securitycharacteristics"):
            context.setdefault("form", CharacteristicsUploadForm())
        return context

    def post(self, request):
        if not request.user.has_perm("governance.upload_securitycharacteristics"):
            raise PermissionDenied
        form = CharacteristicsUploadForm(request.POST, request.FILES)
        self.object_list = self.get_queryset()
        if form.is_valid():
            try:
                document = services.characteristics_upload(actor=request.user, **form.cleaned_data)
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
        document = get_object_or_404(SecurityCharacteristics, pk=pk)
        return attachment_response(document, folder="characteristics")
