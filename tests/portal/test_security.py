"""Headers, CSRF, production settings and the admin site."""

import base64
import os
import subprocess
import sys

import pytest
from django.test import Client

from ..helpers import PASSWORD, current_code, make_user, sign_in

pytestmark = pytest.mark.django_db


def test_security_headers_on_every_response(client):
    for path in ("/accounts/login/", "/", "/no-such-page/"):
        response = client.get(path)
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"


def test_pages_carry_no_inline_script(client_for):
    body = client_for("secretariat").get("/").content.decode()
    assert "<script>" not in body and "onclick" not in body and " style=" not in body


def test_state_changing_requests_need_a_csrf_token(users):
    client = Client(enforce_csrf_checks=True)
    assert (
        client.post(
            "/accounts/login/", {"username": "secretariat", "password": PASSWORD}
        ).status_code
        == 403
    )
    sign_in(client, users["secretariat"])
    assert client.post("/cpl/versions/publish/").status_code == 403
    assert client.post("/accounts/logout/").status_code == 403


def _production_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DJANGO_ALLOWED_HOSTS="ssc-portal.example",
        DJANGO_SECRET_KEY="p" + os.urandom(40).hex(),
        PORTAL_SIGNING_KEY=base64.b64encode(os.urandom(32)).decode(),
        **extra,
    )
    return env


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        capture_output=True,
        text=True,
        env=_production_env(PORTAL_AUDIT_ANCHOR_DIR=str(tmp_path)),  # exists and writable
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = _production_env()
    del env["DJANGO_SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], capture_output=True, text=True, env=env
    )
    assert result.returncode != 0 and "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_settings_are_secure():
    code = (
        "from django.conf import settings as s; print(s.DEBUG, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, "
        "s.CELERY_TASK_ALWAYS_EAGER, s.DATABASES['default']['ENGINE'])"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        capture_output=True,
        text=True,
        env=_production_env(
            DATABASE_URL="postgres://portal@db.example:5432/portal",
            REDIS_URL="redis://cache.example:6379/0",
        ),
    )
    assert result.stdout.splitlines()[-1].split() == [
        "False",
        "True",
        "True",
        "31536000",
        "True",
        "False",
        "django.db.backends.postgresql",
    ]


def test_demo_data_is_refused_when_debug_is_off():
    result = subprocess.run(
        [sys.executable, "manage.py", "load_demo"],
        capture_output=True,
        text=True,
        env=_production_env(DATABASE_URL="sqlite:///:memory:"),
    )
    assert result.returncode != 0 and "never created when DEBUG is off" in result.stderr


@pytest.mark.parametrize("role", ["secretariat", "chair", "supplier_a", "authority"])
def test_admin_is_refused_to_every_role(client_for, role):
    client = client_for(role)
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/portal/user/").status_code == 403


def test_admin_is_for_verified_superusers(client, db):
    admin = make_user("secretariat", username="root")
    admin.is_superuser = admin.is_staff = True
    admin.save()
    client.post("/accounts/login/", {"username": "root", "password": PASSWORD})
    assert client.get("/admin/")["Location"].startswith("/accounts/security-code/")
    client.post("/accounts/security-code/", {"token": current_code()})
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/portal/auditevent/").status_code == 200
