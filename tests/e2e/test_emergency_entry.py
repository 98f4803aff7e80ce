"""Journey: a supplier asks for an emergency CPL entry for new SMETS1 firmware in Chromium; the
secretariat finds it on the dashboard and in the inbox, accepts it and lists it (each behind a
confirmation page); the register and the device model page then show the new firmware as an
emergency entry, with its fast-track PPCT due date on the request. Another supplier never sees
the request."""

import datetime

import pytest
from django.conf import settings
from django.utils import dateformat, timezone
from playwright.sync_api import expect

from cpl.combinations import product_combination_save
from cpl.models import DeviceModel, EmergencyEntryRequest, Manufacturer
from portal.working_days import add_working_days

from ..helpers import PDF_BYTES
from .conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("committed_db")]

SUMMARY = "Buffer overflow in the HAN frame parser lets a paired device run code."


def smets1(manufacturer, model_id, device_type):
    return DeviceModel.objects.create(
        device_type=device_type,
        manufacturer=manufacturer,
        model_id=model_id,
        hardware_version="0100",
        firmware_version="00000001",
        smets_generation="SMETS1",
        date_added=datetime.date(2019, 1, 1),
    )


@pytest.fixture
def epc(users):
    """A SMETS1 electricity meter and communications hub in one Eligible Product Combination."""
    maker = Manufacturer.objects.create(manufacturer_id="1A2B", name="SMETS1 Meters")
    meter = smets1(maker, "0001", "ESME")
    hub = smets1(maker, "0002", "CHF")
    entry = product_combination_save(
        actor=None,
        reference="EPC-1",
        csp="CSP North",
        device_models=[meter, hub],
        on_list="epc",
        first_added=datetime.date(2020, 6, 1),
    )
    other = product_combination_save(  # of another meter: not for the request below
        actor=None,
        reference="EPC-2",
        csp="CSP South",
        device_models=[smets1(maker, "0003", "ESME"), hub],
        on_list="epc",
        first_added=datetime.date(2020, 6, 1),
    )
    return {"meter": meter, "hub": hub, "entry": entry, "other": other}


def panel(page, title):
    # Each dashboard panel is a <section> labelled by its heading (which may carry a count).
    return page.get_by_role("region", name=title)


