"""A referral pack discloses nothing the secretariat did not choose: its audit.json lists only
events about what the pack holds, naming people and choices in words; and the Authority checks
it with `sha256sum -c SHA256SUMS`, a command every machine has."""

import datetime
import io
import json
import re
import shutil
import subprocess
import zipfile

import pytest
from django.utils import timezone

from cpl.inventory import inventory_import
from governance import plans, referrals, services
from governance.models import PlanRequirement, Referral
from governance.packs import _ACTIONS, _disclosed_events, pack_zip, verify_pack
from portal.models import AuditEvent

from ..helpers import (
    PDF_BYTES,
    cpa_case,
    decided_case,
    party_summary_approved,
    pdf_upload,
    referral_pack_sent,
    vote_unanimously,
)

pytestmark = pytest.mark.django_db
TODAY = datetime.date.today()

NAMES = {
    "secretariat": ("Sam", "Secretary"),
    "chair": ("Chris", "Chair"),
    "member": ("Mona", "Member"),
    "member2": ("Milo", "Member"),
    "member3": ("Maya", "Member"),
    "expert": ("Ernest", "Undisclosed-Grantee"),
    "supplier_a": ("Ada", "Supplier"),
    "authority": ("Olive", "Ofgem"),
}
HIDDEN_TITLE = "Vendor exploit write-up"
HIDDEN_BYTES = PDF_BYTES + b"% only the SSC has read this\n"


@pytest.fixture
def named(committee):
    for key, (first, last) in NAMES.items():
        user = committee[key]
        user.first_name, user.last_name = first, last
        user.save(update_fields=["first_name", "last_name"])
    return committee


def _decided_with_evidence(committee):
    """A removal decided by the SSC with two evidence documents before it: one the secretariat
    discloses to the Authority, one (named recipients, granted to the expert) it does not."""
    case = cpa_case(committee, models=1)
    model = case.device_models.get()
    inventory_import(
        actor=committee["secretariat"],
        binary=io.BytesIO(
            b"Device Model,Supplier Party ID,Device Count,As Of\n"
            + f"{'/'.join(model.identity)},SUPA,1200,2026-11-01\n".encode()
        ),
        file_name="inventory.csv",
        file_sha256="0" * 64,
    )
    upload = services.evidence_upload
    shown = upload(
        actor=committee["secretariat"],
        case=case,
        title="NCSC advice",
        classification="ssc-only",
        upload=pdf_upload(),
    )
    hidden = upload(
        actor=committee["secretariat"],
        case=case,
        title=HIDDEN_TITLE,
        classification="named-recipients",
        upload=pdf_upload("exploit.pdf", HIDDEN_BYTES),
    )
    services.evidence_grant(
        actor=committee["secretariat"], document=hidden, users=[committee["expert"]]
    )
    for document in (shown, hidden):
        services.evidence_record_download(actor=committee["member"], document=document)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    vote_unanimously(committee, case, "suspend")
    party_summary_approved(committee, case)
    services.decision_issue(
        actor=committee["chair"],
        case=case,
        reasons="Proportionate",
        security_factors="Local access",
        operational_impact="Large",
    )
    return case, shown, hidden


@pytest.fixture
def disclosed(named, client_for, tmp_path):
    """The pack the Authority downloads: (shown, hidden, ZIP path, its members)."""
    case, shown, hidden = _decided_with_evidence(named)
    referral = referrals.referral_lodge(
        actor=named["supplier_a"],
        case=case,
        kind="remove",
        grounds="Disproportionate to the risk",
        uploads=[pdf_upload("grounds.pdf")],
    )
    referrals.referral_send_pack(actor=named["secretariat"], referral=referral, disclosed=[shown])
    client = client_for("authority")
    # A second version: the first version's build and the download are events in its audit.
    response = client.get(f"/referrals/{referral.pk}/packs/1/")
    assert response.status_code == 200
    request = referrals.information_request(
        actor=named["authority"],
        referral=Referral.objects.get(pk=referral.pk),
        text="Send the lab report",
        due_date=timezone.localdate() + datetime.timedelta(days=5),
    )
    referrals.information_provide(actor=named["secretariat"], request=request, response="None")
    response = client.get(f"/referrals/{referral.pk}/packs/2/")
    assert response.status_code == 200
    path = tmp_path / "pack.zip"
    path.write_bytes(b"".join(response.streaming_content))
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return shown, hidden, path, members


