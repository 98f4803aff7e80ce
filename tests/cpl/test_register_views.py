"""Browsing the register: filters, search, pagination, detail pages and their query counts."""

import datetime

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cpl.models import CPLChangeNotice, DeviceModel

from ..helpers import cpl_csv, cpl_row, import_bytes, import_sample

pytestmark = pytest.mark.django_db


def fill_register(count: int):
    rows = [
        cpl_row(
            i,
            device_type=("ESME" if i % 3 == 0 else "CHF"),
            **({"Manufacturer ID": "3E4F", "Manufacturer Name": "Caledon Comms"} if i % 2 else {}),
        )
        for i in range(count)
    ]
    import_bytes(cpl_csv(rows))


def count_queries(client, path) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return len(queries)


# Every page, signed-in secretariat: the session (from the cache with REDIS_URL), the user, the
# user's organisation (page header); groups, permissions and the OTP device come from
# portal.permission_cache.
PAGE_QUERIES = 2 + (settings.SESSION_ENGINE == "django.contrib.sessions.backends.db")
# Register: one page of device models with manufacturers (no COUNT: one row more tells whether
# there is a next page), their certificates (prefetch), manufacturers for the filter.
REGISTER_QUERIES = PAGE_QUERIES + 3
# Device model: the model with its manufacturer, its certificates, its CPL change notices,
# its removals from the CPL, its history (audit events and the changes imports made), the
# other firmware versions of its hardware.
DETAIL_QUERIES = PAGE_QUERIES + 7


@pytest.mark.parametrize("size", [10, 2000])
def test_register_and_detail_pages_run_constant_queries(
    client_for, size, django_assert_num_queries
):
    fill_register(size)
    client = client_for("secretariat")
    client.get("/")  # warm the session
    with django_assert_num_queries(REGISTER_QUERIES):
        response = client.get("/cpl/?device_type=ESME&status=listed&q=a")
    assert response.status_code == 200
    with django_assert_num_queries(REGISTER_QUERIES):
        client.get("/cpl/?page=1")
    model = DeviceModel.objects.order_by("-id").first()
    with django_assert_num_queries(DETAIL_QUERIES):
        assert client.get(f"/cpl/models/{model.pk}/").status_code == 200


def test_filters_and_search(client_for):
    import_sample()
    client = client_for("supplier_a")
    page = client.get("/cpl/?device_type=GSME").context
    assert {m.device_type for m in page["device_models"]} == {"GSME"}
    # The sample register fits on one page: the page is the whole answer.
    assert len(page["device_models"]) == DeviceModel.objects.filter(device_type="GSME").count()
    removed = len(client.get("/cpl/?status=removed").context["device_models"])
    assert removed == DeviceModel.objects.filter(status="removed").count() > 0
    assert len(client.get("/cpl/?q=CPA-GSME-5992").context["device_models"]) == 1
    assert (
        len(client.get("/cpl/?q=caledon").context["device_models"])
        == DeviceModel.objects.filter(manufacturer__name="Caledon Comms").count()
    )
    cutoff = datetime.date(2025, 1, 1)
    expiring = client.get(f"/cpl/?expiring_before={cutoff}").context["device_models"]
    models = DeviceModel.objects.filter(pk__in=[m.pk for m in expiring])
    assert all(any(c.expiry < cutoff for c in m.certificates.all()) for m in models)
    bad = client.get("/cpl/?expiring_before=someday&device_type=FRIDGE")
    assert bad.status_code == 200 and "There is a problem" in bad.content.decode()


def test_pagination_keeps_the_filters(client_for):
    fill_register(120)
    client = client_for("member")
    first = client.get("/cpl/?device_type=CHF")
    assert first.context["page_obj"].has_next
    assert "device_type=CHF&amp;page=2" in first.content.decode()
    second = client.get("/cpl/?device_type=CHF&page=2")
    assert len(second.context["device_models"]) == 80 - 50


def test_device_model_page_shows_certificates_and_history(client_for):
    import_sample()
    model = DeviceModel.objects.filter(status="removed").first()
    body = client_for("dcc").get(f"/cpl/models/{model.pk}/").content.decode()
    for certificate in model.certificates.all():
        assert certificate.number in body
    assert "Added to the CPL" in body and "Removed from the CPL by" in body
    assert "devicemodel." not in body  # audit codes are not shown to people
    assert CPLChangeNotice.objects.get(device_model=model).reason in body


