"""Sign-in: password (argon2, lockout), TOTP second factor for every user, sign-out.

More in test_second_factor.py (every role) and test_lockout.py (lockout, delay, alerts)."""

import base64

import pytest
from django.conf import settings as django_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.models import AuditEvent

from ..helpers import PASSWORD, current_code, make_user

pytestmark = pytest.mark.django_db


def password_step(client, username, password=PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_production_hasher_is_argon2():
    import portal.settings as production

    assert production.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    assert django_settings.AUTH_USER_MODEL == "portal.User"


@pytest.mark.parametrize("role", ["secretariat", "chair", "member", "expert", "authority"])
def test_privileged_roles_must_pass_totp_before_any_page(client, role):
    make_user(role)
    response = password_step(client, role)
    assert response.status_code == 302 and response["Location"].startswith(
        "/accounts/security-code/"
    )
    # The password alone opens nothing.
    for path in ("/", "/cpl/", "/audit/"):
        page = client.get(path)
        assert page.status_code == 302 and page["Location"].startswith("/accounts/security-code/")
    verified = client.post("/accounts/security-code/?next=/", {"token": current_code()})
    assert verified.status_code == 302 and verified["Location"] == "/"
    assert client.get("/").status_code == 200


def test_wrong_security_code_is_refused_and_audited(client):
    user = make_user("secretariat")
    password_step(client, "secretariat")
    wrong = f"{(int(current_code()) + 1) % 1000000:06d}"
    response = client.post("/accounts/security-code/", {"token": wrong})
    assert response.status_code == 200
    assert "The security code is not correct" in response.content.decode()
    assert client.get("/").status_code == 302
    assert AuditEvent.objects.filter(action="mfa.failed", object_id=str(user.pk)).exists()


@pytest.mark.parametrize("token", ["", "12345", "abcdef", "1234567"])
def test_malformed_security_code_gets_a_clear_error(client, token):
    make_user("chair")
    password_step(client, "chair")
    response = client.post("/accounts/security-code/", {"token": token})
    assert response.status_code == 200
    assert "govuk-error-summary" in response.content.decode()


@pytest.mark.parametrize("role", ["supplier_a", "dcc"])
def test_suppliers_and_the_dcc_must_pass_totp_too(client, role):
    make_user(role)
    response = password_step(client, role)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/security-code/")
    # The reported bypass: going straight to the home page after the password step.
    page = client.get("/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/security-code/")
    client.post("/accounts/security-code/", {"token": current_code()})
    assert client.get("/").status_code == 200


def test_supplier_without_authenticator_must_enrol_first(client):
    make_user("supplier_a", with_device=False)
    response = password_step(client, "supplier_a")
    assert response["Location"].startswith("/accounts/authenticator/")
    assert client.get("/").status_code == 302


def test_privileged_user_without_authenticator_must_enrol_first(client, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the test retries faster than a person would
    user = make_user("member", with_device=False)
    response = password_step(client, "member")
    assert response["Location"].startswith("/accounts/authenticator/")
    page = client.get(response["Location"])
    assert page.status_code == 200 and b"data:image/svg+xml" in page.content
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    secret = base64.b32encode(device.bin_key).decode()
    assert client.post("/accounts/authenticator/", {"token": "000000"}).status_code == 200
    done = client.post("/accounts/authenticator/?next=/cpl/", {"token": current_code(secret)})
    assert done.status_code == 302 and done["Location"] == "/cpl/"
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get("/cpl/").status_code == 200
    # Enrolment is once: a second visit cannot replace the device.
    assert client.get("/accounts/authenticator/")["Location"].startswith("/accounts/security-code/")


def test_failed_logins_are_audited_and_lock_the_username_from_that_address(client):
    make_user("secretariat")
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        password_step(client, "secretariat", "wrong password")
    assert AuditEvent.objects.filter(action="login.failed").count() >= 4
    locked = password_step(client, "secretariat")  # even the right password
    assert locked.status_code == 429
    assert "Sign-in paused" in locked.content.decode()
    assert "Try again in 60 minutes" in locked.content.decode()
    assert client.get("/")["Location"].startswith("/accounts/login/")
    # From another address the same user signs in.
    elsewhere = client.post(
        "/accounts/login/",
        {"username": "secretariat", "password": PASSWORD},
        REMOTE_ADDR="81.2.69.161",
    )
    assert elsewhere["Location"].startswith("/accounts/security-code/")


def test_lockout_settings_are_per_username_and_address():
    import portal.settings as production

    assert production.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert production.AXES_RESET_ON_SUCCESS is True
    assert production.AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is False


def test_open_redirects_are_refused(client):
    make_user("chair")
    password_step(client, "chair")
    response = client.post(
        "/accounts/security-code/?next=https://evil.example/", {"token": current_code()}
    )
    assert response["Location"] == "/"


def test_sign_out_needs_post_and_ends_the_session(client):
    make_user("supplier_b", with_device=False)  # half signed in: sign-out is still open
    password_step(client, "supplier_b")
    confirm = client.get("/accounts/logout/")  # a typed address asks, it does not sign out
    assert "Sign out of the CPA/CPL Governance Portal?" in confirm.content.decode()
    assert "_auth_user_id" in client.session
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/accounts/logout/")["Location"] == "/accounts/login/"
    assert client.get("/")["Location"].startswith("/accounts/login/")


def test_password_change(client):
    user = make_user("supplier_a")
    password_step(client, "supplier_a")
    assert client.get("/accounts/password/").status_code == 302  # not before the code
    client.post("/accounts/security-code/", {"token": current_code()})
    new = "a much longer new passphrase 42"
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new)
    assert AuditEvent.objects.filter(action="password.changed").exists()
    weak = client.post(
        "/accounts/password/",
        {"old_password": new, "new_password1": "password", "new_password2": "password"},
    )
    assert weak.status_code == 200 and b"too common" in weak.content


def test_repeated_wrong_codes_are_throttled(client):
    make_user("authority")
    password_step(client, "authority")
    client.post("/accounts/security-code/", {"token": "000000"})
    response = client.post("/accounts/security-code/", {"token": current_code()})
    assert "Too many attempts" in response.content.decode()
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    ("data", "messages"),
    [
        ({"username": "", "password": ""}, ["Enter your username", "Enter your password"]),
        ({"username": "chair", "password": ""}, ["Enter your password"]),
    ],
)
def test_empty_sign_in_fields_are_named_in_the_error_summary(client, data, messages):
    page = client.post("/accounts/login/", data).content.decode()
    for message in messages:
        assert f">{message}</a>" in page
    assert "Enter a correct username and password" not in page


def test_a_wrong_password_gets_the_generic_message(client):
    make_user("chair")
    page = client.post("/accounts/login/", {"username": "chair", "password": "wrong"})
    assert "Enter a correct username and password" in page.content.decode()
