"""The home page: what waits for each role. It lists both apps' objects, so it lives in the
top layer (governance), not in portal."""

import datetime
import functools
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from cpl import selectors as cpl_selectors
from cpl.policies import CERTIFICATES, CHANGE_NOTICES, DEVICE_MODELS, EMERGENCY_REQUESTS

from . import policies
from . import selectors as governance_selectors

PANEL_LIMIT = 20
FETCH = PANEL_LIMIT + 1  # one more than is shown tells that there are more


@dataclass
class Panel:
    title: str
    template: str
    items: list
    empty: str
    more_url: str = ""
    total: int = 0
    extra: dict = field(default_factory=dict)


def _panel(title, template, objects, empty, more_url="") -> Panel:
    items = list(objects[:FETCH])
    return Panel(title, template, items[:PANEL_LIMIT], empty, more_url, total=len(items))


# Panels of work the user may do now (each list is exactly the objects where the policy gives
# the user that action); a panel with nothing in it is not shown.
def _sees_any(policy, user) -> bool:
    """Whether the user may see any object of the policy's model, known without a query: no
    one acts on what they may not see, so a work panel of a model the user never sees is not
    read at all (a supplier's dashboard read every open ballot to find none it may vote in)."""
    return not policy.visible(user).query.is_empty()


def _work_panels(user) -> list[Panel]:
    plan_list = reverse("governance:plan-list")
    referral_list = reverse("governance:referral-list")
    sees_ballots = _sees_any(policies.ballots, user)
    # Chairing, ballots and decisions are the SSC's deliberation.
    deliberates = policies.cases.can(user, "view_deliberation", None)
    sees_referrals = _sees_any(policies.referrals, user)
    sees_plans = _sees_any(policies.plan_requirements, user)
    # Plans to review and disagreements to decide: one read of the plans the user may review.
    reviews = functools.cache(lambda: governance_selectors.plans_to_review_and_decide(user, FETCH))
    panels = [
        (
            sees_ballots,
            "Ballots waiting for your vote",
            "portal/panels/my_ballots.html",
            lambda: governance_selectors.ballots_to_vote(user, FETCH),
            "No ballot is waiting for you.",
            "",
        ),
        (
            sees_ballots,
            "Ballots you chair",
            "portal/panels/ballots.html",
            lambda: governance_selectors.ballots_to_close(user, FETCH),
            "No ballot is open.",
            "",
        ),
        (
            sees_ballots,
            "Ballots waiting for your casting vote",
            "portal/panels/ballots.html",
            lambda: governance_selectors.ballots_to_cast(user, FETCH),
            "No ballot is tied.",
            "",
        ),
        (
            deliberates,
            "Cases needing an acting chair",
            "portal/panels/cases.html",
            lambda: governance_selectors.cases_needing_an_acting_chair(user, FETCH),
            "No chair is conflicted.",
            "",
        ),
        (
            deliberates,
            "Cases ready for a ballot",
            "portal/panels/cases.html",
            lambda: governance_selectors.cases_with_action(user, "open_ballot", FETCH),
            "No case is waiting for a ballot.",
            "",
        ),
        (
            deliberates,
            "Summary for Parties to approve",
            "portal/panels/cases.html",
            lambda: governance_selectors.cases_with_action(user, "approve_party_summary", FETCH),
            "No summary for Parties is waiting for your approval.",
            "",
        ),
        (
            deliberates,
            "Decisions to issue",
            "portal/panels/cases.html",
            lambda: governance_selectors.cases_with_action(user, "issue_decision", FETCH),
            "No decision is waiting to be issued.",
            "",
        ),
        (
            sees_referrals,
            "Referrals waiting for your determination",
            "portal/panels/referrals.html",
            lambda: governance_selectors.referrals_to_determine(user, FETCH),
            "No referral is waiting for a determination.",
            referral_list,
        ),
        (
            sees_referrals,
            "Referrals needing the SSC",
            "portal/panels/referrals.html",
            lambda: governance_selectors.referrals_to_send_or_answer(user, FETCH),
            "No referral needs the SSC now.",
            referral_list,
        ),
        (
            sees_plans,
            "Remedial plans to submit or revise",
            "portal/panels/plans.html",
            lambda: governance_selectors.plans_to_submit(user, FETCH),
            "No remedial plan is waiting for you.",
            plan_list,
        ),
        (
            sees_plans,
            "Reviewers disagree: decide on the plan",
            "portal/panels/plans.html",
            lambda: reviews()[1],
            "No reviewers disagree.",
            plan_list,
        ),
        (
            sees_plans,
            "Remedial plans to review",
            "portal/panels/plans.html",
            lambda: reviews()[0],
            "No plan is waiting for review.",
            plan_list,
        ),
        (
            sees_plans,
            "Approved remedial plans to confirm as completed",
            "portal/panels/plans.html",
            lambda: governance_selectors.plans_to_complete(user, FETCH),
            "No approved plan is waiting.",
            plan_list + "?state=approved",
        ),
        (
            sees_plans,
            "Overdue remedial plans",
            "portal/panels/plans.html",
            lambda: governance_selectors.plans_overdue(user),
            "No plan is overdue.",
            plan_list + "?state=overdue",
        ),
    ]
    return [
        _panel(title, template, objects(), empty, more_url)
        for shown, title, template, objects, empty, more_url in panels
        if shown
    ]