def test_secretariat_records_a_withdrawal_from_the_certificate_page(client_for):
    import_bytes(cpl_csv([cpl_row(1)]))
    model = DeviceModel.objects.get()
    zigbee = model.certificates.get(kind="zigbee")
    client = client_for("secretariat")
    bad = client.post(
        f"/cpl/certificates/{zigbee.pk}/", {"event": "withdraw", "on": "", "reason": ""}
    )
    assert bad.status_code == 400
    event = {"event": "withdraw", "on": "2026-11-20", "reason": "Failed interoperability retest"}
    asked = client.post(f"/cpl/certificates/{zigbee.pk}/", event)
    assert "Record this withdrawal?" in asked.content.decode()
    assert "leaves the CPL at once" in asked.content.decode()
    assert DeviceModel.objects.get().status == "listed"  # nothing recorded until confirmed
    response = client.post(
        f"/cpl/certificates/{zigbee.pk}/", {**event, "confirmed": "yes"}, follow=True
    )
    assert "1 device model(s) removed from the CPL" in response.content.decode()
    model.refresh_from_db()
    assert model.status == "removed"
    # A second submission of the same form finds the certificate already withdrawn.
    again = client.post(
        f"/cpl/certificates/{zigbee.pk}/",
        {"event": "cancel", "on": "2026-11-21", "reason": "x"},
        follow=True,
    )
    assert "changed while you were looking" in again.content.decode()


def test_suppliers_cannot_record_certificate_events(client_for):
    import_bytes(cpl_csv([cpl_row(1)]))
    zigbee = DeviceModel.objects.get().certificates.get(kind="zigbee")
    response = client_for("supplier_a").post(
        f"/cpl/certificates/{zigbee.pk}/", {"event": "withdraw", "on": "2026-11-20", "reason": "x"}
    )
    assert response.status_code == 403
    zigbee.refresh_from_db()
    assert zigbee.status == "valid"


def test_recording_a_renewed_certificate_does_not_relist(client_for):
    import_bytes(cpl_csv([cpl_row(1, **{"ZigBee Expiry Date": "2021-01-01"})]))
    model = DeviceModel.objects.get()
    assert model.status == "removed"
    client = client_for("secretariat")
    bad = client.post(
        f"/cpl/models/{model.pk}/certificates/new/",
        {"kind": "zigbee", "number": "ZB-NEW", "issued": "2026-01-01", "expiry": "2025-01-01"},
    )
    assert bad.status_code == 400
    response = client.post(
        f"/cpl/models/{model.pk}/certificates/new/",
        {"kind": "zigbee", "number": "ZB-NEW", "issued": "2026-01-01", "expiry": "2029-01-01"},
        follow=True,
    )
    assert "The device model is removed" in response.content.decode()
    assert f'href="/cpl/models/{model.pk}/relist/"' in response.content.decode()


def test_register_rows_link_each_model_with_its_cpa_expiry_status_and_escaped_names(client_for):
    expiry = datetime.date.today() + datetime.timedelta(days=400)
    rows = [
        cpl_row(
            1,
            **{
                "Manufacturer ID": "5C6D",
                "Manufacturer Name": "Smith & Sons",
                "CPA Expiry Date": str(expiry),
            },
        ),
        cpl_row(2),
    ]
    import_bytes(cpl_csv(rows))
    first = DeviceModel.objects.get(firmware_version="00000001")
    html = client_for("supplier_a").get("/cpl/").content.decode()
    assert (
        f'<a class="govuk-link" href="/cpl/models/{first.pk}/">0000 hw 0100 fw 00000001</a>' in html
    )
    assert "Smith &amp; Sons (5C6D)" in html and "Smith & Sons" not in html
    assert f'<td class="govuk-table__cell">{expiry:%-d %b %Y}</td>' in html
    assert '<strong class="govuk-tag govuk-tag--green">Listed</strong>' in html
    assert '<td class="govuk-table__cell">—</td>' in html  # no GBCS version
    assert "No device models match" not in html
    assert "No device models match these filters." in (
        client_for("supplier_a").get("/cpl/?q=nothing-like-this").content.decode()
    )
