"""Journey: a supplier goes from the clause 6.3 notice in its inbox to its plan form, adds a
second milestone with the button (htmx), makes a mistake, is shown it in the error summary,
fixes it without choosing the file again, and submits the plan."""

import datetime
import hashlib

import pytest
from playwright.sync_api import expect

from governance.models import RemedialPlan

from ..helpers import PDF_BYTES, decided_case
from .conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("committed_db")]


def fill_date(group, date: datetime.date):
    """The target date: day, month and year boxes (GOV.UK date input), or one date field."""
    boxes = group.get_by_role("group", name="Target date")
    if boxes.count():
        boxes.get_by_label("Day").fill(str(date.day))
        boxes.get_by_label("Month").fill(str(date.month))
        boxes.get_by_label("Year").fill(str(date.year))
    else:
        group.get_by_label("Target date").fill(date.isoformat())


def test_supplier_plan_form_journey(
    page, committee, live_server, settings, tmp_path, expected_console_errors
):
    settings.PORTAL_BASE_URL = live_server.url  # the notice's links lead to this portal
    expected_console_errors.append("status of 400")  # the form shown again with its errors
    case = decided_case(committee)
    pdf = tmp_path / "remedial-plan.pdf"
    pdf.write_bytes(PDF_BYTES)
    soon = datetime.date.today() + datetime.timedelta(days=90)

    sign_in(page, "supplier_a")
    page.get_by_role("link", name="Inbox").first.click()
    page.get_by_role(
        "link", name=f"Clause 6.3 notice: CPA Certificate Remedial Plan required, {case.reference}"
    ).first.click()
    page.get_by_role("button", name="Submit your plan").click()
    expect(page.get_by_role("heading", name="Submit your plan")).to_be_visible()

    page.get_by_label("Summary of the plan").fill("Firmware 2.1 over the air, then replacements")
    page.get_by_label("Plan document").set_input_files(str(pdf))
    first = page.get_by_role("group", name="Milestone 1")
    first.get_by_label("Milestone", exact=True).fill("Firmware 2.1 to every meter")
    fill_date(first, soon)
    first.get_by_label("Devices covered").fill("1000")
    expect(page.get_by_role("group", name="Milestone 2")).to_have_count(0)

    page.get_by_role("button", name="Add another milestone").click()
    second = page.get_by_role("group", name="Milestone 2")
    expect(second.get_by_label("Milestone", exact=True)).to_be_focused()
    expect(first.get_by_label("Milestone", exact=True)).to_have_value("Firmware 2.1 to every meter")
    second.get_by_label("Milestone", exact=True).fill("Replace meters that cannot update")
    fill_date(second, soon + datetime.timedelta(days=90))
    second.get_by_label("Devices covered").fill("two hundred")  # the mistake
    page.get_by_role("button", name="Submit plan").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(summary).to_be_focused()  # govuk-frontend moves focus to it
    summary.get_by_role(
        "link", name="Milestone 2: Enter the number of devices as a whole number, like 1200"
    ).click()
    second = page.get_by_role("group", name="Milestone 2")
    devices = second.get_by_label("Devices covered")
    expect(devices).to_be_focused()
    expect(page.get_by_text("File chosen: remedial-plan.pdf")).to_be_visible()
    assert not RemedialPlan.objects.exists()

    devices.fill("200")
    page.get_by_role("button", name="Submit plan").click()
    expect(page.get_by_text("Version 1 of your plan is submitted for review.")).to_be_visible()
    expect(page.get_by_role("cell", name="Replace meters that cannot update")).to_be_visible()
    plan = RemedialPlan.objects.get()
    assert plan.original_name == "remedial-plan.pdf"
    assert plan.sha256 == hashlib.sha256(PDF_BYTES).hexdigest()
    assert plan.milestones.count() == 2