def test_supplier_requests_and_secretariat_lists_an_emergency_entry(
    page, users, epc, tmp_path, expected_console_errors
):
    # The second supplier's refused request page answers 404 on purpose.
    expected_console_errors.append("status of 404")
    evidence = tmp_path / "vulnerability-report.pdf"
    evidence.write_bytes(PDF_BYTES)

    # 1. Supplier A fills in the request form.
    sign_in(page, users["supplier_a"].username)
    page.get_by_role("link", name="Central Products List").first.click()
    page.get_by_role("navigation", name="Central Products List").get_by_role(
        "link", name="Emergency entries"
    ).click()
    expect(page.get_by_role("heading", name="Emergency CPL entry requests")).to_be_visible()
    page.get_by_role("link", name="Request an emergency CPL entry").click()
    expect(page.get_by_role("heading", name="Request an emergency CPL entry")).to_be_visible()
    expect(page.get_by_label(str(epc["other"]))).to_be_visible()  # every entry, until chosen
    page.get_by_label("Device model (current firmware)").focus()
    page.get_by_label("Device model (current firmware)").select_option(label=str(epc["meter"]))
    # htmx swaps in the chosen model's combinations only.
    expect(
        page.get_by_text(f"The Eligible Product Combinations that include {epc['meter']}.")
    ).to_be_visible()
    expect(page.get_by_label(str(epc["other"]))).to_have_count(0)
    expect(page.get_by_label("Device model (current firmware)")).to_be_focused()  # kept
    page.get_by_label("New firmware version", exact=True).fill("0000000a")
    page.get_by_label(str(epc["entry"])).check()
    page.get_by_label("Vulnerability summary").fill(SUMMARY)
    page.get_by_label("SSC only").check()
    page.get_by_label("Evidence (optional)").set_input_files(str(evidence))
    page.get_by_role("button", name="Send the request").click()

    request = EmergencyEntryRequest.objects.get()
    reference = request.reference
    expect(page.get_by_text(f"Emergency CPL entry request {reference} sent")).to_be_visible()
    expect(page.get_by_role("heading", name=reference)).to_be_visible()
    expect(page.get_by_test_id("vulnerability-summary")).to_have_text(SUMMARY)
    expect(page.get_by_role("link", name="vulnerability-report.pdf")).to_be_visible()
    assert request.organisation == users["supplier_a"].organisation
    assert request.new_firmware_version == "0000000A"
    assert list(request.combinations.all()) == [epc["entry"]]
    assert request.evidence.count() == 1
    request_url = page.url

    # ... and finds it in their list, with its state.
    page.get_by_role("link", name="Emergency CPL entry requests").click()
    row = page.get_by_role("row").filter(has_text=reference)
    expect(row).to_contain_text("0000000A")
    expect(row).to_contain_text("Submitted")

    # 2. Supplier B sees neither the request nor it in the list.
    sign_in(page, users["supplier_b"].username)
    assert page.goto(request_url).status == 404
    expect(page.get_by_text(SUMMARY)).to_have_count(0)
    page.goto("/cpl/emergency/")
    expect(page.get_by_role("heading", name="Emergency CPL entry requests")).to_be_visible()
    expect(page.get_by_text("No emergency CPL entry requests.")).to_be_visible()
    expect(page.get_by_role("link", name=reference)).to_have_count(0)

    # 3. The secretariat has a notice and a dashboard panel, and accepts the request.
    sign_in(page, users["secretariat"].username)
    to_decide = f"Emergency CPL entry request {reference} to decide"
    expect(page.get_by_role("link", name=to_decide).first).to_be_visible()
    panel(page, "Emergency requests to decide").get_by_role("link", name=reference).click()
    expect(page.get_by_role("heading", name=reference)).to_be_visible()
    expect(page.get_by_test_id("vulnerability-summary")).to_have_text(SUMMARY)
    page.get_by_role("button", name="Accept the request").click()
    expect(
        page.get_by_role("heading", name="Accept this emergency CPL entry request?")
    ).to_be_visible()
    request.refresh_from_db()
    assert request.state == EmergencyEntryRequest.State.SUBMITTED  # not until confirmed
    page.get_by_role("button", name="Accept the request").click()
    expect(
        page.get_by_text(
            f"{reference}: accepted. The requester is told; list the entry on the CPL next."
        )
    ).to_be_visible()
    expect(page.get_by_role("heading", name=reference)).to_contain_text("Accepted")

    # 4. ... and lists it on the CPL as an emergency entry.
    page.get_by_role("button", name="List on the CPL as an emergency entry").click()
    expect(
        page.get_by_role("heading", name="List the new firmware on the CPL as an emergency entry?")
    ).to_be_visible()
    page.get_by_role("button", name="List on the CPL").click()
    expect(
        page.get_by_text(
            f"{reference}: listed on the CPL as an emergency entry; the fast-track PPCT is now due."
        )
    ).to_be_visible()
    due = add_working_days(timezone.localdate(), settings.EMERGENCY_PPCT_WORKING_DAYS)
    expect(page.get_by_role("heading", name=reference)).to_contain_text("Fast-track PPCT due")
    due_row = page.locator(".govuk-summary-list__row").filter(has_text="Fast-track PPCT due")
    expect(due_row).to_contain_text(dateformat.format(due, "j F Y"))
    request.refresh_from_db()
    emergency_model = request.emergency_device_model
    assert request.ppct_due == due
    assert emergency_model.emergency_entry and emergency_model.is_on_cpl
    assert emergency_model.firmware_version == "0000000A"

    # The list shows the state and the due date.
    page.get_by_role("link", name="Emergency CPL entry requests").click()
    row = page.get_by_role("row").filter(has_text=reference)
    expect(row).to_contain_text("Fast-track PPCT due")
    expect(row).to_contain_text(dateformat.format(due, "j M Y"))

    # 5. The device model page and the register show the new firmware as an emergency entry.
    page.goto(request_url)
    page.get_by_role("link", name=str(emergency_model)).click()
    expect(page.get_by_role("heading", name="SMETS1 Meters 0001")).to_be_visible()
    expect(page.locator("main").get_by_text("Emergency entry", exact=True).first).to_be_visible()
    firmware = page.locator(".govuk-summary-list__row").filter(has_text="Firmware version")
    expect(firmware).to_contain_text("0000000A")

    page.get_by_role("link", name="Central Products List").first.click()
    expect(page.get_by_role("heading", name="Central Products List")).to_be_visible()
    new_row = page.get_by_role("row").filter(has_text="0001 hw 0100 fw 0000000A")
    expect(new_row.get_by_text("Emergency entry", exact=True)).to_be_visible()
    old_row = page.get_by_role("row").filter(has_text="0001 hw 0100 fw 00000001")
    expect(old_row).to_be_visible()
    expect(old_row.get_by_text("Emergency entry", exact=True)).to_have_count(0)

    # 6. Supplier A's list follows the request; supplier B's still does not hold it.
    sign_in(page, users["supplier_a"].username)
    page.goto("/cpl/emergency/")
    expect(page.get_by_role("row").filter(has_text=reference)).to_contain_text(
        "Fast-track PPCT due"
    )
    sign_in(page, users["supplier_b"].username)
    assert page.goto(request_url).status == 404
    page.goto("/cpl/emergency/")
    expect(page.get_by_role("link", name=reference)).to_have_count(0)