def _leaves(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_audit_json_in_a_pack_never_mentions_an_undisclosed_document(disclosed, named):
    shown, hidden, _, members = disclosed
    audit = members["audit.json"].decode()
    events = json.loads(audit)
    secrets = [HIDDEN_TITLE, hidden.sha256, hidden.original_name, "Undisclosed-Grantee", "expert"]
    for secret in secrets:
        assert secret not in audit, secret
    # No event carries a row's id: nothing to match the undisclosed document by.
    assert {key for event in events for key in event} == {
        "seq",
        "at",
        "by",
        "action",
        "about",
        "details",
        "hash",
    }
    # What was disclosed is there: the document, its upload, download and grants.
    about_shown = [e for e in events if e["about"] == str(shown)]
    assert {e["action"] for e in about_shown} >= {
        "Evidence uploaded",
        "Evidence downloaded",
        "Evidence access granted",
    }
    assert any(e["details"].get("SHA-256") == shown.sha256 for e in about_shown)
    built = next(e for e in events if e["action"] == "Referral pack built")
    assert built["details"]["Disclosed"] == ["NCSC advice"]
    # Nor anywhere else in the pack: the files, their names, the summary, the snapshot.
    assert not any(f"/{hidden.pk}-" in name for name in members)
    text = {name: data.decode("utf-8", "replace") for name, data in members.items()}
    text["summary.pdf"] = _pdf_text(members["summary.pdf"])
    for name, content in text.items():
        for secret in secrets[:4]:
            assert secret not in content, (name, secret)
    snapshot = json.loads(members["decision_snapshot.json"])
    assert [e["id"] for e in snapshot["parts"]["evidence"]] == [shown.pk]
    assert snapshot["evidence_withheld"] == 1
    assert HIDDEN_BYTES not in members.values()


def test_audit_json_names_people_and_choices_in_words(disclosed, named):
    *_, members = disclosed
    events = json.loads(members["audit.json"])
    leaves = [leaf for leaf in _leaves(events) if isinstance(leaf, str)]
    usernames = {u.username for u in named.values() if hasattr(u, "username")}
    assert not usernames & set(leaves), usernames & set(leaves)
    codes = {"suspend", "remedial_plan", "ssc-only", "named-recipients", "remove", "pack_sent"}
    assert not codes & set(leaves), codes & set(leaves)
    everyone = {e["by"] for e in events}
    assert "Sam Secretary (Security Sub-Committee)" in everyone
    assert "Olive Ofgem (Ofgem)" in everyone  # the Authority's download of version 1
    lodged = next(e for e in events if e["action"] == "Referral lodged")
    assert lodged["by"] == "Ada Supplier (Supplier A Energy)"
    assert lodged["details"]["Kind"] == "The decision to remove the device models from the CPL"
    issued = next(e for e in events if e["action"] == "Decision issued")
    assert issued["details"]["Decision"] == "Remove the device models from the CPL"
    sent = next(e for e in events if e["action"] == "Referral pack sent to the Authority")
    assert sent["details"]["State"] == {"Before": "Lodged", "After": "Pack sent to the Authority"}
    votes = [e for e in events if e["action"] == "Vote cast"]
    assert votes and all("(Security Sub-Committee)" in e["by"] for e in votes)
    # Every event in words: no "Case: start voting", "Planrequirement: submit" codes.
    actions = {e["action"] for e in events}
    assert actions <= set(_ACTIONS.values()), actions - set(_ACTIONS.values())
    assert {
        "Voting on the case started",
        "Decision applied: device models removed from the CPL",
    } <= actions
    assert "Pack due" not in str(lodged["details"]) or "-" not in lodged["details"]["Pack due"]
    # Comments and the like stay with the SSC: only the decision's events of the case.
    assert not any("comment" in e["action"].lower() for e in events)


def test_the_summary_pdf_says_how_to_verify_without_the_portal(disclosed):
    *_, members = disclosed
    text = " ".join(_pdf_text(members["summary.pdf"]).split())
    assert "sha256sum -c SHA256SUMS" in text
    assert "manage.py" not in text and "verify_pack" not in text
    assert "openssl pkeyutl -verify" in text


def _sha256sum_check(folder) -> subprocess.CompletedProcess:
    """What the Authority runs in the folder it extracted the ZIP to."""
    command = ["sha256sum", "-c", "SHA256SUMS"]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)


def _extract(members, folder):
    for name, data in members.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="sha256sum is not installed")
