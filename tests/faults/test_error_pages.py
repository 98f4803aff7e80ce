"""Every error answers with the portal's own page (GOV.UK layout, a helpful message), never a
traceback or Django's bare text: 400, 403, 404, 409, 413, 500 and 503."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from governance.models import EvidenceDocument
from portal import views as portal_views

from ..helpers import PDF_BYTES, cpa_case

pytestmark = pytest.mark.django_db

LAYOUT = 'class="govuk-template"'


def page(response, status: int) -> str:
    assert response.status_code == status
    assert f"{status}.html" in [t.name for t in response.templates]
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert LAYOUT in body and "govuk-heading-l" in body
    assert "Traceback" not in body and 'File "' not in body
    return body


def test_a_nul_character_is_the_400_page(client_for):
    body = page(client_for("secretariat").get("/audit/", {"action": "login\x00"}), 400)
    assert "NUL character" in body


def test_a_refused_request_is_the_400_page(db):
    """Django's own 400s (here a Host header the portal does not serve) use the page too."""
    response = Client(HTTP_HOST="portal.attacker.example").get("/accounts/login/")
    body = page(response, 400)
    assert "nothing was changed" in body


def test_a_forbidden_page_is_the_403_page(client_for):
    body = page(client_for("supplier_a").get(reverse("audit-log")), 403)
    assert "contact the SSC Secretariat" in body


def test_a_missing_page_is_the_404_page(client_for):
    body = page(client_for("secretariat").get("/no-such-page/"), 404)
    assert "check it is correct" in body


def test_an_action_no_longer_possible_is_the_409_page(users, client_for):
    case = cpa_case(users)
    client = client_for("secretariat")
    url = reverse("governance:case-action", args=[case.pk, "start_assessment"])
    assert client.post(url).status_code == 302
    body = page(client.post(url), 409)
    assert "nothing you sent was saved" in body


def test_an_oversize_upload_is_the_413_page(users, client_for, settings):
    settings.EVIDENCE_MAX_BYTES = 64 * 1024
    case = cpa_case(users)
    response = client_for("secretariat").post(
        reverse("governance:evidence-upload", args=[case.pk]),
        {
            "title": "Huge",
            "classification": "ssc-only",
            "file": SimpleUploadedFile("big.pdf", PDF_BYTES + b"0" * 70 * 1024),
        },
    )
    body = page(response, 413)
    assert "at most 64.0\xa0KB" in body and "Nothing was uploaded" in body
    assert not EvidenceDocument.objects.exists()


@pytest.fixture
def health_raises(monkeypatch):
    def raising(error):
        def get(self, request, *args, **kwargs):
            raise error

        monkeypatch.setattr(portal_views.HealthView, "get", get)

    return raising


def test_an_unexpected_error_is_the_500_page_without_its_details(db, health_raises):
    health_raises(RuntimeError("secret internals: /srv/portal/settings.py"))
    response = Client(raise_request_exception=False).get(reverse("healthz"))
    body = page(response, 500)
    assert "secret internals" not in body and "RuntimeError" not in body
    assert "all or nothing" in body


def test_a_lost_database_is_the_503_page_with_a_retry_hint(db, health_raises):
    health_raises(OperationalError("server closed the connection unexpectedly"))
    response = Client(raise_request_exception=False).get(reverse("healthz"))
    body = page(response, 503)
    assert response["Retry-After"] == "30"
    assert "server closed" not in body and "Try again in a few minutes" in body
