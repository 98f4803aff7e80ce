"""CPA Certificate Remedial Plans: requirements per affected supplier, versions, review,
overdue handling, closing the case, and the G8.64 policies."""

import datetime
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from governance import plans, services
from governance.models import Case, DecisionRecord, PlanRequirement, RemedialPlan
from governance.tasks import plans_mark_overdue
from portal.models import Notice, NoticeDelivery
from portal.policies import ActionNotNow
from portal.working_days import add_working_days

from ..helpers import decided_case, pdf_upload

pytestmark = pytest.mark.django_db
MILESTONES = [
    {
        "description": "Firmware 2.1 to all meters",
        "target_date": datetime.date(2027, 3, 1),
        "devices_covered": 300,  # at most the supplier's devices (SUPB: 300)
    },
    {
        "description": "Stragglers replaced",
        "target_date": datetime.date(2027, 6, 1),
        "devices_covered": 200,
    },
]


def latest_version(requirement) -> int:
    return requirement.plans.order_by("-version").first().version


def requirement_of(committee, key):
    return PlanRequirement.objects.get(supplier=committee[key].organisation)


def submit(committee, key="supplier_a"):
    return plans.plan_submit(
        actor=committee[key],
        requirement=requirement_of(committee, key),
        summary="Push firmware",
        upload=pdf_upload(),
        milestones=MILESTONES,
    )


def test_every_responsible_supplier_gets_a_requirement_including_non_installers(committee):
    case = decided_case(committee)
    # Supplier B was not addressed when the case opened (it did not install the meters; it
    # gained them on change of supplier) but the inventory makes it responsible for 300.
    requirements = {r.supplier.party_id: r for r in case.plan_requirements.all()}
    assert {k: r.device_count for k, r in requirements.items()} == {"SUPA": 1200, "SUPB": 300}
    assert set(case.addressed_to.values_list("party_id", flat=True)) >= {"SUPA", "SUPB"}
    due = add_working_days(datetime.date.today(), 20)
    assert {r.due_date for r in requirements.values()} == {due}
    obligations = Notice.objects.filter(kind="plan_obligation")
    assert obligations.count() == 2
    for notice in obligations:
        (organisation,) = notice.recipients.all()
        # Each supplier learns its own device count, never another's.
        assert f"{requirements[organisation.party_id].device_count:,} devices" in notice.body
        other = "300" if organisation.party_id == "SUPA" else "1,200"
        assert other not in notice.body


def test_due_dates_skip_christmas(committee, settings):
    settings.PLAN_DUE_WORKING_DAYS = 3
    with mock.patch("django.utils.timezone.localdate", return_value=datetime.date(2026, 12, 23)):
        case = decided_case(committee)
    # 23 Dec + 3 Working Days: 24 Dec, (25, 26, 27, 28 off), 29 Dec, 30 Dec.
    assert {r.due_date for r in case.plan_requirements.all()} == {datetime.date(2026, 12, 30)}


def test_suspend_decisions_create_no_plan_requirements(committee):
    case = decided_case(committee, decision="suspend")
    assert not case.plan_requirements.exists()


def test_supplier_submits_revises_and_every_version_is_kept(committee):
    decided_case(committee)
    first = submit(committee)
    second = submit(committee)
    requirement = requirement_of(committee, "supplier_a")
    assert (requirement.state, first.version, second.version) == ("submitted", 1, 2)
    assert RemedialPlan.objects.filter(requirement=requirement).count() == 2
    assert second.milestones.count() == 2
    with pytest.raises(PermissionDenied):
        plans.plan_submit(
            actor=committee["supplier_b"],
            requirement=requirement,
            summary="x",
            upload=pdf_upload(),
            milestones=MILESTONES,
        )
    with pytest.raises(ValidationError):
        plans.plan_submit(
            actor=committee["supplier_a"],
            requirement=requirement,
            summary="x",
            upload=pdf_upload(),
            milestones=[],
        )


def test_review_not_approved_then_resubmitted_then_approved_and_completed(committee):
    case = decided_case(committee)
    submit(committee)
    requirement = requirement_of(committee, "supplier_a")
    with pytest.raises(ValidationError, match="reasons"):
        plans.plan_review(
            actor=committee["member"],
            requirement=requirement,
            version=latest_version(requirement),
            approve=False,
            comments=" ",
        )
    with pytest.raises(PermissionDenied):
        plans.plan_review(
            actor=committee["supplier_b"],
            requirement=requirement,
            version=latest_version(requirement),
            approve=True,
            comments="",
        )
    plans.plan_review(
        actor=committee["member"],
        requirement=requirement,
        version=latest_version(requirement),
        approve=False,
        comments="Milestones too slow for a medium risk",
    )
    requirement.refresh_from_db()
    assert requirement.state == "not_approved"
    outcome = Notice.objects.filter(
        kind="plan_review", recipients=committee["supplier_a"].organisation
    ).latest("created_at")
    assert "not approved" in outcome.subject and "Milestones too slow" in outcome.body
    submit(committee)
    requirement.refresh_from_db()
    assert requirement.state == "resubmitted"
    plans.plan_review(
        actor=committee["chair"],
        requirement=requirement,
        version=latest_version(requirement),
        approve=True,
        comments="",
    )
    with pytest.raises(ActionNotNow, match="approved"):
        submit(committee)  # an approved plan is not revised
    # The case cannot close while a plan is not completed.
    with pytest.raises(ActionNotNow, match="completed"):
        services.case_transition(actor=committee["secretariat"], case=case, name="close")
    for key in ("supplier_a", "supplier_b"):
        if key == "supplier_b":
            submit(committee, key)
            plans.plan_review(
                actor=committee["member"],
                requirement=requirement_of(committee, key),
                version=latest_version(requirement_of(committee, key)),
                approve=True,
                comments="",
            )
        plans.plan_complete(actor=committee["member"], requirement=requirement_of(committee, key))
    # ... nor before the referral window (SEC F2.7B) has passed.
    DecisionRecord.objects.filter(case=case).update(
        issued_at=timezone.now() - datetime.timedelta(days=60)
    )
    services.case_transition(
        actor=committee["secretariat"], case=Case.objects.get(pk=case.pk), name="close"
    )
    assert Case.objects.get(pk=case.pk).state == "closed"


