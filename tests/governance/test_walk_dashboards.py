"""Issue 11, found on the browser walk: what the dashboards and the case page owe each role.
The chair sees summaries for Parties to approve and plan disagreements to decide; the Authority
sees referrals as soon as they are lodged, with the pack's deadline; a case closed on completion
says so and tells the SSC; the pack's due date is rendered without a template per row."""

import datetime
import re

import pytest
from django.utils import timezone

from governance import plans, record, referrals, services
from governance.clause63 import cases_close_completed
from governance.models import Case, DecisionRecord, PlanRequirement
from portal.models import Notice

from ..helpers import cpa_case, decided_case, pdf_upload
from ..portal.test_performance import DASHBOARD_QUERIES

pytestmark = pytest.mark.django_db
MILESTONES = [
    {"description": "Firmware 2.1", "target_date": datetime.date(2027, 3, 1), "devices_covered": 1}
]


def panels(html: str) -> dict[str, str]:
    """{panel title: the panel's HTML}."""
    found = {}
    for section in re.findall(r'<section[^>]*aria-labelledby="panel-.*?</section>', html, re.S):
        heading = re.search(r"<h2[^>]*>(.*?)</h2>", section, re.S).group(1)
        found[re.sub(r"<span.*", "", heading, flags=re.S).strip()] = section
    return found


def dashboard(client_for, key) -> dict[str, str]:
    response = client_for(key).get("/")
    assert response.status_code == 200
    return panels(response.content.decode())


def queries_of(client, django_assert_max_num_queries, path="/") -> int:
    client.get(path)  # the first request fills the caches
    with django_assert_max_num_queries(DASHBOARD_QUERIES) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


# --- 1. the chair approves the summary for Parties ---------------------------------------------

SUMMARIES = "Summary for Parties to approve"


def summary_written(committee, case=None):
    case = case or cpa_case(committee)
    record.case_party_summary_write(
        actor=committee["secretariat"], case=case, party_summary="A key handling weakness."
    )
    return case


def test_the_chair_sees_a_summary_for_parties_to_approve_until_approving_it(committee, client_for):
    case = summary_written(committee)
    panel = dashboard(client_for, "chair")[SUMMARIES]
    assert f'href="/cases/{case.pk}/"' in panel and case.reference in panel
    for key in ("secretariat", "member", "supplier_a"):
        assert SUMMARIES not in dashboard(client_for, key)
    client = client_for("chair")
    read = record.party_summary_sha256(Case.objects.get(pk=case.pk))
    response = client.post(
        f"/cases/{case.pk}/party-summary/approve/", {"party_summary_sha256": read}
    )
    assert response.status_code == 302
    assert SUMMARIES not in dashboard(client_for, "chair")


def test_a_conflicted_chair_leaves_the_approval_to_the_acting_chair(committee, client_for):
    case = summary_written(committee)
    services.conflict_declare(
        actor=committee["chair"], case=case, has_conflict=True, reason="Works for SUPA"
    )
    services.case_designate_acting_chair(
        actor=committee["secretariat"], case=case, member=committee["member3"]
    )
    assert SUMMARIES not in dashboard(client_for, "chair")
    assert f'href="/cases/{case.pk}/"' in dashboard(client_for, committee["member3"])[SUMMARIES]


def test_the_summaries_panel_reads_the_same_whatever_their_number(
    committee, client_for, django_assert_max_num_queries
):
    summary_written(committee)
    client = client_for("chair")
    small = queries_of(client, django_assert_max_num_queries)
    for _ in range(3):
        summary_written(committee)
    assert queries_of(client, django_assert_max_num_queries) == small


# --- 2. the Authority sees referrals as soon as they are lodged --------------------------------

LODGED = "Referrals lodged"


def test_the_authority_sees_a_lodged_referral_with_its_pack_deadline_until_the_pack_is_sent(
    committee, client_for, settings
):
    settings.REFERRAL_WINDOW_WORKING_DAYS = None
    case = decided_case(committee, decision="suspend")
    referral = referrals.referral_lodge(
        actor=committee["supplier_a"], case=case, kind="remove", grounds="Disproportionate"
    )
    panel = dashboard(client_for, "authority")[LODGED]
    assert f'href="/referrals/{referral.pk}/"' in panel
    assert f"pack due to the Authority by <strong>{referral.pack_due_date:%-d %b %Y}" in panel
    assert "Overdue" not in panel
    type(referral).objects.filter(pk=referral.pk).update(
        pack_due_date=timezone.localdate() - datetime.timedelta(days=1)
    )
    assert "Overdue" in dashboard(client_for, "authority")[LODGED]
    referrals.referral_send_pack(actor=committee["secretariat"], referral=referral)
    # Sent: it waits for the determination in that panel, not twice on the dashboard.
    panels = dashboard(client_for, "authority")
    assert f'href="/referrals/{referral.pk}/"' not in panels.get(LODGED, "")
    assert any(f"/referrals/{referral.pk}/" in body for body in panels.values())
    # The SSC works on referrals in its own panels; a Party follows its own on the list.
    for key in ("secretariat", "chair", "supplier_a", "supplier_b"):
        assert LODGED not in dashboard(client_for, key)


