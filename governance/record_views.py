"""Pages for the record of a case: representations, recommendations, the summary for Parties."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.views import View

from portal.audit import audit_record
from portal.documents import attachment_response

from . import policies, record, representations
from .forms import PartySummaryForm, RecommendationForm, RepresentationForm
from .models import DecisionRecord, Recommendation, RepresentationDocument
from .views import CaseFormView, CaseMixin, _form_errors


class RepresentationSubmitView(CaseFormView):
    required_action = "submit_representation"
    template_name = "governance/representation_submit.html"
    form_class = RepresentationForm

    def form_valid(self, form):
        upload = form.cleaned_data["document"]
        with form.submitted_once(self.request.user) as submission:
            representations.representation_submit(
                actor=self.request.user,
                case=self.case,
                text=form.cleaned_data["text"],
                classification=form.cleaned_data["classification"],
                uploads=[upload] if upload else [],
            )
            submission.result_url = self.case_url
        return self.done(
            "Your representation is with the SSC. It considers it before the ballot; the "
            "decision record lists the views it considered."
        )


class RepresentationDownloadView(CaseMixin, View):
    def get(self, request, case_pk, document_pk):
        document = (
            RepresentationDocument.objects.select_related("representation")
            .filter(pk=document_pk, representation__case=self.case)
            .first()
        )
        if document is None:
            raise Http404
        document.representation.case = self.case  # prefetched: the policy reads no more
        if not policies.representations.can(request.user, "view", document.representation):
            raise Http404
        with transaction.atomic():
            audit_record(
                actor=request.user,
                action="representation.downloaded",
                obj=self.case,
                after={"document": document.pk, "sha256": document.sha256},
            )
        return attachment_response(document, folder=representations.FOLDER)


class RecommendationView(CaseFormView):
    required_action = "record_recommendation"
    template_name = "governance/recommendation.html"
    form_class = RecommendationForm

    def get_initial(self):
        mine = Recommendation.objects.filter(case=self.case, author=self.request.user).first()
        if mine is None:
            return {}
        return {"recommendation": mine.recommendation, "reasons": mine.reasons}

    def form_valid(self, form):
        with form.submitted_once(self.request.user) as submission:
            representations.recommendation_record(
                actor=self.request.user,
                case=self.case,
                recommendation=form.cleaned_data["recommendation"],
                reasons=form.cleaned_data["reasons"],
            )
            submission.result_url = self.case_url
        return self.done(
            "Your recommendation is recorded. You may revise it until the ballot opens."
        )


class PartySummaryView(CaseFormView):
    required_action = "write_party_summary"
    template_name = "governance/party_summary.html"

    @property
    def pending_decision(self):
        found = DecisionRecord.objects.filter(case=self.case, issued_at__isnull=True).first()
        return found

    def get_form(self, form_class=None):
        return PartySummaryForm(
            **self.get_form_kwargs(), drafts_decision=self.pending_decision is not None
        )

    def get_initial(self):
        pending = self.pending_decision
        return {
            "party_summary": self.case.party_summary,
            "decision_party_summary": pending.party_summary if pending else "",
        }

    def form_valid(self, form):
        try:
            with form.submitted_once(self.request.user) as submission:
                record.case_party_summary_write(
                    actor=self.request.user,
                    case=self.case,
                    party_summary=form.cleaned_data["party_summary"],
                    decision_party_summary=form.cleaned_data.get("decision_party_summary"),
                )
                submission.result_url = self.case_url
        except ValidationError as exc:
            _form_errors(form, exc)
            return self.form_invalid(form)
        return self.done("The summary for Parties is saved; the chair approves it.")


class PartySummaryApproveView(CaseMixin, View):
    required_action = "approve_party_summary"

    def post(self, request, case_pk):
        record.case_party_summary_approve(
            actor=request.user, case=self.case, read_sha256=request.POST.get("party_summary_sha256")
        )
        decided = getattr(self.case, "decision_record", None) is not None
        messages.success(
            request,
            "The summary for Parties is approved: the Parties now read it. "
            + (
                "You can now issue the decision notice with it."
                if decided
                else "You can issue the decision with it once the ballot has decided."
            ),
        )
        return redirect("governance:case", case_pk=case_pk)