def test_a_conflicted_member_does_not_review(committee):
    case = decided_case(committee)
    submit(committee)
    from governance.models import ConflictDeclaration

    ConflictDeclaration.objects.filter(case=case, member=committee["member3"]).update(
        has_conflict=True, reason="Works for Supplier A"
    )
    with pytest.raises(PermissionDenied, match="conflict"):
        plans.plan_review(
            actor=committee["member3"],
            requirement=requirement_of(committee, "supplier_a"),
            version=latest_version(requirement_of(committee, "supplier_a")),
            approve=True,
            comments="",
        )


def test_overdue_by_the_beat_task_with_a_reminder(committee):
    decided_case(committee)
    PlanRequirement.objects.update(due_date=datetime.date.today() - datetime.timedelta(days=1))
    submit(committee, "supplier_b")  # B submitted in time (state submitted)
    assert plans_mark_overdue.delay().get() == 1
    assert requirement_of(committee, "supplier_a").state == "overdue"
    assert requirement_of(committee, "supplier_b").state == "submitted"
    assert Notice.objects.filter(kind="reminder", subject__startswith="Overdue").count() == 1
    assert plans_mark_overdue.delay().get() == 0
    submit(committee)  # a late plan is still accepted
    assert requirement_of(committee, "supplier_a").state == "submitted"


def test_suppliers_never_see_another_suppliers_plan(committee, client_for):
    decided_case(committee)
    plan = submit(committee)
    a, b = requirement_of(committee, "supplier_a"), requirement_of(committee, "supplier_b")
    client = client_for("supplier_b")
    assert client.get(f"/plans/{a.pk}/").status_code == 404
    assert client.get(f"/plans/{a.pk}/versions/{plan.pk}/").status_code == 404
    assert client.get(f"/plans/{b.pk}/versions/{plan.pk}/").status_code == 404
    listing = client.get("/plans/").content.decode()
    assert "Supplier A Energy" not in listing and "1,200" not in listing
    assert client.post(f"/plans/{a.pk}/", {"action": "submit"}).status_code == 404
    assert client_for("supplier_a").get(f"/plans/{a.pk}/versions/{plan.pk}/").status_code == 200
    # The case page shows supplier B its own plan only, and no device counts.
    page = client_for("supplier_b").get(f"/cases/{a.case_id}/").content.decode()
    assert "Supplier B Power" in page and "Affected suppliers" not in page
    assert f"/plans/{a.pk}/" not in page


def test_plan_page_submit_and_review(committee, client_for):
    decided_case(committee)
    requirement = requirement_of(committee, "supplier_a")
    client = client_for("supplier_a")
    form = {
        "action": "submit",
        "summary": "Firmware update",
        "milestones-TOTAL_FORMS": "3",
        "milestones-INITIAL_FORMS": "0",
        "milestones-MIN_NUM_FORMS": "1",
        "milestones-MAX_NUM_FORMS": "50",
    }
    empty = client.post(f"/plans/{requirement.pk}/", {**form, "file": pdf_upload()})
    assert empty.status_code == 400 and "Enter at least one milestone" in empty.content.decode()
    exe = client.post(
        f"/plans/{requirement.pk}/",
        {
            **form,
            "file": SimpleUploadedFile("plan.pdf", b"MZ\x90\x00" + b"\0" * 64),
            "milestones-0-description": "Fix",
            "milestones-0-target_date": "2027-03-01",
            "milestones-0-devices_covered": "1200",
        },
    )
    assert exe.status_code == 400 and "not an allowed document type" in exe.content.decode()
    done = client.post(
        f"/plans/{requirement.pk}/",
        {
            **form,
            "file": pdf_upload(),
            "milestones-0-description": "Fix",
            "milestones-0-target_date": "2027-03-01",
            "milestones-0-devices_covered": "1200",
        },
        follow=True,
    )
    assert "Version 1 of your plan is submitted" in done.content.decode()
    reviewer = client_for("member")
    refused = reviewer.post(
        f"/plans/{requirement.pk}/", {"action": "review", "version": 1, "decision": "not_approve"}
    )
    assert refused.status_code == 400 and "Give the reasons" in refused.content.decode()
    reviewer.post(
        f"/plans/{requirement.pk}/", {"action": "review", "version": 1, "decision": "approve"}
    )
    requirement.refresh_from_db()
    assert requirement.state == "approved"


def test_g864_policies(committee, client_for):
    client = client_for("supplier_a")
    response = client.post(
        "/policy/", {"review_date": "2027-06-30", "file": pdf_upload()}, follow=True
    )
    assert "Your G8.64 policy is recorded" in response.content.decode()
    overview = client_for("secretariat").get("/policy/").content.decode()
    assert "1 Supplier Party without a policy" in overview  # supplier B has none
    assert client_for("dcc").get("/policy/").status_code == 403
    assert NoticeDelivery.objects.count() == 0
