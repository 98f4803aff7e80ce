"""The SSC's record (issue 11 items 7, 8, 10): stakeholder representations, two texts with one
public (the Party-facing summaries), and recommendations kept apart from the decision."""

import datetime
import io
import re

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from cpl.inventory import inventory_import
from governance import record, referrals, representations, services
from governance.models import Case, DecisionRecord, Representation
from portal.models import Notice
from portal.notices import notice_deliver
from portal.policies import ActionNotNow

from ..helpers import cpa_case, make_user, party_summary_approved, pdf_upload, vote_unanimously

pytestmark = pytest.mark.django_db

SSC_REASON = "Certificate lapsed during re-evaluation"  # cpa_case's reason
SSC_SUMMARY = "Key handling weakness found in re-evaluation."  # cpa_case's summary
PARTY_SUMMARY = "The CPA certificate of these models has expired; the SSC is assessing the risk."
SSC_REASONS = "Key extractable with two minutes of physical access"
PARTY_REASONS = "The risk is limited and plans are proportionate."


def in_assessment(users, addressed=("supplier_a", "supplier_b")):
    case = cpa_case(users, addressed=addressed)
    services.case_transition(actor=users["secretariat"], case=case, name="start_assessment")
    return case


def with_inventory(users, case):
    extract = "Device Model,Supplier Party ID,Device Count,As Of\n" + "".join(
        f"{'/'.join(model.identity)},SUPA,1200,2026-11-01\n" for model in case.device_models.all()
    )
    inventory_import(
        actor=users["secretariat"],
        binary=io.BytesIO(extract.encode()),
        file_name="inventory.csv",
        file_sha256="0" * 64,
    )


def read(case):
    """The summary for Parties as the chair reads it on the case page."""
    return record.party_summary_sha256(Case.objects.get(pk=case.pk))


def decide(committee, case, decision="remedial_plan"):
    return vote_unanimously(committee, case, decision)


def issue(committee, case):
    party_summary_approved(committee, case)
    return services.decision_issue(
        actor=committee["chair"],
        case=case,
        reasons=SSC_REASONS,
        security_factors="Physical access needed",
        operational_impact="1,200 homes",
        party_summary=PARTY_REASONS,
        no_devices_reason="The models without inventory coverage have no devices (test data).",
    )


