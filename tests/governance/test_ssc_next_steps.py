"""Found on the browser walk: what the SSC does next is always asked of someone. The secretariat
writes the summary for Parties (a dashboard panel asks for it) before the chair is offered the
decision notice; it closes a determined referral (its panel, not the Authority's page); members
see only what they may act on under "What is waiting for you"; the case's task list says when the
referral window closes and counts only the plans the viewer may see; a Party follows the
referrals it lodged."""

import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from governance import policies, record, referrals, services
from governance.models import Case, Referral

from ..helpers import (
    cpa_case,
    decided_case,
    import_sample,
    party_summary_approved,
    pdf_upload,
    referral_pack_sent,
    vote_unanimously,
)
from .test_case_tasks import tasks
from .test_walk_dashboards import dashboard

pytestmark = pytest.mark.django_db
TO_WRITE = "Summaries for Parties to write"
TO_CLOSE = "Referrals to close"
WAITING = "Waiting for the secretariat's summary for Parties"


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return unescape(response.content.decode())


def decided_without_summary(committee):
    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    ballot = vote_unanimously(committee, case, "suspend")
    return Case.objects.get(pk=case.pk), ballot


# --- 1. the summary for Parties is asked of the secretariat before the decision is offered -----


def test_the_secretariat_is_asked_for_the_summary_and_the_chair_waits_for_it(committee, client_for):
    case, ballot = decided_without_summary(committee)
    issue = reverse("governance:decision-issue", args=[case.pk])
    case_url = f'href="/cases/{case.pk}/"'
    assert case_url in dashboard(client_for, "secretariat")[TO_WRITE]
    for key in ("chair", "member", "supplier_a"):
        assert TO_WRITE not in dashboard(client_for, key)
    chair = client_for("chair")
    for url in (reverse("governance:ballot", args=[ballot.pk]), f"/cases/{case.pk}/"):
        html = page(chair, url)
        assert issue not in html and WAITING in html
    # Written: the chair approves it (its own panel); still no decision to issue.
    record.case_party_summary_write(
        actor=committee["secretariat"], case=case, party_summary="A key handling weakness."
    )
    assert TO_WRITE not in dashboard(client_for, "secretariat")
    chair = client_for("chair")
    assert issue not in page(chair, reverse("governance:ballot", args=[ballot.pk]))
    assert "Decisions to issue" not in dashboard(client_for, "chair")
    party_summary_approved(committee, case)
    chair = client_for("chair")
    for url in (reverse("governance:ballot", args=[ballot.pk]), f"/cases/{case.pk}/"):
        html = page(chair, url)
        assert f'href="{issue}"' in html and WAITING not in html
    assert case_url in dashboard(client_for, "chair")["Decisions to issue"]


def test_the_summary_is_no_longer_written_once_the_decision_is_issued(committee, client_for):
    case = decided_case(committee)
    secretariat = committee["secretariat"]
    assert not policies.cases.can(secretariat, "write_party_summary", case)
    html = page(client_for("secretariat"), f"/cases/{case.pk}/")
    assert reverse("governance:party-summary", args=[case.pk]) not in html
    assert TO_WRITE not in dashboard(client_for, "secretariat")
    response = client_for("secretariat").post(
        reverse("governance:party-summary", args=[case.pk]), {"party_summary": "Changed"}
    )
    assert response.status_code == 409
    assert Case.objects.get(pk=case.pk).party_summary != "Changed"


# --- 2. the secretariat closes a determined referral ---------------------------------------------


def determined(committee):
    case, referral, _ = referral_pack_sent(committee)
    referrals.referral_determine(
        actor=committee["authority"],
        referral=referral,
        outcome="upheld",
        reasons="Proportionate",
        effective_date=timezone.localdate(),
    )
    return case, Referral.objects.get(pk=referral.pk)


