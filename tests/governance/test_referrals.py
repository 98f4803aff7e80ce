"""Referrals to the Authority: who may lodge what and when, verifiable packs, information
requests, and determinations that take effect on the case and the CPL."""

import datetime
import io
import zipfile

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.utils import timezone

from cpl.models import CPLChangeNotice
from governance import plans, policies, referrals
from governance.models import Case, DecisionRecord, PlanRequirement, Referral
from governance.packs import verify_pack
from portal.models import AuditEvent

from ..helpers import decided_case, pdf_upload, referral_pack_sent

pytestmark = pytest.mark.django_db
TODAY = datetime.date.today()


def latest_version(requirement) -> int:
    return requirement.plans.order_by("-version").first().version


def lodge(committee, case, kind, key="supplier_a", **kwargs):
    return referrals.referral_lodge(
        actor=committee[key], case=case, kind=kind, grounds="Disproportionate to the risk", **kwargs
    )


sent = referral_pack_sent


def download(client, referral, version):
    response = client.get(f"/referrals/{referral.pk}/packs/{version}/")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body)
    return body


def test_only_referable_decisions_within_the_window(committee):
    case = decided_case(committee, decision="suspend")
    with pytest.raises(ValidationError, match="did not decide against removing"):
        lodge(committee, case, "not_remove")
    with pytest.raises(ValidationError, match="cannot be referred"):
        lodge(committee, case, "ballot_rules")
    with pytest.raises(ValidationError, match="Choose the remedial plan"):
        lodge(committee, case, "plan_not_approved")
    with pytest.raises(PermissionDenied):
        lodge(committee, case, "remove", key="member")
    DecisionRecord.objects.filter(case=case).update(
        issued_at=timezone.now() - datetime.timedelta(days=40)
    )
    with pytest.raises(ValidationError, match="referral window closed"):
        lodge(committee, case, "remove")
    assert not Referral.objects.exists()


def test_the_window_is_counted_in_working_days(committee, settings):
    settings.REFERRAL_WINDOW_WORKING_DAYS = 1
    case = decided_case(committee, decision="suspend")
    friday = datetime.datetime(2026, 12, 18, 12, tzinfo=datetime.UTC)
    DecisionRecord.objects.filter(case=case).update(issued_at=friday)
    start, last_day = policies.referral_window(case.decision_record.issued_at)
    assert (start, last_day) == (datetime.date(2026, 12, 18), datetime.date(2026, 12, 21))


def test_a_supplier_refers_its_own_not_approved_plan_only(committee):
    case = decided_case(committee)
    requirement_a = PlanRequirement.objects.get(supplier=committee["supplier_a"].organisation)
    plans.plan_submit(
        actor=committee["supplier_a"],
        requirement=requirement_a,
        summary="s",
        upload=pdf_upload(),
        milestones=[{"description": "m", "target_date": TODAY, "devices_covered": 1}],
    )
    with pytest.raises(ValidationError, match="not refused"):
        lodge(committee, case, "plan_not_approved", requirement=requirement_a)
    plans.plan_review(
        actor=committee["member"],
        requirement=requirement_a,
        version=latest_version(requirement_a),
        approve=False,
        comments="Too slow",
    )
    requirement_a.refresh_from_db()
    with pytest.raises(PermissionDenied):
        lodge(committee, case, "plan_not_approved", key="supplier_b", requirement=requirement_a)
    referral = lodge(committee, case, "plan_not_approved", requirement=requirement_a)
    assert referral.state == "lodged" and referral.reference.startswith("REF-")
    with pytest.raises(ValidationError, match="already referred"):
        lodge(committee, case, "plan_not_approved", requirement=requirement_a)


