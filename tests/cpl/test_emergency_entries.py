"""Emergency CPL entries for SMETS1 (cpl.emergency): the request from a supplier, the
secretariat's decision and listing, the fast-track PPCT and its deadline, and who sees what."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from cpl import emergency
from cpl.combinations import product_combination_save
from cpl.models import (
    CPLChangeNotice,
    CPLRemoval,
    DeviceModel,
    EmergencyEntryRequest,
    Manufacturer,
    ProductCombination,
)
from cpl.tasks import emergency_deadlines_check
from portal.models import Notice
from portal.policies import ActionNotNow
from portal.working_days import add_working_days

State = EmergencyEntryRequest.State
TODAY = datetime.date.today()


def smets1(manufacturer, model_id, device_type, firmware="00000001"):
    return DeviceModel.objects.create(
        device_type=device_type,
        manufacturer=manufacturer,
        model_id=model_id,
        hardware_version="0100",
        firmware_version=firmware,
        smets_generation="SMETS1",
        date_added=TODAY - datetime.timedelta(days=400),
    )


@pytest.fixture
def epc(db):
    maker = Manufacturer.objects.create(manufacturer_id="1A2B", name="SMETS1 Meters")
    meter = smets1(maker, "0001", "ESME")
    hub = smets1(maker, "0002", "CHF")
    lone = smets1(maker, "0003", "GSME")  # in no EPC entry
    entry = product_combination_save(
        actor=None,
        reference="EPC-1",
        csp="CSP North",
        device_models=[meter, hub],
        on_list="epc",
        first_added=TODAY - datetime.timedelta(days=300),
    )
    return {"meter": meter, "hub": hub, "lone": lone, "entry": entry}


def submit(users, epc, key="supplier_a", **overrides):
    values = dict(
        actor=users[key],
        device_model=epc["meter"],
        new_firmware_version="0000000a",
        new_image_hash="AB" * 32,
        combinations=[epc["entry"]],
        vulnerability_summary="Buffer overflow in the HAN parser.",
        summary_classification="ssc-only",
    )
    values.update(overrides)
    return emergency.emergency_request_submit(**values)


def listed(users, epc, **overrides):
    request = submit(users, epc, **overrides)
    emergency.emergency_request_accept(actor=users["secretariat"], request=request)
    emergency.emergency_request_list(actor=users["secretariat"], request=request)
    request.refresh_from_db()
    return request


def test_full_path_lists_an_emergency_entry_then_confirms_it_on_the_epc(users, epc):
    request = submit(users, epc)
    assert request.state == State.SUBMITTED
    assert request.new_firmware_version == "0000000A"
    assert request.new_image_hash == "ab" * 32

    emergency.emergency_request_accept(actor=users["secretariat"], request=request)
    emergency.emergency_request_list(actor=users["secretariat"], request=request)
    request.refresh_from_db()
    assert request.state == State.FAST_TRACK_PPCT
    assert request.ppct_due == add_working_days(TODAY, 10)
    model = request.emergency_device_model
    assert model.emergency_entry and model.is_on_cpl
    assert model.identity == ("1A2B", "0001", "0100", "0000000A")
    assert (model.device_type, model.smets_generation) == ("ESME", "SMETS1")
    assert model.manufacturer_image_hash == "ab" * 32
    notice = Notice.objects.get(kind=Notice.Kind.CPL_CHANGE)
    recipients = {o.name for o in notice.recipients.all()}
    assert {"DCC", "Security Sub-Committee"} <= recipients

    emergency.emergency_ppct_record(
        actor=users["secretariat"], request=request, passed=True, notes="Passed at the lab."
    )
    request.refresh_from_db()
    assert request.state == State.CONFIRMED
    added = ProductCombination.objects.exclude(pk=epc["entry"].pk).get()
    assert added.on_list == "epc" and added.csp == "CSP North"
    assert set(added.device_models.all()) == {model, epc["hub"]}
    assert added.first_added_to_epc == timezone.localdate()


def test_emergency_entry_is_flagged_in_exports_and_the_register(users, epc, client_for):
    listed(users, epc)
    client = client_for("dcc")
    csv_text = b"".join(client.get(reverse("cpl:export", args=["csv"])).streaming_content)
    header, *rows = csv_text.decode().splitlines()
    assert "Emergency Entry" in header.split(",")
    emergency_rows = [r for r in rows if "0000000A" in r]
    assert emergency_rows and emergency_rows[0].endswith("Yes")
    assert not [r for r in rows if "00000001" in r and r.endswith("Yes")]
    register = client.get(reverse("cpl:register")).content.decode()
    rows = {r.split("</a>")[0]: r for r in register.split('<tr class="govuk-table__row">')[1:]}
    assert "Emergency entry" in rows[next(k for k in rows if "fw 0000000A" in k)]
    assert "Emergency entry" not in rows[next(k for k in rows if "0001 hw 0100 fw 00000001" in k)]


def test_rejection_records_the_reasons_and_tells_the_requester(users, epc):
    request = submit(users, epc)
    emergency.emergency_request_reject(
        actor=users["secretariat"], request=request, reason="Not a material vulnerability."
    )
    request.refresh_from_db()
    assert request.state == State.REJECTED
    assert request.rejection_reason == "Not a material vulnerability."
    assert not DeviceModel.objects.filter(emergency_entry=True).exists()
    notice = Notice.objects.get(kind=Notice.Kind.DECISION)
    assert notice.deliveries.filter(recipient=users["supplier_a"]).exists()


def test_deadline_alert_via_the_task_then_withdrawal_removes_the_model(users, epc):
    request = listed(users, epc)
    EmergencyEntryRequest.objects.filter(pk=request.pk).update(
        ppct_due=TODAY - datetime.timedelta(days=1)
    )
    assert emergency_deadlines_check() == 1
    assert emergency_deadlines_check() == 0  # alerted once
    alert = Notice.objects.get(subject__startswith="Fast-track PPCT overdue")
    assert alert.deliveries.filter(recipient=users["secretariat"]).exists()
    assert not alert.deliveries.filter(recipient=users["supplier_a"]).exists()

    request.refresh_from_db()
    emergency.emergency_request_withdraw(
        actor=users["secretariat"], request=request, reason="PPCT not completed in time."
    )
    request.refresh_from_db()
    model = request.emergency_device_model
    model.refresh_from_db()
    assert request.state == State.WITHDRAWN
    assert model.status == DeviceModel.Status.REMOVED
    assert model.removal_basis == DeviceModel.RemovalBasis.EMERGENCY_WITHDRAWN
    assert CPLRemoval.objects.get(device_model=model).reference == request.reference
    change = CPLChangeNotice.objects.get(device_model=model)
    assert change.to_status == DeviceModel.Status.REMOVED


def test_failed_ppct_allows_withdrawal_and_a_due_one_does_not(users, epc, client_for):
    request = listed(users, epc)
    client = client_for("secretariat")
    url = reverse("cpl:emergency-action", args=[request.pk, "withdraw"])
    response = client.post(url, {"reason": "x", "confirmed": "yes"})
    assert response.status_code == 409
    emergency.emergency_ppct_record(
        actor=users["secretariat"], request=request, passed=False, notes="Bricked meters."
    )
    response = client.post(url, {"reason": "Failed PPCT", "confirmed": "yes"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == State.WITHDRAWN


def test_second_supplier_cannot_see_nor_list_the_first_ones_request(users, epc, client_for):
    request = submit(users, epc)
    client = client_for("supplier_b")
    assert client.get(reverse("cpl:emergency", args=[request.pk])).status_code == 404
    listing = client.get(reverse("cpl:emergency-list"))
    assert listing.status_code == 200
    assert request.reference not in listing.content.decode()
    own = client_for("supplier_a").get(reverse("cpl:emergency-list"))
    assert request.reference in own.content.decode()
    for key in ("secretariat", "member", "dcc"):
        assert client_for(key).get(reverse("cpl:emergency", args=[request.pk])).status_code == 200
    for key in ("network", "authority", "expert"):
        page = client_for(key).get(reverse("cpl:emergency", args=[request.pk]))
        assert page.status_code in (403, 404)


def test_ssc_only_classification_hides_the_summary_from_the_dcc(users, epc, client_for):
    request = submit(users, epc, vulnerability_summary="Secret <script>x</script>")
    dcc_page = client_for("dcc").get(reverse("cpl:emergency", args=[request.pk])).content
    assert b"Secret" not in dcc_page
    for key in ("supplier_a", "member"):
        page = client_for(key).get(reverse("cpl:emergency", args=[request.pk])).content
        assert b"Secret &lt;script&gt;" in page
    shared = submit(
        users,
        epc,
        new_firmware_version="0000000B",
        vulnerability_summary="Shared detail",
        summary_classification="parties",
    )
    assert (
        b"Shared detail"
        in client_for("dcc").get(reverse("cpl:emergency", args=[shared.pk])).content
    )


def test_only_the_secretariat_decides(users, epc, client_for):
    request = submit(users, epc)
    for key in ("supplier_a", "member", "dcc", "chair"):
        response = client_for(key).post(
            reverse("cpl:emergency-action", args=[request.pk, "accept"]), {"confirmed": "yes"}
        )
        assert response.status_code == 403, key
    client = client_for("secretariat")
    url = reverse("cpl:emergency-action", args=[request.pk, "accept"])
    confirm = client.post(url)
    assert confirm.status_code == 200 and b"Accept the request" in confirm.content
    request.refresh_from_db()
    assert request.state == State.SUBMITTED  # the confirmation page changes nothing
    assert client.post(url, {"confirmed": "yes"}).status_code == 302
    request.refresh_from_db()
    assert request.state == State.ACCEPTED


def test_only_suppliers_submit(users, epc, client_for):
    for key in ("secretariat", "dcc", "member"):
        assert client_for(key).get(reverse("cpl:emergency-submit")).status_code == 403
    with pytest.raises(PermissionDenied):
        submit(users, epc, key="dcc")


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"new_firmware_version": "12G45678"}, "new_firmware_version"),
        ({"new_firmware_version": "123"}, "new_firmware_version"),
        ({"new_firmware_version": "=1+2\x00"}, "new_firmware_version"),
        ({"new_firmware_version": "00000001"}, "new_firmware_version"),  # the current one
        ({"new_image_hash": "zz" * 32}, "new_image_hash"),
        ({"combinations": []}, "combinations"),
        ({"vulnerability_summary": "  "}, "vulnerability_summary"),
        ({"vulnerability_summary": "x\x00y"}, "vulnerability_summary"),
        ({"summary_classification": "named-recipients"}, "summary_classification"),
    ],
)
def test_bad_input_is_refused(users, epc, overrides, field):
    with pytest.raises(emergency.EmergencyRequestInvalid) as refused:
        submit(users, epc, **overrides)
    assert field in refused.value.errors
    assert not EmergencyEntryRequest.objects.exists()


def test_model_in_no_epc_entry_is_refused(users, epc):
    with pytest.raises(emergency.EmergencyRequestInvalid) as refused:
        submit(users, epc, device_model=epc["lone"])
    assert "device_model" in refused.value.errors


def test_firmware_already_on_the_cpl_is_refused(users, epc):
    smets1(epc["meter"].manufacturer, "0001", "ESME", firmware="0000000A")
    with pytest.raises(emergency.EmergencyRequestInvalid) as refused:
        submit(users, epc)
    assert "already on the CPL" in refused.value.errors["new_firmware_version"][0]


def test_double_submit_is_refused(users, epc, client_for):
    submit(users, epc)
    with pytest.raises(emergency.EmergencyRequestInvalid) as refused:
        submit(users, epc, key="supplier_b")
    assert "already open" in refused.value.errors["new_firmware_version"][0]
    assert EmergencyEntryRequest.objects.count() == 1


def test_submit_form_through_the_page(users, epc, client_for):
    client = client_for("supplier_a")
    form = client.get(reverse("cpl:emergency-submit"))
    assert form.status_code == 200
    token = form.context["form"]["submission_token"].value()
    data = {
        "device_model": epc["meter"].pk,
        "new_firmware_version": "0000000C",
        "combinations": [epc["entry"].pk],
        "vulnerability_summary": "Fixes a key handling flaw.",
        "summary_classification": "parties",
        "submission_token": token,
    }
    response = client.post(reverse("cpl:emergency-submit"), data)
    assert response.status_code == 302
    request = EmergencyEntryRequest.objects.get()
    assert request.organisation == users["supplier_a"].organisation
    bad = client.post(
        reverse("cpl:emergency-submit"),
        {**data, "submission_token": "", "new_firmware_version": "nothex!!"},
    )
    assert bad.status_code == 400


@pytest.mark.parametrize("count", [1, 6])
def test_list_page_query_count_is_fixed(
    users, epc, client_for, django_assert_max_num_queries, count
):
    for n in range(count):
        submit(users, epc, new_firmware_version=f"1000000{n}")
    client = client_for("secretariat")
    with django_assert_max_num_queries(14):
        assert client.get(reverse("cpl:emergency-list")).status_code == 200


def test_dashboard_panels_and_device_model_page(users, epc, client_for):
    request = submit(users, epc)
    page = client_for("secretariat").get(reverse("dashboard")).content.decode()
    assert "Emergency requests to decide" in page and request.reference in page
    assert (
        "Your emergency requests"
        in client_for("supplier_a").get(reverse("dashboard")).content.decode()
    )
    assert (
        request.reference not in client_for("supplier_b").get(reverse("dashboard")).content.decode()
    )
    emergency.emergency_request_accept(actor=users["secretariat"], request=request)
    emergency.emergency_request_list(actor=users["secretariat"], request=request)
    request.refresh_from_db()
    page = client_for("secretariat").get(reverse("dashboard")).content.decode()
    assert "Fast-track PPCT due or overdue" in page
    detail = client_for("dcc").get(
        reverse("cpl:device-model", args=[request.emergency_device_model_id])
    )
    assert "Emergency entry" in detail.content.decode()


def test_a_failed_ppct_stands_and_the_requester_hears_every_decision(users, epc):
    request = listed(users, epc)
    emergency.emergency_ppct_record(
        actor=users["secretariat"], request=request, passed=False, notes="HAN join fails"
    )
    with pytest.raises(ActionNotNow, match="outcome is recorded"):
        emergency.emergency_ppct_record(
            actor=users["secretariat"], request=request, passed=True, notes="Retest"
        )
    emergency.emergency_request_withdraw(
        actor=users["secretariat"], request=request, reason="PPCT failed"
    )
    told = Notice.objects.filter(deliveries__recipient=users["supplier_a"]).values_list(
        "subject", flat=True
    )
    for outcome in ("accepted", "fast-track PPCT failed", "emergency entry withdrawn"):
        assert any(s.endswith(outcome) for s in told), (outcome, list(told))


@pytest.fixture
def other_epc(epc):
    """A second EPC entry, of another SMETS1 model: not one the meter's request may name."""
    other = smets1(epc["meter"].manufacturer, "0004", "ESME")
    return product_combination_save(
        actor=None,
        reference="EPC-2",
        csp="CSP South",
        device_models=[other, epc["hub"]],
        on_list="epc",
        first_added=TODAY - datetime.timedelta(days=200),
    )