def test_the_secretariat_closes_a_determined_referral_from_its_dashboard(committee, client_for):
    _, referral = determined(committee)
    url = reverse("governance:referral", args=[referral.pk])
    assert f'href="{url}"' in dashboard(client_for, "secretariat")[TO_CLOSE]
    for key in ("authority", "chair", "supplier_a"):
        assert TO_CLOSE not in dashboard(client_for, key)
    assert "close" not in policies.referrals.actions(committee["authority"], referral)
    authority = client_for("authority")
    assert 'value="close"' not in page(authority, url)
    assert authority.post(url, {"action": "close"}).status_code == 403
    secretariat = client_for("secretariat")
    assert 'value="close"' in page(secretariat, url)
    asked = secretariat.post(url, {"action": "close"})  # a confirmation page first
    assert asked.status_code == 200 and "cannot be reopened" in asked.content.decode()
    assert Referral.objects.get(pk=referral.pk).state != Referral.State.CLOSED
    assert secretariat.post(url, {"action": "close", "confirmed": "yes"}).status_code == 302
    assert Referral.objects.get(pk=referral.pk).state == Referral.State.CLOSED
    assert TO_CLOSE not in dashboard(client_for, "secretariat")


# --- 3. members see under "What is waiting" only what they may act on ---------------------------


def work_and_updates(html: str) -> tuple[str, str]:
    """(what is waiting, what follows it: the informational panels)."""
    main = html.split('id="main-content"')[1]
    work, _, rest = main.partition('class="govuk-section-break')
    return work, rest


def test_certificates_are_listed_to_who_may_open_a_case_and_changes_are_for_information(
    client_for,
):
    import_sample()
    for key in ("chair", "member"):
        html = page(client_for(key), "/")
        assert "CPA certificates awaiting an SSC decision" not in html
        work, updates = work_and_updates(html)
        assert "Nothing is waiting for you." in work and "Recent changes" not in work
        assert "Recent changes to the CPL" in updates
    html = page(client_for("secretariat"), "/")
    work, updates = work_and_updates(html)
    assert "CPA certificates awaiting an SSC decision" in work and "Open a case" in work
    assert "Recent changes to the CPL" in updates and "Recent changes" not in work


# --- 4. the task list: the referral window; only the plans the viewer may see --------------------


def test_the_task_list_says_until_when_the_decision_may_be_referred(
    committee, client_for, settings
):
    settings.REFERRAL_WINDOW_WORKING_DAYS = 20
    case = decided_case(committee)
    _, last = policies.referral_window(case.decision_record.issued_at)
    status = tasks(client_for("secretariat"), case)["Referrals to the Authority"]
    assert status.strip() == f"Window open until {last.day} {last:%B %Y}"
    settings.REFERRAL_WINDOW_WORKING_DAYS = None
    assert tasks(client_for("secretariat"), case)["Referrals to the Authority"].strip() == (
        "Window open"
    )


def test_the_task_list_counts_only_the_plans_the_viewer_may_see(committee, client_for):
    case = decided_case(committee)  # SUPA and SUPB must each produce a plan

    def hint(key):
        html = page(client_for(key), f"/cases/{case.pk}/")
        found = re.search(
            r"CPA Certificate Remedial Plans</div>\s*<div class=\"govuk-task-list__hint\">([^<]+)",
            html,
        )
        return found.group(1)

    assert hint("secretariat") == "0 of 2 completed"
    assert hint("supplier_a") == "0 of 1 completed"


# --- 6. a Party follows the referrals it lodged ---------------------------------------------------


def test_a_party_follows_the_referrals_it_lodged(committee, client_for):
    case = decided_case(committee, decision="suspend")
    referral = referrals.referral_lodge(
        actor=committee["supplier_a"],
        case=case,
        kind="remove",
        grounds="Disproportionate",
        uploads=[pdf_upload("grounds.pdf")],
    )
    url = reverse("governance:referral", args=[referral.pk])
    html = page(client_for("supplier_a"), "/")
    _, updates = work_and_updates(html)
    assert "Your referrals" in updates and f'href="{url}"' in updates
    assert "Lodged" in updates and "The SSC sends the Authority its pack" in updates
    for key in ("supplier_b", "secretariat", "authority"):
        assert "Your referrals" not in page(client_for(key), "/")
