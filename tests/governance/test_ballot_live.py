"""The ballot page's members list follows the vote while the page is open (issue 12): an htmx
poll of governance:ballot-voters says who has voted, never how, answers 204 while nothing
changed, says when the ballot has closed, and is given only to whoever may see the ballot."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from governance import services

from ..helpers import cpa_case

pytestmark = pytest.mark.django_db

CHOICE_LABELS = ("Remove from the CPL", "Require CPA Certificate Remedial Plans", "Abstain")


@pytest.fixture
def ballot(committee):
    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    return services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(days=1)
    )


def vote(member, ballot, choice="suspend"):
    services.vote_cast(actor=member, ballot=ballot, choice=choice, no_conflict=True)


def poll_url(html: str) -> str:
    """The URL the page's members list polls, as htmx would ask it."""
    found = re.search(r'id="ballot-voters"[^>]*hx-get="([^"]+)"[^>]*hx-trigger="every 15s"', html)
    assert found, "the members list does not poll"
    return found.group(1).replace("&amp;", "&")


def poll(client, url):
    return client.get(url, headers={"HX-Request": "true"})


def test_the_poll_is_quiet_until_someone_votes_then_says_who_not_how(client_for, committee, ballot):
    chair = client_for("chair")
    page = chair.get(reverse("governance:ballot", args=[ballot.pk])).content.decode()
    assert 'id="ballot-announce"' in page and 'aria-live="polite"' in page
    url = poll_url(page)
    response = poll(chair, url)
    assert response.status_code == 204 and response.content == b""

    vote(committee["member2"], ballot, "suspend")
    response = poll(chair, url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "member2 — voted" in html and "member3 — <strong>not voted</strong>" in html
    assert "1 of 3 eligible members has voted" in html
    assert 'hx-swap-oob="innerHTML"' in html  # the sentence goes into the page's live region
    assert not any(label in html for label in CHOICE_LABELS)  # sealed: who, never how
    assert "suspend" not in html
    # The answer polls on from what it now shows: quiet again until the next change.
    assert poll(chair, poll_url(html)).status_code == 204
    vote(committee["member2"], ballot, "remedial_plan")  # a changed vote changes nothing shown
    assert poll(chair, poll_url(html)).status_code == 204


def test_a_vote_in_the_page_carries_the_new_state_so_the_next_poll_is_quiet(
    client_for, committee, ballot
):
    member = client_for("member")
    response = member.post(
        reverse("governance:vote", args=[ballot.pk]),
        {"choice": "remedial_plan", "no_conflict": "on"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="ballot-voters" hx-swap-oob="true"' in html
    assert poll(member, poll_url(html)).status_code == 204


def test_the_poll_says_when_the_ballot_closed_and_stops(client_for, committee, ballot):
    chair = client_for("chair")
    url = poll_url(chair.get(reverse("governance:ballot", args=[ballot.pk])).content.decode())
    for member in committee["members"]:
        vote(member, ballot, "suspend")
    services.ballot_close(actor=committee["chair"], ballot=ballot)
    html = poll(chair, url).content.decode()
    assert "Ballot 1 has closed. Reload the page to see the result." in html
    assert reverse("governance:ballot", args=[ballot.pk]) in html
    assert 'id="ballot-status" hx-swap-oob="true"' in html and "Voting closed" in html
    assert "hx-trigger" not in html  # no more polling once closed
    # Without JavaScript the page says the same on reload.
    page = chair.get(reverse("governance:ballot", args=[ballot.pk])).content.decode()
    assert "Voting closed" in page and "every 15s" not in page


@pytest.mark.parametrize(
    ("who", "status"),
    [("secretariat", 200), ("member", 200), ("supplier_a", 404), ("conflicted", 404)],
)
def test_only_who_may_see_the_ballot_gets_the_poll(client_for, committee, ballot, who, status):
    if who == "conflicted":
        services.conflict_declare(
            actor=committee["member3"], case=ballot.case, has_conflict=True, reason="Employed"
        )
        who = committee["member3"]
    url = reverse("governance:ballot-voters", args=[ballot.pk])
    assert poll(client_for(who), url).status_code == status


def test_the_poll_needs_a_signed_in_user(client, ballot):
    response = poll(client, reverse("governance:ballot-voters", args=[ballot.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