def test_the_pack_verifies_and_fails_after_any_byte_changes(committee, client_for, tmp_path):
    case, referral, pack = sent(committee)
    paths = {f["path"] for f in pack.files}
    assert {"summary.pdf", "audit.json"} <= paths
    assert any(p.startswith("documents/grounds/") for p in paths)
    assert any(p.startswith("documents/evidence/") for p in paths)
    body = download(client_for("authority"), referral, 1)
    original = tmp_path / "pack.zip"
    original.write_bytes(body)
    assert verify_pack(original) == []
    call_command("verify_pack", str(original))
    with zipfile.ZipFile(original) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    assert members["summary.pdf"].startswith(b"%PDF")
    assert (
        members["summary.pdf"].count(b"/Type /Page\n") >= 1
        or b"/Type /Page" in members["summary.pdf"]
    )
    for name in [n for n in members if n not in ("manifest.json", "manifest.json.sig")]:
        tampered = dict(members)
        data = bytearray(tampered[name])
        data[len(data) // 2] ^= 0x01
        tampered[name] = bytes(data)
        path = tmp_path / f"tampered-{len(name)}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for member, content in tampered.items():
                archive.writestr(member, content)
        assert verify_pack(path) == [f"{name}: SHA-256 does not match the manifest"], name
        with pytest.raises(SystemExit):
            call_command("verify_pack", str(path))


def test_the_summary_pdf_has_the_case_reference_on_every_page(committee):
    from pathlib import Path

    from django.conf import settings

    case, referral, pack = sent(committee)
    pdf = next(f for f in pack.files if f["path"] == "summary.pdf")
    data = Path(settings.PRIVATE_STORAGE_ROOT, pdf["folder"], pdf["stored_name"]).read_bytes()
    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(data)).pages
    assert len(pages) >= 1
    assert all(case.reference in page.extract_text() for page in pages)


def test_information_request_round_trip_makes_a_new_pack_version(committee, client_for, tmp_path):
    case, referral, pack = sent(committee)
    with pytest.raises(PermissionDenied):
        referrals.information_request(
            actor=committee["secretariat"], referral=referral, text="x", due_date=TODAY
        )
    request = referrals.information_request(
        actor=committee["authority"], referral=referral, text="Send the lab report", due_date=TODAY
    )
    assert Referral.objects.get(pk=referral.pk).state == "information_requested"
    with pytest.raises(ValidationError):
        referrals.referral_determine(
            actor=committee["authority"],
            referral=referral,
            outcome="upheld",
            reasons="r",
            effective_date=TODAY,
        )
    second = referrals.information_provide(
        actor=committee["secretariat"],
        request=request,
        response="Attached",
        uploads=[pdf_upload("lab.pdf")],
    )
    assert second.version == 2
    assert any(f["path"].startswith("documents/response/") for f in second.files)
    assert not any(f["path"].startswith("documents/response/") for f in pack.files)
    client = client_for("authority")
    for version in (1, 2):
        path = tmp_path / f"v{version}.zip"
        path.write_bytes(download(client, referral, version))
        assert verify_pack(path) == []
    assert Referral.objects.get(pk=referral.pk).state == "information_provided"


def test_overturning_a_removal_relists_and_moves_to_remediation(committee):
    case, referral, _ = sent(committee, kind="remove", decision="suspend")
    assert {m.status for m in case.device_models.all()} == {"removed"}
    referrals.referral_determine(
        actor=committee["authority"],
        referral=referral,
        outcome="overturned",
        reasons="Risk is low",
        effective_date=TODAY,
    )
    case.refresh_from_db()
    assert case.state == "remediation" and case.decision == "remedial_plan"
    assert {m.status for m in case.device_models.all()} == {"listed"}
    assert case.plan_requirements.count() == 2
    with pytest.raises(ValidationError, match="final"):
        lodge(committee, case, "remove", key="supplier_b")


def test_overturning_a_not_remove_decision_removes(committee):
    case, referral, _ = sent(committee, kind="not_remove", decision="remedial_plan")
    referrals.referral_determine(
        actor=committee["authority"],
        referral=referral,
        outcome="overturned",
        reasons="Too risky",
        effective_date=TODAY,
    )
    case.refresh_from_db()
    assert case.state == "suspension"
    assert {m.status for m in case.device_models.all()} == {"removed"}
    assert (
        CPLChangeNotice.objects.filter(reason__contains=referral.reference).count()
        == case.device_models.count()
    )


