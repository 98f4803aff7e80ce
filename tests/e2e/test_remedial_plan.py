"""Journey: a supplier signs in, sees the clause 6.3 notice, acknowledges it, uploads a plan
PDF with two milestones; a member approves it; the supplier sees the approval."""

import datetime

import pytest
from playwright.sync_api import expect

from governance.models import PlanRequirement
from portal.models import NoticeDelivery

from ..helpers import PDF_BYTES, decided_case
from .conftest import fill_date, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("committed_db")]


def test_supplier_plan_is_submitted_and_approved(page, committee, tmp_path):
    case = decided_case(committee)
    requirement = PlanRequirement.objects.get(supplier=committee["supplier_a"].organisation)
    pdf = tmp_path / "remedial-plan.pdf"
    pdf.write_bytes(PDF_BYTES)

    sign_in(page, "supplier_a")
    page.get_by_role(
        "link", name=f"Clause 6.3 notice: CPA Certificate Remedial Plan required, {case.reference}"
    ).click()
    expect(page.get_by_text("1,200 devices")).to_be_visible()
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("You acknowledged this notice")).to_be_visible()
    assert NoticeDelivery.objects.get(
        recipient=committee["supplier_a"], notice__kind="plan_obligation"
    ).acknowledged_at

    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Cases").click()
    page.get_by_role("navigation", name="Cases").get_by_role("link", name="Remedial plans").click()
    page.get_by_role("link", name=case.reference).click()
    page.get_by_label("Summary of the plan").fill("Firmware 2.1 over the air, then replacements")
    page.get_by_label("Plan document").set_input_files(str(pdf))
    first = page.get_by_role("group", name="Milestone 1")
    first.get_by_label("Milestone").fill("Firmware 2.1 to every meter")
    fill_date(first, "Target date", datetime.date(2027, 3, 1))
    first.get_by_label("Devices covered").fill("1000")
    page.get_by_role("button", name="Add another milestone").click()
    second = page.get_by_role("group", name="Milestone 2")
    second.get_by_label("Milestone").fill("Replace meters that cannot update")
    fill_date(second, "Target date", datetime.date(2027, 6, 1))
    second.get_by_label("Devices covered").fill("200")
    page.get_by_role("button", name="Submit plan").click()
    expect(page.get_by_text("Version 1 of your plan is submitted for review.")).to_be_visible()
    expect(page.get_by_role("cell", name="Replace meters that cannot update")).to_be_visible()

    sign_in(page, "member")
    page.get_by_role("link", name=f"{case.reference} — Supplier A Energy").click()
    page.get_by_label("Approve the plan", exact=True).check()
    page.get_by_label("Comments or reasons").fill("Proportionate to a medium risk")
    page.get_by_role("button", name="Record review").click()
    expect(
        page.get_by_text(
            "Your review is recorded: the SSC has decided and the supplier is notified."
        )
    ).to_be_visible()

    sign_in(page, "supplier_a")
    page.get_by_role("link", name=f"Your remedial plan for {case.reference} was approved").click()
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Cases").click()
    page.get_by_role("navigation", name="Cases").get_by_role("link", name="Remedial plans").click()
    page.get_by_role("link", name=case.reference).click()
    expect(page.get_by_text("Approved").first).to_be_visible()
    expect(page.get_by_text("Proportionate to a medium risk")).to_be_visible()
    requirement.refresh_from_db()
    assert requirement.state == "approved"
