"""Plan notices (walk fixes): a refusal links to the referral form with the window's last day,
identical reasons are given once, and a newer version settles the notice to review the older."""

import datetime
import re

import pytest

from governance import plans, policies, referrals
from governance.models import PlanRequirement
from portal.models import NoticeDelivery

from ..helpers import decided_case, pdf_upload

pytestmark = pytest.mark.django_db
TODAY = datetime.date.today()
MILESTONES = [{"description": "m", "target_date": TODAY, "devices_covered": 1}]


@pytest.fixture
def requirement(committee):
    decided_case(committee)
    return PlanRequirement.objects.get(supplier=committee["supplier_a"].organisation)


def submit(committee, requirement):
    return plans.plan_submit(
        actor=committee["supplier_a"],
        requirement=requirement,
        summary="s",
        upload=pdf_upload(),
        milestones=MILESTONES,
    )


def test_the_refusal_notice_links_to_the_referral_form_and_gives_the_last_day(
    committee, requirement, client_for
):
    plan = submit(committee, requirement)
    plans.plan_review(
        actor=committee["member"],
        requirement=requirement,
        version=1,
        approve=False,
        comments="Too slow",
    )
    plan.refresh_from_db()
    delivery = NoticeDelivery.objects.filter(
        recipient=committee["supplier_a"], notice__subject__contains="was not approved"
    ).get()
    _, last = policies.referral_window(plan.reviewed_at)
    body = delivery.notice.body
    assert f"until {last.day} {last:%B %Y}" in body
    page = client_for("supplier_a").get(f"/inbox/{delivery.pk}/").content.decode()
    link = re.search(r'<a class="govuk-link" href="([^"]+)">Refer to the Authority</a>', page)
    assert link, "no link to the referral form"
    href = link.group(1).replace("&amp;", "&")
    assert href == (
        f"/referrals/new/{requirement.case_id}/?kind=plan_not_approved&plan={requirement.pk}"
    )
    form = client_for("supplier_a").get(href)
    assert form.status_code == 200


def test_identical_reasons_are_given_once(committee, requirement, settings):
    settings.PLAN_APPROVAL_RULE = "two"
    submit(committee, requirement)
    for key in ("member", "member2"):
        if key not in committee:
            pytest.skip("one member only")
        plans.plan_review(
            actor=committee[key],
            requirement=requirement,
            version=1,
            approve=False,
            comments="Too slow",
        )
    requirement.refresh_from_db()
    assert requirement.plans.get().review_comments == "Too slow"


def test_a_newer_version_settles_the_notice_to_review_the_older(committee, requirement):
    submit(committee, requirement)
    older = NoticeDelivery.objects.filter(notice__subject__startswith="Remedial plan v1 to review")
    assert older.exists() and older.filter(acknowledged_at__isnull=True).exists()
    submit(committee, requirement)
    assert not older.filter(acknowledged_at__isnull=True).exists()
    assert all(d.settled for d in older)
    newer = NoticeDelivery.objects.filter(notice__subject__startswith="Remedial plan v2 to review")
    assert newer.exists() and not newer.filter(acknowledged_at__isnull=False).exists()


@pytest.fixture
def overturned(committee, requirement):
    submit(committee, requirement)
    plans.plan_review(
        actor=committee["member"],
        requirement=requirement,
        version=1,
        approve=False,
        comments="Too slow",
    )
    referral = referrals.referral_lodge(
        actor=committee["supplier_a"],
        case=requirement.case,
        kind="plan_not_approved",
        grounds="Proportionate",
        requirement=requirement,
    )
    referrals.referral_send_pack(actor=committee["secretariat"], referral=referral)
    referrals.referral_determine(
        actor=committee["authority"],
        referral=referral,
        outcome="overturned",
        reasons="The plan is adequate",
        effective_date=TODAY,
    )
    return referral


def test_a_plan_approved_by_the_authority_credits_the_authority(
    committee, requirement, overturned, client_for
):
    page = client_for("supplier_a").get(f"/plans/{requirement.pk}/").content.decode()
    assert (
        f"Approved by the Authority's determination on referral {overturned.reference}, "
        f"{TODAY.day} {TODAY:%B %Y}." in page
    )
    assert "Approved by the Authority</strong>" in page
    assert "Review by the SSC on" in page and "Not approved." in page  # the SSC's, as it was


@pytest.mark.parametrize("who", ["supplier_a", "authority", "secretariat"])
def test_a_determined_referral_keeps_what_was_referred(overturned, client_for, who):
    page = client_for(who).get(f"/referrals/{overturned.pk}/").content.decode()
    assert 'id="refused-plan"' in page
    assert "Too slow" in page  # the SSC's reasons
    assert "The plan is adequate" in page  # beside the determination
