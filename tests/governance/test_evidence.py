"""Need-to-know evidence: content-checked uploads, guardian grants, permission-checked downloads."""

import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from governance import services
from governance.models import EvidenceDocument
from portal.models import AuditEvent

from ..helpers import cpa_case, pdf_upload

pytestmark = pytest.mark.django_db


def upload(users, case, classification="ssc-only", file=None, title="NCSC advice"):
    return services.evidence_upload(
        actor=users["secretariat"],
        case=case,
        title=title,
        classification=classification,
        upload=file or pdf_upload(),
    )


def url(document):
    return f"/cases/{document.case_id}/evidence/{document.pk}/"


def xlsx_bytes():
    out = io.BytesIO()
    Workbook().save(out)
    return out.getvalue()


def docx_bytes():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.mark.parametrize(
    "name, data, content_type",
    [
        ("advice.pdf", b"%PDF-1.7\n%...", "application/pdf"),
        (
            "report.docx",
            docx_bytes(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            "devices.xlsx",
            xlsx_bytes(),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("screen.png", PNG, "image/png"),
        ("counts.csv", b"model,count\nA,12\n", "text/csv"),
        ("notes.txt", "Vulnérabilité notée\n".encode(), "text/plain"),
    ],
    ids=["pdf", "docx", "xlsx", "png", "csv", "text"],
)
def test_allowed_types_are_detected_from_content(users, name, data, content_type):
    document = upload(users, cpa_case(users), file=SimpleUploadedFile(name, data))
    assert document.content_type == content_type


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("advice.pdf", b"MZ\x90\x00\x03" + b"\x00" * 200, "not an allowed document type"),
        ("advice.pdf", b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "not an allowed document type"),
        ("advice.pdf", b"", "empty"),
        ("blob.pdf", bytes(range(256)) * 4, "not recognised"),
    ],
    ids=["renamed-exe", "renamed-elf", "empty", "binary"],
)
def test_bad_uploads_are_refused_and_nothing_is_stored(users, name, data, message):
    case = cpa_case(users)
    with pytest.raises(ValidationError, match=message):
        upload(users, case, file=SimpleUploadedFile(name, data))
    assert not EvidenceDocument.objects.exists()


def test_oversized_upload_is_refused(users, settings):
    settings.EVIDENCE_MAX_BYTES = 100
    with pytest.raises(ValidationError, match="smaller than"):
        upload(users, cpa_case(users), file=pdf_upload(data=b"%PDF-1.4\n" + b"x" * 200))


def test_ssc_only_evidence_reaches_non_conflicted_ssc_members_only(committee, client_for):
    case = cpa_case(committee)
    services.conflict_declare(
        actor=committee["member3"], case=case, has_conflict=True, reason="Works for Supplier A"
    )
    document = upload(committee, case)
    from ..helpers import sign_in

    for key, expected in [
        ("secretariat", 200),
        ("chair", 200),
        ("member", 200),
        ("member3", 404),
        ("supplier_a", 404),
        ("supplier_b", 404),
        ("authority", 404),
        ("expert", 404),
    ]:
        client = client_for("secretariat")
        client.logout()
        sign_in(client, committee[key])
        response = client.get(url(document))
        assert response.status_code == expected, key
        if expected == 200:
            assert response["Content-Disposition"].startswith("attachment;")
            assert response["X-Content-Type-Options"] == "nosniff"
            assert b"".join(response.streaming_content) == pdf_upload().read()
    downloads = AuditEvent.objects.filter(action="evidence.downloaded", object_id=str(document.pk))
    assert sorted(downloads.values_list("actor_label", flat=True)) == [
        "chair",
        "member",
        "secretariat",
    ]


def test_declaring_a_conflict_later_revokes_access(committee):
    case = cpa_case(committee)
    document = upload(committee, case)
    member = committee["member2"]
    assert member.has_perm("governance.view_evidencedocument", document)
    services.conflict_declare(actor=member, case=case, has_conflict=True, reason="Shareholder")
    member = type(member).objects.get(pk=member.pk)  # fresh permission cache
    assert not member.has_perm("governance.view_evidencedocument", document)
    assert AuditEvent.objects.filter(
        action="evidence.access_revoked", after__user="member2"
    ).exists()


def test_named_recipient_documents_only_reach_those_named(users, client_for):
    case = cpa_case(users)
    document = upload(users, case, classification="named-recipients")
    assert client_for("member").get(url(document)).status_code == 404
    response = client_for("secretariat").post(
        f"{url(document)}access/", {"users": [users["member"].pk]}
    )
    assert response.status_code == 302
    assert client_for("member").get(url(document)).status_code == 200
    assert client_for("chair").get(url(document)).status_code == 404
    assert AuditEvent.objects.filter(
        action="evidence.access_granted", after__user="member", after__rule="named"
    ).exists()


def test_suppliers_see_parties_evidence_of_their_own_cases_only(users, client_for):
    case = cpa_case(users, addressed=("supplier_a",))
    ssc_only = upload(users, case, title="Vulnerability report")
    parties = upload(users, case, classification="parties", title="Decision pack")
    client = client_for("supplier_a")
    assert client.get(url(parties)).status_code == 200
    assert client.get(url(ssc_only)).status_code == 404
    page = client.get(f"/cases/{case.pk}/").content.decode()
    assert "Decision pack" in page and "Vulnerability report" not in page
    other = client_for("supplier_b")
    for document in (parties, ssc_only):
        assert other.get(url(document)).status_code == 404
        # Guessing ids does not help either: a document under another case id is not found.
        assert other.get(f"/cases/{case.pk + 1}/evidence/{document.pk}/").status_code == 404
    assert other.get(f"/cases/{case.pk}/").status_code == 404


def test_upload_page_refuses_an_executable_with_a_message(users, client_for):
    case = cpa_case(users)
    response = client_for("secretariat").post(
        f"/cases/{case.pk}/evidence/new/",
        {
            "title": "Totally a PDF",
            "classification": "ssc-only",
            "file": SimpleUploadedFile("advice.pdf", b"MZ\x90\x00" + b"\x00" * 100),
        },
    )
    assert response.status_code == 400
    assert "not an allowed document type" in response.content.decode()
    assert not EvidenceDocument.objects.exists()


def test_files_are_stored_outside_the_web_root_under_generated_names(users, settings):
    from pathlib import Path

    document = upload(users, cpa_case(users), file=pdf_upload(name="../../etc/passwd.pdf"))
    stored = Path(settings.PRIVATE_STORAGE_ROOT, "evidence", document.stored_name)
    assert stored.is_file() and document.stored_name.isalnum()
    assert not str(stored).startswith(str(settings.STATIC_ROOT))


def test_users_who_join_later_get_access_by_the_periodic_sync(users, client_for):
    from django.core.management import call_command

    from governance.tasks import evidence_sync_all

    from ..helpers import make_user

    case = cpa_case(users)
    document = upload(users, case, classification="parties")
    newcomer = make_user("supplier_a", "supplier_a_new")
    assert client_for(newcomer).get(url(document)).status_code == 404
    assert evidence_sync_all.delay().get() == 1
    assert client_for(newcomer).get(url(document)).status_code == 200
    newcomer.is_active = False
    newcomer.save()
    call_command("sync_evidence_access")
    from guardian.shortcuts import get_users_with_perms

    # The grant row itself is gone (an inactive user is refused anyway; this checks the rule).
    holders = get_users_with_perms(document, only_with_perms_in=["view_evidencedocument"])
    assert newcomer not in holders and users["supplier_a"] in holders
