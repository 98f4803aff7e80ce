"""`make bench-web`'s ceiling pages: served only with settings.BENCH_VIEWS, and the logged-in
one only to a signed-in, second-factor-verified user."""

import importlib

import pytest
from django.test import override_settings
from django.urls import clear_url_caches

import portal.urls

from ..helpers import PASSWORD, current_code, make_user, sign_in

pytestmark = pytest.mark.django_db

BENCH_PATHS = ("/bench/trivial/", "/bench/trivial-auth/")


def _reload_urls():
    importlib.reload(portal.urls)
    clear_url_caches()


@pytest.fixture
def bench_urls():
    """The URLconf as a server with PORTAL_BENCH_VIEWS=1 builds it; rebuilt without after."""
    with override_settings(BENCH_VIEWS=True):
        _reload_urls()
        yield
    _reload_urls()


@pytest.mark.parametrize("path", BENCH_PATHS)
def test_bench_pages_are_not_served_without_the_setting(client, path):
    assert client.get(path).status_code == 404
    sign_in(client, make_user("secretariat"))
    assert client.get(path).status_code == 404


def test_trivial_page_is_open(client, bench_urls):
    response = client.get("/bench/trivial/")
    assert response.status_code == 200
    assert b"Hello" in response.content


def test_trivial_auth_page_requires_sign_in(client, bench_urls):
    response = client.get("/bench/trivial-auth/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("role", ["secretariat", "supplier_a"])
def test_trivial_auth_page_requires_the_second_factor(client, bench_urls, role):
    make_user(role)
    client.post("/accounts/login/", {"username": role, "password": PASSWORD})
    response = client.get("/bench/trivial-auth/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/security-code/")

    client.post("/accounts/security-code/", {"token": current_code()})
    response = client.get("/bench/trivial-auth/")
    assert response.status_code == 200
    assert f"Hello {role}".encode() in response.content


@override_settings(MIDDLEWARE=["portal.bench_views.QueryCountMiddleware"])
def test_query_count_header_only_when_asked(client, bench_urls):
    sign_in(client, make_user("secretariat"))
    assert "X-Query-Count" not in client.get("/bench/trivial/")
    counted = client.get("/bench/trivial/", headers={"X-Bench-Count-Queries": "1"})
    assert counted["X-Query-Count"] == "0"


def test_query_count_header_counts_session_and_user(client, bench_urls, settings):
    settings.MIDDLEWARE = [
        "portal.bench_views.QueryCountMiddleware",
        *[m for m in settings.MIDDLEWARE if m != "portal.bench_views.QueryCountMiddleware"],
    ]
    sign_in(client, make_user("secretariat"))
    response = client.get("/bench/trivial-auth/", headers={"X-Bench-Count-Queries": "1"})
    assert response.status_code == 200
    assert int(response["X-Query-Count"]) >= 2  # at least the session and the user
