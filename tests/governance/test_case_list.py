"""Issue 12: the case list filters by state, severity and device type and searches; severity,
an SSC-only detail, is neither offered nor applied for anyone who may not read it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cpl.models import DeviceModel
from governance import services
from governance.models import Case

from ..helpers import cpa_case

pytestmark = pytest.mark.django_db


def references(response) -> list[str]:
    return sorted(case.reference for case in response.context["cases"])


@pytest.fixture
def two_cases(committee):
    first = cpa_case(committee)  # severity high, in "opened"
    second = cpa_case(committee)
    Case.objects.filter(pk=second.pk).update(severity="low")
    services.case_transition(
        actor=committee["secretariat"], case=Case.objects.get(pk=second.pk), name="start_assessment"
    )
    return first, second


def test_filters_and_search_narrow_the_list(committee, client_for, two_cases):
    first, second = two_cases
    client = client_for("secretariat")
    assert references(client.get("/cases/")) == sorted([first.reference, second.reference])
    assert references(client.get("/cases/?state=assessment")) == [second.reference]
    assert references(client.get("/cases/?severity=high")) == [first.reference]
    assert references(client.get(f"/cases/?q={first.reference.lower()}")) == [first.reference]
    model = DeviceModel.objects.filter(cases=first).first()
    by_model = references(client.get(f"/cases/?q={model.model_id}"))
    assert first.reference in by_model
    assert references(client.get(f"/cases/?device_type={model.device_type}&state=opened")) == [
        first.reference
    ]
    empty = client.get("/cases/?q=no-such-thing")
    assert "No cases match these filters." in empty.content.decode()
    assert 'href="/cases/">Clear filters' in empty.content.decode()


def test_a_party_is_never_offered_severity_nor_filtered_by_it(committee, client_for, two_cases):
    client = client_for("supplier_a")
    everything = references(client.get("/cases/"))
    assert everything  # addressed to supplier A
    page = client.get("/cases/?severity=high")
    assert 'name="severity"' not in page.content.decode()
    assert references(page) == everything  # the filter is ignored, so it reveals nothing


def test_a_conflicted_member_cannot_learn_severity_by_filtering(committee, client_for, two_cases):
    first, second = two_cases
    services.conflict_declare(
        actor=committee["member"], case=first, has_conflict=True, reason="Employed by SUPA"
    )
    client = client_for("member")
    assert first.reference not in references(client.get("/cases/?severity=high"))
    assert references(client.get("/cases/?severity=low")) == [second.reference]


def test_bad_filter_values_show_an_error_and_the_unfiltered_list(committee, client_for, two_cases):
    client = client_for("secretariat")
    for query in ("?state=nonsense", "?q=" + "x" * 500, "?device_type=<script>"):
        response = client.get("/cases/" + query)
        assert response.status_code == 200
        assert "There is a problem" in response.content.decode()
        assert len(references(response)) == 2
    assert client.get("/cases/?q=%00").status_code == 400  # NUL bytes never reach a query


def test_the_list_reads_a_fixed_number_of_queries(committee, client_for):
    client = client_for("secretariat")
    for _ in range(2):
        cpa_case(committee)
    client.get("/cases/")  # the session's first request reads more
    with CaptureQueriesContext(connection) as few:
        client.get("/cases/?q=CPA&state=opened")
    for _ in range(3):
        cpa_case(committee)
    with CaptureQueriesContext(connection) as many:
        client.get("/cases/?q=CPA&state=opened")
    assert len(many) == len(few)
