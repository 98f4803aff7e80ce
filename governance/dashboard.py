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
from .referrals import what_happens_next

PANEL_LIMIT = 20
FETCH = PANEL_LIMIT + 1  # one more than is shown tells that there are more


@dataclass
class Panel:
    title: str
    template: str
    items: list
    more_url: str = ""
    total: int = 0
    # The earliest deadline among the items shown (a date), None when they have none: panels
    # whose earliest item is due soonest come first.
    due: datetime.date | None = None
    extra: dict = field(default_factory=dict)
    # Nothing to do, only to know: shown apart from what is waiting for the user.
    informational: bool = False


def _panel(title, template, objects, more_url="", deadline=None, informational=False) -> Panel:
    """`deadline(item)`: the item's deadline (a date or a datetime), or None; read from what the
    item already holds (no query per item)."""
    items = list(objects[:FETCH])
    shown = items[:PANEL_LIMIT]
    dues = [_as_date(deadline(item)) for item in shown] if deadline else []
    return Panel(
        title,
        template,
        shown,
        more_url,
        total=len(items),
        due=min((d for d in dues if d is not None), default=None),
        informational=informational,
    )


def _as_date(value) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return timezone.localdate(value)
    return value


def by_deadline(panels: list[Panel]) -> list[Panel]:
    """The panel whose earliest item is due soonest first; panels without deadlines after
    those, in their own order (the sort is stable)."""
    return sorted(panels, key=lambda p: (p.due is None, p.due or datetime.date.min))


# What each kind of item must be done by.
def _ballot_closes(ballot):
    return ballot.closes_at if ballot.is_open else None


def _plan_due(requirement):
    return requirement.due_date


def _plan_ballot_closes(requirement):
    """Under the "ballot" rule, the open ballot on the latest version closes then."""
    ballot = policies.review_standing(requirement).ballot
    return ballot.closes_at if ballot is not None and ballot.is_open else None


def _approval_expires(requirement):
    """An approval may run until a date: the plan must be completed by then."""
    plan = policies.review_standing(requirement).plan
    return plan.expires_on if plan is not None else None


def _pack_due(referral):
    return referral.pack_due_date if referral.state == referral.State.LODGED else None


def _certificate_due(certificate):
    return min(d for d in (certificate.expiry, certificate.renewal_due) if d is not None)


def _ppct_due(entry):
    return entry.ppct_due if entry.state == entry.State.FAST_TRACK_PPCT else None


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
    cases = "portal/panels/cases.html"
    plans = "portal/panels/plans.html"
    referrals = "portal/panels/referrals.html"
    # (shown, title, template, objects, more_url, deadline)
    panels = [
        (
            sees_ballots,
            "Ballots waiting for your vote",
            "portal/panels/my_ballots.html",
            lambda: governance_selectors.ballots_to_vote(user, FETCH),
            "",
            _ballot_closes,
        ),
        (
            sees_ballots,
            "Ballots you chair",
            "portal/panels/ballots.html",
            lambda: governance_selectors.ballots_to_close(user, FETCH),
            "",
            _ballot_closes,
        ),
        (
            sees_ballots,
            "Ballots waiting for your casting vote",
            "portal/panels/ballots.html",
            lambda: governance_selectors.ballots_to_cast(user, FETCH),
            "",
            None,
        ),
        (
            deliberates,
            "Cases needing an acting chair",
            cases,
            lambda: governance_selectors.cases_needing_an_acting_chair(user, FETCH),
            "",
            None,
        ),
        (
            deliberates,
            "Cases ready for a ballot",
            cases,
            lambda: governance_selectors.cases_with_action(user, "open_ballot", FETCH),
            "",
            None,
        ),
        (
            deliberates,
            "Summaries for Parties to write",
            cases,
            lambda: governance_selectors.summaries_to_write(user, FETCH),
            "",
            None,
        ),
        (
            deliberates,
            "Summary for Parties to approve",
            cases,
            lambda: governance_selectors.cases_with_action(user, "approve_party_summary", FETCH),
            "",
            None,
        ),
        (
            deliberates,
            "Decisions to issue",
            cases,
            lambda: governance_selectors.cases_with_action(user, "issue_decision", FETCH),
            "",
            None,
        ),
        (
            sees_referrals,
            "Referrals waiting for your determination",
            referrals,
            lambda: governance_selectors.referrals_to_determine(user, FETCH),
            referral_list,
            None,
        ),
        (
            sees_referrals,
            "Referrals needing the SSC",
            referrals,
            lambda: governance_selectors.referrals_to_send_or_answer(user, FETCH),
            referral_list,
            _pack_due,
        ),
        (
            sees_referrals,
            "Referrals to close",
            referrals,
            lambda: governance_selectors.referrals_to_close(user, FETCH),
            referral_list,
            None,
        ),
        (
            sees_plans,
            "Remedial plans to submit",
            plans,
            lambda: governance_selectors.plans_to_submit(user, FETCH),
            plan_list,
            _plan_due,
        ),
        (
            sees_plans,
            "Reviewers disagree: decide on the plan",
            plans,
            lambda: reviews()[1],
            plan_list,
            None,
        ),
        (
            sees_plans,
            "Remedial plans to review",
            plans,
            lambda: reviews()[0],
            plan_list,
            _plan_ballot_closes,
        ),
        (
            sees_plans,
            "Approved remedial plans to confirm as completed",
            plans,
            lambda: governance_selectors.plans_to_complete(user, FETCH),
            plan_list + "?state=approved",
            _approval_expires,
        ),
        (
            sees_plans,
            "Overdue remedial plans",
            plans,
            lambda: governance_selectors.plans_overdue(user),
            plan_list + "?state=overdue",
            _plan_due,
        ),
        # Nothing to do: the supplier's plans the SSC is reviewing (it may still revise them).
        (
            sees_plans,
            "Plans waiting for the SSC's review",
            plans,
            lambda: governance_selectors.plans_awaiting_review(user, FETCH),
            plan_list,
            None,
        ),
    ]
    return [
        _panel(title, template, objects(), more_url, deadline)
        for shown, title, template, objects, more_url, deadline in panels
        if shown
    ]


