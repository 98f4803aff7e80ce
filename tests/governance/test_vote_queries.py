"""Casting a vote reads the ballot, its case and the case's declarations once."""

import contextlib
import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance import services
from governance.models import Vote

from ..helpers import committee_at_work, cpa_case

pytestmark = pytest.mark.django_db

VOTE_QUERIES = 13  # with who has voted, read once for the members list sent beside the panel


@contextlib.contextmanager
def at_most_statements(ceiling: int):
    """Reads and writes, not counting the transaction's own SAVEPOINT/RELEASE markers."""
    statements: list[str] = []
    with CaptureQueriesContext(connection) as captured:
        yield statements
    statements += [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN", "COMMIT"))
    ]
    assert len(statements) <= ceiling, "\n".join(statements)


@pytest.fixture
def ballot(committee):
    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    return services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(days=1)
    )


def test_a_vote_is_cast_in_at_most_thirteen_queries(client_for, committee, ballot):
    services.conflict_declare(
        actor=committee["member"], case=ballot.case, has_conflict=False, reason=""
    )
    client = client_for("member")
    client.get("/")
    with at_most_statements(VOTE_QUERIES):
        response = client.post(f"/ballots/{ballot.pk}/vote/", {"choice": "remedial_plan"})
    assert response.status_code == 302
    with at_most_statements(VOTE_QUERIES):
        client.post(f"/ballots/{ballot.pk}/vote/", {"choice": "suspend"})
    assert Vote.objects.get(ballot=ballot, member=committee["member"]).choice == "suspend"


def test_a_vote_on_a_missing_ballot_or_by_a_supplier_is_not_found(client_for, ballot):
    assert (
        client_for("member").post("/ballots/999999/vote/", {"choice": "suspend"}).status_code == 404
    )
    assert (
        client_for("supplier_a")
        .post(f"/ballots/{ballot.pk}/vote/", {"choice": "suspend"})
        .status_code
        == 404
    )
    assert not Vote.objects.exists()


def _vote(client, ballot, choice) -> int:
    with at_most_statements(VOTE_QUERIES) as statements:
        response = client.post(
            f"/ballots/{ballot.pk}/vote/",
            {"choice": choice, "no_conflict": "on"},
            headers={"HX-Request": "true"},
        )
    assert response.status_code == 200 and b"You voted" in response.content
    return len(statements)


def test_a_vote_reads_the_same_whatever_the_committee_and_its_votes(client_for, committee):
    """The first vote (confirming no conflict) and a change, as the ballot page's htmx POST:
    the re-rendered panel reads no member or vote list."""
    client = client_for("member")
    client.get("/")
    [few] = committee_at_work(committee, members=2, cases=1)
    first, change = _vote(client, few, "suspend"), _vote(client, few, "abstain")
    many = committee_at_work(committee, members=40, cases=30, start=2)[-1]
    assert (_vote(client, many, "suspend"), _vote(client, many, "abstain")) == (first, change)
    assert Vote.objects.get(ballot=many, member=committee["member"]).choice == "abstain"
