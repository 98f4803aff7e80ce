"""The supplier's plan: "submit" while a plan is due (none submitted yet, overdue, or not
approved), "revise" while a submitted version waits for the SSC's review. The dashboard lists the
first under "Remedial plans to submit" and the second, where nothing waits for the supplier,
under "Plans waiting for the SSC's review" (issue 12)."""

import datetime
import re

import pytest
from django.urls import reverse

from governance import plans, policies
from governance.models import PlanRequirement

from ..helpers import decided_case, pdf_upload

pytestmark = pytest.mark.django_db
TO_SUBMIT, WAITING = "Remedial plans to submit", "Plans waiting for the SSC&#x27;s review"


def form(action: str) -> dict:
    return {
        "action": action,
        "summary": "Firmware 2.1",
        "file": pdf_upload("plan.pdf"),
        "milestones-TOTAL_FORMS": "1",
        "milestones-INITIAL_FORMS": "0",
        "milestones-MIN_NUM_FORMS": "1",
        "milestones-MAX_NUM_FORMS": "50",
        "milestones-0-description": "Firmware rollout",
        "milestones-0-target_date": (
            datetime.date.today() + datetime.timedelta(days=60)
        ).isoformat(),
        "milestones-0-devices_covered": "100",
    }


def panels(client) -> dict[str, str]:
    html = client.get("/").content.decode()
    return {
        re.sub(r"<span.*", "", heading, flags=re.S).strip(): body
        for heading, body in re.findall(
            r'<section[^>]*aria-labelledby="panel-[^>]*>\s*<h2[^>]*>(.*?)</h2>(.*?)</section>',
            html,
            re.S,
        )
    }


@pytest.fixture
def plan(committee, client_for):
    decided_case(committee)
    requirement = PlanRequirement.objects.get(supplier=committee["supplier_a"].organisation)
    return requirement, reverse("governance:plan", args=[requirement.pk]), client_for("supplier_a")


def test_a_submitted_plan_moves_from_the_to_do_panel_to_the_waiting_one(committee, plan):
    requirement, url, client = plan
    shown = panels(client)
    assert f'href="{url}"' in shown[TO_SUBMIT] and WAITING not in shown
    assert 'name="action" value="submit"' in client.get(url).content.decode()

    assert client.post(url, form("submit")).status_code == 302
    shown = panels(client)
    assert TO_SUBMIT not in shown and f'href="{url}"' in shown[WAITING]
    page = client.get(url).content.decode()
    assert "Revise the plan" in page and 'name="action" value="revise"' in page


def test_a_waiting_plan_is_revised_not_submitted_again(committee, plan):
    requirement, url, client = plan
    client.post(url, form("submit"))
    refused = client.post(url, form("submit"))
    assert refused.status_code == 409 and "revise it instead" in refused.content.decode()
    assert requirement.plans.count() == 1
    assert client.post(url, form("revise")).status_code == 302
    assert list(requirement.plans.order_by("version").values_list("version", flat=True)) == [1, 2]
    assert PlanRequirement.objects.get(pk=requirement.pk).state == PlanRequirement.State.SUBMITTED


def test_a_refused_plan_is_to_submit_again_not_to_revise(committee, plan):
    requirement, url, client = plan
    client.post(url, form("submit"))
    plans.plan_review(
        actor=committee["member"],
        requirement=PlanRequirement.objects.get(pk=requirement.pk),
        version=1,
        approve=False,
        comments="The milestones are too late.",
    )
    requirement = PlanRequirement.objects.get(pk=requirement.pk)
    assert requirement.state == PlanRequirement.State.NOT_APPROVED
    assert policies.plan_requirements.actions(committee["supplier_a"], requirement) >= {"submit"}
    assert "revise" not in policies.plan_requirements.actions(committee["supplier_a"], requirement)
    shown = panels(client)
    assert f'href="{url}"' in shown[TO_SUBMIT] and WAITING not in shown
    assert client.post(url, form("revise")).status_code == 409
    assert client.post(url, form("submit")).status_code == 302
    assert PlanRequirement.objects.get(pk=requirement.pk).state == "resubmitted"


def test_another_supplier_neither_submits_nor_revises(committee, plan, client_for):
    requirement, url, _ = plan
    other = client_for("supplier_b")
    assert other.post(url, form("submit")).status_code == 404
    assert other.post(url, form("revise")).status_code == 404


def test_a_submission_that_finds_a_version_submitted_meanwhile_is_refused(committee, plan):
    """Two "submit"s sent at once: the second, reading the requirement before the first's
    version, is asked again under the lock and refused, not taken as a revision."""
    from portal.policies import ActionNotNow

    requirement, _, _ = plan
    stale = PlanRequirement.objects.get(pk=requirement.pk)  # read before the first submission
    milestone = {
        "description": "Firmware rollout",
        "target_date": datetime.date.today() + datetime.timedelta(days=60),
        "devices_covered": 100,
    }
    supplier = committee["supplier_a"]
    kwargs = {"summary": "Firmware 2.1", "milestones": [milestone], "action": "submit"}
    plans.plan_submit(actor=supplier, requirement=requirement, upload=pdf_upload(), **kwargs)
    with pytest.raises(ActionNotNow):
        plans.plan_submit(actor=supplier, requirement=stale, upload=pdf_upload(), **kwargs)
    assert requirement.plans.count() == 1
