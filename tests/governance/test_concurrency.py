"""Two chairs' close requests at the same moment produce exactly one decision (PostgreSQL)."""

import datetime
import threading

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from governance import services
from governance.models import Ballot, DecisionRecord

from ..helpers import cpa_case, make_user, sign_in

pytestmark = [
    pytest.mark.usefixtures("committed_db"),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks need PostgreSQL (CI runs it there)"
    ),
]


def test_two_concurrent_close_requests_make_one_decision(users):
    members = [users["member"], make_user("member", "member2"), make_user("member", "member3")]
    case = cpa_case(users)
    services.case_transition(actor=users["secretariat"], case=case, name="start_assessment")
    ballot = services.ballot_open(
        actor=users["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(days=1)
    )
    for member in members:
        services.conflict_declare(actor=member, case=case, has_conflict=False, reason="")
        services.vote_cast(actor=member, ballot=ballot, choice="suspend")

    start = threading.Barrier(2)
    statuses = []

    def close():
        client = Client()
        sign_in(client, users["chair"])
        try:
            start.wait()
            response = client.post(
                f"/ballots/{ballot.pk}/close/", {"confirmed": "yes"}, follow=True
            )
            statuses.append((response.status_code, "closed" in response.content.decode()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=close) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # The loser is told, whether it lost at the policy check or at the row lock.
    assert sorted(statuses) == [(200, True), (409, True)]
    assert DecisionRecord.objects.filter(case=case).count() == 1
    assert Ballot.objects.get(pk=ballot.pk).state == "closed"
