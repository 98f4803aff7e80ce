"""Journey (issue 12): the secretariat records the withdrawal of a CPA certificate, finds it
flagged on the dashboard, opens a case from there and types nothing but the summary: the event,
its date and reason, the device models and the affected suppliers are filled in for it."""

import datetime
import io

import pytest
from playwright.sync_api import expect

from cpl.inventory import inventory_import
from cpl.models import AssuranceCertificate
from governance.models import Case

from ..helpers import cpl_csv, cpl_row, import_bytes, make_user
from .conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("committed_db")]

NUMBER = "CPA-JOURNEY-1"
REASON = "NCSC found a key-handling weakness in re-evaluation"
SUMMARY = "Keys can be read over the debug port on both models; a firmware fix is promised."


def certificate_on_two_models(users):
    """A valid CPA certificate on two listed models; Supplier A has devices of one of them."""
    expiry = (datetime.date.today() + datetime.timedelta(days=400)).isoformat()
    rows = [
        cpl_row(
            980 + i,
            **{
                "CPA Certificate Number": NUMBER,
                "CPA Issue Date": "2020-01-01",
                "CPA Expiry Date": expiry,
            },
        )
        for i in range(2)
    ]
    import_bytes(cpl_csv(rows))
    certificate = AssuranceCertificate.objects.get(number=NUMBER)
    model = certificate.device_models.order_by("pk").first()
    extract = (
        "Device Model,Supplier Party ID,Device Count,As Of\n"
        f"{'/'.join(model.identity)},SUPA,1200,{datetime.date.today().isoformat()}\n"
    )
    inventory_import(
        actor=users["secretariat"],
        binary=io.BytesIO(extract.encode()),
        file_name="inventory.csv",
        file_sha256="0" * 64,
    )
    return certificate


def test_open_a_case_from_the_flagged_certificate_typing_only_the_summary(page):
    users = {key: make_user(key) for key in ("secretariat", "supplier_a", "network")}
    certificate = certificate_on_two_models(users)
    withdrawn_on = datetime.date.today() - datetime.timedelta(days=1)

    sign_in(page, "secretariat")
    page.goto(f"/cpl/certificates/{certificate.pk}/")
    page.get_by_label("Withdrawn").check()
    date = page.get_by_role("group", name="Date of the event")
    date.get_by_label("Day").fill(str(withdrawn_on.day))
    date.get_by_label("Month").fill(str(withdrawn_on.month))
    date.get_by_label("Year").fill(str(withdrawn_on.year))
    page.get_by_label("Reason").fill(REASON)
    page.get_by_role("button", name="Record event").click()
    # Asked first: a withdrawal cannot be undone.
    expect(page.get_by_role("heading", name="Record this withdrawal?")).to_be_visible()
    page.get_by_role("button", name="Record the withdrawal").click()
    expect(page.get_by_text("flagged for the SSC's risk-based decision")).to_be_visible()

    page.goto("/")
    page.get_by_role("link", name=f"Open a case for {NUMBER}").click()
    expect(page.get_by_role("heading", name="Open a CPA non-compliance case")).to_be_visible()
    # What the portal knows is there already.
    expect(page.get_by_label("CPA certificate withdrawn")).to_be_checked()
    expect(page.get_by_label("Reason given for the withdrawal")).to_have_value(REASON)
    for model in certificate.device_models.all():
        expect(page.get_by_label(str(model), exact=True)).to_be_checked()
    expect(page.get_by_label("Supplier A Energy")).to_be_checked()
    expect(page.get_by_label("Network Operator")).not_to_be_checked()

    # The NCSC's severity is a choice the portal cannot know; the summary is the only text.
    page.get_by_label("High").check()
    page.get_by_label("Summary", exact=True).fill(SUMMARY)
    page.get_by_role("button", name="Open case").click()

    case = Case.objects.get(certificate=certificate)
    expect(page.get_by_role("heading", name=f"Case {case.reference}")).to_be_visible()
    banner = page.locator(".govuk-notification-banner--success")
    expect(banner).to_contain_text(f"Case {case.reference} opened for {NUMBER}")
    expect(banner).to_contain_text("Next: add the NCSC's advice and other evidence")
    assert (case.event, case.event_date, case.reason) == ("withdrawn", withdrawn_on, REASON)
    assert case.summary == SUMMARY and case.severity == "high"
    assert set(case.device_models.all()) == set(certificate.device_models.all())
    assert list(case.addressed_to.all()) == [users["supplier_a"].organisation]
