"""Issue 12: access made visible — who may open each evidence document and why (its rule or a
named grant), with named recipients revoked and documents re-classified by the secretariat,
each audited and asked first."""

import pytest
from django.urls import reverse

from governance import services
from governance.models import Case, EvidenceDocument
from portal.models import AuditEvent

from ..helpers import cpa_case, pdf_upload

pytestmark = pytest.mark.django_db


def upload(committee, case, classification):
    return services.evidence_upload(
        actor=committee["secretariat"],
        case=case,
        title=f"Advice ({classification})",
        classification=classification,
        upload=pdf_upload(),
    )


def access_url(document) -> str:
    return reverse("governance:evidence-grant", args=[document.case_id, document.pk])


def may_open(user, document) -> bool:
    user = type(user).objects.get(pk=user.pk)  # fresh permission cache
    return user.has_perm("governance.view_evidencedocument", document)


def test_the_page_says_who_may_open_a_document_and_why(committee, client_for):
    case = cpa_case(committee)  # addressed to supplier A
    document = upload(committee, case, "parties")
    page = client_for("secretariat").get(access_url(document)).content.decode()
    supplier = committee["supplier_a"]
    assert (supplier.get_full_name() or supplier.username) in page
    assert str(supplier.organisation) in page and "Rule: Parties" in page
    assert "Revoke" not in page  # access by rule changes with the rule, not person by person
    case_page = client_for("secretariat").get(reverse("governance:case", args=[case.pk]))
    assert access_url(document) in case_page.content.decode()


def test_a_named_recipient_is_revoked_after_a_confirmation(committee, client_for):
    case = cpa_case(committee)
    document = upload(committee, case, "named-recipients")
    member = committee["member"]
    services.evidence_grant(actor=committee["secretariat"], document=document, users=[member])
    assert may_open(member, document)
    client = client_for("secretariat")
    asked = client.post(access_url(document), {"action": "revoke", "user": member.pk})
    assert "Revoke" in asked.content.decode() and may_open(member, document)
    done = client.post(
        access_url(document), {"action": "revoke", "user": member.pk, "confirmed": "yes"}
    )
    assert done.status_code == 302 and not may_open(member, document)
    assert AuditEvent.objects.filter(action="evidence.access_revoked").exists()
    again = client.post(
        access_url(document),
        {"action": "revoke", "user": member.pk, "confirmed": "yes"},
        follow=True,
    )
    assert "has no access to revoke" in again.content.decode()
    assert client.post(access_url(document), {"action": "revoke", "user": "x"}).status_code == 404


def test_reclassifying_moves_access_to_the_new_rule(committee, client_for):
    case = cpa_case(committee)
    document = upload(committee, case, "ssc-only")
    supplier = committee["supplier_a"]
    assert not may_open(supplier, document)
    client = client_for("secretariat")
    data = {"action": "reclassify", "classification": "parties"}
    asked = client.post(access_url(document), data)
    assert "Re-classify as Parties?" in asked.content.decode()
    assert EvidenceDocument.objects.get(pk=document.pk).classification == "ssc-only"
    client.post(access_url(document), {**data, "confirmed": "yes"})
    assert EvidenceDocument.objects.get(pk=document.pk).classification == "parties"
    assert may_open(supplier, document)
    event = AuditEvent.objects.get(action="evidence.reclassified")
    assert (event.before, event.after) == (
        {"classification": "ssc-only"},
        {"classification": "parties"},
    )
    # To named recipients: only the secretary who re-classified it keeps it.
    client.post(
        access_url(document),
        {"action": "reclassify", "classification": "named-recipients", "confirmed": "yes"},
    )
    assert not may_open(supplier, document) and not may_open(committee["member"], document)
    assert may_open(committee["secretariat"], document)
    same = client.post(
        access_url(document),
        {"action": "reclassify", "classification": "named-recipients", "confirmed": "yes"},
    )
    assert same.status_code == 400 and "already has this classification" in same.content.decode()
    bad = client.post(access_url(document), {"action": "reclassify", "classification": "all"})
    assert bad.status_code == 400


def test_only_the_secretariat_manages_access_and_others_are_not_told_it_exists(
    committee, client_for
):
    case = cpa_case(committee)
    document = upload(committee, case, "parties")
    assert client_for("member").get(access_url(document)).status_code == 403  # may open it
    assert client_for("supplier_b").get(access_url(document)).status_code == 404
    forbidden = client_for("member").post(
        access_url(document), {"action": "reclassify", "classification": "ssc-only"}
    )
    assert forbidden.status_code == 403
    assert EvidenceDocument.objects.get(pk=document.pk).classification == "parties"
    Case.objects.filter(pk=case.pk).update(state="closed")
    assert client_for("secretariat").get(access_url(document)).status_code == 409
