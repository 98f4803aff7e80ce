"""Journey: a sealed ballot. Three members vote in Chromium and nobody, the chair included, sees
a tally while it is open; one member changes their vote with a reason; the chair closes it and
the record shows each vote's history and the decision snapshot with its SHA-256."""

import datetime

import pytest
from playwright.sync_api import expect

from governance import services
from governance.models import DecisionRecord, VoteChoice

from ..helpers import cpa_case, make_user
from .conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("committed_db")]


def cast(page, ballot_url, choice: str, reason: str = "", first: bool = True):
    page.goto(ballot_url)
    expect(page.get_by_text("Votes and tallies are sealed until the ballot closes")).to_be_visible()
    page.get_by_label(choice).check()
    page.get_by_label("Reason for your vote (optional)").fill(reason)
    if first:
        page.get_by_label("I have no conflict of interest on this case").check()
    page.get_by_role("button", name="Vote" if first else "Change my vote").click()
    banner = page.locator("#vote-panel .govuk-notification-banner")
    expect(banner).to_contain_text("Your vote is recorded.")
    expect(banner).to_be_focused()


def test_sealed_ballot_keeps_votes_hidden_until_close_and_records_the_history(page):
    users = {key: make_user(key) for key in ("secretariat", "chair", "member", "supplier_a")}
    members = [users["member"], make_user("member", "member2"), make_user("member", "member3")]
    case = cpa_case(users)
    services.case_transition(actor=users["secretariat"], case=case, name="start_assessment")
    suspend, plans = VoteChoice.SUSPEND.label, VoteChoice.REMEDIAL_PLAN.label

    sign_in(page, "chair")
    page.goto(f"/cases/{case.pk}/")
    closes = (datetime.datetime.now() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Voting closes at").fill(closes)
    page.get_by_label("Simple majority").check()
    page.get_by_role("button", name="Open a ballot").click()
    page.get_by_role("button", name="Open the ballot").click()  # confirm
    expect(page.get_by_role("heading", name="Ballot 1")).to_be_visible()
    ballot_url = page.url

    sign_in(page, members[0].username)
    cast(page, ballot_url, suspend, "Remote key extraction is possible")
    sign_in(page, members[1].username)
    cast(page, ballot_url, suspend)
    # member2 sees their own vote, who has not voted, and nobody's choice or reason.
    expect(page.get_by_text(f"You voted: {suspend}.")).to_be_visible()
    expect(page.get_by_text("member3 — not voted")).to_be_visible()
    # The members list changed with the vote, without a reload.
    expect(page.get_by_text("member2 — voted")).to_be_visible()
    expect(page.get_by_text("Remote key extraction")).to_have_count(0)
    sign_in(page, members[2].username)
    cast(page, ballot_url, plans)

    # The chair, while the ballot is open: who voted, never how; no result.
    sign_in(page, "chair")
    page.goto(ballot_url)
    expect(page.get_by_text("0 not yet voted")).to_be_visible()
    expect(page.get_by_role("heading", name="Result")).to_have_count(0)
    expect(page.get_by_text("Remote key extraction")).to_have_count(0)

    # member changes their vote, with a reason.
    sign_in(page, members[0].username)
    cast(page, ballot_url, plans, "NCSC confirms a fix ships within weeks", first=False)
    expect(page.get_by_text(f"You voted: {plans}.")).to_be_visible()

    sign_in(page, "chair")
    page.goto(ballot_url)
    page.get_by_role("button", name="Close the ballot now").click()
    page.get_by_role("button", name="Close the ballot and count the votes").click()
    expect(page.get_by_role("heading", name="Result")).to_be_visible()
    expect(page.get_by_role("heading", name="Votes and their history")).to_be_visible()
    history = page.get_by_role("row", name="member", exact=False).filter(
        has_text="NCSC confirms a fix"
    )
    expect(history).to_contain_text(f"Cast: {suspend} (reason: Remote key extraction is possible)")
    expect(history).to_contain_text(f"Changed: {plans} (reason: NCSC confirms a fix ships")
    record = DecisionRecord.objects.get(case=case)
    assert record.decision == "remedial_plan"
    expect(page.get_by_role("heading", name="Decision snapshot")).to_be_visible()
    expect(page.get_by_text(record.snapshot_sha256)).to_be_visible()
