"""Issue 11 walk fixes: representations by the F2.7B addressees, the SSC told when one arrives,
experts reading them as their classification allows, the decision waiting for the approved
summary for Parties, and bounded dates."""

import datetime
import io

import pytest
from django.urls import reverse

from cpl.inventory import inventory_import
from governance import policies, services
from governance.models import Case, Representation
from portal.models import Notice, NoticeDelivery
from portal.policies import ActionNotNow

from ..helpers import (
    cpa_case,
    make_user,
    party_summary_approved,
    pdf_upload,
    vote_unanimously,
)

pytestmark = pytest.mark.django_db
TODAY = datetime.date.today()


def inventory(committee, case, parties):
    model = case.device_models.order_by("pk").first()
    extract = "Device Model,Supplier Party ID,Device Count,As Of\n" + "".join(
        f"{'/'.join(model.identity)},{party},{count},{TODAY}\n" for party, count in parties
    )
    inventory_import(
        actor=committee["secretariat"],
        binary=io.BytesIO(extract.encode()),
        file_name="inventory.csv",
        file_sha256="0" * 64,
    )


def in_assessment(committee, parties=(("SUPB", 300),)):
    """Addressed by the secretariat to supplier A only; supplier B has devices of the model."""
    case = cpa_case(committee, models=1)
    inventory(committee, case, parties)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    return Case.objects.get(pk=case.pk)


def represent(client, case, text, classification="parties", document=True):
    data = {"text": text, "classification": classification}
    if document:
        data["document"] = pdf_upload(f"{classification}.pdf")
    return client.post(reverse("governance:representation-submit", args=[case.pk]), data)


# --- 1. the F2.7B addressees make representations ---------------------------------------------


def test_a_supplier_with_devices_and_the_dcc_make_representations_unlisted(committee, client_for):
    case = in_assessment(committee)
    for key in ("supplier_b", "dcc"):
        client = client_for(key)
        assert client.get(reverse("governance:case", args=[case.pk])).status_code == 200
        response = represent(client, case, f"Views of {key}")
        assert response.status_code == 302, response.content.decode()[:500]
    assert set(Representation.objects.values_list("organisation__name", flat=True)) == {
        "Supplier B Power",
        "DCC",
    }
    # A Party with no devices and not listed is not among them.
    assert represent(client_for("network"), case, "Ours").status_code == 404


def test_the_addressees_are_the_decisions_rule(committee):
    """One rule: whom the assessment addresses is whom decision_address adds."""
    from governance.referrals import decision_address

    case = in_assessment(committee)
    assert decision_address(case) == []  # nothing left to add on issue
    assert {o.name for o in case.addressed_to.all()} == {
        "Supplier A Energy",
        "Supplier B Power",
        "DCC",
    }


# --- 2. the SSC hears of a representation ------------------------------------------------------


def test_the_ssc_is_told_of_a_representation(committee, client_for):
    case = in_assessment(committee)
    conflicted = committee["member3"]
    services.conflict_declare(actor=conflicted, case=case, has_conflict=True, reason="Advises B")
    assert represent(client_for("supplier_b"), case, "Secret views", "ssc-only").status_code == 302
    notice = Notice.objects.get(subject__contains="a representation from Supplier B Power")
    assert notice.link == reverse("governance:case", args=[case.pk]) + "#representations"
    assert "Secret views" not in notice.body
    told = set(NoticeDelivery.objects.filter(notice=notice).values_list("recipient", flat=True))
    for key in ("secretariat", "chair", "member", "member2"):
        assert committee[key].pk in told, key
    assert conflicted.pk not in told
    assert committee["supplier_b"].pk not in told


# --- 3. experts read representations as their classification allows --------------------------


def test_an_invited_expert_reads_parties_representations_only(committee, client_for):
    case = in_assessment(committee)
    supplier = client_for("supplier_b")
    represent(supplier, case, "Open views", "parties")
    represent(supplier, case, "Closed views", "ssc-only")
    services.expert_invite(
        actor=committee["secretariat"],
        case=case,
        expert=committee["expert"],
        expires_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=5),
    )
    page = client_for("expert").get(reverse("governance:case", args=[case.pk])).content.decode()
    assert "Open views" in page and "Closed views" not in page
    for representation in Representation.objects.all():
        document = representation.documents.get()
        url = reverse("governance:representation-download", args=[case.pk, document.pk])
        expected = 200 if representation.classification == "parties" else 404
        assert client_for("expert").get(url).status_code == expected
    # A Party reads the other Parties' `parties` views, not their `ssc-only` ones.
    page = client_for("supplier_a").get(reverse("governance:case", args=[case.pk]))
    assert "Open views" in page.content.decode() and "Closed views" not in page.content.decode()