def test_the_lodged_panel_reads_the_same_whatever_the_number_of_referrals(
    committee, client_for, settings, django_assert_max_num_queries
):
    settings.REFERRAL_WINDOW_WORKING_DAYS = None
    case = decided_case(committee, decision="suspend")  # addressed to SUPA, SUPB and the DCC
    referrals.referral_lodge(
        actor=committee["supplier_a"], case=case, kind="remove", grounds="Disproportionate"
    )
    sent = referrals.referral_lodge(
        actor=committee["supplier_b"], case=case, kind="remove", grounds="Too harsh"
    )
    referrals.referral_send_pack(actor=committee["secretariat"], referral=sent)
    client = client_for("authority")
    small = queries_of(client, django_assert_max_num_queries)
    referrals.referral_lodge(actor=committee["dcc"], case=case, kind="remove", grounds="Harsh")
    body = client.get("/").content.decode()
    # The two awaiting their pack; the one sent waits for the determination elsewhere.
    assert len(re.findall(r'href="/referrals/\d+/"', panels(body)[LODGED])) == 2
    assert queries_of(client, django_assert_max_num_queries) == small


# --- 3. a case closed on completion says so, and the SSC is told -------------------------------


def completed(committee, requirement):
    supplier = {"SUPA": "supplier_a", "SUPB": "supplier_b"}[requirement.supplier.party_id]
    plans.plan_submit(
        actor=committee[supplier],
        requirement=requirement,
        summary="Push firmware",
        upload=pdf_upload(),
        milestones=MILESTONES,
    )
    plans.plan_review(
        actor=committee["member"], requirement=requirement, version=1, approve=True, comments="ok"
    )
    plans.plan_complete(
        actor=committee["member"], requirement=PlanRequirement.objects.get(pk=requirement.pk)
    )


def closure_notice(case) -> Notice:
    return Notice.objects.get(subject__contains=f"{case.reference} closed")


def recipients(notice) -> list[str]:
    return sorted(d.recipient.username for d in notice.deliveries.all())


def test_a_case_closed_when_its_last_plan_completes_says_so_and_tells_the_ssc(
    committee, client_for, settings
):
    settings.PLAN_APPROVAL_RULE = "one"
    settings.REFERRAL_WINDOW_WORKING_DAYS = None
    case = decided_case(committee)
    for requirement in case.plan_requirements.order_by("pk"):
        completed(committee, requirement)
    case.refresh_from_db()
    assert case.state == Case.State.CLOSED
    notice = closure_notice(case)
    assert recipients(notice) == ["chair", "secretariat"]
    assert "closed automatically" in notice.body and "every remedial plan" in notice.body
    assert notice.link == f"/cases/{case.pk}/"
    for key in ("chair", "supplier_a"):
        page = client_for(key).get(f"/cases/{case.pk}/").content.decode()
        assert "This case closed automatically on" in page
        assert "every remedial plan is completed" in page
        assert "when the last remedial plan was confirmed as completed" in page


def test_a_case_closed_by_the_daily_task_says_so_and_tells_the_ssc(committee, client_for, settings):
    settings.PLAN_APPROVAL_RULE = "one"
    settings.REFERRAL_WINDOW_WORKING_DAYS = 20
    case = decided_case(committee)
    for requirement in case.plan_requirements.order_by("pk"):
        completed(committee, requirement)
    assert not Notice.objects.filter(subject__contains=f"{case.reference} closed").exists()
    DecisionRecord.objects.filter(case=case).update(
        issued_at=timezone.now() - datetime.timedelta(days=60)
    )
    assert cases_close_completed() == 1
    notice = closure_notice(case)
    assert recipients(notice) == ["chair", "secretariat"]
    page = client_for("secretariat").get(f"/cases/{case.pk}/").content.decode()
    assert "This case closed automatically on" in page
    assert "once the referral window had passed" in page


