"""The referral form (walk fixes): a chosen document is kept across errors like the plan form's,
one refused plan is named, not chosen from a list, and lodging asks for confirmation first."""

import datetime
import html
import re

import pytest

from governance import plans
from governance.models import PlanRequirement, Referral

from ..helpers import decided_case, pdf_upload

pytestmark = pytest.mark.django_db
TODAY = datetime.date.today()


def kept_token(page: str) -> str:
    match = re.search(r'name="kept_file" value="([^"]+)"', page)
    assert match, "the page keeps no chosen file"
    return html.unescape(match.group(1))


@pytest.fixture
def refused(committee, client_for):
    case = decided_case(committee)
    requirement = PlanRequirement.objects.get(supplier=committee["supplier_a"].organisation)
    plans.plan_submit(
        actor=committee["supplier_a"],
        requirement=requirement,
        summary="Firmware over the air",
        upload=pdf_upload("plan.pdf"),
        milestones=[{"description": "m", "target_date": TODAY, "devices_covered": 1}],
    )
    plans.plan_review(
        actor=committee["member"],
        requirement=requirement,
        version=1,
        approve=False,
        comments="Too slow",
    )
    url = f"/referrals/new/{case.pk}/?kind=plan_not_approved"
    return case, requirement, url, client_for("supplier_a")


def test_the_document_is_kept_across_an_error_and_lodged_with_the_referral(refused):
    case, requirement, url, client = refused
    wrong = client.post(
        url, {"kind": "plan_not_approved", "grounds": "", "document": pdf_upload("why.pdf")}
    )
    assert wrong.status_code == 400
    page = wrong.content.decode()
    assert "File chosen: <strong>why.pdf</strong>" in page
    data = {"kind": "plan_not_approved", "grounds": "Proportionate", "kept_file": kept_token(page)}
    ask = client.post(url, data)
    assert (
        ask.status_code == 200 and "Lodge this referral with the Authority?" in ask.content.decode()
    )
    assert "why.pdf" in ask.content.decode()
    assert not Referral.objects.exists()
    done = client.post(
        url, {**data, "kept_file": kept_token(ask.content.decode()), "confirmed": "yes"}
    )
    assert done.status_code == 302
    referral = Referral.objects.get()
    assert referral.plan_requirement == requirement
    assert [d.original_name for d in referral.documents.all()] == ["why.pdf"]


def test_a_document_chosen_with_the_confirmed_post_is_kept_through_the_confirmation(refused):
    case, requirement, url, client = refused
    ask = client.post(
        url, {"kind": "plan_not_approved", "grounds": "G", "document": pdf_upload("why.pdf")}
    )
    token = kept_token(ask.content.decode())
    done = client.post(
        url, {"kind": "plan_not_approved", "grounds": "G", "kept_file": token, "confirmed": "yes"}
    )
    assert done.status_code == 302
    assert [d.original_name for d in Referral.objects.get().documents.all()] == ["why.pdf"]


def test_one_refused_plan_is_named_not_chosen_and_the_kind_is_preselected(refused):
    case, requirement, url, client = refused
    page = client.get(url).content.decode()
    assert "---------" not in page
    assert 'name="plan_requirement"' not in page
    assert f"not to approve {requirement.supplier}" in html.unescape(page)
    assert re.search(r'value="plan_not_approved"\s+checked', page) or re.search(
        r'value="plan_not_approved"[^>]*checked', page
    )


def test_sending_the_pack_and_recording_the_determination_are_confirmed_first(
    refused, committee, client_for
):
    case, requirement, url, supplier = refused
    supplier.post(url, {"kind": "plan_not_approved", "grounds": "G", "confirmed": "yes"})
    referral = Referral.objects.get()
    page = f"/referrals/{referral.pk}/"
    secretariat = client_for("secretariat")
    ask = secretariat.post(page, {"action": "send_pack"})
    assert ask.status_code == 200
    assert "Build and send the pack to the Authority?" in ask.content.decode()
    assert Referral.objects.get().state == Referral.State.LODGED
    assert secretariat.post(page, {"action": "send_pack", "confirmed": "yes"}).status_code == 302
    assert Referral.objects.get().state == Referral.State.PACK_SENT
    authority = client_for("authority")
    determination = {
        "action": "determine",
        "outcome": "upheld",
        "reasons": "The SSC was right",
        "effective_date": TODAY.isoformat(),
    }
    ask = authority.post(page, determination)
    assert ask.status_code == 200
    body = ask.content.decode()
    assert "Record this determination?" in body and "final and binding" in body
    assert Referral.objects.get().state == Referral.State.PACK_SENT
    done = authority.post(page, {**determination, "confirmed": "yes"})
    assert done.status_code == 302
    assert Referral.objects.get().state == Referral.State.DETERMINED


def test_the_referral_page_states_the_pack_due_date_once(refused, client_for):
    case, requirement, url, supplier = refused
    supplier.post(url, {"kind": "plan_not_approved", "grounds": "G", "confirmed": "yes"})
    referral = Referral.objects.get()
    page = client_for("secretariat").get(f"/referrals/{referral.pk}/").content.decode()
    due = referral.pack_due_date
    assert f"by {due.day} {due:%B %Y}" in page
    assert "pack due to the Authority by" not in page


def test_see_all_links_keep_abbreviations_in_capitals():
    from portal.templatetags.portal_tags import mid_sentence

    assert (
        mid_sentence("Plans waiting for the SSC's review") == "plans waiting for the SSC's review"
    )
    assert mid_sentence("CPL changes") == "CPL changes"
