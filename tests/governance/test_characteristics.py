"""CPA Security Characteristics: versions per device type, one current, history kept."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from governance import services
from governance.models import SecurityCharacteristics

from ..helpers import pdf_upload

pytestmark = pytest.mark.django_db
D = datetime.date


def upload(users, version, effective, device_type="ESME", actor="secretariat"):
    return services.characteristics_upload(
        actor=users[actor],
        device_type=device_type,
        version_label=version,
        effective_date=effective,
        ncsc_reference=f"NCSC-{device_type}-{version}",
        upload=pdf_upload(),
    )


def current(device_type="ESME"):
    return SecurityCharacteristics.objects.get(device_type=device_type, is_current=True)


def test_the_latest_effective_version_is_current_and_history_is_kept(users):
    upload(users, "1.1", D(2024, 1, 1))
    upload(users, "1.2", D(2025, 6, 1))
    assert current().version_label == "1.2"
    upload(users, "1.1a", D(2024, 6, 1))  # a late correction of an older version
    assert current().version_label == "1.2"
    upload(users, "1.0", D(2023, 1, 1), device_type="GSME")
    assert current("GSME").version_label == "1.0"
    assert SecurityCharacteristics.objects.count() == 4
    with pytest.raises(ValidationError, match="already recorded"):
        upload(users, "1.2", D(2026, 1, 1))


def test_only_the_secretariat_uploads(users):
    for key in ("chair", "member", "supplier_a"):
        with pytest.raises(PermissionDenied):
            upload(users, "2.0", D(2026, 1, 1), actor=key)


@pytest.mark.parametrize(
    "role, status",
    [("supplier_a", 200), ("dcc", 200), ("member", 200), ("authority", 403), ("expert", 403)],
)
def test_history_is_visible_to_the_ssc_and_parties(users, client_for, role, status):
    document = upload(users, "1.1", D(2024, 1, 1))
    client = client_for(role)
    assert client.get("/characteristics/").status_code == status
    response = client.get(f"/characteristics/{document.pk}/")
    assert response.status_code == status
    if status == 200:
        assert response["Content-Disposition"].startswith("attachment;")


def test_upload_page_refuses_non_documents(users, client_for):
    response = client_for("secretariat").post(
        "/characteristics/",
        {
            "device_type": "ESME",
            "version_label": "3.0",
            "effective_date": "2026-01-01",
            "ncsc_reference": "X",
            "file": SimpleUploadedFile("cs.pdf", b"MZ\x90\x00" + b"\0" * 64),
        },
    )
    assert (
        response.status_code == 400 and "not an allowed document type" in response.content.decode()
    )
    assert not SecurityCharacteristics.objects.exists()


def test_the_secretariat_uploads_through_the_page(users, client_for):
    """Issue 10: the page's upload answered 500 (the form's `file` reached the service)."""
    response = client_for("secretariat").post(
        "/characteristics/",
        {
            "device_type": "ESME",
            "version_label": "3.0",
            "effective_date": "2026-01-01",
            "ncsc_reference": "NCSC-ESME-3.0",
            "file": pdf_upload(),
        },
    )
    assert response.status_code == 302
    assert current().version_label == "3.0"
