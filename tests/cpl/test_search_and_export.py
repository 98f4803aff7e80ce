"""The register's search (same answers, no COUNT pass) and its exports (streamed, cached by
content)."""

import csv
import io

import pytest
from django.db.models import Exists, OuterRef, Q
from django.http import StreamingHttpResponse

from cpl import selectors
from cpl.models import AssuranceCertificate, DeviceModel

from ..helpers import cpl_csv, cpl_row, import_bytes, import_sample

pytestmark = pytest.mark.django_db


def old_search(query: str):
    """The search as it was (one OR over a join): the reference for the same answers."""
    return DeviceModel.objects.filter(
        Q(manufacturer__name__icontains=query)
        | Q(manufacturer__manufacturer_id__iexact=query)
        | Q(model_id__iexact=query)
        | Q(firmware_version__icontains=query)
        | Q(smets_chts_version__icontains=query)
        | Exists(
            AssuranceCertificate.objects.filter(
                device_models=OuterRef("pk"), number__icontains=query
            )
        )
    )


@pytest.mark.parametrize(
    "query",
    [
        "caledon",
        "CALEDON",
        "3e4f",
        "0000",
        "00000007",
        "smets2",
        "CPA-T-1",
        "zb-t-12",
        "%",
        "_",
        "nothing",
    ],
)
def test_search_finds_what_it_found_before(users, query):
    rows = [
        cpl_row(
            i,
            **({"Manufacturer ID": "3E4F", "Manufacturer Name": "Caledon Comms"} if i % 2 else {}),
        )
        for i in range(40)
    ]
    import_bytes(cpl_csv(rows))
    found = selectors.device_model_list(user=users["secretariat"], query=query)
    assert sorted(found.values_list("pk", flat=True)) == sorted(
        old_search(query).values_list("pk", flat=True)
    )


def test_search_on_the_sample_register_matches_the_old_search(users):
    import_sample()
    for query in ["GSME", "Caledon", "CPA-GSME-5992", "v5", "1A2B", "0100"]:
        found = selectors.device_model_list(user=users["supplier_a"], query=query)
        assert set(found.values_list("pk", flat=True)) == set(
            old_search(query).values_list("pk", flat=True)
        )


def test_the_list_pages_without_counting(client_for, django_assert_max_num_queries):
    import_bytes(cpl_csv([cpl_row(i, device_type="CHF") for i in range(120)]))
    client = client_for("supplier_a")
    client.get("/")
    with django_assert_max_num_queries(8) as queries:
        first = client.get("/cpl/?device_type=CHF&q=CPA-T")
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    page = first.context["page_obj"]
    assert len(first.context["device_models"]) == 50 and page.has_next
    assert "device_type=CHF&amp;q=CPA-T&amp;page=2" in first.content.decode()
    last = client.get("/cpl/?device_type=CHF&q=CPA-T&page=3")
    assert len(last.context["device_models"]) == 20 and not last.context["page_obj"].has_next
    assert client.get("/cpl/?page=4").status_code == 404
    assert client.get("/cpl/?page=abc").status_code == 404


def _csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.mark.parametrize("size", [10, 200])
def test_the_current_register_exports_streamed_in_a_fixed_number_of_queries(
    client_for, size, django_assert_max_num_queries
):
    import_bytes(cpl_csv([cpl_row(i, device_type="ESME") for i in range(size)]))
    client = client_for("supplier_a")
    client.get("/")
    with django_assert_max_num_queries(8):
        response = client.get("/cpl/export/csv/")
        rows = _csv_rows(response)
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"].startswith('attachment; filename="cpl-current-')
    expected = selectors.register_rows()
    assert len(rows) == len(expected) == size
    for exported, row in zip(rows, expected, strict=True):
        for column in ("Manufacturer ID", "Model ID", "Firmware Version", "CPA Certificate Number"):
            assert exported[column] == row[column]
        assert exported["DLMS Certificate Number"] == row["DLMS Certificate Number"] != ""


def test_streamed_rows_are_the_rows_published(users):
    import_sample()
    assert list(selectors.register_rows_streamed(chunk_size=7)) == selectors.register_rows()


def test_the_same_register_is_served_from_the_cache_until_it_changes(
    client_for, users, django_assert_max_num_queries
):
    import_bytes(cpl_csv([cpl_row(i) for i in range(30)]))
    client = client_for("supplier_a")
    first = b"".join(client.get("/cpl/export/csv/").streaming_content)
    with django_assert_max_num_queries(6) as queries:
        again = b"".join(client.get("/cpl/export/csv/").streaming_content)
    assert again == first
    assert not any("cpl_assurancecertificate_device_models" in q["sql"] for q in queries)
    import_bytes(cpl_csv([cpl_row(i) for i in range(31)]))  # one model more
    changed = b"".join(client.get("/cpl/export/csv/").streaming_content)
    assert changed != first and b"CPA-T-30" in changed


def test_a_published_version_is_served_from_the_cache(client_for, users):
    from cpl.services import cpl_version_publish

    import_bytes(cpl_csv([cpl_row(i) for i in range(12)]))
    version = cpl_version_publish(actor=users["secretariat"])
    client = client_for("dcc")
    for fmt in ("csv", "json", "xlsx"):
        url = f"/cpl/versions/{version.number}/download/{fmt}/"
        first = client.get(url)
        body = b"".join(first.streaming_content)
        assert first.status_code == 200 and body
        assert b"".join(client.get(url).streaming_content) == body