def dashboard_panels(user) -> list[Panel]:
    panels = [
        _panel(
            "Notices to acknowledge",
            "portal/panels/notices.html",
            governance_selectors.unacknowledged_notices(user),
            "You have acknowledged every notice.",
            more_url=reverse("inbox"),
        )
    ]
    panels += [panel for panel in _work_panels(user) if panel.items]
    if policies.referrals.follows_from_lodging(user):
        # SEC F2.7B: the Authority sees a referral at once; the pack follows by its deadline.
        panels.append(
            _panel(
                "Referrals lodged",
                "portal/panels/referrals_lodged.html",
                governance_selectors.referrals_lodged(user),
                "No referral is waiting for a determination.",
                more_url=reverse("governance:referral-list"),
            )
        )
    if CERTIFICATES.can(user, "view_cases", None):
        flagged = _panel(
            "CPA certificates awaiting an SSC decision",
            "portal/panels/cpa_flagged.html",
            cpl_selectors.cpa_certificates_flagged(),
            "No device model on the CPL has an expired, withdrawn or cancelled CPA certificate.",
        )
        cpl_selectors.with_device_model_links(flagged.items)
        for certificate in flagged.items:
            certificate.may_open_case = CERTIFICATES.can(user, "open_case", certificate)
        panels.append(flagged)
    if policies.cases.can(user, "view_deliberation", None):
        panels.append(
            _panel(
                "Open cases",
                "portal/panels/cases.html",
                governance_selectors.open_cases(user),
                "No case is open.",
                more_url=reverse("governance:case-list"),
            )
        )
    if CERTIFICATES.can(user, "record_event", None):
        days = settings.CERTIFICATE_EXPIRY_WARNING_DAYS
        expiring = _panel(
            f"Certificates expiring or due for renewal within {days} days",
            "portal/panels/expiring.html",
            cpl_selectors.certificates_expiring(within_days=days),
            f"No valid certificate expires or is due for renewal in the next {days} days.",
            more_url=f"{reverse('cpl:register')}?expiring_before="
            f"{timezone.localdate() + datetime.timedelta(days=days + 1)}",
        )
        cpl_selectors.with_device_model_links(expiring.items)
        panels.append(expiring)
    panels += _emergency_panels(user)
    if CHANGE_NOTICES.can(user, "view", None):
        since = timezone.now() - datetime.timedelta(days=30)
        panels.append(
            _panel(
                "CPL changes in the last 30 days",
                "portal/panels/cpl_changes.html",
                cpl_selectors.cpl_change_notices(user=user, since=since),
                "The CPL has not changed in the last 30 days.",
                more_url=reverse("cpl:change-list"),
            )
        )
    return panels


def _emergency_panels(user) -> list[Panel]:
    """SMETS1 emergency CPL entries: the secretariat's decisions and fast-track PPCTs, and a
    supplier's own requests (the policy says whose)."""
    more = reverse("cpl:emergency-list")
    template = "portal/panels/emergency_requests.html"
    panels = []
    if EMERGENCY_REQUESTS.can(user, "accept", None):
        to_decide = _panel(
            "Emergency requests to decide",
            template,
            EMERGENCY_REQUESTS.with_action(user, "accept", FETCH)
            + EMERGENCY_REQUESTS.with_action(user, "list_on_cpl", FETCH),
            "No emergency CPL entry request waits for a decision.",
            more_url=more,
        )
        ppct = _panel(
            "Fast-track PPCT due or overdue",
            template,
            EMERGENCY_REQUESTS.with_action(user, "record_ppct", FETCH),
            "No fast-track PPCT is due.",
            more_url=more,
        )
        panels += [panel for panel in (to_decide, ppct) if panel.items]
    elif EMERGENCY_REQUESTS.can(user, "submit", None):
        own = EMERGENCY_REQUESTS.prepare(EMERGENCY_REQUESTS.visible(user))
        panel = _panel(
            "Your emergency requests", template, own, "You have no emergency requests.", more
        )
        if panel.items:
            panels.append(panel)
    return panels


class DashboardView(LoginRequiredMixin, TemplateView):
    template_name = "portal/dashboard.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        return super().get_context_data(
            panels=dashboard_panels(user),
            reads_register=DEVICE_MODELS.can(user, "view", None),
            **kwargs,
        )