def dashboard_panels(user) -> list[Panel]:
    """The panels with something in them, the one due soonest first; the informational ones
    (`Panel.informational`) are shown apart, after what is waiting for the user."""
    panels = [
        _panel(
            "Notices to acknowledge",
            "portal/panels/notices.html",
            governance_selectors.unacknowledged_notices(user),
            more_url=reverse("inbox"),
        )
    ]
    panels += _work_panels(user)
    if policies.referrals.follows_from_lodging(user):
        # SEC F2.7B: the Authority sees a referral at once; the pack follows by its deadline.
        panels.append(
            _panel(
                "Referrals lodged",
                "portal/panels/referrals_lodged.html",
                governance_selectors.referrals_lodged(user),
                more_url=reverse("governance:referral-list"),
                deadline=_pack_due,
            )
        )
    # Shown to who may open a case from it (others have nothing to do with it).
    if CERTIFICATES.can(user, "open_case", None):
        flagged = _panel(
            "CPA certificates awaiting an SSC decision",
            "portal/panels/cpa_flagged.html",
            # Once a case on it has its decision issued, the SSC has decided: nothing waits.
            cpl_selectors.cpa_certificates_flagged().exclude(
                cases__decision_record__issued_at__isnull=False
            ),
            # Overdue since the certificate stopped being valid: before what is still to come.
            deadline=lambda certificate: certificate.status_date or certificate.expiry,
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
                more_url=reverse("governance:case-list"),
            )
        )
    if CERTIFICATES.can(user, "record_event", None):
        days = settings.CERTIFICATE_EXPIRY_WARNING_DAYS
        expiring = _panel(
            f"Certificates expiring or due for renewal within {days} days",
            "portal/panels/expiring.html",
            cpl_selectors.certificates_expiring(within_days=days),
            more_url=f"{reverse('cpl:register')}?expiring_before="
            f"{timezone.localdate() + datetime.timedelta(days=days + 1)}",
            deadline=_certificate_due,
        )
        cpl_selectors.with_device_model_links(expiring.items)
        panels.append(expiring)
    panels += _emergency_panels(user)
    if CHANGE_NOTICES.can(user, "view", None):
        since = timezone.now() - datetime.timedelta(days=30)
        panels.append(
            _panel(
                "Recent changes to the CPL",
                "portal/panels/cpl_changes.html",
                cpl_selectors.cpl_change_notices(user=user, since=since),
                more_url=reverse("cpl:change-list"),
                informational=True,
            )
        )
    if policies.referrals.follows_own(user):
        own = _panel(
            "Your referrals",
            "portal/panels/referrals_own.html",
            governance_selectors.referrals_of_own_organisation(user),
            more_url=reverse("governance:referral-list"),
            informational=True,
        )
        for referral in own.items:
            referral.what_next = what_happens_next(referral)
        panels.append(own)
    return by_deadline([panel for panel in panels if panel.items])


def _emergency_panels(user) -> list[Panel]:
    """SMETS1 emergency CPL entries: the secretariat's decisions and fast-track PPCTs, and a
    supplier's own requests (the policy says whose)."""
    more = reverse("cpl:emergency-list")
    template = "portal/panels/emergency_requests.html"
    if EMERGENCY_REQUESTS.can(user, "accept", None):
        return [
            _panel(
                "Emergency requests to decide",
                template,
                EMERGENCY_REQUESTS.with_action(user, "accept", FETCH)
                + EMERGENCY_REQUESTS.with_action(user, "list_on_cpl", FETCH),
                more_url=more,
            ),
            _panel(
                "Fast-track PPCT due or overdue",
                template,
                EMERGENCY_REQUESTS.with_action(user, "record_ppct", FETCH),
                more_url=more,
                deadline=_ppct_due,
            ),
        ]
    if EMERGENCY_REQUESTS.can(user, "submit", None):
        own = EMERGENCY_REQUESTS.prepare(EMERGENCY_REQUESTS.visible(user))
        return [_panel("Your emergency requests", template, own, more, deadline=_ppct_due)]
    return []


class DashboardView(LoginRequiredMixin, TemplateView):
    template_name = "portal/dashboard.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        panels = dashboard_panels(user)
        return super().get_context_data(
            panels=[panel for panel in panels if not panel.informational],
            updates=[panel for panel in panels if panel.informational],
            reads_register=DEVICE_MODELS.can(user, "view", None),
            **kwargs,
        )
