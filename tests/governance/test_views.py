"""The case and ballot pages: voting in the browser (htmx), closing, and their query counts."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance import services
from governance.models import Ballot, Case, Vote

from ..helpers import cpa_case, make_user, party_summary_approved, pdf_upload, sign_in

pytestmark = pytest.mark.django_db


def ballot_for(users):
    case = cpa_case(users)
    services.case_transition(actor=users["secretariat"], case=case, name="start_assessment")
    party_summary_approved(users, case)  # a decision is issued only with it
    return services.ballot_open(
        actor=users["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(days=2)
    )


def test_members_vote_with_htmx_and_see_the_panel_update(committee, client):
    ballot = ballot_for(committee)
    services.conflict_declare(
        actor=committee["member"], case=ballot.case, has_conflict=False, reason=""
    )
    sign_in(client, committee["member"])
    page = client.get(f"/ballots/{ballot.pk}/").content.decode()
    assert 'hx-post="/ballots/' in page
    response = client.post(
        f"/ballots/{ballot.pk}/vote/", {"choice": "suspend"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200 and body.startswith('<section id="vote-panel"')
    assert "Your vote is recorded" in body and "Change my vote" in body
    client.post(f"/ballots/{ballot.pk}/vote/", {"choice": "remedial_plan"}, HTTP_HX_REQUEST="true")
    assert Vote.objects.get(ballot=ballot).choice == "remedial_plan"
    bad = client.post(f"/ballots/{ballot.pk}/vote/", {"choice": "maybe"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400 and "Choose one of the options" in bad.content.decode()


def test_a_conflicted_member_finds_no_ballot_and_no_vote_row(committee, client):
    ballot = ballot_for(committee)
    services.conflict_declare(
        actor=committee["member2"],
        case=ballot.case,
        has_conflict=True,
        reason="Employed by Supplier A",
    )
    sign_in(client, committee["member2"])
    response = client.post(
        f"/ballots/{ballot.pk}/vote/", {"choice": "suspend"}, HTTP_HX_REQUEST="true"
    )
    # A conflicted member sees what a Party would: the ballot is not theirs to know of.
    assert response.status_code == 404
    assert client.post(f"/ballots/{ballot.pk}/vote/", {"choice": "suspend"}).status_code == 404
    assert not Vote.objects.exists()


def test_chair_closes_from_the_ballot_page(committee, client_for):
    ballot = ballot_for(committee)
    for member in committee["members"][:2]:
        services.conflict_declare(actor=member, case=ballot.case, has_conflict=False, reason="")
        services.vote_cast(actor=member, ballot=ballot, choice="remedial_plan")
    client = client_for("chair")
    asked = client.post(f"/ballots/{ballot.pk}/close/")  # asked first: nothing counted yet
    assert asked.status_code == 200 and "Close ballot 1 now?" in asked.content.decode()
    assert "2 of 3 eligible members" in asked.content.decode()
    assert Ballot.objects.get(pk=ballot.pk).state == "open"
    assert client.post(f"/ballots/{ballot.pk}/close/", {"confirmed": "yes"}).status_code == 302
    again = client.post(f"/ballots/{ballot.pk}/close/", {"confirmed": "yes"})
    assert again.status_code == 409 and "This ballot is closed" in again.content.decode()
    page = client.get(f"/ballots/{ballot.pk}/").content.decode()
    assert "Require CPA Certificate Remedial Plans" in page and "Issue the decision notice" in page
    assert client_for("member").post(f"/ballots/{ballot.pk}/close/").status_code == 403


def test_chair_issues_the_decision_from_the_browser(committee, client_for):
    ballot = ballot_for(committee)
    for member in committee["members"]:
        services.conflict_declare(actor=member, case=ballot.case, has_conflict=False, reason="")
        services.vote_cast(actor=member, ballot=ballot, choice="suspend")
    services.ballot_close(actor=committee["chair"], ballot=ballot)
    client = client_for("chair")
    url = f"/cases/{ballot.case_id}/decision/"
    assert client.post(url, {"reasons": ""}).status_code == 400
    data = {
        "reasons": "Remote exploit",
        "security_factors": "Critical",
        "operational_impact": "Limited",
        "party_summary": "A remotely exploitable weakness",
    }
    # Issuing is irreversible: the chair confirms first, and nothing is issued until then.
    ask = client.post(url, data)
    assert ask.status_code == 200 and "Issue the decision notice now?" in ask.content.decode()
    assert not Case.objects.get(pk=ballot.case_id).decision_record.issued_at
    response = client.post(
        url,
        {**data, "confirmed": "yes"},
        follow=True,
    )
    assert "Decision notice issued" in response.content.decode()
    assert {m.status for m in ballot.case.device_models.all()} == {"removed"}


def test_case_open_form(committee, client_for):
    case = cpa_case(committee)
    client = client_for("secretariat")
    url = f"/cases/open/{case.certificate_id}/"
    assert client.get(url).status_code == 200
    bad = client.post(url, {"event": "expired"})
    assert bad.status_code == 400 and "Choose at least one device model" in bad.content.decode()
    model = case.device_models.first()
    response = client.post(
        url,
        {
            "device_models": [model.pk],
            "event": "expired",
            "event_date": "2026-11-20",
            "reason": "Lapsed",
            "severity": "medium",
            "summary": "Second look",
        },
    )
    assert response.status_code == 302


def populate(committee, size):
    """`size` members (one conflicted), evidence documents and votes on one case."""
    members = [make_user("member", f"m{size}-{i}") for i in range(size)]
    ballot = ballot_for(committee)
    case = ballot.case
    for i, member in enumerate(members):
        services.conflict_declare(
            actor=member,
            case=case,
            has_conflict=(i == 0),
            reason="Supplier employee" if i == 0 else "",
        )
        if i:
            services.vote_cast(actor=member, ballot=ballot, choice=("suspend", "abstain")[i % 2])
    for i in range(size):
        services.evidence_upload(
            actor=committee["secretariat"],
            case=case,
            title=f"Doc {i}",
            classification=("ssc-only", "parties")[i % 2],
            upload=pdf_upload(),
        )
    services.case_comment(actor=committee["chair"], case=case, text="Noted")
    return case, ballot


def count(client, path):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("size", [5, 50])
def test_case_and_ballot_pages_run_constant_queries(committee, client_for, size):
    case, ballot = populate(committee, size)
    chair = client_for("chair")
    chair.get(f"/cases/{case.pk}/")  # warm the session and Django's content-type cache
    # What every page reads (the session is one query on the database, none from Redis).
    floor = count(chair, "/signing-key/")
    assert count(chair, f"/cases/{case.pk}/") - floor == CASE_PAGE_QUERIES
    assert count(chair, f"/ballots/{ballot.pk}/") - floor == BALLOT_PAGE_QUERIES
    assert Ballot.objects.get(pk=ballot.pk).votes.count() == size - 1


# Beyond what every page reads (session, user, organisation in the header; roles, permissions and
# the second factor's device are cached per access version: portal.permission_cache).
# Case page: the case with certificate, opener, acting chair and decision record, device
# models with manufacturers, parties, declarations with members, experts (with the expert),
# comments with authors, ballots, their votes (whether the member may still declare), plan
# requirements (with the supplier), referrals, latest inventory snapshot, the chair's visible
# documents, representations (their documents are prefetched only when there are some),
# recommendations = 14.
CASE_PAGE_QUERIES = 14
# Ballot page (open): the ballot with case and acting chair, votes with members, declarations
# with members = 3 (the electorate is frozen on the ballot; declaring reads no ballot now that a
# conflict after voting removes the vote).
BALLOT_PAGE_QUERIES = 3