def refused_plan_referred(committee):
    """Supplier A's plan, refused by the SSC, referred, its pack sent to the Authority."""
    case = decided_case(committee)
    requirement = PlanRequirement.objects.get(supplier=committee["supplier_a"].organisation)
    plans.plan_submit(
        actor=committee["supplier_a"],
        requirement=requirement,
        summary="s",
        upload=pdf_upload(),
        milestones=[{"description": "m", "target_date": TODAY, "devices_covered": 1}],
    )
    plans.plan_review(
        actor=committee["member"],
        requirement=requirement,
        version=latest_version(requirement),
        approve=False,
        comments="No",
    )
    referral = lodge(committee, case, "plan_not_approved", requirement=requirement)
    referrals.referral_send_pack(actor=committee["secretariat"], referral=referral)
    return requirement, referral


def test_overturning_a_plan_refusal_approves_the_plan(committee):
    requirement, referral = refused_plan_referred(committee)
    referrals.referral_determine(
        actor=committee["authority"],
        referral=referral,
        outcome="overturned",
        reasons="Plan is adequate",
        effective_date=TODAY,
    )
    requirement.refresh_from_db()
    assert requirement.state == "approved"
    # The SSC's refusal stays on record as what was referred; the approval is the Authority's.
    assert requirement.plans.first().review == "not_approved"


def test_an_upheld_decision_changes_nothing(committee):
    case, referral, _ = sent(committee, kind="remove", decision="suspend")
    referrals.referral_determine(
        actor=committee["authority"],
        referral=referral,
        outcome="upheld",
        reasons="Proportionate",
        effective_date=TODAY,
    )
    case.refresh_from_db()
    assert case.state == "suspension"
    assert {m.status for m in case.device_models.all()} == {"removed"}
    referrals.referral_close(actor=committee["secretariat"], referral=referral)
    assert Referral.objects.get(pk=referral.pk).state == "closed"


@pytest.mark.parametrize(
    "path",
    [
        "/cases/",
        "/cpl/",
        "/plans/",
        "/cpl/import/",
        "/audit/",
        "/characteristics/",
        "/admin/",
        "/notices/",
    ],
)
def test_the_authority_sees_nothing_else(client_for, users, path):
    assert client_for("authority").get(path).status_code in (403, 404)


def test_the_authority_sees_a_referral_once_lodged_but_never_the_case(committee, client_for):
    case = decided_case(committee, decision="suspend")
    referral = lodge(committee, case, "remove")
    client = client_for("authority")
    # Issue 11: the Authority sees a referral when it is lodged; the pack follows.
    assert (
        "Record the determination" not in client.get(f"/referrals/{referral.pk}/").content.decode()
    )
    assert client.get(f"/cases/{case.pk}/").status_code == 404
    referrals.referral_send_pack(actor=committee["secretariat"], referral=referral)
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert "Record the determination" in page and "Request information" in page


def test_the_dcc_sees_the_decision_and_may_refer_it(committee):
    case = decided_case(committee, decision="remedial_plan")
    referral = lodge(committee, case, "not_remove", key="dcc")
    assert referral.organisation.party_type == "dcc"


def test_an_overturn_with_a_future_effective_date_takes_effect_on_that_date(committee):
    from governance.tasks import referrals_apply_due

    case, referral, _ = sent(committee, kind="remove", decision="suspend")
    later = TODAY + datetime.timedelta(days=10)
    referrals.referral_determine(
        actor=committee["authority"],
        referral=referral,
        outcome="overturned",
        reasons="From next month",
        effective_date=later,
    )
    case.refresh_from_db()
    assert case.state == "suspension" and referrals_apply_due.delay().get() == 0
    assert referrals.referrals_apply_due(today=later) == 1
    case.refresh_from_db()
    assert case.state == "remediation"
    assert {m.status for m in case.device_models.all()} == {"listed"}
    assert referrals.referrals_apply_due(today=later) == 0


