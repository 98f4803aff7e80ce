"""CPL entries as the industry keeps them: each device model's SMETS generation, GBCS version and
Manufacturer Image hash, carried by every import and export; SMETS1 rows need no CPA
certificate, and the CPA route (flags, cases, remedial plans) is SMETS2's alone."""

import csv
import datetime
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cpl import selectors
from cpl.exchange import COLUMNS, EXPORT_COLUMNS, FORMAT_COLUMNS, ExchangeFileRejected
from cpl.models import AssuranceCertificate, DeviceModel
from cpl.policies import cpa_route_refusal
from cpl.services import (
    certificate_add,
    certificates_check,
    cpl_import,
    cpl_version_publish,
)

from ..helpers import cpl_csv, cpl_row, import_bytes
from .test_register_views import REGISTER_QUERIES

pytestmark = pytest.mark.django_db

HASH = "9F86D081884C7D659A2FEAB0C55A15B5E1E0B1F5F4CB4F1C2C5D2E0D21A4E1B3"


def smets1_row(index: int, **overrides) -> dict:
    """A SMETS1 row as the SEC lists one: no CPA, ZigBee or DLMS certificate."""
    row = cpl_row(index, device_type="ESME", **overrides)
    for column in COLUMNS[8:]:
        row[column] = ""
    row.update({"SMETS Generation": "SMETS1", "SMETS CHTS Version": "SMETS1 v1.2"})
    row.update(overrides)
    return row


def new_csv(rows) -> bytes:
    return cpl_csv(rows, header=FORMAT_COLUMNS)


def rejected(data: bytes) -> list[tuple[int, str, str]]:
    with pytest.raises(ExchangeFileRejected) as caught:
        import_bytes(data)
    return [(e.row, e.column, e.reason) for e in caught.value.errors]


# --- importing ------------------------------------------------------------------------------------


def test_a_file_without_the_new_columns_still_imports_as_smets2():
    summary = import_bytes(cpl_csv([cpl_row(1), cpl_row(2, device_type="ESME")]))
    assert summary.created == 2
    assert set(
        DeviceModel.objects.values_list(
            "smets_generation", "gbcs_version", "manufacturer_image_hash"
        )
    ) == {("SMETS2", "", "")}


def test_a_file_with_the_new_columns_records_them_and_the_hash_lower_case():
    rows = [
        cpl_row(
            1,
            **{
                "SMETS Generation": "SMETS2",
                "GBCS Version": "v4.0",
                "Manufacturer Image Hash": HASH,
            },
        ),
        cpl_row(
            2,
            **{"SMETS Generation": " smets 2 ", "GBCS Version": "", "Manufacturer Image Hash": ""},
        ),
        cpl_row(3, **{"SMETS Generation": "", "GBCS Version": "v3.2"}),
    ]
    rows[2]["Manufacturer Image Hash"] = ""
    import_bytes(new_csv(rows))
    found = {
        m.firmware_version: (m.smets_generation, m.gbcs_version, m.manufacturer_image_hash)
        for m in DeviceModel.objects.all()
    }
    assert found == {
        "00000001": ("SMETS2", "v4.0", HASH.lower()),
        "00000002": ("SMETS2", "", ""),
        "00000003": ("SMETS2", "v3.2", ""),
    }


def test_a_smets1_row_needs_no_cpa_certificate_nor_sub_version():
    rows = [smets1_row(1), smets1_row(2, **{"SMETS CHTS Version": ""})]
    rows.append(cpl_row(3, **{"SMETS Generation": "SMETS2"}))
    assert import_bytes(new_csv(rows)).created == 3
    smets1 = DeviceModel.objects.filter(smets_generation="SMETS1").order_by("firmware_version")
    assert [m.smets_chts_version for m in smets1] == ["SMETS1 v1.2", ""]
    assert not AssuranceCertificate.objects.filter(device_models__in=smets1).exists()
    assert all(m.missing_certificates() == [] for m in smets1)


def test_a_smets1_row_may_carry_its_zigbee_and_dlms_certificates():
    expiry = (datetime.date.today() + datetime.timedelta(days=400)).isoformat()
    row = smets1_row(
        1,
        **{
            "ZigBee Certificate Number": "ZB-S1",
            "ZigBee Expiry Date": expiry,
            "DLMS Certificate Number": "DLMS-S1",
            "DLMS Expiry Date": expiry,
        },
    )
    import_bytes(new_csv([row]))
    model = DeviceModel.objects.get()
    assert sorted(model.certificates.values_list("kind", flat=True)) == ["dlms", "zigbee"]


