"""Issue 12: a case page shows where the case stands as a GOV.UK task list, step by step,
to everyone who may see the case, with no extra query."""

import datetime
import html as html_module
import re

import pytest
from django.urls import reverse

from governance import plans, services
from governance.models import PlanRequirement

from ..helpers import cpa_case, decided_case, party_summary_approved, pdf_upload

pytestmark = pytest.mark.django_db


def tasks(client, case) -> dict[str, str]:
    html = client.get(reverse("governance:case", args=[case.pk])).content.decode()
    items = re.findall(
        r'govuk-task-list__name">([^<]+)</div>.*?govuk-task-list__status">(?:<strong[^>]*>)?([^<]+)',
        html,
        flags=re.S,
    )
    return {html_module.unescape(name): status for name, status in items}


def test_the_task_list_follows_the_case_through_its_assessment(committee, client_for):
    case = cpa_case(committee)
    chair = client_for("chair")
    at_opening = tasks(chair, case)
    assert at_opening["Case opened"] == "Completed"
    assert at_opening["SSC assessment: evidence and Parties' views"] == "Not yet started"
    assert at_opening["SSC ballot"] == "Cannot start yet"
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    party_summary_approved(committee, case)
    in_assessment = tasks(chair, case)
    assert in_assessment["SSC assessment: evidence and Parties' views"] == "In progress"
    assert in_assessment["Summary for Parties approved"] == "Completed"


def test_the_task_list_shows_remediation_to_the_supplier(committee, client_for):
    decided = decided_case(committee)
    requirement = PlanRequirement.objects.get(case=decided, supplier__party_id="SUPA")
    plans.plan_submit(
        actor=committee["supplier_a"],
        requirement=requirement,
        summary="Firmware",
        upload=pdf_upload(),
        milestones=[
            {
                "description": "Firmware",
                "target_date": datetime.date(2027, 3, 1),
                "devices_covered": 10,
            }
        ],
    )
    remediation = tasks(client_for("supplier_a"), decided)
    assert remediation["Decision notice issued"] == "Completed"
    assert remediation["CPA Certificate Remedial Plans"] == "In progress"
    assert remediation["Case closed"] == "Cannot start yet"


def test_the_referral_window_stays_on_the_task_list_after_a_referral_closes(committee, client_for):
    from governance import referrals
    from governance.models import Referral

    decided = decided_case(committee)
    chair = client_for("chair")
    assert tasks(chair, decided)["Referrals to the Authority"].startswith("Window open until ")
    referral = referrals.referral_lodge(
        actor=committee["dcc"], case=decided, kind="not_remove", grounds="Too lenient"
    )
    assert tasks(chair, decided)["Referrals to the Authority"] == "In progress"
    Referral.objects.filter(pk=referral.pk).update(state=Referral.State.CLOSED)
    # Closed, but other Parties may still refer until the window ends.
    assert tasks(chair, decided)["Referrals to the Authority"].startswith("Window open until ")
