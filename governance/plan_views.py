from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import ListView, TemplateView

from portal.confirm import confirmation_page
from portal.documents import attachment_response
from portal.models import Organisation
from portal.permissions import PolicyRequiredMixin
from portal.policies import ActionNotNow

from . import plans, policies, selectors
from .forms import (
    MAX_MILESTONES,
    MilestoneFormSet,
    PlanReviewForm,
    PlanSubmitForm,
    PolicyUploadForm,
)
from .models import PlanRequirement, Referral, RemedialPlan, SupplierPolicy


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


def _credit_determinations(requirement: PlanRequirement, versions: list) -> Referral | None:
    """Each version the Authority approved by overturning the SSC's refusal carries that
    referral as `determination` (the SSC's own review stays the SSC's). Returns an overturn
    recorded but not yet in effect (its effective date is to come), for the page to say so."""
    pending = None
    for referral in requirement.referrals.filter(outcome=Referral.Outcome.OVERTURNED):
        if referral.effect_applied_at is None:
            pending = referral
            continue
        approved = [p for p in versions if p.submitted_at <= referral.effect_applied_at]
        if approved:
            max(approved, key=lambda p: p.version).determination = referral
    return pending


class PlanDetailView(RequirementMixin, TemplateView):
    template_name = "governance/plan_detail.html"

    def get_context_data(self, **kwargs):
        user, requirement = self.request.user, self.requirement
        actions = policies.plan_requirements.actions(user, requirement)
        versions = list(requirement.plans.all())
        pending_overturn = _credit_determinations(requirement, versions)
        context = {
            "pending_overturn": pending_overturn,
            "requirement": requirement,
            "plans": versions,
            "actions": actions,
            "may_see_case": policies.cases.can(user, "view", requirement.case),
            # Who reviewed and how: the SSC's record; the supplier reads the outcome.
            "shows_reviewers": user.is_ssc,
            "approval_rule": policies.approval_rule_label(),
            "sealed_ballot": plans.sealed_ballot_view(user, requirement),
        }
        # "submit" a first (or refused) plan, or "revise" one still waiting for review: the
        # same form, posting the action the policy gives.
        submit_action = next((a for a in ("submit", "revise") if a in actions), None)
        context["submit_action"] = submit_action
        if submit_action and "submit_form" not in kwargs:
            # A revision starts from the latest version: its summary and milestones, not its file.
            latest = versions[0] if versions else None
            context["submit_form"] = PlanSubmitForm(
                initial={"summary": latest.summary} if latest else None,
                user=user,
                requirement=requirement,
            )
            context["milestones"] = MilestoneFormSet(
                prefix="milestones",
                initial=[
                    {
                        "description": m.description,
                        "target_date": m.target_date,
                        "devices_covered": m.devices_covered,
                    }
                    for m in latest.milestones.all()
                ][:MAX_MILESTONES]
                if latest
                else None,
            )
        if "review" in actions and versions:
            context.setdefault(
                "review_form", PlanReviewForm(initial={"version": versions[0].version})
            )
        context.update(kwargs)
        return super().get_context_data(**context)

    def post(self, request, pk):
        action = request.POST.get("action")
        if action not in {"submit", "revise", "review", "complete", "close_ballot", "open_ballot"}:
            raise Http404
        if action in ("submit", "revise"):
            # A double click on "Submit plan": the first turned "submit" into "revise", so
            # the second is answered as the replay it is before the policy refuses it as stale.
            PlanSubmitForm.answer_a_replay(request.user, request.POST)
        policies.plan_requirements.require(request.user, action, self.requirement)
        if action in ("submit", "revise"):
            return self._submit(request)
        if action == "review":
            return self._review(request)
        if action == "close_ballot":
            ballot = plans.sealed_ballot_view(request.user, self.requirement)
            ask = confirmation_page(
                request,
                caption=f"{self.requirement.supplier}, case {self.requirement.case.reference}",
                title="Close the ballot on the plan now?",
                details=[
                    ("Voted", ", ".join(ballot["voted"]) or "Nobody"),
                    ("Not voted yet", ", ".join(ballot["waiting"]) or "Nobody"),
                ]
                if ballot
                else None,
                warning="The votes are counted now: members who have not voted lose their vote.",
                button="Close the ballot and count the votes",
                cancel_url=reverse("governance:plan", args=[pk]),
            )
            if ask:
                return ask
            plans.plan_ballot_close(actor=request.user, requirement=self.requirement)
            messages.success(request, plans.ballot_outcome_message(self.requirement))
            return redirect("governance:plan", pk=pk)
        if action == "open_ballot":
            ballot = plans.plan_ballot_open(actor=request.user, requirement=self.requirement)
            messages.success(
                request,
                "The ballot is open until "
                f"{timezone.localtime(ballot.closes_at):%H:%M on %-d %B %Y}; the voting members "
                "were notified.",
            )
            return redirect("governance:plan", pk=pk)
        plans.plan_complete(actor=request.user, requirement=self.requirement)
        messages.success(
            request,
            "The plan is recorded as completed. The case closes by itself once every plan is "
            "completed and no referral is open.",
        )
        return redirect("governance:plan", pk=pk)

    def _submit(self, request):
        form = PlanSubmitForm(
            request.POST, request.FILES, user=request.user, requirement=self.requirement
        )
        milestones = MilestoneFormSet(request.POST, prefix="milestones")
        if "add_milestone" in request.POST or "remove_milestone" in request.POST:
            return self._change_milestones(request, form, milestones)
        if form.is_valid() and milestones.is_valid():
            rows = [m for m in milestones.cleaned_data if m]
            try:
                with form.submitted_once(request.user) as submission:
                    plan = plans.plan_submit(
                        actor=request.user,
                        requirement=self.requirement,
                        summary=form.cleaned_data["summary"],
                        upload=form.cleaned_data["document"],
                        milestones=rows,
                        action=request.POST["action"],
                    )
                    submission.result_url = reverse("governance:plan", args=[self.requirement.pk])
            except ValidationError as exc:
                # The kept file used already (a replayed form): the file field says so.
                gone = getattr(exc, "code", None) == "pending_gone"
                form.add_error("file" if gone else None, " ".join(exc.messages))
            else:
                messages.success(
                    request,
                    f"Version {plan.version} of your plan is submitted for review. The SSC will "
                    "review it; you will get a notice when it is decided.",
                )
                return redirect("governance:plan", pk=self.requirement.pk)
        form.keep_chosen_file()
        return self.render_to_response(
            self.get_context_data(submit_form=form, milestones=milestones), status=400
        )

    def _change_milestones(self, request, form, milestones):
        """The "Add another milestone" and "Remove" buttons: the form again with a row more or
        less and everything typed kept, nothing submitted. Without JavaScript the whole page;
        with htmx only the milestones."""
        rows = milestones.typed_rows()
        focus, note = None, ""
        if "add_milestone" in request.POST:
            if len(rows) < MAX_MILESTONES:
                rows.append({})
                focus = len(rows) - 1
            else:
                note = f"A plan can have at most {MAX_MILESTONES} milestones."
        else:
            index = request.POST.get("remove_milestone", "")
            if index.isdigit() and int(index) < len(rows) and len(rows) > 1:
                del rows[int(index)]
                focus = max(int(index) - 1, 0)
        changed = MilestoneFormSet(prefix="milestones", initial=rows or None)
        if focus is not None:
            changed.forms[focus].fields["description"].widget.attrs["autofocus"] = True
        context = {"milestones": changed, "milestones_note": note, "requirement": self.requirement}
        if request.headers.get("HX-Request"):
            return render(request, "governance/_milestones.html", context)
        # The page again: what was typed, and a file chosen now kept; errors wait for "Submit".
        form.is_valid()
        form.keep_chosen_file()
        for name in list(form.errors):
            if name != "file" or not request.FILES.get("file"):
                del form.errors[name]
        return self.render_to_response(self.get_context_data(submit_form=form, **context))

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
                messages.success(request, plans.review_recorded_message(self.requirement))
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
            messages.success(
                request,
                "Your G8.64 policy is recorded. The SSC can read it; upload a new version by its "
                "review date.",
            )
            return redirect("governance:policy")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class PolicyDownloadView(LoginRequiredMixin, View):
    def get(self, request, pk):
        policy = policies.supplier_policies.get_or_404(request.user, pk)
        return attachment_response(policy, folder="policies")
