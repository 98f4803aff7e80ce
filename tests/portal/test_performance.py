"""Query ceilings of the pages `make bench-web` drives, and the cached roles and permissions
behind them: what a user may do is read once per change, not once per request, and a change
takes effect on the next request."""

import pytest
from django.contrib.auth.models import Group, Permission
from guardian.shortcuts import assign_perm, remove_perm

from governance.models import EvidenceDocument
from portal.roles import Role

from ..helpers import committee_at_work, cpa_case, cpl_csv, cpl_row, import_bytes

pytestmark = pytest.mark.django_db

# A signed-in page with nothing else to read: the session and the user (database sessions
# without Redis; the cache holds them with REDIS_URL), the page's own query and the
# organisation in the header. Roles, permissions and the second-factor device come from the
# cache.
TRIVIAL_QUERIES = 4
# The secretariat's or the chair's dashboard: one query (or a page of prefetches) per panel.
DASHBOARD_QUERIES = 25


def fill_register(count: int, start: int = 0):
    import_bytes(cpl_csv([cpl_row(start + i) for i in range(count)]))


def test_a_signed_in_page_reads_no_roles_permissions_or_device(
    client_for, django_assert_max_num_queries
):
    client = client_for("secretariat")
    client.get("/inbox/")  # the first request fills the cache
    with django_assert_max_num_queries(TRIVIAL_QUERIES) as queries:
        assert client.get("/inbox/").status_code == 200
    tables = " ".join(q["sql"] for q in queries.captured_queries)
    for table in ("auth_group", "auth_permission", "otp_totp_totpdevice"):
        assert table not in tables


def test_a_revoked_role_is_refused_on_the_next_request(client_for, users):
    client = client_for("secretariat")
    assert client.get("/cpl/import/").status_code == 200
    users["secretariat"].groups.remove(Group.objects.get(name=Role.SECRETARIAT))
    assert client.get("/cpl/import/").status_code == 403


def test_a_role_granted_through_the_group_takes_effect_on_the_next_request(client_for, users):
    client = client_for("supplier_a")
    assert client.get("/cpl/import/").status_code == 403
    Group.objects.get(name=Role.SECRETARIAT).user_set.add(users["supplier_a"])
    assert client.get("/cpl/import/").status_code == 200
    Group.objects.get(name=Role.SECRETARIAT).user_set.clear()
    assert client.get("/cpl/import/").status_code == 403


def test_a_permission_taken_from_the_group_is_refused_on_the_next_request(client_for):
    client = client_for("secretariat")
    assert client.get("/cpl/import/").status_code == 200
    group = Group.objects.get(name=Role.SECRETARIAT)
    group.permissions.remove(Permission.objects.get(codename="import_cpl"))
    assert client.get("/cpl/import/").status_code == 403


def test_an_object_permission_revoked_is_refused_on_the_next_request(users, pdf_document):
    from governance.policies import evidence

    member = users["supplier_b"]
    assign_perm("view_evidencedocument", member, pdf_document)
    member = type(member).objects.get(pk=member.pk)  # a new request: the user is read again
    assert member.has_perm("governance.view_evidencedocument", pdf_document)
    remove_perm("view_evidencedocument", member, pdf_document)
    member = type(member).objects.get(pk=member.pk)
    assert not member.has_perm("governance.view_evidencedocument", pdf_document)
    assert evidence is not None


@pytest.fixture
def pdf_document(users):
    from governance.services import evidence_upload

    from ..helpers import pdf_upload

    case = cpa_case(users)
    return evidence_upload(
        actor=users["secretariat"],
        case=case,
        title="Named advice",
        classification=EvidenceDocument.Classification.NAMED,
        upload=pdf_upload(),
    )


def test_a_removed_authenticator_ends_the_verified_session(client_for, users):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = client_for("chair")
    assert client.get("/inbox/").status_code == 200
    TOTPDevice.objects.filter(user=users["chair"]).delete()
    response = client.get("/inbox/")
    assert response.status_code == 302 and "/accounts/" in response["Location"]


def _dashboard_queries(client, django_assert_max_num_queries, ceiling):
    client.get("/")
    with django_assert_max_num_queries(ceiling) as queries:
        assert client.get("/").status_code == 200
    return len(queries)


@pytest.mark.parametrize("key, ceiling", [("secretariat", DASHBOARD_QUERIES), ("supplier_a", 14)])
def test_the_dashboard_reads_the_same_whatever_the_register_size(
    client_for, users, key, ceiling, django_assert_max_num_queries
):
    cpa_case(users)
    client = client_for(key)
    fill_register(10)
    small = _dashboard_queries(client, django_assert_max_num_queries, ceiling)
    fill_register(190, start=10)
    assert _dashboard_queries(client, django_assert_max_num_queries, ceiling) == small


@pytest.mark.parametrize("key", ["secretariat", "chair"])
def test_the_dashboard_reads_the_same_whatever_the_committee_and_case_load(
    client_for, committee, key, django_assert_max_num_queries
):
    """Open ballots, each member's votes and declarations, cases in every panel: a panel reads
    a page of rows, and the ballots' "not voted" lists read the members once."""
    committee_at_work(committee, members=2, cases=2)
    client = client_for(key)
    small = _dashboard_queries(client, django_assert_max_num_queries, DASHBOARD_QUERIES)
    committee_at_work(committee, members=38, cases=28, start=2)
    assert _dashboard_queries(client, django_assert_max_num_queries, DASHBOARD_QUERIES) == small


def test_the_flagged_certificates_panel_reads_only_flagged_certificates(
    client_for, users, django_assert_max_num_queries
):
    cpa_case(users, models=3)  # one expired CPA certificate shared by three listed models
    fill_register(50)
    client = client_for("secretariat")
    client.get("/")
    with django_assert_max_num_queries(DASHBOARD_QUERIES) as queries:
        body = client.get("/").content.decode()
    assert "CPA-SHARED-1" in body
    flagged = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "cpl_assurancecertificate"' in q["sql"] and '"kind" = ' in q["sql"]
    ]
    assert flagged and all("IN (" in sql and "expired" in sql for sql in flagged)


def test_case_and_ballot_pages_read_a_bounded_number_of_queries(
    client_for, committee, django_assert_max_num_queries
):
    import datetime

    from django.utils import timezone

    from governance import services

    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    ballot = services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(days=1)
    )
    client = client_for("chair")
    client.get("/")
    with django_assert_max_num_queries(20):
        assert client.get(f"/cases/{case.pk}/").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(f"/ballots/{ballot.pk}/").status_code == 200