def test_a_smets1_row_with_a_cpa_certificate_is_refused_with_its_row():
    rows = [smets1_row(1), smets1_row(2, **{"CPA Certificate Number": "CPA-S1"})]
    assert rejected(new_csv(rows)) == [
        (3, "CPA Certificate Number", "SMETS1 device models carry no CPA certificate")
    ]
    assert not DeviceModel.objects.exists()


def test_a_smets1_certificate_needs_its_number_and_expiry_together():
    rows = [
        smets1_row(1, **{"ZigBee Certificate Number": "ZB-1"}),
        smets1_row(2, **{"DLMS Expiry Date": "2030-01-01"}),
        smets1_row(3, **{"Device Type": "CHF", "DLMS Certificate Number": "D"}),
    ]
    assert rejected(new_csv(rows)) == [
        (2, "ZigBee Expiry Date", "is required with a ZigBee Certificate Number"),
        (3, "DLMS Certificate Number", "is required with a DLMS Expiry Date"),
        (4, "DLMS Certificate Number", "must be empty for CHF"),
    ]


@pytest.mark.parametrize(
    "value", ["SMETS3", "2", "SMETS", "=cmd|' /C calc'!A0", "<b>SMETS1</b>", "S" * 5000]
)
def test_a_bad_generation_is_refused_with_its_row(value):
    rows = [cpl_row(1), cpl_row(2, **{"SMETS Generation": value})]
    ((row, column, reason),) = rejected(new_csv(rows))
    assert (row, column) == (3, "SMETS Generation")
    assert "is not a SMETS generation (expected SMETS1 or SMETS2)" in reason
    assert len(reason) < 120  # the value is cut short in the report


@pytest.mark.parametrize(
    "value",
    [
        HASH[:-1],  # 63 digits
        HASH + "0",  # 65
        "G" + HASH[1:],  # not hexadecimal
        "0x" + HASH[2:],
        HASH[:32] + " " + HASH[33:],
        '=HYPERLINK("http://x")',
    ],
)
def test_a_malformed_image_hash_is_refused_with_its_row(value):
    rows = [
        cpl_row(1, **{"Manufacturer Image Hash": HASH}),
        cpl_row(2, **{"Manufacturer Image Hash": value}),
    ]
    ((row, column, reason),) = rejected(new_csv(rows))
    assert (row, column) == (3, "Manufacturer Image Hash")
    assert reason.endswith("is not a SHA-256 hash (64 hexadecimal digits)")


def test_a_long_gbcs_version_is_refused():
    errors = rejected(new_csv([cpl_row(1, **{"GBCS Version": "v" * 51})]))
    assert errors == [(2, "GBCS Version", "is longer than 50 characters")]


def test_an_older_file_keeps_what_a_newer_one_recorded_and_a_newer_one_changes_it():
    import_bytes(new_csv([cpl_row(1, **{"GBCS Version": "v4.0", "Manufacturer Image Hash": HASH})]))
    summary = import_bytes(cpl_csv([cpl_row(1)]))  # the same row, without the columns
    assert (summary.updated, summary.unchanged) == (0, 1)
    model = DeviceModel.objects.get()
    assert (model.gbcs_version, model.manufacturer_image_hash) == ("v4.0", HASH.lower())
    import_bytes(new_csv([cpl_row(1, **{"GBCS Version": "v4.1"})]))
    model.refresh_from_db()
    assert (model.gbcs_version, model.manufacturer_image_hash) == ("v4.1", "")


def test_a_model_can_be_reclassified_by_a_later_file():
    import_bytes(new_csv([cpl_row(1)]))
    import_bytes(new_csv([smets1_row(1, **{"Device Type": "CHF"})]))
    assert DeviceModel.objects.get().smets_generation == "SMETS1"


# --- exporting ------------------------------------------------------------------------------------


def mixed_register():
    rows = [
        cpl_row(1, **{"GBCS Version": "v4.0", "Manufacturer Image Hash": HASH}),
        cpl_row(2, device_type="ESME", **{"GBCS Version": "=1+1"}),
        smets1_row(3),
        smets1_row(4, **{"SMETS CHTS Version": ""}),
    ]
    import_bytes(new_csv(rows))


