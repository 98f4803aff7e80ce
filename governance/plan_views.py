from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import ListView, TemplateView

from portal.models import Organisation
from portal.permissions import PortalPermissionRequiredMixin
from portal.roles import Role

from . import plans
from .documents import attachment_response
from .forms import MilestoneFormSet, PlanReviewForm, PlanSubmitForm, PolicyUploadForm
from .models import PlanRequirement, RemedialPlan, SupplierPolicy


def requirements_for_user(user):
    """The SSC sees every requirement; a supplier only its own organisation's (others: none)."""
    requirements = PlanRequirement.objects.select_related("case", "supplier")
    if not user.has_perm("governance.view_planrequirement"):
        return requirements.none()
    if user.is_ssc:
        return requirements
    if user.has_role(Role.SUPPLIER) and user.organisation_id:
        return requirements.filter(supplier_id=user.organisation_id)
    return requirements.none()


class PlanListView(PortalPermissionRequiredMixin, ListView):
    permission_required = "governance.view_planrequirement"
    template_name = "governance/plan_list.html"
    context_object_name = "requirements"
    paginate_by = 50

    def get_queryset(self):
        requirements = requirements_for_user(self.request.user)
        state = self.request.GET.get("state")
        if state in PlanRequirement.State.values:
            requirements = requirements.filter(state=state)
        return requirements


class RequirementMixin(PortalPermissionRequiredMixin):
    permission_required = "governance.view_planrequirement"

    @cached_property
    def requirement(self) -> PlanRequirement:
        # 404, not 403: another supplier's plan is not even admitted to exist.
        return get_object_or_404(
            requirements_for_user(self.request.user).prefetch_related(
                Prefetch(
                    "plans",
                    queryset=RemedialPlan.objects.select_related(
                        "submitted_by", "reviewed_by"
                    ).prefetch_related("milestones"),
                )
            ),
            pk=self.kwargs["pk"],
        )


class PlanDetailView(RequirementMixin, TemplateView):
    template_name = "governance/plan_detail.html"

    def get_context_data(self, **kwargs):
        user, requirement = self.request.user, self.requirement
        is_supplier = user.has_role(Role.SUPPLIER)
        can_submit = is_supplier and requirement.state not in (
            PlanRequirement.State.APPROVED,
            PlanRequirement.State.COMPLETED,
        )
        can_review = user.has_perm("governance.review_remedialplan") and requirement.state in (
            PlanRequirement.State.SUBMITTED,
            PlanRequirement.State.RESUBMITTED,
        )
        context = {
            "requirement": requirement,
            "plans": list(requirement.plans.all()),
            "is_supplier": is_supplier,
            "is_ssc": user.is_ssc,
            "can_complete": (
                user.has_perm("governance.review_remedialplan")
                and requirement.state == PlanRequirement.State.APPROVED
            ),
        }
        if can_submit:
            context.setdefault("submit_form", PlanSubmitForm())
            context.setdefault("milestones", MilestoneFormSet(prefix="milestones"))
        if can_review:
            context.setdefault("review_form", PlanReviewForm())
        context.update(kwargs)
        return super().get_context_data(**context)

    def post(self, request, pk):
        action = request.POST.get("action")
        if action == "submit":
            return self._submit(request)
        if action == "review":
            return self._review(request)
        if action == "complete":
            try:
                plans.plan_complete(actor=request.user, requirement=self.requirement)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(request, "The plan is recorded as completed.")
            return redirect("governance:plan", pk=pk)
        raise Http404

    def _submit(self, request):
        form = PlanSubmitForm(request.POST, request.FILES)
        milestones = MilestoneFormSet(request.POST, prefix="milestones")
        if form.is_valid() and milestones.is_valid():
            rows = [m for m in milestones.cleaned_data if m]
            try:
                plan = plans.plan_submit(
                    actor=request.user,
                    requirement=self.requirement,
                    summary=form.cleaned_data["summary"],
                    upload=form.cleaned_data["file"],
                    milestones=rows,
                )
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
                    approve=form.cleaned_data["decision"] == "approve",
                    comments=form.cleaned_data["comments"],
                )
            except ValidationError as exc:
                form.add_error(None, " ".join(exc.messages))
            else:
                messages.success(request, "Your review is recorded and the supplier notified.")
                return redirect("governance:plan", pk=self.requirement.pk)
        return self.render_to_response(self.get_context_data(review_form=form), status=400)


class PlanDownloadView(RequirementMixin, View):
    def get(self, request, pk, plan_pk):
        plan = get_object_or_404(self.requirement.plans, pk=plan_pk)
        return attachment_response(plan, folder="plans")


class PolicyView(LoginRequiredMixin, TemplateView):
    """A supplier's G8.64 policy (its own organisation's); the SSC sees every supplier's."""

    template_name = "governance/policy.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not (
            request.user.has_role(Role.SUPPLIER) or request.user.is_ssc
        ):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        user = self.request.user
        context = {"is_supplier": user.has_role(Role.SUPPLIER)}
        if user.is_ssc:
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
            context["policies"] = SupplierPolicy.objects.filter(
                organisation_id=user.organisation_id
            ).order_by("-uploaded_at")
            context.setdefault("form", PolicyUploadForm())
        context.update(kwargs)
        return super().get_context_data(**context)

    def post(self, request):
        if not request.user.has_role(Role.SUPPLIER):
            raise PermissionDenied
        form = PolicyUploadForm(request.POST, request.FILES)
        if form.is_valid():
            plans.policy_upload(
                actor=request.user,
                review_date=form.cleaned_data["review_date"],
                upload=form.cleaned_data["file"],
            )
            messages.success(request, "Your G8.64 policy is recorded.")
            return redirect("governance:policy")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class PolicyDownloadView(LoginRequiredMixin, View):
    def get(self, request, pk):
        policy = get_object_or_404(SupplierPolicy, pk=pk)
        if not (request.user.is_ssc or policy.organisation_id == request.user.organisation_id):
            raise Http404
        return attachment_response(policy, folder="policies")
