import datetime

import pytest

from ..helpers import cpl_csv, cpl_row, import_bytes, import_sample

pytestmark = pytest.mark.django_db


def test_secretariat_sees_expiring_certificates_and_cpl_changes(client_for):
    import_sample()
    soon = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    import_bytes(
        cpl_csv([cpl_row(7, **{"CPA Expiry Date": soon, "CPA Certificate Number": "CPA-SOON"})])
    )
    body = client_for("secretariat").get("/").content.decode()
    assert "Certificates expiring or due for renewal within 90 days" in body and "CPA-SOON" in body
    assert "CPL changes in the last 30 days" in body and "Suspended" in body
    assert "CPA certificates awaiting an SSC decision" in body


def test_chair_sees_cpa_flags_but_not_secretariat_panels(client_for):
    import_sample()
    body = client_for("chair").get("/").content.decode()
    assert "CPA certificates awaiting an SSC decision" in body
    assert "Certificates expiring or due for renewal within" not in body


def test_dcc_sees_cpl_changes(client_for):
    import_sample()
    body = client_for("dcc").get("/").content.decode()
    assert "CPL changes in the last 30 days" in body
    assert "awaiting an SSC decision" not in body


@pytest.mark.parametrize("role", ["supplier_a", "authority", "expert"])
def test_other_roles_see_nothing_waiting(client_for, role):
    import_sample()
    body = client_for(role).get("/").content.decode()
    assert "You have acknowledged every notice" in body
    assert "CPL changes" not in body and "CPA certificates" not in body


def test_chair_sees_open_cases_and_who_has_not_voted(committee, client_for):
    from django.utils import timezone

    from governance import services

    from ..helpers import cpa_case

    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    ballot = services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(hours=20)
    )
    services.conflict_declare(actor=committee["member"], case=case, has_conflict=False, reason="")
    services.vote_cast(actor=committee["member"], ballot=ballot, choice="suspend")
    body = client_for("chair").get("/").content.decode()
    assert "Open cases" in body and case.reference in body
    assert "Ballots you chair" in body and "Not voted: member2, member3" in body
    member_view = client_for(committee["member2"]).get("/").content.decode()
    assert (
        "Ballots waiting for your vote" in member_view
        and f"Vote on {case.reference}" in member_view
    )
    assert f"Vote on {case.reference}" not in client_for("member").get("/").content.decode()
