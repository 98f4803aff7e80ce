from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import ListView, TemplateView

from portal.documents import attachment_response
from portal.models import Organisation
from portal.permissions import PolicyRequiredMixin
from portal.policies import ActionNotNow

from . import plans, policies, selectors
from .forms import MilestoneFormSet, PlanReviewForm, PlanSubmitForm, PolicyUploadForm
from .models import PlanRequirement, RemedialPlan, SupplierPolicy


class PlanListView(PolicyRequiredMixin, ListView):
    policy = policies.plan_requirements
    template_name = "governance/plan_list.html"
    context_object_name = "requirements"
    paginate_by = 50

    def get_queryset(self):
        requirements = selectors.plan_requirements_for_user(self.request.user)
        state = self.request.GET.get("state")
        if state in PlanRequirement.State.values:
            requirements = requirements.filter(state=state)
        return requirements


class RequirementMixin(LoginRequiredMixin):
    @cached_property
    def requirement(self) -> PlanRequirement:
        # 404, not 403: another supplier's plan is not even admitted to exist.
        return selectors.plan_requirement_for_page(self.request.user, self.kwargs["pk"])


class PlanDetailView(RequirementMixin, TemplateView):
    template_name = "governance/plan_detail.html"

    def get_context_data(self, **kwargs):
        user, requirement = self.request.user, self.requirement
        actions = policies.plan_requirements.actions(user, requirement)
        plans = list(requirement.plans.all())
        context = {
            "requirement": requirement,
            "plans": plans,
            "actions": actions,
            "may_see_case": policies.cases.can(user, "view", requirement.case),
            # Who reviewed and how: the SSC's record; the supplier reads the outcome.
            "shows_reviewers": user.is_ssc,
            "approval_rule": policies.approval_rule_label(),
        }
        if "submit" in actions:
            context.setdefault("submit_form", PlanSubmitForm())
            context.setdefault("milestones", MilestoneFormSet(prefix="milestones"))
        if "review" in actions and plans:
            context.setdefault("review_form", PlanReviewForm(initial={"version": plans[0].version}))
        context.update(kwargs)
        return super().get_context_data(**context)

    def post(self, request, pk):
        action = request.POST.get("action")
        if action not in {"submit", "review", "complete"}:
            raise Http404
        policies.plan_requirements.require(request.user, action, self.requirement)
        if action == "submit":
            return self._submit(request)
        if action == "review":
            return self._review(request)
        plans.plan_complete(actor=request.user, requirement=self.requirement)
        messages.success(request, "The plan is recorded as completed.")
        return redirect("governance:plan", pk=pk)

    def _submit(self, request):
        form = PlanSubmitForm(request.POST, request.FILES)
        milestones = MilestoneFormSet(request.POST, prefix="milestones")
        if form.is_valid() and milestones.is_valid():
            rows = [m for m in milestones.cleaned_data if m]
            try:
                with form.submitted_once(request.user) as submission:
                    plan = plans.plan_submit(
                        actor=request.user,
                        requirement=self.requirement,
                        summary=form.cleaned_data["summary"],
                        upload=form.cleaned_data["file"],
                        milestones=rows,
                    )
                    submission.result_url = reverse("governance:plan", args=[self.requirement.pk])
            except ValidationError as exc:
                form.add_error(None, " ".join(exc.messages))
            else:
                messages.success(
                    request, f"Version {plan.version} of your plan is submitted for review."
                )
                return redirect("governance:plan", pk=self.requirement.pk)
        return self.render_to_response(
            self.get_context_data(submit_form=form, milestones=milestones), status=400
        )

    def _review(self, request):
        form = PlanReviewForm(request.POST)
        if form.is_valid():
            try:
                plans.plan_review(
                    actor=request.user,
                    requirement=self.requirement,
                    version=form.cleaned_data["version"],
                    approve=form.cleaned_data["decision"] == "approve",
                    comments=form.cleaned_data["comments"],
                    expires_on=form.cleaned_data["expires_on"],
                )
            except ActionNotNow as exc:
                # A newer version arrived: show it, keep what the reviewer typed, review again.
                self.__dict__.pop("requirement", None)
                latest = self.requirement.plans.all()[0].version
                stale = PlanReviewForm(initial={**form.cleaned_data, "version": latest}, data=None)
                stale.stale_message = str(exc)
                return self.render_to_response(self.get_context_data(review_form=stale), status=409)
            except ValidationError as exc:
                form.add_error(None, " ".join(exc.messages))
            else:
                requirement = PlanRequirement.objects.get(pk=self.requirement.pk)
                messages.success(
                    request,
                    "Your review is recorded and the supplier notified."
                    if requirement.state not in policies.REVIEWABLE
                    else "Your review is recorded. The SSC's decision needs another review.",
                )
                return redirect("governance:plan", pk=self.requirement.pk)
        return self.render_to_response(self.get_context_data(review_form=form), status=400)


class PlanDownloadView(RequirementMixin, View):
    def get(self, request, pk, plan_pk):
        plan = policies.remedial_plans.get_or_404(
            request.user, plan_pk, RemedialPlan.objects.filter(requirement=self.requirement)
        )
        return attachment_response(plan, folder="plans")


class PolicyView(LoginRequiredMixin, TemplateView):
    """A supplier's G8.64 policy (its own organisation's); the SSC sees every supplier's."""

    template_name = "governance/policy.html"

    def dispatch(self, request, *args, **kwargs):
        user, policy = request.user, policies.supplier_policies
        if user.is_authenticated and not (
            policy.can(user, "view_all", None) or policy.can(user, "upload", None)
        ):
            raise PermissionDenied("Only Supplier Parties and the SSC keep G8.64 policies.")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        user = self.request.user
        may_upload = policies.supplier_policies.can(user, "upload", None)
        context = {"is_supplier": may_upload}
        if policies.supplier_policies.can(user, "view_all", None):
            suppliers = Organisation.objects.filter(
                party_type__in=[
                    Organisation.PartyType.LARGE_SUPPLIER,
                    Organisation.PartyType.SMALL_SUPPLIER,
                ]
            ).prefetch_related(
                Prefetch(
                    "remedial_plan_policies",
                    queryset=SupplierPolicy.objects.order_by("-uploaded_at"),
                )
            )
            rows = [(s, next(iter(s.remedial_plan_policies.all()), None)) for s in suppliers]
            context.update(suppliers=rows, missing=sum(1 for _, p in rows if p is None))
        else:
            context["policies"] = policies.supplier_policies.visible(user).order_by("-uploaded_at")
        if may_upload:
            context.setdefault("form", PolicyUploadForm())
        context.update(kwargs)
        return super().get_context_data(**context)

    def post(self, request):
        policies.supplier_policies.require(request.user, "upload", None)
        form = PolicyUploadForm(request.POST, request.FILES)
        if form.is_valid():
            with form.submitted_once(request.user) as submission:
                plans.policy_upload(
                    actor=request.user,
                    review_date=form.cleaned_data["review_date"],
                    upload=form.cleaned_data["file"],
                )
                submission.result_url = reverse("governance:policy")
            messages.success(request, "Your G8.64 policy is recorded.")
            return redirect("governance:policy")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class PolicyDownloadView(LoginRequiredMixin, View):
    def get(self, request, pk):
        policy = policies.supplier_policies.get_or_404(request.user, pk)
        return attachment_response(policy, folder="policies")