def test_a_case_closed_by_hand_does_not_say_automatically(committee, client_for, settings):
    settings.REFERRAL_WINDOW_WORKING_DAYS = None
    case = decided_case(committee, decision="suspend")
    services.case_transition(actor=committee["secretariat"], case=case, name="close")
    page = client_for("chair").get(f"/cases/{case.pk}/").content.decode()
    assert "closed automatically" not in page
    assert not Notice.objects.filter(subject__contains=f"{case.reference} closed").exists()


# --- 4. a disagreement between the two reviewers goes to the chair's dashboard -----------------

DISAGREE = "Reviewers disagree: decide on the plan"


def submitted_and_split(committee, requirement):
    supplier = {"SUPA": "supplier_a", "SUPB": "supplier_b"}[requirement.supplier.party_id]
    plans.plan_submit(
        actor=committee[supplier],
        requirement=requirement,
        summary="Push firmware",
        upload=pdf_upload(),
        milestones=MILESTONES,
    )
    plans.plan_review(
        actor=committee["member"], requirement=requirement, version=1, approve=True, comments=""
    )
    plans.plan_review(
        actor=committee["member2"],
        requirement=requirement,
        version=1,
        approve=False,
        comments="Too slow",
    )


def test_the_chair_sees_a_disagreement_to_decide(committee, client_for, settings):
    settings.PLAN_APPROVAL_RULE = "two"
    case = decided_case(committee)
    requirement, waiting = case.plan_requirements.order_by("pk")
    submitted_and_split(committee, requirement)
    plans.plan_submit(
        actor=committee["supplier_b"],
        requirement=waiting,
        summary="Replace",
        upload=pdf_upload(),
        milestones=MILESTONES,
    )
    chair = dashboard(client_for, "chair")
    assert f'href="/plans/{requirement.pk}/"' in chair[DISAGREE]
    assert f'href="/plans/{waiting.pk}/"' not in chair[DISAGREE]
    # Listed once: as a disagreement, not again among the plans to review.
    assert f'href="/plans/{requirement.pk}/"' not in chair["Remedial plans to review"]
    assert f'href="/plans/{waiting.pk}/"' in chair["Remedial plans to review"]
    # The two reviewers and the other members do not decide.
    for key in ("member", "member2", "member3", "secretariat"):
        user = committee[key]
        assert DISAGREE not in dashboard(client_for, user)
    plans.plan_review(
        actor=committee["chair"],
        requirement=requirement,
        version=1,
        approve=False,
        comments="Milestones too slow",
    )
    assert DISAGREE not in dashboard(client_for, "chair")


def test_the_disagreements_panel_reads_the_same_whatever_their_number(
    committee, client_for, settings, django_assert_max_num_queries
):
    settings.PLAN_APPROVAL_RULE = "two"
    case = decided_case(committee)
    first, second = case.plan_requirements.order_by("pk")
    submitted_and_split(committee, first)
    client = client_for("chair")
    small = queries_of(client, django_assert_max_num_queries)
    submitted_and_split(committee, second)
    body = client.get("/").content.decode()
    assert len(re.findall(r'href="/plans/\d+/"', panels(body)[DISAGREE])) == 2
    assert queries_of(client, django_assert_max_num_queries) == small


# --- 5. the pack's due date without a template per row -----------------------------------------


def test_the_referral_list_shows_the_pack_deadline_without_a_template_per_row(
    committee, client_for, settings, django_assert_max_num_queries
):
    settings.REFERRAL_WINDOW_WORKING_DAYS = None
    case = decided_case(committee, decision="suspend")
    first = referrals.referral_lodge(
        actor=committee["supplier_a"], case=case, kind="remove", grounds="Disproportionate"
    )
    type(first).objects.filter(pk=first.pk).update(
        pack_due_date=timezone.localdate() - datetime.timedelta(days=1)
    )
    client = client_for("secretariat")
    response = client.get("/referrals/")
    body = response.content.decode()
    assert "pack due to the Authority by" in body and "Overdue" in body
    used = [t.name for t in response.templates]
    assert "governance/_referral_pack_due.html" not in used
    small = queries_of(client, django_assert_max_num_queries, "/referrals/")
    for key in ("supplier_b", "dcc"):
        referrals.referral_lodge(actor=committee[key], case=case, kind="remove", grounds="Harsh")
    assert queries_of(client, django_assert_max_num_queries, "/referrals/") == small
    used = [t.name for t in client.get("/").templates]
    assert "governance/_referral_pack_due.html" not in used
