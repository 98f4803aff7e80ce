"""CPA renewal dates, re-certification (superseded certificates) and firmware lineage."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cpl.exchange import COLUMNS, EXPORT_COLUMNS, ExchangeFileRejected
from cpl.models import AssuranceCertificate, CPLChangeNotice, DeviceModel
from cpl.selectors import certificates_expiring, cpa_certificates_flagged, register_rows
from cpl.services import certificate_add, certificate_record_event, certificates_check
from portal.models import AuditEvent

from ..helpers import cpl_csv, cpl_row, import_bytes

pytestmark = pytest.mark.django_db
TODAY = datetime.date.today()
RENEWAL_HEADER = [*COLUMNS, "CPA Renewal Date"]


def days(n: int) -> str:
    return (TODAY + datetime.timedelta(days=n)).isoformat()


def cpa(index=1) -> AssuranceCertificate:
    return AssuranceCertificate.objects.get(number=f"CPA-T-{index}")


def model(index=1) -> DeviceModel:
    return DeviceModel.objects.get(firmware_version=f"{index:08X}")


# --- the exchange format -----------------------------------------------------------------------


def test_a_file_with_the_renewal_column_records_it_and_exports_carry_it():
    import_bytes(cpl_csv([cpl_row(1, **{"CPA Renewal Date": days(200)})], RENEWAL_HEADER))
    assert cpa(1).renewal_due == TODAY + datetime.timedelta(days=200)
    assert "CPA Renewal Date" in EXPORT_COLUMNS
    assert register_rows()[0]["CPA Renewal Date"] == days(200)


def test_a_file_without_the_column_still_imports_and_keeps_stored_renewal_dates():
    import_bytes(cpl_csv([cpl_row(1, **{"CPA Renewal Date": days(200)})], RENEWAL_HEADER))
    summary = import_bytes(cpl_csv([cpl_row(1), cpl_row(2)]))  # the old format
    assert summary.created == 1
    assert cpa(1).renewal_due == TODAY + datetime.timedelta(days=200)
    assert cpa(2).renewal_due is None


def test_an_empty_renewal_cell_clears_the_stored_date_and_the_change_is_kept():
    import_bytes(cpl_csv([cpl_row(1, **{"CPA Renewal Date": days(200)})], RENEWAL_HEADER))
    summary = import_bytes(cpl_csv([cpl_row(1, **{"CPA Renewal Date": ""})], RENEWAL_HEADER))
    assert summary.certificates_updated == 1
    assert cpa(1).renewal_due is None


@pytest.mark.parametrize(
    "value, reason",
    [
        ("31/12/2030", "is not an ISO date"),
        ("2000-01-01", "before (or on) the issue date"),
        (days(20 * 365), "after the expiry date"),
        ("=HYPERLINK(1)", "is not an ISO date"),
    ],
)
def test_a_bad_renewal_date_is_rejected_with_its_row(value, reason):
    data = cpl_csv([cpl_row(1), cpl_row(2, **{"CPA Renewal Date": value})], RENEWAL_HEADER)
    with pytest.raises(ExchangeFileRejected) as rejected:
        import_bytes(data)
    [error] = rejected.value.errors
    assert (error.row, error.column) == (3, "CPA Renewal Date")
    assert reason in error.reason
    assert not DeviceModel.objects.exists()


def test_one_certificate_with_two_renewal_dates_across_rows_is_rejected():
    shared = {"CPA Certificate Number": "CPA-SHARED"}
    rows = [
        cpl_row(1, **shared, **{"CPA Renewal Date": days(100)}),
        cpl_row(2, **shared, **{"CPA Renewal Date": ""}),
    ]
    with pytest.raises(ExchangeFileRejected) as rejected:
        import_bytes(cpl_csv(rows, RENEWAL_HEADER))
    assert [e.row for e in rejected.value.errors] == [3]


def test_a_smets1_row_carries_no_renewal_date():
    header = [*RENEWAL_HEADER, "SMETS Generation"]
    row = cpl_row(1, **{"SMETS Generation": "SMETS1", "CPA Renewal Date": days(100)})
    for column in ("CPA Certificate Number", "CPA Issue Date", "CPA Expiry Date"):
        row[column] = ""
    with pytest.raises(ExchangeFileRejected) as rejected:
        import_bytes(cpl_csv([row], header))
    assert [e.column for e in rejected.value.errors] == ["CPA Renewal Date"]


# --- a lapsed renewal ---------------------------------------------------------------------------


def test_a_lapsed_renewal_is_flagged_for_the_ssc_not_removed():
    import_bytes(cpl_csv([cpl_row(1, **{"CPA Renewal Date": days(30)})], RENEWAL_HEADER))
    result = certificates_check(today=TODAY + datetime.timedelta(days=31))
    certificate = cpa(1)
    assert (result.expired, result.cpa_flagged, result.removed) == (1, 1, 0)
    assert certificate.status == "expired"
    assert certificate.status_date == TODAY + datetime.timedelta(days=30)
    assert certificate.renewal_lapsed and "renewal was due" in certificate.status_reason
    assert certificate.awaits_ssc_decision
    assert model(1).status == "listed" and not CPLChangeNotice.objects.exists()
    assert list(cpa_certificates_flagged()) == [certificate]
    event = AuditEvent.objects.get(action="certificate.flagged_for_ssc")
    assert event.after["renewal_due"] == days(30)


def test_a_renewal_due_today_has_not_lapsed():
    import_bytes(cpl_csv([cpl_row(1, **{"CPA Renewal Date": days(30)})], RENEWAL_HEADER))
    assert certificates_check(today=TODAY + datetime.timedelta(days=30)).expired == 0


# --- the dashboard ------------------------------------------------------------------------------


def test_the_dashboard_warns_the_secretariat_before_a_renewal(client_for):
    import_bytes(
        cpl_csv(
            [
                cpl_row(1, **{"CPA Renewal Date": days(40)}),
                cpl_row(2, **{"CPA Renewal Date": days(20)}),
                cpl_row(3),  # expires in five years
            ],
            RENEWAL_HEADER,
        )
    )
    assert [c.number for c in certificates_expiring(within_days=90)] == ["CPA-T-2", "CPA-T-1"]
    body = client_for("secretariat").get("/").content.decode()
    assert "Certificates expiring or due for renewal within 90 days" in body
    assert "CPA-T-1" in body and "CPA-T-2" in body and "CPA-T-3" not in body
    supplier = client_for("supplier_a").get("/").content.decode()
    assert "due for renewal" not in supplier


# --- re-certification ---------------------------------------------------------------------------


def withdrawn_and_recertified(users, **extra):
    import_bytes(cpl_csv([cpl_row(1), cpl_row(2, **{"CPA Certificate Number": "CPA-T-1"})]))
    old = cpa(1)
    certificate_record_event(
        actor=users["secretariat"], certificate=old, event="withdraw", on=TODAY, reason="Lab"
    )
    new = certificate_add(
        actor=users["secretariat"],
        device_model=model(1),
        kind="cpa",
        number="CPA-RE-1",
        issued=TODAY,
        expiry=TODAY + datetime.timedelta(days=900),
        renewal_due=TODAY + datetime.timedelta(days=365),
        supersedes=old,
        **extra,
    )
    return old, new


def test_supersede_keeps_the_old_certificate_as_history_and_clears_the_flag(users):
    old, new = withdrawn_and_recertified(users)
    old.refresh_from_db()
    assert old.status == "withdrawn" and old.superseded_by == new
    assert not old.awaits_ssc_decision
    assert set(new.device_models.all()) == {model(1), model(2)}  # every model of the old one
    assert not cpa_certificates_flagged().exists()
    assert AuditEvent.objects.filter(action="certificate.superseded", object_id=str(old.pk))
    # No new case on a re-certified certificate.
    from cpl.policies import CERTIFICATES

    assert not CERTIFICATES.can(users["secretariat"], "open_case", old)
    # The export carries the certificate in force, not the superseded one.
    assert {row["CPA Certificate Number"] for row in register_rows()} == {"CPA-RE-1"}


def test_a_case_open_before_the_re_certification_stays_open(users):
    from ..helpers import cpa_case

    case = cpa_case(users, models=1)
    state = case.state
    certificate = case.certificate
    device_model = certificate.device_models.first()
    certificate_add(
        actor=users["secretariat"],
        device_model=device_model,
        kind="cpa",
        number="CPA-RE-CASE",
        issued=TODAY,
        expiry=TODAY + datetime.timedelta(days=900),
        supersedes=certificate,
    )
    case.refresh_from_db()
    assert case.state == state and case.certificate_id == certificate.pk
    certificate.refresh_from_db()
    assert certificate.superseded_by is not None and not certificate.awaits_ssc_decision


def test_a_valid_or_already_superseded_certificate_is_not_superseded(users):
    old, _ = withdrawn_and_recertified(users)
    with pytest.raises(ValueError, match="already superseded"):
        certificate_add(
            actor=users["secretariat"],
            device_model=model(1),
            kind="cpa",
            number="CPA-RE-2",
            issued=TODAY,
            expiry=TODAY + datetime.timedelta(days=900),
            supersedes=old,
        )
    with pytest.raises(ValueError, match="still valid"):
        certificate_add(
            actor=users["secretariat"],
            device_model=model(1),
            kind="cpa",
            number="CPA-RE-3",
            issued=TODAY,
            expiry=TODAY + datetime.timedelta(days=900),
            supersedes=AssuranceCertificate.objects.get(number="CPA-RE-1"),
        )


def test_pages_show_the_certificate_history_current_first(users, client_for):
    old, new = withdrawn_and_recertified(users)
    client = client_for("member")
    page = client.get(f"/cpl/models/{model(1).pk}/").content.decode()
    table = page[page.index("Assurance Certificates") :]
    assert table.index("CPA-RE-1") < table.index("History: superseded") < table.index("CPA-T-1")
    detail = client.get(f"/cpl/certificates/{old.pk}/").content.decode()
    assert "Superseded by" in detail and "CPA-RE-1" in detail
    assert "Supersedes" in client.get(f"/cpl/certificates/{new.pk}/").content.decode()


def test_the_secretariat_records_a_re_certification_through_the_form(users, client_for):
    import_bytes(cpl_csv([cpl_row(1)]))
    old = cpa(1)
    certificate_record_event(
        actor=users["secretariat"], certificate=old, event="withdraw", on=TODAY, reason="Lab"
    )
    client = client_for("secretariat")
    detail = client.get(f"/cpl/certificates/{old.pk}/").content.decode()
    link = re.search(r'href="([^"]+\?supersedes=\d+)"', detail).group(1).replace("&amp;", "&")
    form = client.get(link).content.decode()
    assert "Re-certification of" in form and "Renewal date" in form
    token = re.search(r'name="submission_token" value="([^"]+)"', form)
    data = {
        "kind": "cpa",
        "number": "CPA-FORM-1",
        "issued": TODAY.isoformat(),
        "expiry": days(900),
        "renewal_due": days(365),
        "supersedes": str(old.pk),
    }
    if token:
        data["submission_token"] = token.group(1)
    response = client.post(link.split("?")[0], data)
    assert response.status_code == 302, response.content.decode()[:2000]
    old.refresh_from_db()
    assert old.superseded_by.number == "CPA-FORM-1"
    assert old.superseded_by.renewal_due == TODAY + datetime.timedelta(days=365)


# --- firmware lineage ---------------------------------------------------------------------------


def lineage_rows(count: int) -> bytes:
    # Same hardware (model ID 0000, hardware 0100), firmware 1..count, added on various dates.
    rows = [cpl_row(i, **{"Date Added": f"2023-0{1 + i % 3}-01"}) for i in range(1, count + 1)]
    rows.append(cpl_row(99, **{"Hardware Version": "0200"}))  # other hardware: not listed
    return cpl_csv(rows)


def test_the_device_model_page_lists_other_firmware_newest_first(users, client_for):
    import_bytes(lineage_rows(4))
    withdrawn = model(2)
    withdrawn.remove(basis=DeviceModel.RemovalBasis.SSC_DECISION)
    withdrawn.save()
    page = client_for("member").get(f"/cpl/models/{model(1).pk}/").content.decode()
    section = page[page.index("Other firmware versions") :]
    section = section[: section.index("</table>")]
    # This page is firmware 1, added in February. Date added descending, then firmware
    # descending: 2 (March), 4 (February, a later firmware than 1), 3 (January).
    found = re.findall(r">(0000000[0-9A-F])</a>", section)
    assert found == ["00000002", "00000004", "00000003"]
    assert "Removed" in section and "Newer" in section and "Older" in section
    assert "00000063" not in section


def test_the_lineage_costs_one_query_whatever_its_length(client_for):
    import_bytes(lineage_rows(2))
    client = client_for("member")
    client.get(f"/cpl/models/{model(1).pk}/")
    with CaptureQueriesContext(connection) as few:
        client.get(f"/cpl/models/{model(1).pk}/")
    import_bytes(lineage_rows(30))
    with CaptureQueriesContext(connection) as many:
        response = client.get(f"/cpl/models/{model(1).pk}/")
    assert response.content.decode().count("/cpl/models/") >= 29
    assert len(many) == len(few)


def test_hostile_text_in_an_import_never_reaches_the_renewal_date():
    data = cpl_csv([cpl_row(1, **{"CPA Renewal Date": "2030-01-01\x00"})], RENEWAL_HEADER)
    with pytest.raises(ExchangeFileRejected):
        import_bytes(data)