def test_an_expert_whose_invitation_ended_reads_none(committee, client_for):
    case = in_assessment(committee)
    represent(client_for("supplier_b"), case, "Open views", "parties")
    expert = make_user("expert", "late_expert")
    services.expert_invite(
        actor=committee["secretariat"],
        case=case,
        expert=expert,
        expires_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=5),
    )
    case.experts.filter(expert=expert).update(
        expires_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    )
    assert not policies.representations.visible(expert).exists()
    representation = Representation.objects.get()
    assert not policies.representations.can(expert, "view", representation)


# --- 5. the decision waits for the approved summary for Parties -------------------------------


def test_a_decision_is_not_issued_before_the_summary_for_parties_is_approved(committee, client_for):
    case = in_assessment(committee)
    vote_unanimously(committee, case, "remedial_plan")
    case = Case.objects.get(pk=case.pk)
    chair = client_for("chair")
    url = reverse("governance:decision-issue", args=[case.pk])
    assert policies.cases.why_not(committee["chair"], "issue_decision", case) == (
        policies.NO_APPROVED_SUMMARY
    )
    page = chair.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "summary for Parties is not approved" in html and 'name="reasons"' not in html
    case_page = chair.get(reverse("governance:case", args=[case.pk])).content.decode()
    assert "Waiting for the secretariat&#x27;s summary" in case_page and url not in case_page
    data = {
        "reasons": "Proportionate",
        "security_factors": "Local",
        "operational_impact": "Large",
        "party_summary": "Proportionate",
    }
    assert chair.post(url, data).status_code == 409
    with pytest.raises(ActionNotNow, match="summary for Parties is not approved"):
        services.decision_issue(actor=committee["chair"], case=case, **data)
    assert Case.objects.get(pk=case.pk).state == Case.State.DECIDED

    party_summary_approved(committee, case)
    assert 'name="reasons"' in chair.get(url).content.decode()
    asked = chair.post(url, data)  # first the confirmation page: nothing issued yet
    assert asked.status_code == 200 and Case.objects.get(pk=case.pk).state == Case.State.DECIDED
    assert chair.post(url, {**data, "confirmed": "yes"}).status_code == 302
    assert Case.objects.get(pk=case.pk).state == Case.State.REMEDIATION


# --- 7. dates within bounds --------------------------------------------------------------------

FAR = "9999-12-31"


def test_far_future_dates_are_field_errors(committee, client_for):
    from governance.forms import (
        CaseOpenForm,
        CharacteristicsUploadForm,
        DeterminationForm,
        ExpertInviteForm,
        InformationRequestForm,
        MilestoneForm,
        PlanReviewForm,
        PolicyUploadForm,
    )

    case = cpa_case(committee, models=1)
    forms = [
        (CaseOpenForm(data={"event_date": FAR}, certificate=case.certificate), "event_date"),
        (ExpertInviteForm(data={"expires_on": FAR}, case=case), "expires_on"),
        (CharacteristicsUploadForm(data={"effective_date": FAR}), "effective_date"),
        (MilestoneForm(data={"target_date": FAR}), "target_date"),
        (PlanReviewForm(data={"expires_on": FAR, "decision": "approve"}), "expires_on"),
        (PolicyUploadForm(data={"review_date": FAR}), "review_date"),
        (InformationRequestForm(data={"due_date": FAR}), "due_date"),
        (DeterminationForm(data={"effective_date": FAR}), "effective_date"),
    ]
    for form, name in forms:
        assert not form.is_valid()
        assert any("within 10 years" in e or "in the past" in e for e in form.errors[name]), (
            type(form).__name__,
            form.errors.get(name),
        )
    # An event date cannot be in the future, nor in another century.
    for value in ((TODAY + datetime.timedelta(days=1)).isoformat(), "0202-01-01"):
        form = CaseOpenForm(data={"event_date": value}, certificate=case.certificate)
        assert not form.is_valid() and form.errors["event_date"]
    # The page says so on the field.
    response = client_for("authority").get("/")  # signs in; the form pages below are the SSC's
    response = client_for("secretariat").post(
        reverse("governance:expert-invite", args=[case.pk]),
        {"expert": committee["expert"].pk, "expires_on": FAR},
    )
    assert response.status_code == 400
    assert "within 10 years" in response.content.decode()
    within = (TODAY + datetime.timedelta(days=365 * 9)).isoformat()
    assert ExpertInviteForm(
        data={"expires_on": within, "expert": committee["expert"].pk}, case=case
    ).is_valid()


def test_cpl_date_inputs_are_bounded():
    from cpl.forms import CertificateAddForm, CertificateEventForm, InventoryImportForm

    assert "within 10 years" in str(
        CertificateAddForm(data={"kind": "cpa", "number": "X", "expiry": FAR}).errors["expiry"]
    )
    tomorrow = (TODAY + datetime.timedelta(days=1)).isoformat()
    assert CertificateAddForm(data={"issued": tomorrow}).errors["issued"]
    assert CertificateEventForm(data={"on": FAR}).errors["on"]
    assert InventoryImportForm(data={"as_of": FAR}).errors["as_of"]
