"""Journey: a member declares a conflict of interest on a case; the chair opens a ballot; the
two other members find it on their dashboards with the ballot-opened notice and vote; the
conflicted member is offered neither the vote nor, after the remedial-plan decision, the review
of a supplier's plan, while an unconflicted member is offered both."""

import datetime
import io

import pytest
from playwright.sync_api import expect

from cpl.inventory import inventory_import
from governance import plans, services
from governance.models import PlanRequirement, Vote
from portal.models import NoticeDelivery

from ..helpers import PDF_BYTES, cpa_case, party_summary_approved, pdf_upload
from .conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("committed_db")]

REMEDIAL = "Require CPA Certificate Remedial Plans"


def load_inventory(committee, case):
    """A DCC extract in which both suppliers (A installed, B gained on change of supplier) are
    responsible for devices of every model of the case."""
    rows = "".join(
        f"{'/'.join(model.identity)},{party},{count},2026-11-01\n"
        for model in case.device_models.order_by("pk")
        for party, count in (("SUPA", 600), ("SUPB", 150))
    )
    extract = "Device Model,Supplier Party ID,Device Count,As Of\n" + rows
    inventory_import(
        actor=committee["secretariat"],
        binary=io.BytesIO(extract.encode()),
        file_name="inventory.csv",
        file_sha256="0" * 64,
    )


def panel(page, title):
    # Each dashboard panel is a <section> labelled by its heading (which may carry a count).
    return page.get_by_role("region", name=title)


