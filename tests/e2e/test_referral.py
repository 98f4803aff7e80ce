"""Journey: a supplier lodges a referral, the secretariat sends the pack, an Authority user
opens it, requests information, the SSC answers, the Authority overturns the removal, and the
CPL shows the device model re-listed."""

import datetime

import pytest
from playwright.sync_api import expect

from governance.models import Referral
from governance.packs import verify_pack

from ..helpers import decided_case
from .conftest import fill_date, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("committed_db")]


def open_referral(page):
    menu = page.get_by_role("navigation", name="Menu")
    if menu.get_by_role("link", name="Referrals").count():  # the Authority's own section
        menu.get_by_role("link", name="Referrals").click()
    else:  # a page of the Cases section
        menu.get_by_role("link", name="Cases").click()
        page.get_by_role("navigation", name="Cases").get_by_role("link", name="Referrals").click()
    page.get_by_role("link", name=Referral.objects.get().reference).click()


def test_referral_overturns_a_removal(page, committee, tmp_path):
    case = decided_case(committee, decision="suspend")
    model = case.device_models.order_by("pk").first()
    today = datetime.date.today()

    sign_in(page, "supplier_a")
    page.goto(f"/cases/{case.pk}/")
    page.get_by_role("link", name="Refer a decision to the Authority").click()
    page.get_by_label("The decision to remove the device models from the CPL").check()
    page.get_by_label("Your grounds").fill(
        "Removal is disproportionate: the exploit needs physical access"
    )
    page.get_by_role("button", name="Lodge referral").click()
    page.get_by_role("button", name="Lodge the referral").click()  # confirmed
    expect(page.get_by_text("lodged.")).to_be_visible()

    sign_in(page, "secretariat")
    open_referral(page)
    page.get_by_role("button", name="Build and send the pack").click()
    expect(
        page.get_by_role("heading", name="Build and send the pack to the Authority?")
    ).to_be_visible()
    page.get_by_role("button", name="Build and send the pack").click()  # confirmed
    expect(page.get_by_text("The pack is built and sent to the Authority.")).to_be_visible()

    sign_in(page, "authority")
    open_referral(page)
    expect(page.get_by_role("heading", name="Referral pack")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="ZIP of pack version 1").click()
    pack = tmp_path / "pack.zip"
    download_info.value.save_as(pack)
    assert verify_pack(pack) == []
    page.get_by_label("Information or documents requested").fill("The manufacturer's fix plan")
    fill_date(page, "Due by", today)
    page.get_by_role("button", name="Send request").click()
    expect(page.get_by_text("Your request is sent to the SSC.")).to_be_visible()

    sign_in(page, "secretariat")
    open_referral(page)
    page.get_by_label("Your answer").fill("Firmware 3.0 ships in January")
    page.get_by_role("button", name="Send answer").click()
    expect(page.get_by_text("pack version 2 includes it")).to_be_visible()

    sign_in(page, "authority")
    open_referral(page)
    expect(page.get_by_text("Firmware 3.0 ships in January")).to_be_visible()
    page.get_by_label("Overturned").check()
    page.get_by_label("Reasons").fill("Suspension is disproportionate to a local-access risk")
    fill_date(page, "Effective from", today)
    page.get_by_role("button", name="Record determination").click()
    expect(page.get_by_text("final and binding")).to_be_visible()
    page.get_by_role("button", name="Record the determination").click()  # confirmed
    expect(page.get_by_text("It has been applied to the case and the CPL.")).to_be_visible()

    sign_in(page, "supplier_a")
    page.goto(f"/cpl/models/{model.pk}/")
    expect(page.get_by_text("Listed").first).to_be_visible()
    expect(page.get_by_text("Authority determination on referral").first).to_be_visible()
