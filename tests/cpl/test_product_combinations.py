"""SMETS1 Eligible and Pending Product Combinations (cpl.combinations): one entry per
combination, the date first added to the EPC kept for ever, subsets of tested combinations,
all-or-nothing imports, exports that read back, and the enrolment eligibility check."""

import csv
import datetime
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from cpl import combinations
from cpl.combinations import (
    CombinationRefused,
    combinations_import,
    enrolment_eligibility,
    installation_parse,
    product_combination_save,
)
from cpl.exchange import ExchangeFileRejected
from cpl.models import DeviceModel, Manufacturer, ProductCombination
from cpl.policies import COMBINATIONS

DAY1 = datetime.date(2021, 3, 1)
DAY2 = datetime.date(2022, 6, 1)
DAY3 = datetime.date(2023, 9, 1)
NORTH, SOUTH = "CSP North", "CSP Central/South"


def s1_model(device_type, model_id, firmware="00000001", hardware="0100", mid="1A2B", **extra):
    """A SMETS1 CPL entry (a plain row: the register's own import is tested elsewhere)."""
    manufacturer, _ = Manufacturer.objects.get_or_create(
        manufacturer_id=mid, defaults={"name": f"Maker {mid}"}
    )
    return DeviceModel.objects.create(
        device_type=device_type,
        manufacturer=manufacturer,
        model_id=model_id,
        hardware_version=hardware,
        firmware_version=firmware,
        smets_generation=extra.pop("smets_generation", "SMETS1"),
        date_added=datetime.date(2019, 1, 1),
        **extra,
    )


def ident(model) -> str:
    return "/".join(model.identity)


@pytest.fixture
def installation(db):
    """An electricity meter, a gas meter, a communications hub and an in-home display (PPMID)."""
    return {
        "esme": s1_model("ESME", "E001"),
        "gsme": s1_model("GSME", "6A51"),
        "chf": s1_model("CHF", "C001"),
        "ihd": s1_model("PPMID", "D001"),
        "esme_v2": s1_model("ESME", "E001", firmware="00000002"),
        "smets2": s1_model("ESME", "E002", smets_generation="SMETS2"),
    }