def _rows_of(content: bytes, fmt: str) -> list[dict]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    if fmt == "json":
        return json.loads(content)["device_models"]
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    header, *rows = [
        [c if c is not None else "" for c in r] for r in sheet.iter_rows(values_only=True)
    ]
    return [dict(zip(header, r, strict=True)) for r in rows]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_every_export_carries_the_new_columns_and_imports_back_to_the_same_register(
    client_for, fmt
):
    mixed_register()
    before = selectors.register_rows()
    response = client_for("dcc").get(f"/cpl/export/{fmt}/")
    assert response.status_code == 200
    content = b"".join(response.streaming_content) if response.streaming else response.content
    exported = _rows_of(content, fmt)
    assert list(exported[0]) == EXPORT_COLUMNS
    by_firmware = {r["Firmware Version"]: r for r in exported}
    assert by_firmware["00000001"]["Manufacturer Image Hash"] == HASH.lower()
    assert by_firmware["00000003"]["SMETS Generation"] == "SMETS1"
    assert by_firmware["00000003"]["CPA Certificate Number"] == ""
    if fmt != "json":
        # Into an empty register: the file written by the export gives the same register.
        DeviceModel.certificates.through.objects.all().delete()
        AssuranceCertificate.objects.all().delete()
        DeviceModel.objects.all().delete()
        name = f"export.{fmt}"
        cpl_import(actor=None, binary=io.BytesIO(content), size=len(content), file_name=name)
        assert selectors.register_rows() == before


def test_a_published_version_carries_the_new_columns(users):
    mixed_register()
    version = cpl_version_publish(actor=users["secretariat"])
    rows = {r["Firmware Version"]: r for r in version.rows}
    assert set(EXPORT_COLUMNS) <= set(rows["00000001"])
    assert (rows["00000001"]["GBCS Version"], rows["00000004"]["SMETS Generation"]) == (
        "v4.0",
        "SMETS1",
    )


# --- the register pages ---------------------------------------------------------------------------


def test_the_register_filters_and_shows_the_generation(client_for):
    mixed_register()
    client = client_for("supplier_a")
    page = client.get("/cpl/?generation=SMETS1")
    assert {m.smets_generation for m in page.context["device_models"]} == {"SMETS1"}
    assert len(page.context["device_models"]) == 2
    both = client.get("/cpl/").context["device_models"]
    assert {m.smets_generation for m in both} == {"SMETS1", "SMETS2"}
    body = client.get("/cpl/?generation=SMETS2").content.decode()
    assert "SMETS generation" in body and "v4.0" in body
    bad = client.get("/cpl/?generation=SMETS9")
    assert bad.status_code == 200 and "There is a problem" in bad.content.decode()


@pytest.mark.parametrize("size", [10, 600])
def test_the_generation_filter_keeps_the_register_query_count(
    client_for, size, django_assert_num_queries
):
    import_bytes(new_csv([smets1_row(i) if i % 2 else cpl_row(i) for i in range(size)]))
    client = client_for("secretariat")
    client.get("/")  # warm the session
    with django_assert_num_queries(REGISTER_QUERIES):
        response = client.get("/cpl/?generation=SMETS1&device_type=ESME")
    assert response.status_code == 200


def test_the_device_model_page_shows_generation_gbcs_and_hash(client_for):
    mixed_register()
    model = DeviceModel.objects.get(firmware_version="00000001")
    body = client_for("member").get(f"/cpl/models/{model.pk}/").content.decode()
    assert "SMETS generation" in body and "v4.0" in body and HASH.lower() in body
    smets1 = DeviceModel.objects.get(firmware_version="00000004")
    body = client_for("member").get(f"/cpl/models/{smets1.pk}/").content.decode()
    assert "not on the CPA route" in body


# --- the CPA route is SMETS2's --------------------------------------------------------------------


def reclassified_with_expired_cpa():
    """A model listed as SMETS2 with a CPA certificate, then reclassified SMETS1 by a later file
    (the link to its old CPA certificate stays), and a SMETS2 model on the same certificate;
    the certificate then lapses."""
    expired = (datetime.date.today() - datetime.timedelta(days=2)).isoformat()
    shared = {
        "CPA Certificate Number": "CPA-SHARED",
        "CPA Issue Date": "2020-01-01",
        "CPA Expiry Date": expired,
    }
    import_bytes(new_csv([cpl_row(1, **shared), cpl_row(2, **shared)]))
    import_bytes(new_csv([smets1_row(1, **{"Device Type": "CHF"}), cpl_row(2, **shared)]))
    certificates_check()
    return AssuranceCertificate.objects.get(number="CPA-SHARED")