def page(client, case) -> str:
    response = client.get(f"/cases/{case.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def invite_expert(users, case):
    services.expert_invite(
        actor=users["secretariat"],
        case=case,
        expert=users["expert"],
        expires_at=timezone.now() + datetime.timedelta(days=5),
    )


# --- item 7: stakeholder representations -------------------------------------------------------


def test_a_party_makes_a_representation_while_the_case_is_in_assessment_and_not_after(
    committee, client_for
):
    case = cpa_case(committee, addressed=("supplier_a",))
    url = f"/cases/{case.pk}/representations/new/"
    data = {"text": "Suspension strands 1,200 homes", "classification": "ssc-only"}
    assert client_for("supplier_a").post(url, data).status_code == 409  # opened: not yet
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")

    client = client_for("supplier_a")
    assert "Make a representation" in page(client, case)
    response = client.post(url, {**data, "document": pdf_upload("impact.pdf")})
    assert response.status_code == 302
    made = Representation.objects.get(case=case)
    assert made.organisation == committee["supplier_a"].organisation
    assert [d.original_name for d in made.documents.all()] == ["impact.pdf"]

    decide(committee, case)
    refused = client_for("supplier_a").post(url, data)
    assert refused.status_code == 409
    assert Representation.objects.filter(case=case).count() == 1
    with pytest.raises(ActionNotNow):
        representations.representation_submit(
            actor=committee["supplier_a"], case=case, text="Late", classification="parties"
        )


def test_only_addressed_parties_make_representations(committee, client_for):
    case = in_assessment(committee, addressed=("supplier_a",))
    url = f"/cases/{case.pk}/representations/new/"
    data = {"text": "Our view", "classification": "parties"}
    assert client_for("supplier_b").post(url, data).status_code == 404  # not addressed
    assert client_for("secretariat").post(url, data).status_code == 403
    assert not Representation.objects.exists()


def test_the_ssc_reads_a_representation_another_supplier_does_not(committee, client_for):
    case = in_assessment(committee)
    invite_expert(committee, case)
    conflicted = make_user("member", "conflicted")
    services.conflict_declare(actor=conflicted, case=case, has_conflict=True, reason="Works at A")
    representation = representations.representation_submit(
        actor=committee["supplier_a"],
        case=case,
        text="Our 1,200 customers rely on prepayment",
        classification="ssc-only",
        uploads=[pdf_upload("impact.pdf")],
    )
    document = representation.documents.get()
    download = f"/cases/{case.pk}/representations/documents/{document.pk}/"
    text = "Our 1,200 customers rely on prepayment"
    for key in ("secretariat", "chair", "member", "supplier_a"):
        client = client_for(key)
        assert text in page(client, case), key
        assert client.get(download).status_code == 200, key
    for key in ("supplier_b", "expert", conflicted):
        client = client_for(key)
        assert text not in page(client, case)
        assert client.get(download).status_code == 404


def test_a_representation_for_parties_is_read_by_the_addressed_parties(committee, client_for):
    case = in_assessment(committee)
    invite_expert(committee, case)
    representations.representation_submit(
        actor=committee["supplier_a"],
        case=case,
        text="We support remedial plans",
        classification="parties",
    )
    assert "We support remedial plans" in page(client_for("supplier_b"), case)
    assert "We support remedial plans" in page(client_for("member"), case)
    # An invited expert reads `parties` views as the classification allows (the rule is
    # policies.why_not_classified, shared with evidence).
    assert "We support remedial plans" in page(client_for("expert"), case)


def test_the_decision_record_lists_the_representations_considered_and_the_pack_holds_them(
    committee, client_for
):
    case = in_assessment(committee)
    with_inventory(committee, case)
    representations.representation_submit(
        actor=committee["supplier_a"],
        case=case,
        text="Suspension strands 1,200 homes",
        classification="ssc-only",
        uploads=[pdf_upload("impact.pdf")],
    )
    decide(committee, case, decision="suspend")
    decision = DecisionRecord.objects.get(case=case)
    [considered] = decision.representations
    assert considered["organisation"] == "Supplier A Energy"
    assert [d["name"] for d in considered["documents"]] == ["impact.pdf"]
    # A row edited after the close does not change what the record says was considered.
    Representation.objects.filter(case=case).update(text="Something else")
    assert DecisionRecord.objects.get(case=case).representations == decision.representations

    issue(committee, case)
    referral = referrals.referral_lodge(
        actor=committee["supplier_a"], case=case, kind="remove", grounds="Disproportionate"
    )
    pack = referrals.referral_send_pack(
        actor=committee["secretariat"], referral=referral, disclosed=[]
    )
    paths = [f["path"] for f in pack.files]
    assert any(p.startswith("documents/representations/") and "impact.pdf" in p for p in paths)
    # The referring Party's page shows the reasons for Parties; the Authority's the SSC's too.
    referral_page = f"/referrals/{referral.pk}/"
    party = client_for("supplier_a").get(referral_page).content.decode()
    assert PARTY_REASONS in party and SSC_REASONS not in party and SSC_SUMMARY not in party
    authority = client_for("authority").get(referral_page).content.decode()
    assert PARTY_REASONS in authority and SSC_REASONS in authority


# --- item 8: two texts, one public -------------------------------------------------------------


def test_a_party_and_an_expert_read_only_the_party_summary_once_the_chair_approves_it(
    committee, client_for
):
    case = in_assessment(committee)
    invite_expert(committee, case)
    for key in ("supplier_a", "expert"):
        text = page(client_for(key), case)
        assert SSC_REASON not in text and SSC_SUMMARY not in text and "High" not in text
        assert record.NO_SUMMARY_YET in text

    client = client_for("secretariat")
    response = client.post(f"/cases/{case.pk}/party-summary/", {"party_summary": PARTY_SUMMARY})
    assert response.status_code == 302
    assert PARTY_SUMMARY not in page(client_for("supplier_a"), case)  # not approved yet
    assert client_for("member").post(f"/cases/{case.pk}/party-summary/approve/").status_code == 403
    chair = client_for("chair")
    shown = page(chair, case)
    assert "Approve the summary for Parties" in shown
    read_sha256 = re.search(r'name="party_summary_sha256" value="([0-9a-f]{64})"', shown).group(1)
    approve = f"/cases/{case.pk}/party-summary/approve/"
    assert chair.post(approve, {"party_summary_sha256": read_sha256}).status_code == 302

    for key in ("supplier_a", "expert"):
        text = page(client_for(key), case)
        assert PARTY_SUMMARY in text
        assert SSC_REASON not in text and SSC_SUMMARY not in text and "High" not in text
    text = page(client_for("member"), case)
    assert SSC_REASON in text and SSC_SUMMARY in text and "High" in text and PARTY_SUMMARY in text
    listing = client_for("supplier_a").get("/cases/").content.decode()
    assert "High" not in listing and "High" in client_for("member").get("/cases/").content.decode()


def test_a_revised_party_summary_needs_approval_again(committee):
    case = in_assessment(committee)
    record.case_party_summary_write(
        actor=committee["secretariat"], case=case, party_summary=PARTY_SUMMARY
    )
    record.case_party_summary_approve(actor=committee["chair"], case=case, read_sha256=read(case))
    case.refresh_from_db()
    assert record.party_summary(case) == PARTY_SUMMARY
    record.case_party_summary_write(
        actor=committee["secretariat"], case=case, party_summary="A new text"
    )
    case.refresh_from_db()
    assert record.party_summary(case) == record.NO_SUMMARY_YET
    with pytest.raises(PermissionDenied):  # only the case's chair approves
        record.case_party_summary_approve(
            actor=committee["secretariat"], case=case, read_sha256=read(case)
        )


def test_notices_and_e_mails_carry_the_party_text_never_the_ssc_reasons(committee):
    case = in_assessment(committee)
    with_inventory(committee, case)
    record.case_party_summary_write(
        actor=committee["secretariat"], case=case, party_summary=PARTY_SUMMARY
    )
    record.case_party_summary_approve(actor=committee["chair"], case=case, read_sha256=read(case))
    decide(committee, case)
    issue(committee, case)
    notice = Notice.objects.get(kind=Notice.Kind.DECISION)
    for secret in (SSC_REASONS, SSC_REASON, SSC_SUMMARY, "Physical access needed", "High"):
        assert secret not in notice.body
    assert PARTY_SUMMARY in notice.body and PARTY_REASONS in notice.body
    mail.outbox.clear()
    notice_deliver(notice_id=notice.pk)
    assert mail.outbox
    for message in mail.outbox:
        assert PARTY_REASONS in message.body and SSC_REASONS not in message.body
    # And every other notice about the case written so far.
    for other in Notice.objects.all():
        assert SSC_REASONS not in other.body and SSC_SUMMARY not in other.body


def test_the_decision_page_shows_parties_the_reasons_for_parties_only(committee, client_for):
    case = in_assessment(committee)
    with_inventory(committee, case)
    decide(committee, case)
    issue(committee, case)
    party = page(client_for("supplier_a"), case)
    assert PARTY_REASONS in party and SSC_REASONS not in party
    ssc = page(client_for("member"), case)
    assert PARTY_REASONS in ssc and SSC_REASONS in ssc


def test_the_secretariat_drafts_the_decision_reasons_for_parties_the_chair_issues_them(
    committee, client_for
):
    case = in_assessment(committee)
    with_inventory(committee, case)
    decide(committee, case)
    client = client_for("secretariat")
    response = client.post(
        f"/cases/{case.pk}/party-summary/",
        {"party_summary": PARTY_SUMMARY, "decision_party_summary": PARTY_REASONS},
    )
    assert response.status_code == 302
    party_summary_approved(committee, case)
    form = client_for("chair").get(f"/cases/{case.pk}/decision/").content.decode()
    assert PARTY_REASONS in form  # the chair's form starts from the secretariat's draft


# --- item 10: recommendation apart from the decision -------------------------------------------


def test_a_recommendation_is_recorded_before_the_ballot_and_shown_beside_the_decision(
    committee, client_for
):
    case = in_assessment(committee)
    with_inventory(committee, case)
    invite_expert(committee, case)
    url = f"/cases/{case.pk}/recommendation/"
    assert client_for("member").post(url, {}).status_code == 403
    assert client_for("supplier_a").post(url, {}).status_code == 403
    secretariat = client_for("secretariat")
    data = {"recommendation": "suspend", "reasons": "Key extractable"}
    assert secretariat.post(url, data).status_code == 302
    expert = client_for("expert")
    data = {"recommendation": "remedial_plan", "reasons": "Physical access only"}
    assert expert.post(url, data).status_code == 302
    assert "Physical access only" not in page(client_for("supplier_a"), case)

    decide(committee, case)
    assert client_for("secretariat").post(url, data).status_code == 409
    with pytest.raises(ActionNotNow):
        representations.recommendation_record(
            actor=committee["secretariat"], case=case, recommendation="suspend", reasons="Late"
        )
    issue(committee, case)

    decision = DecisionRecord.objects.get(case=case)
    assert [(r["capacity"], r["recommendation"]) for r in decision.recommendations] == [
        ("secretariat", "suspend"),
        ("expert", "remedial_plan"),
    ]
    ssc = page(client_for("chair"), case)
    assert "Recommendation and decision" in ssc
    assert "Remove: Key extractable" in ssc and "Remedial plans: Physical access only" in ssc
    party = page(client_for("supplier_a"), case)
    assert "Recommendation and decision" not in party and "Key extractable" not in party


def test_a_recommendation_revised_before_the_ballot_keeps_one_row_and_its_audit(committee):
    case = in_assessment(committee)
    for reasons in ("First view", "Second view"):
        representations.recommendation_record(
            actor=committee["secretariat"], case=case, recommendation="suspend", reasons=reasons
        )
    assert [r.reasons for r in case.recommendations.all()] == ["Second view"]
    from portal.models import AuditEvent

    events = AuditEvent.objects.filter(action="recommendation.recorded").order_by("seq")
    assert [e.after["reasons"] for e in events] == ["First view", "Second view"]
    assert events.last().before == {"recommendation": "suspend", "reasons": "First view"}