def lists_csv(rows: list[dict], header=combinations.COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def entry(reference, models, on_list="EPC", csp=NORTH, **more) -> dict:
    row = {
        "Combination ID": reference,
        "List": on_list,
        "CSP": csp,
        "Device Models": "; ".join(ident(m) for m in models),
    }
    row.update(more)
    return row


def import_lists(actor, data: bytes, today=DAY1, name="lists.csv"):
    try:
        return combinations_import(
            actor=actor, binary=io.BytesIO(data), size=len(data), file_name=name, today=today
        )
    except ExchangeFileRejected as error:
        raise AssertionError([e.as_dict() for e in error.errors] or error.message) from None


def rejected(actor, data: bytes, today=DAY1) -> ExchangeFileRejected:
    before = lists_state()
    with pytest.raises(ExchangeFileRejected) as caught:
        combinations_import(
            actor=actor, binary=io.BytesIO(data), size=len(data), file_name="l.csv", today=today
        )
    assert lists_state() == before, "a rejected file changed the lists"
    return caught.value


def lists_state():
    return sorted(
        (c.reference, c.on_list, c.csp, c.first_added_to_epc, c.subset_of_id, c.identity_key)
        for c in ProductCombination.objects.all()
    )


def problems(error: ExchangeFileRejected) -> set[tuple[int, str]]:
    return {(e.row, e.column) for e in error.errors}


# --- one entry per combination, the first-added date kept --------------------------------------


def test_a_combination_appears_once_whatever_its_list(users, installation):
    i, secretariat = installation, users["secretariat"]
    trio = [i["esme"], i["gsme"], i["chf"]]
    error = rejected(
        secretariat,
        lists_csv([entry("S1-1", trio), entry("S1-2", list(reversed(trio)), on_list="PPC")]),
    )
    assert (3, "Device Models") in problems(error)
    import_lists(secretariat, lists_csv([entry("S1-1", trio)]))
    # Another CSP is another combination; the same models and CSP (any case) again is not.
    import_lists(secretariat, lists_csv([entry("S1-2", trio, csp=SOUTH)]))
    error = rejected(secretariat, lists_csv([entry("S1-3", trio, csp="csp  NORTH")]))
    assert "entry S1-1" in error.errors[0].reason
    # The database holds the rule too, whoever writes.
    first = ProductCombination.objects.get(reference="S1-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductCombination.objects.create(
            reference="S1-9", csp=NORTH, on_list="ppc", identity_key=first.identity_key
        )


def test_the_date_first_added_to_the_epc_never_changes(users, installation):
    i, secretariat = installation, users["secretariat"]
    trio = [i["esme"], i["gsme"], i["chf"]]

    def first_added():
        return ProductCombination.objects.get(reference="S1-1").first_added_to_epc

    import_lists(secretariat, lists_csv([entry("S1-1", trio, on_list="PPC")]), today=DAY1)
    assert first_added() is None  # pending: never on the EPC yet
    import_lists(secretariat, lists_csv([entry("S1-1", trio)]), today=DAY2)
    assert first_added() == DAY2
    # Moved back to the PPC, edited (another device model), then re-listed: the date stays.
    import_lists(secretariat, lists_csv([entry("S1-1", trio, on_list="PPC")]), today=DAY3)
    assert first_added() == DAY2
    import_lists(secretariat, lists_csv([entry("S1-1", [*trio, i["ihd"]])]), today=DAY3)
    assert first_added() == DAY2
    assert ProductCombination.objects.get(reference="S1-1").device_models.count() == 4
    # A file that says otherwise is refused, row and column named.
    error = rejected(
        secretariat,
        lists_csv([entry("S1-1", trio, **{"Date First Added to EPC": "2023-01-01"})]),
        today=DAY3,
    )
    assert problems(error) == {(2, "Date First Added to EPC")}
    assert "never changes" in error.errors[0].reason
    # The service keeps it, and the model refuses to change it.
    combination = product_combination_save(
        actor=secretariat, reference="S1-1", csp=NORTH, device_models=trio, on_list="epc"
    )
    assert combination.first_added_to_epc == DAY2
    with pytest.raises(ValueError, match="never changes"):
        combination.first_added_to_epc = DAY3
        combination.save()
    with pytest.raises(CombinationRefused, match="never changes"):
        product_combination_save(
            actor=secretariat,
            reference="S1-1",
            csp=NORTH,
            device_models=trio,
            on_list="epc",
            first_added=DAY1,
        )
    assert first_added() == DAY2


def test_a_new_epc_entry_may_carry_its_historic_date_and_a_ppc_entry_none(users, installation):
    i, secretariat = installation, users["secretariat"]
    import_lists(
        secretariat,
        lists_csv(
            [entry("S1-1", [i["esme"], i["chf"]], **{"Date First Added to EPC": "2020-02-03"})]
        ),
    )
    assert ProductCombination.objects.get().first_added_to_epc == datetime.date(2020, 2, 3)
    error = rejected(
        secretariat,
        lists_csv(
            [
                entry(
                    "S1-2",
                    [i["gsme"], i["chf"]],
                    on_list="PPC",
                    **{"Date First Added to EPC": "2020-02-03"},
                ),
                entry("S1-3", [i["ihd"], i["chf"]], **{"Date First Added to EPC": "2999-01-01"}),
            ]
        ),
    )
    assert problems(error) == {(2, "Date First Added to EPC"), (3, "Date First Added to EPC")}


def test_subset_entries_reference_their_tested_superset(users, installation):
    i, secretariat = installation, users["secretariat"]
    full = [i["esme"], i["gsme"], i["chf"], i["ihd"]]
    import_lists(
        secretariat,
        lists_csv(
            [
                entry("S1-1", full),
                entry("S1-2", [i["esme"], i["chf"]], **{"Subset Of": "S1-1"}),
                entry("S1-3", [i["gsme"], i["chf"]], on_list="PPC", csp=SOUTH),
            ]
        ),
    )
    subset = ProductCombination.objects.get(reference="S1-2")
    assert subset.subset_of.reference == "S1-1"
    error = rejected(
        secretariat,
        lists_csv(
            [
                entry("S1-4", full[:3], **{"Subset Of": "S1-2"}),  # not a subset of it
                entry("S1-5", [i["gsme"]], csp=SOUTH, **{"Subset Of": "S1-3"}),  # untested
                entry("S1-6", [i["chf"]], csp=SOUTH, **{"Subset Of": "S1-1"}),  # another CSP
                entry("S1-7", [i["ihd"]], **{"Subset Of": "S1-99"}),  # no such entry
            ]
        ),
    )
    assert problems(error) == {(row, "Subset Of") for row in (2, 3, 4, 5)}
    # The superset cannot change so that its recorded subset is one no more.
    error = rejected(secretariat, lists_csv([entry("S1-1", [i["gsme"], i["chf"], i["ihd"]])]))
    assert problems(error) == {(2, "Device Models")}
    assert "S1-2" in error.errors[0].reason


# --- all or nothing ----------------------------------------------------------------------------


def test_import_is_all_or_nothing_with_row_numbered_errors(users, installation):
    i, secretariat = installation, users["secretariat"]
    import_lists(secretariat, lists_csv([entry("S1-1", [i["esme"], i["chf"]], on_list="PPC")]))
    rows = [
        entry("S1-1", [i["esme"], i["chf"]]),  # fine: would move to the EPC
        entry("S1-2", [i["smets2"], i["chf"]]),  # a SMETS2 model
        {**entry("S1-3", [i["gsme"]]), "Device Models": "1A2B/FFFF/0100/00000001"},  # not on CPL
        entry("S1-4", [i["gsme"]], on_list="Eligible"),
        {**entry("S1-5", [i["gsme"]]), "Device Models": "1A2B/6A51/0100"},
        entry("S1-2", [i["ihd"]]),  # the same Combination ID again
        entry("", [i["ihd"]], csp=""),
    ]
    error = rejected(secretariat, lists_csv(rows))
    assert problems(error) == {
        (3, "Device Models"),
        (4, "Device Models"),
        (5, "List"),
        (6, "Device Models"),
        (7, "Combination ID"),
        (8, "Combination ID"),
        (8, "CSP"),
    }
    assert "SMETS2" in next(e.reason for e in error.errors if e.row == 3)
    assert "is not on the CPL" in next(e.reason for e in error.errors if e.row == 4)
    assert "nothing was imported" in error.message
    assert ProductCombination.objects.get().on_list == "ppc"


def test_hostile_files_and_cells_are_refused_with_nothing_written(users, installation, monkeypatch):
    i, secretariat = installation, users["secretariat"]
    pair = [i["esme"], i["chf"]]
    cells = [
        entry('=HYPERLINK("http://x")', pair),
        entry("S1-2", pair, csp="=cmd|' /C calc'!A0"),
        entry("S1-3", pair, csp="<script>alert(1)</script>"),
        entry("S1-4", pair, csp="x" * 500),
        {**entry("S1-5", pair), "Device Models": ";".join([ident(i["esme"])] * 11)},
        {**entry("S1-6", pair), "Device Models": f"{ident(i['esme'])};{ident(i['esme'])}"},
        entry("S1-7", pair, **{"Subset Of": "S1-7"}),
        entry("S1-8", pair, **{"Date First Added to EPC": "01/02/2020"}),
    ]
    error = rejected(secretariat, lists_csv(cells))
    assert {row for row, _ in problems(error)} == set(range(2, 10))
    # Whole files: empty, binary, NUL bytes, a wrong header, no rows, too big, too many rows.
    for data, says in [
        (b"", "empty"),
        (b"%PDF-1.4 ...", "binary"),
        (b"Combination ID,List\x00,CSP\n", "NUL"),
        (b"Name,Colour\nx,y\n", "header row"),
        (lists_csv([]), "no product combinations"),
    ]:
        assert says in rejected(secretariat, data).message
    big = b"x" * (combinations.MAX_BYTES + 1)
    assert "MB" in rejected(secretariat, big).message
    monkeypatch.setattr(combinations, "MAX_ROWS", 3)
    rows = [entry(f"S1-{n}", pair, csp=f"CSP {n}") for n in range(4)]
    assert "more than 3" in rejected(secretariat, lists_csv(rows)).message
    assert not ProductCombination.objects.exists()


def test_only_the_secretariat_imports_and_a_rejected_upload_says_why(
    users, installation, client_for
):
    i = installation
    data = lists_csv([entry("S1-1", [i["esme"], i["chf"]])])
    for key in ("supplier_a", "member", "dcc"):
        response = client_for(key).post(
            "/cpl/combinations/import/", {"file": SimpleUploadedFile("l.csv", data)}
        )
        assert response.status_code == 403, key
    client = client_for("secretariat")
    bad = lists_csv([entry("S1-1", [i["esme"], i["chf"]], on_list="Maybe")])
    response = client.post("/cpl/combinations/import/", {"file": SimpleUploadedFile("l.csv", bad)})
    assert response.status_code == 400
    assert "not a list (expected EPC or PPC)" in response.content.decode()
    response = client.post("/cpl/combinations/import/", {"file": SimpleUploadedFile("l.csv", data)})
    assert response.status_code == 302
    assert ProductCombination.objects.get().first_added_to_epc is not None


# --- browsing and exports ----------------------------------------------------------------------


def test_export_reads_back_unchanged_in_csv_and_xlsx(users, installation, client_for):
    from openpyxl import load_workbook

    i, secretariat = installation, users["secretariat"]
    import_lists(
        secretariat,
        lists_csv(
            [
                entry("S1-1", [i["esme"], i["gsme"], i["chf"]]),
                entry("S1-2", [i["esme"], i["chf"]], **{"Subset Of": "S1-1"}),
                entry("S1-3", [i["ihd"], i["chf"]], on_list="PPC", csp=SOUTH),
            ]
        ),
    )
    before = lists_state()
    client = client_for("supplier_a")
    exported = b"".join(client.get("/cpl/combinations/export/csv/").streaming_content)
    summary = import_lists(secretariat, exported, today=DAY3)
    assert (summary.rows, summary.created, summary.updated) == (3, 0, 0)
    response = client.get("/cpl/combinations/export/xlsx/")
    workbook = b"".join(response.streaming_content if response.streaming else [response.content])
    summary = import_lists(secretariat, workbook, today=DAY3, name="lists.xlsx")
    assert (summary.rows, summary.unchanged) == (3, 3)
    assert lists_state() == before
    sheet = load_workbook(io.BytesIO(workbook), read_only=True).worksheets[0]
    assert [c.value for c in next(sheet.iter_rows())] == list(combinations.EXPORT_COLUMNS)
    # JSON: the metadata, then one object per entry in the exchange format.
    data = json.loads(b"".join(client.get("/cpl/combinations/export/json/").streaming_content))
    assert [c["Combination ID"] for c in data["combinations"]] == ["S1-1", "S1-2", "S1-3"]
    assert data["combinations"][1]["Subset Of"] == "S1-1"
    assert data["combinations"][0]["Date First Added to EPC"] == DAY1.isoformat()
    assert data["combinations"][0]["Device Types"] == "CHF; ESME; GSME"


def test_exports_neutralise_formulas(users, installation, client_for):
    from openpyxl import load_workbook

    # Written around the rules (which refuse such a CSP) to prove the writer's own defence.
    hostile = ProductCombination.objects.create(
        reference="S1-1", csp="=1+1", on_list="ppc", identity_key="x"
    )
    hostile.device_models.set([installation["esme"]])
    client = client_for("dcc")
    text = b"".join(client.get("/cpl/combinations/export/csv/").streaming_content).decode()
    assert ",'=1+1," in text
    response = client.get("/cpl/combinations/export/xlsx/")
    workbook = b"".join(response.streaming_content)
    cell = load_workbook(io.BytesIO(workbook)).worksheets[0]["C2"]
    assert (cell.value, cell.data_type) == ("'=1+1", "s")


def test_filters_by_csp_device_model_and_list(users, installation, client_for):
    i = installation
    import_lists(
        users["secretariat"],
        lists_csv(
            [
                entry("S1-1", [i["esme"], i["chf"]]),
                entry("S1-2", [i["gsme"], i["chf"]], on_list="PPC"),
                entry("S1-3", [i["ihd"], i["chf"]], csp=SOUTH),
            ]
        ),
    )
    client = client_for("supplier_b")

    def shown(query: str) -> list[str]:
        response = client.get(f"/cpl/combinations/?{query}")
        assert response.status_code == 200
        return [c.reference for c in response.context["combinations"]]

    assert shown("") == ["S1-1", "S1-3", "S1-2"]  # the EPC, then the PPC
    assert shown(f"csp={SOUTH}") == ["S1-3"]
    assert shown("on_list=ppc") == ["S1-2"]
    assert shown("q=6A51") == ["S1-2"]
    assert shown(f"q={ident(i['ihd'])}") == ["S1-3"]
    assert shown("q=1A2B/C001") == ["S1-1", "S1-3", "S1-2"]
    assert shown("q=1A2B/C001&on_list=epc&csp=CSP North") == ["S1-1"]
    # Exports follow the filters.
    text = b"".join(client.get("/cpl/combinations/export/csv/?on_list=ppc").streaming_content)
    assert text.decode().count("\r\n") == 2 and "S1-2" in text.decode()


def test_the_list_page_reads_a_fixed_number_of_queries(users, client_for):
    client = client_for("member")

    def count_queries(total: int) -> int:
        models = [s1_model("CHF", f"{n:04X}", mid=f"{total:04X}") for n in range(total * 3)]
        ProductCombination.objects.all().delete()
        for n in range(total):
            combination = ProductCombination.objects.create(
                reference=f"Q-{n}",
                csp=NORTH,
                on_list="epc",
                identity_key=f"k{n}",
                first_added_to_epc=DAY1,
            )
            combination.device_models.set(models[n * 3 : n * 3 + 3])
        # The session, the user, the CSPs (filter), the count, the page, its device models and
        # the user's organisation (navigation): seven, however many entries and members.
        client.get("/cpl/combinations/")  # sessions and caches warmed
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/cpl/combinations/")
        assert response.status_code == 200
        assert len(response.context["combinations"]) == min(total, 50)
        return len(queries)

    assert count_queries(3) == count_queries(60)


def test_who_reads_the_lists(users, installation, client_for):
    for key in ("secretariat", "chair", "member", "supplier_a", "dcc", "network"):
        response = client_for(key).get("/cpl/combinations/")
        assert response.status_code == 200, key
        assert b'href="/cpl/combinations/"' in response.content  # the navigation links them
        assert COMBINATIONS.can(users[key], "check_eligibility", None)
        assert ("change" in COMBINATIONS.actions(users[key], None)) is (key == "secretariat")
    for key in ("expert", "authority"):
        assert client_for(key).get("/cpl/combinations/").status_code == 403, key
        assert client_for(key).get("/cpl/combinations/eligibility.json").status_code == 403


# --- enrolment eligibility ----------------------------------------------------------------------


@pytest.fixture
def lists(users, installation):
    i = installation
    import_lists(
        users["secretariat"],
        lists_csv(
            [
                entry("EPC-1", [i["esme_v2"], i["gsme"], i["chf"], i["ihd"]]),
                entry("EPC-2", [i["esme_v2"], i["chf"]], **{"Subset Of": "EPC-1"}),
                entry("EPC-3", [i["gsme"], i["chf"]], csp=SOUTH),
                entry("PPC-1", [i["esme"], i["gsme"], i["chf"]], on_list="PPC"),
            ]
        ),
    )
    return i


def check(csp, *models):
    return enrolment_eligibility(
        installation=installation_parse(csp=csp, models=[ident(m) for m in models])
    )


def test_an_installation_whose_combination_is_on_the_epc_is_eligible(lists):
    result = check("csp north", lists["chf"], lists["esme_v2"])
    assert (result.eligible, result.match, result.entry.reference) == (True, "exact", "EPC-2")
    assert result.upgrades == []
    assert "added as a subset of EPC-1" in result.reason


def test_an_installation_within_an_epc_entry_is_eligible_as_a_subset(lists):
    result = check(NORTH, lists["esme_v2"], lists["gsme"], lists["chf"])
    assert (result.eligible, result.match, result.entry.reference) == (True, "subset", "EPC-1")


def test_an_installation_eligible_after_a_firmware_upgrade_names_the_upgrade(lists):
    result = check(NORTH, lists["esme"], lists["chf"])
    assert (result.eligible, result.match, result.entry.reference) == (True, "upgrade", "EPC-2")
    [upgrade] = result.upgrades
    assert upgrade.installed == lists["esme"].identity and upgrade.to == lists["esme_v2"]
    assert "00000002" in result.reason
    # A firmware the CPL does not hold is upgraded the same way.
    unknown = ("1A2B", "E001", "0100", "0000FFFF")
    result = enrolment_eligibility(
        installation=installation_parse(csp=NORTH, models=["/".join(unknown), ident(lists["chf"])])
    )
    assert result.match == "upgrade" and result.upgrades[0].installed == unknown


def test_an_installation_not_on_the_epc_is_not_eligible(lists):
    # On the PPC only; another CSP's entry; a device model no entry holds.
    for csp, models in [
        (NORTH, [lists["esme"], lists["gsme"], lists["chf"], lists["smets2"]]),
        (SOUTH, [lists["esme_v2"], lists["chf"]]),
        (NORTH, [lists["ihd"], lists["smets2"]]),
    ]:
        result = check(csp, *models)
        assert (result.eligible, result.entry, result.match) == (False, None, "")
        assert "No entry on the EPC" in result.reason
    # An entry with a device model removed from the CPL enrols nothing.
    DeviceModel.objects.filter(pk=lists["gsme"].pk).update(status="removed")
    assert not check(SOUTH, lists["gsme"], lists["chf"]).eligible


def test_the_eligibility_json_answers_with_the_entry_and_upgrades(lists, client_for):
    client = client_for("supplier_a")
    query = f"csp={NORTH}&model={ident(lists['esme'])}&model={ident(lists['chf']).lower()}"
    response = client.get(f"/cpl/combinations/eligibility.json?{query}")
    assert response.status_code == 200
    answer = response.json()
    assert answer["eligible"] is True and answer["match"] == "upgrade"
    assert answer["entry"]["combination_id"] == "EPC-2"
    assert answer["entry"]["subset_of"] == "EPC-1"
    assert answer["entry"]["first_added_to_epc"] == DAY1.isoformat()
    assert answer["entry"]["url"].endswith(
        f"/cpl/combinations/{ProductCombination.objects.get(reference='EPC-2').pk}/"
    )
    assert answer["upgrades"] == [
        {"device_type": "ESME", "from": ident(lists["esme"]), "to": ident(lists["esme_v2"])}
    ]
    assert set(answer) == {
        "eligible",
        "match",
        "csp",
        "device_models",
        "entry",
        "upgrades",
        "reason",
    }
    response = client.get(
        f"/cpl/combinations/eligibility.json?csp={SOUTH}&model={ident(lists['ihd'])}"
    )
    assert response.json()["eligible"] is False and response.json()["entry"] is None


def test_bad_eligibility_questions_answer_400(lists, client_for):
    client = client_for("dcc")
    chf = ident(lists["chf"])
    for query, field in [
        (f"model={chf}", "csp"),
        (f"csp=CSP Nowhere&model={chf}", "csp"),
        (f"csp={NORTH}", "model"),
        (f"csp={NORTH}&model=<script>", "model"),
        (f"csp={NORTH}&model=1A2B/C001/0100", "model"),
        (f"csp={NORTH}&model={chf}&model={chf}", "model"),
        (f"csp={NORTH}&" + "&".join(f"model={chf}" for _ in range(11)), "model"),
        (f"csp={NORTH}&model={'A' * 5000}", "model"),
    ]:
        response = client.get(f"/cpl/combinations/eligibility.json?{query}")
        assert response.status_code == 400, query
        assert field in response.json()["errors"], query
    assert (
        "<script>"
        not in client.get(
            f"/cpl/combinations/eligibility/?csp={NORTH}&models=<script>"
        ).content.decode()
    )


def test_the_eligibility_page_shows_the_matching_entry_and_the_upgrade(lists, client_for):
    client = client_for("supplier_b")
    assert client.get("/cpl/combinations/eligibility/").status_code == 200
    models = f"{ident(lists['esme'])}\n{ident(lists['chf'])}\n"
    response = client.get("/cpl/combinations/eligibility/", {"csp": NORTH, "models": models})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Eligible after a firmware upgrade" in page and "EPC-2" in page
    assert ident(lists["esme_v2"]) in page
    response = client.get("/cpl/combinations/eligibility/", {"csp": NORTH, "models": "nonsense"})
    assert response.status_code == 400
    assert "is not a device model" in response.content.decode()