def test_case_open_refuses_smets1_device_models(users):
    from governance.services import case_open

    certificate = reclassified_with_expired_cpa()
    smets1 = DeviceModel.objects.get(firmware_version="00000001")
    smets2 = DeviceModel.objects.get(firmware_version="00000002")
    arguments = {
        "actor": users["secretariat"],
        "certificate": certificate,
        "event": "expired",
        "event_date": certificate.expiry,
        "reason": "Lapsed",
        "severity": "high",
        "summary": "Lapsed certificate",
    }
    with pytest.raises(ValidationError) as refused:
        case_open(device_models=[smets1, smets2], **arguments)
    assert "applies to SMETS2 device models only" in str(refused.value)
    assert str(smets1) in str(refused.value) and str(smets2) not in str(refused.value)
    assert not certificate.cases.exists()
    case = case_open(device_models=[smets2], **arguments)
    assert list(case.device_models.all()) == [smets2]


def test_a_lapsed_cpa_certificate_is_flagged_only_for_its_smets2_models(users):
    certificate = reclassified_with_expired_cpa()
    assert list(selectors.cpa_certificates_flagged()) == [certificate]
    # Were the SMETS2 model gone too, nothing would be flagged.
    DeviceModel.objects.filter(firmware_version="00000002").update(smets_generation="SMETS1")
    assert not selectors.cpa_certificates_flagged().exists()


def test_the_cpa_route_rule_names_the_smets1_models():
    import_bytes(new_csv([cpl_row(1), smets1_row(2)]))
    smets2, smets1 = DeviceModel.objects.order_by("firmware_version")
    assert cpa_route_refusal([smets2]) is None
    assert str(smets1) in cpa_route_refusal([smets2, smets1])


def test_no_cpa_certificate_is_recorded_for_a_smets1_model(users):
    import_bytes(new_csv([smets1_row(1)]))
    model = DeviceModel.objects.get()
    arguments = {"actor": users["secretariat"], "device_model": model, "number": "C-1"}
    dates = {"issued": None, "expiry": datetime.date.today() + datetime.timedelta(days=30)}
    with pytest.raises(ValueError, match="SMETS1 device models carry no CPA certificate"):
        certificate_add(kind="cpa", **arguments, **dates)
    certificate_add(kind="zigbee", **arguments, **dates)
    assert list(model.certificates.values_list("kind", flat=True)) == ["zigbee"]


def test_a_smets1_model_without_certificates_is_not_removed_by_the_certificate_check():
    import_bytes(new_csv([smets1_row(1), cpl_row(2)]))
    certificates_check()
    assert set(DeviceModel.objects.values_list("status", flat=True)) == {"listed"}


# --- the migration --------------------------------------------------------------------------------

BEFORE = [("cpl", "0007_removal")]
AFTER = [("cpl", "0008_smets_generation")]


@pytest.mark.django_db(transaction=True)
def test_existing_entries_migrate_as_smets2_unless_their_version_says_smets1():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    maker = old.get_model("cpl", "Manufacturer").objects.create(manufacturer_id="ABCD", name="M")
    DeviceModel_ = old.get_model("cpl", "DeviceModel")
    for model_id, version in [
        ("0001", "SMETS2 v4.0"),
        ("0002", "CHTS v1.2"),
        ("0003", "smets1 v2"),
    ]:
        DeviceModel_.objects.create(
            device_type="ESME",
            manufacturer=maker,
            model_id=model_id,
            hardware_version="0001",
            firmware_version="0001",
            smets_chts_version=version,
            date_added=datetime.date(2024, 1, 1),
        )
    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    found = dict(
        new.get_model("cpl", "DeviceModel").objects.values_list("model_id", "smets_generation")
    )
    assert found == {"0001": "SMETS2", "0002": "SMETS2", "0003": "SMETS1"}
    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())


# --- the secretariat's pages for a SMETS1 model (walk findings) ----------------------------------


def test_the_certificate_form_of_a_smets1_model_offers_no_cpa_certificate(client_for):
    import_bytes(new_csv([smets1_row(1)]))
    model = DeviceModel.objects.get()
    text = client_for("secretariat").get(f"/cpl/models/{model.pk}/certificates/new/")
    text = text.content.decode()
    assert 'value="zigbee"' in text and 'value="cpa"' not in text
    assert "Renewal date" not in text


def test_withdrawing_a_smets1_models_zigbee_certificate_says_the_model_stays_listed(client_for):
    expiry = (datetime.date.today() + datetime.timedelta(days=400)).isoformat()
    row = smets1_row(1, **{"ZigBee Certificate Number": "ZB-S1", "ZigBee Expiry Date": expiry})
    import_bytes(new_csv([row]))
    zigbee = AssuranceCertificate.objects.get(number="ZB-S1")
    asked = client_for("secretariat").post(
        f"/cpl/certificates/{zigbee.pk}/",
        {"event": "withdraw", "on": datetime.date.today().isoformat(), "reason": "Retest failed"},
    )
    assert "No device model leaves the CPL" in asked.content.decode()
