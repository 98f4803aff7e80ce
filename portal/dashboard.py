"""What waits for each role on the home page."""

import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from cpl import selectors as cpl_selectors
from governance import selectors as governance_selectors

from .models import Organisation
from .roles import Role

PANEL_LIMIT = 20


@dataclass
class Panel:
    title: str
    template: str
    items: list
    empty: str
    more_url: str = ""
    total: int = 0
    extra: dict = field(default_factory=dict)


def _panel(title, template, queryset, empty, more_url="") -> Panel:
    items = list(queryset[: PANEL_LIMIT + 1])
    return Panel(title, template, items[:PANEL_LIMIT], empty, more_url, total=len(items))


def dashboard_panels(user) -> list[Panel]:
    panels = [
        _panel(
            "Notices to acknowledge",
            "portal/panels/notices.html",
            governance_selectors.unacknowledged_notices(user),
            "You have acknowledged every notice.",
            more_url=reverse("governance:inbox"),
        )
    ]
    if user.has_role(Role.AUTHORITY):
        panels.append(
            _panel(
                "Referrals waiting for you",
                "portal/panels/referrals.html",
                governance_selectors.referrals_for_authority(),
                "No referral is waiting for a determination.",
                more_url=reverse("governance:referral-list"),
            )
        )
    if user.has_role(Role.SECRETARIAT, Role.CHAIR):
        panels.append(
            _panel(
                "Referrals needing the SSC",
                "portal/panels/referrals.html",
                governance_selectors.referrals_for_ssc(),
                "No referral needs the SSC now.",
            )
        )
    if user.has_role(Role.SUPPLIER):
        panels.append(
            _panel(
                "Remedial plans to submit or revise",
                "portal/panels/plans.html",
                governance_selectors.plans_waiting_for_supplier(user),
                "No remedial plan is waiting for you.",
                more_url=reverse("governance:plan-list"),
            )
        )
    if user.is_ssc:
        panels.append(
            _panel(
                "Remedial plans to review",
                "portal/panels/plans.html",
                governance_selectors.plans_to_review(),
                "No plan is waiting for review.",
            )
        )
        panels.append(
            _panel(
                "Overdue remedial plans",
                "portal/panels/plans.html",
                governance_selectors.plans_overdue(),
                "No plan is overdue.",
                more_url=reverse("governance:plan-list") + "?state=overdue",
            )
        )
    is_dcc = (
        user.organisation_id is not None
        and user.organisation.party_type == Organisation.PartyType.DCC
    )
    if user.is_ssc:
        panels.append(
            _panel(
                "CPA certificates awaiting an SSC decision",
                "portal/panels/cpa_flagged.html",
                cpl_selectors.cpa_certificates_flagged(),
                "No device model on the CPL has an expired or withdrawn CPA certificate.",
            )
        )
    if user.has_role(Role.CHAIR, Role.SECRETARIAT):
        panels.append(
            _panel(
                "Open cases",
                "portal/panels/cases.html",
                governance_selectors.open_cases(),
                "No case is open.",
                more_url=reverse("governance:case-list"),
            )
        )
    if user.has_role(Role.CHAIR):
        ballots = list(governance_selectors.open_ballots_with_non_voters())
        panels.append(
            Panel(
                "Ballots open",
                "portal/panels/ballots.html",
                ballots,
                "No ballot is open.",
                total=len(ballots),
            )
        )
    if user.has_role(Role.MEMBER):
        panels.append(
            _panel(
                "Ballots waiting for your vote",
                "portal/panels/my_ballots.html",
                governance_selectors.ballots_awaiting_vote(user),
                "No ballot is waiting for you.",
            )
        )
    if user.has_role(Role.SECRETARIAT):
        days = settings.CERTIFICATE_EXPIRY_WARNING_DAYS
        panels.append(
            _panel(
                f"Certificates expiring within {days} days",
                "portal/panels/expiring.html",
                cpl_selectors.certificates_expiring(within_days=days),
                f"No valid certificate expires in the next {days} days.",
                more_url=f"{reverse('cpl:register')}?expiring_before="
                f"{timezone.localdate() + datetime.timedelta(days=days + 1)}",
            )
        )
    if user.has_role(Role.SECRETARIAT) or is_dcc:
        since = timezone.now() - datetime.timedelta(days=30)
        panels.append(
            _panel(
                "CPL changes in the last 30 days",
                "portal/panels/cpl_changes.html",
                cpl_selectors.cpl_change_notices(since=since),
                "The CPL has not changed in the last 30 days.",
                more_url=reverse("cpl:change-list"),
            )
        )
    return panels