def test_conflicted_member_is_offered_neither_the_vote_nor_the_plan_review(
    page, committee, expected_console_errors
):
    # The conflicted member's refused pages (ballot, plan) answer 404 on purpose.
    expected_console_errors.append("status of 404")
    case = cpa_case(committee)
    load_inventory(committee, case)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    party_summary_approved(committee, case)  # the decision notice carries it
    member, member2, member3 = committee["members"]
    ballot_opened = f"Vote: ballot 1 on {case.reference} is open"

    # 1. member3 declares a conflict of interest on the case page.
    sign_in(page, member3.username)
    page.goto(f"/cases/{case.pk}/")
    page.get_by_label("Yes, I have a conflict of interest").check()
    page.get_by_label("If yes, why").fill("I work for Supplier A, which has these meters")
    page.get_by_role("button", name="Declare").click()
    expect(page.get_by_text("Your declaration is recorded.")).to_be_visible()

    # 2. The chair opens a ballot from the case page.
    sign_in(page, "chair")
    page.goto(f"/cases/{case.pk}/")
    closes = (datetime.datetime.now() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Voting closes at").fill(closes)
    page.get_by_role("button", name="Open a ballot").click()
    page.get_by_role("button", name="Open the ballot").click()  # confirm
    expect(page.get_by_role("heading", name="Ballot 1")).to_be_visible()
    ballot_url = page.url

    # 3. The two unconflicted members see the ballot and the notice, and vote.
    for voter, declare_first in ((member, False), (member2, True)):
        sign_in(page, voter.username)
        notices = panel(page, "Notices to acknowledge")
        expect(notices.get_by_role("link", name=ballot_opened)).to_be_visible()
        page.get_by_role("link", name="Inbox").first.click()
        expect(page.get_by_role("link", name=ballot_opened)).to_be_visible()
        expect(
            page.get_by_role("row").filter(has_text=ballot_opened).get_by_text("To acknowledge")
        ).to_be_visible()

        if declare_first:
            # Declares "no conflict" on the case page first; the vote form then asks no more.
            page.goto(f"/cases/{case.pk}/")
            page.get_by_label("No conflict").check()
            page.get_by_role("button", name="Declare").click()
            expect(page.get_by_text("Your declaration is recorded.")).to_be_visible()

        page.goto("/")
        ballots = panel(page, "Ballots waiting for your vote")
        ballots.get_by_role("link", name=f"Vote on {case.reference}").click()
        expect(page.get_by_role("heading", name="Ballot 1")).to_be_visible()
        page.get_by_label(REMEDIAL).check()
        no_conflict = page.get_by_label("I have no conflict of interest on this case")
        if declare_first:
            expect(no_conflict).to_have_count(0)
        else:
            no_conflict.check()
        page.get_by_role("button", name="Vote", exact=True).click()
        # htmx swaps the panel in place.
        expect(page.get_by_text("Your vote is recorded.")).to_be_visible()
        expect(page.get_by_text(f"You voted: {REMEDIAL}")).to_be_visible()
        expect(page.get_by_role("button", name="Change my vote")).to_be_visible()

    # 4. The conflicted member is not asked to vote and cannot.
    sign_in(page, member3.username)
    expect(page.get_by_role("heading", name="What is waiting for you")).to_be_visible()
    expect(panel(page, "Ballots waiting for your vote")).to_have_count(0)
    expect(page.get_by_role("link", name=f"Vote on {case.reference}")).to_have_count(0)
    expect(page.get_by_role("link", name=ballot_opened)).to_have_count(0)
    # A conflicted member sees only what a Party would: no ballot page (issue 11).
    assert page.goto(ballot_url).status == 404
    expect(page.get_by_role("button", name="Vote", exact=True)).to_have_count(0)
    expect(page.get_by_label(REMEDIAL)).to_have_count(0)

    assert set(
        Vote.objects.filter(ballot__case=case).values_list("member__username", "choice")
    ) == {
        (member.username, "remedial_plan"),
        (member2.username, "remedial_plan"),
    }
    opened = NoticeDelivery.objects.filter(notice__kind="ballot_opened")
    assert set(opened.values_list("recipient__username", flat=True)) >= {
        member.username,
        member2.username,
    }
    assert not opened.filter(recipient=member3).exists()

    # 5. The chair closes the ballot and issues the remedial-plan decision.
    sign_in(page, "chair")
    page.goto(ballot_url)
    page.get_by_role("button", name="Close the ballot now").click()
    page.get_by_role("button", name="Close the ballot and count the votes").click()
    expect(page.get_by_text(f"Ballot closed: {REMEDIAL}.")).to_be_visible()
    page.get_by_role("link", name="Issue the decision notice").click()
    page.get_by_label("Reasons for the decision").fill("Exploitable only with local access")
    page.get_by_label("Security factors considered").fill("NCSC rates it medium")
    page.get_by_label("Operational impact considered").fill("Suspension would strand 1,500 homes")
    page.get_by_label("Reasons for Parties").fill("Exploitable only with local access")
    page.get_by_role("button", name="Issue decision notice").click()
    page.get_by_role("button", name="Issue the decision notice").click()  # confirmed
    expect(page.get_by_text("Decision notice issued:")).to_be_visible()
    requirements = {r.supplier.party_id: r for r in PlanRequirement.objects.filter(case=case)}
    assert set(requirements) == {"SUPA", "SUPB"}

    # Supplier A submits its plan (through the service: the upload has its own journey).
    plans.plan_submit(
        actor=committee["supplier_a"],
        requirement=requirements["SUPA"],
        summary="Firmware 2.1 over the air, then replacements",
        upload=pdf_upload("remedial-plan.pdf", PDF_BYTES),
        milestones=[
            {
                "description": "Firmware 2.1 to every meter",
                "target_date": datetime.date(2027, 3, 1),
                "devices_covered": 1200,
            }
        ],
    )
    plan_link = f"{case.reference} — Supplier A Energy"
    plan_url = f"/plans/{requirements['SUPA'].pk}/"

    # The conflicted member is not offered the review, on the dashboard or on the plan page.
    sign_in(page, member3.username)
    expect(page.get_by_role("heading", name="What is waiting for you")).to_be_visible()
    expect(panel(page, "Remedial plans to review")).to_have_count(0)
    expect(page.get_by_role("link", name=plan_link)).to_have_count(0)
    # ... nor invited to it by a notice.
    expect(
        page.get_by_role("link", name=f"Remedial plan v1 to review: {case.reference}")
    ).to_have_count(0)
    # ... nor shown the supplier's plan: a Party sees only its own (issue 11).
    assert page.goto(plan_url).status == 404
    expect(page.get_by_text("Firmware 2.1 over the air, then replacements")).to_have_count(0)
    expect(page.get_by_role("button", name="Record review")).to_have_count(0)
    expect(page.get_by_label("Approve the plan", exact=True)).to_have_count(0)

    # An unconflicted member is offered it in both places.
    sign_in(page, member.username)
    panel(page, "Remedial plans to review").get_by_role("link", name=plan_link).click()
    expect(
        page.get_by_role("heading", name=f"Remedial plan for case {case.reference}")
    ).to_be_visible()
    expect(page.get_by_label("Approve the plan", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Record review")).to_be_visible()