def _two_suppliers_refer_the_removal(committee):
    """Two Parties (a supplier and the DCC) refer the same removal decision; both packs go to
    the Authority."""
    case, first, _ = sent(committee, kind="remove", decision="suspend")
    second = lodge(committee, case, "remove", key="dcc")
    referrals.referral_send_pack(actor=committee["secretariat"], referral=second)
    return case, first, Referral.objects.get(pk=second.pk)


def test_a_second_overturn_of_the_same_removal_applies_nothing_twice(committee):
    case, first, second = _two_suppliers_refer_the_removal(committee)
    for referral in (first, second):
        referrals.referral_determine(
            actor=committee["authority"],
            referral=referral,
            outcome="overturned",
            reasons="Risk is low",
            effective_date=TODAY,
        )
    case.refresh_from_db()
    second.refresh_from_db()
    assert case.state == "remediation" and case.decision == "remedial_plan"
    assert {m.status for m in case.device_models.all()} == {"listed"}
    assert case.plan_requirements.count() == 2  # not created twice
    assert second.outcome == "overturned" and second.effect_applied_at is not None
    assert AuditEvent.objects.filter(
        action="referral.overturn_already_in_effect", object_id=str(second.pk)
    ).exists()


def test_a_second_future_overturn_of_the_same_removal_never_blocks_the_hourly_task(committee):
    from governance.tasks import referrals_apply_due

    case, first, second = _two_suppliers_refer_the_removal(committee)
    later = TODAY + datetime.timedelta(days=10)
    for referral in (first, second):
        referrals.referral_determine(
            actor=committee["authority"],
            referral=referral,
            outcome="overturned",
            reasons="From next month",
            effective_date=later,
        )
    assert referrals_apply_due.delay().get() == 0
    assert referrals.referrals_apply_due(today=later) == 1  # one change; the other recorded
    case.refresh_from_db()
    assert case.state == "remediation" and case.plan_requirements.count() == 2
    assert not Referral.objects.filter(effect_applied_at__isnull=True).exists()
    assert referrals.referrals_apply_due(today=later) == 0


def test_one_referral_that_cannot_be_applied_does_not_stop_the_others(committee, caplog):
    case, first, _ = sent(committee, kind="remove", decision="suspend")
    other_case, other, _ = sent(committee, kind="not_remove", decision="remedial_plan")
    later = TODAY + datetime.timedelta(days=10)
    for referral in (first, other):
        referrals.referral_determine(
            actor=committee["authority"],
            referral=referral,
            outcome="overturned",
            reasons="Later",
            effective_date=later,
        )
    # The first case moved on before its determination took effect: it cannot be applied.
    Case.objects.filter(pk=case.pk).update(state="closed")
    assert referrals.referrals_apply_due(today=later) == 1
    other_case.refresh_from_db()
    assert other_case.state == "suspension"
    first.refresh_from_db()
    assert first.effect_applied_at is None  # nothing half-written; it stays due
    assert first.reference in caplog.text


def test_an_overturn_to_come_is_stated_on_the_plan_page_until_it_takes_effect(
    committee, client_for
):
    requirement, referral = refused_plan_referred(committee)
    later = TODAY + datetime.timedelta(days=10)
    referrals.referral_determine(
        actor=committee["authority"],
        referral=referral,
        outcome="overturned",
        reasons="Plan is adequate",
        effective_date=later,
    )
    url = f"/plans/{requirement.pk}/"
    html = client_for("supplier_a").get(url).content.decode()
    assert f"the plan is approved from {later:%-d %B %Y}" in html
    assert referrals.referrals_apply_due(today=later) == 1
    html = client_for("supplier_a").get(url).content.decode()
    assert "pending-determination" not in html and "Approved by the Authority" in html