def test_sha256sum_verifies_every_file_of_an_extracted_pack(disclosed, tmp_path):
    *_, path, members = disclosed
    assert verify_pack(path) == []  # the signature still holds over a manifest listing it
    lines = members["SHA256SUMS"].decode().splitlines()
    listed = {line.split("  ", 1)[1] for line in lines}
    assert all(len(line.split("  ", 1)[0]) == 64 for line in lines)
    assert listed == set(members) - {"SHA256SUMS", "manifest.json", "manifest.json.sig"}
    folder = tmp_path / "extracted"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(folder)
    done = _sha256sum_check(folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": OK") == len(listed)


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="sha256sum is not installed")
def test_sha256sum_fails_on_a_tampered_file(disclosed, tmp_path):
    *_, members = disclosed
    name = next(n for n in members if n.startswith("documents/evidence/"))
    tampered = bytearray(members[name])
    tampered[len(tampered) // 2] ^= 0x01
    folder = tmp_path / "tampered"
    _extract({**members, name: bytes(tampered)}, folder)
    done = _sha256sum_check(folder)
    assert done.returncode != 0
    assert f"{name}: FAILED" in done.stdout


# --- the referral page shows what is referred --------------------------------------------------


@pytest.fixture
def plan_referral(named):
    """Supplier A's plan refused by the SSC with its reasons, referred with a grounds document;
    the pack sent, and the SSC's answer to the Authority with a document of its own."""
    from governance import plans
    from governance.models import PlanRequirement

    case = decided_case(named)
    requirement = PlanRequirement.objects.get(case=case, supplier=named["supplier_a"].organisation)
    plan = plans.plan_submit(
        actor=named["supplier_a"],
        requirement=requirement,
        summary="Replace the firmware on 1,200 meters by March 2028",
        upload=pdf_upload("plan-v1.pdf"),
        milestones=[
            {"description": "Firmware", "target_date": TODAY, "devices_covered": 1200},
        ],
    )
    plans.plan_review(
        actor=named["member"],
        requirement=requirement,
        version=plan.version,
        approve=False,
        comments="Milestones run past the certificate's replacement date",
    )
    plan.refresh_from_db()
    referral = referrals.referral_lodge(
        actor=named["supplier_a"],
        case=case,
        kind="plan_not_approved",
        grounds="The dates follow the manufacturer's release",
        requirement=requirement,
        uploads=[pdf_upload("grounds.pdf")],
    )
    referrals.referral_send_pack(actor=named["secretariat"], referral=referral)
    request = referrals.information_request(
        actor=named["authority"],
        referral=Referral.objects.get(pk=referral.pk),
        text="Send the lab report",
        due_date=TODAY + datetime.timedelta(days=5),
    )
    referrals.information_provide(
        actor=named["secretariat"],
        request=request,
        response="Attached",
        uploads=[pdf_upload("lab-report.pdf")],
    )
    return Referral.objects.get(pk=referral.pk), plan


def _page(client, referral) -> str:
    response = client.get(f"/referrals/{referral.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def _document(referral, name):
    return referral.documents.get(original_name=name)


def test_the_authority_reads_the_refused_plan_the_reasons_and_the_documents(
    plan_referral, client_for
):
    referral, plan = plan_referral
    client = client_for("authority")
    page = _page(client, referral)
    assert "The decision not to approve a remedial plan" in page
    assert "version 1" in page and "plan-v1.pdf" in page
    assert "Replace the firmware on 1,200 meters" in page
    assert "Milestones run past the certificate&#x27;s replacement date" in page
    # The plan policy does not open supplier plans to the Authority: the pack carries it.
    assert f"/plans/{plan.requirement_id}/" not in page
    for name in ("grounds.pdf", "lab-report.pdf"):
        document = _document(referral, name)
        url = f"/referrals/{referral.pk}/documents/{document.pk}/"
        assert url in page
        response = client.get(url)
        assert response.status_code == 200
        assert "attachment" in response["Content-Disposition"]
        assert b"".join(response.streaming_content) == PDF_BYTES
    assert AuditEvent.objects.filter(action="referral.document_downloaded").count() == 2


def test_the_referring_supplier_reads_its_plan_and_its_grounds_not_the_sscs_answer(
    plan_referral, client_for
):
    referral, plan = plan_referral
    client = client_for("supplier_a")
    page = _page(client, referral)
    assert "Milestones run past the certificate&#x27;s replacement date" in page
    assert f"/plans/{plan.requirement_id}/versions/{plan.pk}/" in page
    assert f'href="/plans/{plan.requirement_id}/"' in page
    grounds, answer = _document(referral, "grounds.pdf"), _document(referral, "lab-report.pdf")
    assert f"/referrals/{referral.pk}/documents/{grounds.pk}/" in page
    assert client.get(f"/referrals/{referral.pk}/documents/{grounds.pk}/").status_code == 200
    # What the SSC gave the Authority stays with the SSC and the Authority.
    assert "lab-report.pdf" not in page
    assert client.get(f"/referrals/{referral.pk}/documents/{answer.pk}/").status_code == 404
    assert "Security factors" not in page


def test_a_conflicted_member_sees_no_more_than_a_party(plan_referral, client_for, named):
    referral, plan = plan_referral
    services.conflict_declare(
        actor=named["member2"], case=referral.case, has_conflict=True, reason="I advised them"
    )
    client = client_for(named["member2"])
    page = _page(client, referral)
    answer = _document(referral, "lab-report.pdf")
    assert "lab-report.pdf" not in page
    assert client.get(f"/referrals/{referral.pk}/documents/{answer.pk}/").status_code == 404
    # Another organisation's plan is hidden from a conflicted member, as from another Party.
    assert "Milestones run past" not in page and "plan-v1.pdf" not in page
    assert "Security factors" not in page
    # The grounds, which the Party itself reads, stay readable.
    grounds = _document(referral, "grounds.pdf")
    assert client.get(f"/referrals/{referral.pk}/documents/{grounds.pk}/").status_code == 200


def test_a_decision_referral_page_states_the_decision_in_words(named, client_for):
    case, referral, _ = referral_pack_sent(named)
    for key in ("authority", "supplier_a"):
        page = _page(client_for(key), referral)
        assert "The SSC's decision" in page
        assert "Remove the device models from the CPL" in page
        assert "grounds.pdf" in page
    page = _page(client_for("authority"), referral)
    assert "suspend:" not in page and "remedial_plan:" not in page
    assert "Mona Member (Security Sub-Committee)" in page


def test_a_plan_referrals_audit_json_tells_the_plan_in_words(plan_referral):
    referral, _ = plan_referral
    events = _disclosed_events(referral)
    actions = [e["action"] for e in events]
    assert set(actions) <= set(_ACTIONS.values()), set(actions) - set(_ACTIONS.values())
    assert "Remedial plan submitted" in actions
    assert "Remedial plan not approved by the SSC" in actions
    assert "CPA Certificate Remedial Plan required (clause 6.3 notice)" in actions


def test_audit_json_words_plan_reviews_without_codes_nulls_or_iso_times(named, settings):
    """A referred plan refusal (two reviewers): the reviews' rule, decisions and outcome in
    words, no empty values, dates and times as people write them."""
    settings.PLAN_APPROVAL_RULE = "two"
    case = decided_case(named)
    requirement = PlanRequirement.objects.get(supplier=named["supplier_a"].organisation)
    plans.plan_submit(
        actor=named["supplier_a"],
        requirement=requirement,
        summary="Firmware",
        upload=pdf_upload("plan.pdf"),
        milestones=[
            {"description": "m", "target_date": timezone.localdate(), "devices_covered": 1}
        ],
    )
    for key in ("member", "member2"):
        plans.plan_review(
            actor=named[key], requirement=requirement, version=1, approve=False, comments="Slow"
        )
    referral = referrals.referral_lodge(
        actor=named["supplier_a"],
        case=case,
        kind="plan_not_approved",
        grounds="Proportionate",
        requirement=requirement,
    )
    referrals.referral_send_pack(actor=named["secretariat"], referral=referral)
    pack = Referral.objects.get(pk=referral.pk).packs.get()
    with zipfile.ZipFile(io.BytesIO(b"".join(pack_zip(pack)))) as archive:
        events = json.loads(archive.read("audit.json"))
    reviewed = [e for e in events if e["action"] == "Remedial plan reviewed"]
    assert reviewed
    leaves = [leaf for e in events for leaf in _leaves(e["details"])]
    assert None not in leaves
    assert not {"two", "not_approve", "pending", "not_approved"} & set(leaves)
    iso = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
    assert not [leaf for leaf in leaves if isinstance(leaf, str) and iso.match(leaf)]
    assert reviewed[0]["details"]["Review"] == "Do not approve"
    assert reviewed[0]["details"]["Rule"].startswith("Two SSC reviewers")