def combination_labels(html: str) -> list[str]:
    group = html.split('id="combinations-group"')[1].split("</fieldset>")[0]
    return [ref for ref in ("EPC-1", "EPC-2") if f"{ref} (" in group]


def test_the_form_lists_the_chosen_models_combinations_only(users, epc, other_epc, client_for):
    client = client_for("supplier_a")
    url = reverse("cpl:emergency-submit")
    page = client.get(url).content.decode()
    # Choosing a model asks the form again for it (htmx) and swaps in its combinations.
    assert f'hx-get="{url}"' in page and 'hx-select="#combinations-group"' in page
    assert combination_labels(page) == ["EPC-1", "EPC-2"]  # no model chosen: all, no JS
    for model, shown in ((epc["meter"], ["EPC-1"]), (epc["hub"], ["EPC-1", "EPC-2"])):
        page = client.get(url, {"device_model": model.pk}, headers={"HX-Request": "true"})
        html = page.content.decode()
        assert combination_labels(html) == shown
        assert f"The Eligible Product Combinations that include {model}." in html
    # A value that is no such model lists them all, as before choosing.
    assert combination_labels(client.get(url, {"device_model": "x1"}).content.decode()) == [
        "EPC-1",
        "EPC-2",
    ]


def test_an_entry_not_of_the_chosen_model_is_refused_by_name(users, epc, other_epc, client_for):
    """Without JavaScript every entry is listed: the server refuses one of another model."""
    client = client_for("supplier_a")
    response = client.post(
        reverse("cpl:emergency-submit"),
        {
            "device_model": epc["meter"].pk,
            "new_firmware_version": "0000000C",
            "combinations": [epc["entry"].pk, other_epc.pk],
            "vulnerability_summary": "",  # another error at once: both are reported
            "summary_classification": "parties",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert (
        f"EPC-2 does not include {epc['meter']}: select only the Eligible Product Combinations "
        "that include the chosen device model."
    ) in html
    assert "Summarise the vulnerability the firmware fixes" in html
    assert combination_labels(html) == ["EPC-1"]  # shown again for the chosen model only
    assert not EmergencyEntryRequest.objects.exists()
    # The service keeps the same rule for any other caller.
    with pytest.raises(emergency.EmergencyRequestInvalid) as refused:
        submit(users, epc, combinations=[other_epc])
    assert refused.value.errors["combinations"][0].startswith("EPC-2 does not include")


def test_listing_refuses_firmware_put_on_the_cpl_since_the_request(users, epc):
    request = submit(users, epc)
    emergency.emergency_request_accept(actor=users["secretariat"], request=request)
    smets1(epc["meter"].manufacturer, "0001", "ESME", firmware="0000000a")  # any case
    with pytest.raises(ValueError, match="0000000A of this model is already on the CPL"):
        emergency.emergency_request_list(actor=users["secretariat"], request=request)
    request.refresh_from_db()
    assert request.state == State.ACCEPTED
