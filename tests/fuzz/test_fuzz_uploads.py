"""Fuzzing the document uploads through the pages a user posts to: case evidence and remedial
plans. Each mutated file (damaged PDFs, PNGs and Office ZIPs, markup, odd names) is stored as a
permitted document or refused with a 400 and nothing stored, on disk or in the database; never
a 500. What is accepted never carries a dangerous name or markup a browser would sniff."""

import hashlib
import io
import os
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import event, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from governance.models import EvidenceDocument, PlanRequirement, RemedialPlan
from portal.documents import DANGEROUS_EXTENSIONS, MARKUP_MARKERS, SNIFF_BYTES, extension

from ..helpers import PDF_BYTES, cpa_case, decided_case
from .conftest import crashers, examples, files_under, rolled_back
from .mutants import byte_edits, reencoded, stable_zip, zip_build, zip_edits

pytestmark = pytest.mark.django_db

RENDERABLE = {"application/pdf", "text/plain", "text/csv"}
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _docx() -> bytes:
    return zip_build(
        [
            ("[Content_Types].xml", b'<?xml version="1.0"?><Types/>'),
            ("word/document.xml", b"<w:document/>"),
        ],
        zipfile.ZIP_STORED,
    )


def _xlsx() -> bytes:
    out = io.BytesIO()
    Workbook().save(out)
    return stable_zip(out.getvalue())


TEXT = b"Device Model,Devices\n1A2B/0000/0100/00000001,12\n"
ZIPS = [_docx(), _xlsx()]
SEEDS = [PDF_BYTES, PNG, TEXT, b"Plain notes from the meeting.\n", *ZIPS]
NAMES = [
    "advice.pdf",
    "ADVICE.PDF",
    "scan.png",
    "report.docx",
    "counts.xlsx",
    "counts.csv",
    "notes.txt",
    "README",
    "page.html",
    "image.svg",
    "run.hta",
    "app.js",
    "advice.pdf.exe",
    "advice.exe.pdf",
    "x.hta.",
    "a\\b.Hta",
    "../../etc/passwd",
    "\u202etxt.exe",
    "report\x00.pdf",
    "ملف.pdf",
    "a" * 300 + ".pdf",
    ".pdf",
]

contents = st.one_of(
    st.sampled_from(SEEDS).flatmap(byte_edits),
    st.sampled_from(ZIPS).flatmap(zip_edits),
    st.sampled_from([TEXT, PDF_BYTES]).flatmap(reencoded),
    st.binary(max_size=1024),
)
# Names the test client can send (Django's SimpleUploadedFile refuses "", "." and "..").
names = st.one_of(st.sampled_from(NAMES), st.text(min_size=1, max_size=40)).filter(
    lambda name: os.path.basename(name) not in {"", ".", ".."}
)
uploads = st.tuples(names, contents)


def assert_safe_if_accepted(document, name: str, data: bytes, accepted: bool) -> None:
    """What is stored has no name a desktop would run and, where a browser could render it
    (PDF, text), no markup where a sniffing browser looks."""
    event("accepted" if accepted else "refused")
    if accepted:
        assert extension(document.original_name) not in DANGEROUS_EXTENSIONS, name
        assert document.sha256 == hashlib.sha256(data).hexdigest()
        if document.content_type in RENDERABLE:
            head = data[:SNIFF_BYTES].lower()
            assert not any(marker in head for marker in MARKUP_MARKERS), data[:80]


@pytest.fixture
def evidence_case(users, client_for):
    return cpa_case(users), client_for("secretariat")


def post_evidence(evidence_case, private_root, name, data):
    case, client = evidence_case
    documents, files = EvidenceDocument.objects.count(), files_under(private_root)
    response = client.post(
        f"/cases/{case.pk}/evidence/new/",
        {
            "title": "Fuzzed evidence",
            "classification": "ssc-only",
            "file": SimpleUploadedFile(name, data),
        },
    )
    assert response.status_code in (302, 400), response.status_code
    accepted = response.status_code == 302
    assert EvidenceDocument.objects.count() == documents + accepted
    assert len(files_under(private_root) - files) == accepted, "a refused upload left a file"
    assert_safe_if_accepted(EvidenceDocument.objects.order_by("pk").last(), name, data, accepted)


@settings(max_examples=examples(40))
@given(upload=uploads)
def test_evidence_uploads_are_stored_or_refused_cleanly(evidence_case, settings, upload):
    with rolled_back():
        post_evidence(evidence_case, settings.PRIVATE_STORAGE_ROOT, *upload)


@pytest.fixture
def plan_requirement(committee, client_for):
    decided_case(committee)
    requirement = PlanRequirement.objects.get(supplier=committee["supplier_a"].organisation)
    return requirement, client_for("supplier_a")


PLAN_FORM = {
    "action": "submit",
    "summary": "Firmware update",
    "milestones-TOTAL_FORMS": "1",
    "milestones-INITIAL_FORMS": "0",
    "milestones-MIN_NUM_FORMS": "1",
    "milestones-MAX_NUM_FORMS": "50",
    "milestones-0-description": "Fix",
    "milestones-0-target_date": "2027-03-01",
    "milestones-0-devices_covered": "1200",
}


@settings(max_examples=examples(25))
@given(upload=uploads)
def test_plan_uploads_are_stored_or_refused_cleanly(plan_requirement, settings, upload):
    requirement, client = plan_requirement
    name, data = upload
    with rolled_back():
        plans, files = RemedialPlan.objects.count(), files_under(settings.PRIVATE_STORAGE_ROOT)
        response = client.post(
            f"/plans/{requirement.pk}/", {**PLAN_FORM, "file": SimpleUploadedFile(name, data)}
        )
        assert response.status_code in (302, 400), response.status_code
        accepted = response.status_code == 302
        assert RemedialPlan.objects.count() == plans + accepted
        added = files_under(settings.PRIVATE_STORAGE_ROOT) - files
        assert len(added) == accepted, "a refused plan left a file"
        assert_safe_if_accepted(RemedialPlan.objects.order_by("pk").last(), name, data, accepted)


@pytest.mark.parametrize("path", crashers("uploads"), ids=lambda p: p.name)
def test_saved_crashers_are_handled_cleanly(evidence_case, settings, path):
    post_evidence(evidence_case, settings.PRIVATE_STORAGE_ROOT, path.name, path.read_bytes())
