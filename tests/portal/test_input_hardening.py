"""Hostile input ends as a clean 400 or form error, never a 500 (several of these only failed on
PostgreSQL, which refuses NUL characters and over-long values); every page for a signed-in user
is kept out of caches."""

import pytest

from cpl.exchange import ExchangeFileRejected
from cpl.models import InventorySnapshot
from portal.models import AuditEvent

from ..cpl.test_inventory import register, run  # noqa: F401  (the fixture is used by name)
from ..helpers import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_a_nul_byte_in_the_login_username_is_a_clean_400(client):
    make_user("supplier_a")
    response = client.post("/accounts/login/", {"username": "supplier_a\x00", "password": "x"})
    assert response.status_code == 400
    assert b"NUL" in response.content


def test_a_nul_byte_in_any_query_or_form_value_is_a_clean_400(client_for):
    client = client_for("secretariat")
    assert client.get("/audit/", {"action": "login\x00"}).status_code == 400
    assert client.get("/cpl/", {"q\x00": "x"}).status_code == 400
    assert client.get("/audit/", {"action": "login"}).status_code == 200


def test_a_5000_character_username_is_a_form_error(client):
    make_user("supplier_a")
    response = client.post("/accounts/login/", {"username": "a" * 5000, "password": PASSWORD})
    assert response.status_code == 200
    assert "150 characters" in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated
    failed = AuditEvent.objects.filter(action="login.failed").latest("seq")
    assert len(failed.object_repr) <= 150


@pytest.mark.parametrize(
    "count, reason",
    [
        ("²", "is not a whole number"),
        ("１２", "is not a whole number"),
        ("-5", "is not a whole number"),
        ("9" * 25, "is more than"),
        (str(2**63), "is more than"),
        ("1000000001", "is more than"),
    ],
)
def test_inventory_counts_must_be_plain_bounded_numbers(register, count, reason):  # noqa: F811
    data = (
        f"Device Model,Supplier Party ID,Device Count,As Of\n"
        f"{register[0]},SUPA,10,2026-11-01\n"
        f"{register[1]},SUPA,{count},2026-11-01\n"
    ).encode()
    with pytest.raises(ExchangeFileRejected) as rejected:
        run(data)
    [error] = rejected.value.errors
    assert (error.row, error.column) == (3, "Device Count") and reason in error.reason
    assert not InventorySnapshot.objects.exists()


def test_pages_for_a_signed_in_user_are_never_stored(client_for):
    client = client_for("secretariat")
    for path in ("/", "/cpl/", "/audit/", "/no-such-page/"):
        response = client.get(path)
        cache_control = response["Cache-Control"]
        assert "no-store" in cache_control and "private" in cache_control, path


def test_downloads_are_never_stored_and_static_files_keep_their_caching(rf, users):
    from django.http import FileResponse, HttpResponse

    from portal.middleware import NoStoreMiddleware

    def anonymous(request):
        from django.contrib.auth.models import AnonymousUser

        request.user = AnonymousUser()
        return request

    import io

    download = NoStoreMiddleware(
        lambda r: FileResponse(io.BytesIO(b"x"), as_attachment=True, filename="a.csv")
    )(anonymous(rf.get("/cpl/versions/1/download/csv/")))
    assert "no-store" in download["Cache-Control"] and "private" in download["Cache-Control"]

    def cached(request):
        response = HttpResponse("body{}")
        response["Cache-Control"] = "max-age=315360000, public, immutable"
        return response

    static = rf.get("/static/portal.css")
    static.user = users["secretariat"]
    assert NoStoreMiddleware(cached)(static)["Cache-Control"] == (
        "max-age=315360000, public, immutable"
    )


def test_nul_bytes_in_form_fields_are_refused_but_file_content_is_not(users, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from governance.models import EvidenceDocument

    from ..helpers import PDF_BYTES, cpa_case

    case = cpa_case(users)
    client = client_for("secretariat")
    url = f"/cases/{case.pk}/evidence/new/"
    pdf = PDF_BYTES + b"\x00\x01\x02 binary stream\x00"
    refused = client.post(
        url,
        {
            "title": "Advice\x00",
            "classification": "ssc-only",
            "file": SimpleUploadedFile("advice.pdf", pdf),
        },
    )
    assert refused.status_code == 400 and not EvidenceDocument.objects.exists()
    stored = client.post(
        url,
        {"title": "Advice", "classification": "ssc-only", "file": SimpleUploadedFile("a.pdf", pdf)},
    )
    assert stored.status_code == 302 and EvidenceDocument.objects.count() == 1


def test_a_long_audit_filter_is_an_empty_result(client_for):
    response = client_for("secretariat").get("/audit/", {"action": "a" * 5000})
    assert response.status_code == 200 and not response.context["events"]
