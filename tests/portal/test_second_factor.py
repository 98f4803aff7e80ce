"""Every user, of every role, passes the second factor before any page (issue 10: suppliers and
the DCC could skip it by going straight to `/` after the password step)."""

import base64

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from governance import plans
from governance.models import PlanRequirement

from ..helpers import PASSWORD, ROLE_USERS, current_code, decided_case, make_user, pdf_upload

pytestmark = pytest.mark.django_db

CODE_PAGE = "/accounts/security-code/"
SETUP_PAGE = "/accounts/authenticator/"


def password_step(client, username):
    return client.post("/accounts/login/", {"username": username, "password": PASSWORD})


def sends_to_code_page(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(CODE_PAGE)


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_every_role_must_pass_totp_before_any_page(client, role):
    make_user(role)
    assert sends_to_code_page(password_step(client, role))
    for path in ("/", "/cpl/", "/plans/", "/inbox/", "/notices/", "/referrals/", "/cases/"):
        assert sends_to_code_page(client.get(path)), path
    assert sends_to_code_page(client.post("/plans/", {"action": "submit"}))
    code_page = client.get(CODE_PAGE).content.decode()
    # Half signed in: the page offers signing out, not links that lead back here.
    assert "Sign out" in code_page and "Change password" not in code_page
    verified = client.post(f"{CODE_PAGE}?next=/", {"token": current_code()})
    assert verified.status_code == 302 and verified["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and "Change password" in home.content.decode()


def test_supplier_cannot_download_a_plan_after_the_password_step_only(committee):
    decided_case(committee)
    requirement = PlanRequirement.objects.get(supplier=committee["supplier_a"].organisation)
    plan = plans.plan_submit(
        actor=committee["supplier_a"],
        requirement=requirement,
        summary="Push firmware",
        upload=pdf_upload(),
        milestones=[{"description": "All", "target_date": "2027-03-01", "devices_covered": 1}],
    )
    download = f"/plans/{requirement.pk}/versions/{plan.pk}/"
    client = Client()
    assert sends_to_code_page(password_step(client, "supplier_a"))
    assert sends_to_code_page(client.get("/"))
    refused = client.get(download)
    assert sends_to_code_page(refused) and b"%PDF" not in refused.content
    assert sends_to_code_page(client.get(f"/plans/{requirement.pk}/"))
    client.post(CODE_PAGE, {"token": current_code()})
    allowed = client.get(download)
    assert allowed.status_code == 200 and b"%PDF" in b"".join(allowed.streaming_content)


def test_dcc_sees_nothing_after_the_password_step_only(client):
    make_user("dcc")
    assert sends_to_code_page(password_step(client, "dcc"))
    for path in ("/", "/cpl/", "/cpl/inventory/", "/inbox/"):
        assert sends_to_code_page(client.get(path)), path


@pytest.mark.parametrize("role", ["supplier_a", "dcc", "network", "expert", "authority"])
def test_first_sign_in_enrols_an_authenticator_for_every_role(client, settings, role):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the test retries faster than a person would
    user = make_user(role, with_device=False)
    response = password_step(client, role)
    assert response["Location"].startswith(SETUP_PAGE)
    # Any other page leads to the security code, which sends a user without a device to set
    # one up: nothing opens without it.
    assert sends_to_code_page(client.get("/"))
    assert client.get(CODE_PAGE)["Location"].startswith(SETUP_PAGE)
    page = client.get(SETUP_PAGE)
    assert page.status_code == 200 and b"data:image/svg+xml" in page.content
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    secret = base64.b32encode(device.bin_key).decode()
    assert client.post(SETUP_PAGE, {"token": "000000"}).status_code == 200
    assert sends_to_code_page(client.get("/"))
    done = client.post(f"{SETUP_PAGE}?next=/inbox/", {"token": current_code(secret)})
    assert done.status_code == 302 and done["Location"] == "/inbox/"
    assert client.get("/inbox/").status_code == 200


def test_only_sign_in_enrolment_sign_out_and_probes_are_open_before_the_code(client):
    make_user("supplier_b")
    password_step(client, "supplier_b")
    # Sign-in stays reachable (someone else may sign in on this browser), as do the probes.
    assert client.get("/accounts/login/").status_code == 200
    assert client.get(CODE_PAGE).status_code == 200
    assert client.get("/healthz").status_code == 200
    for path in ("/accounts/password/", "/audit/", "/admin/", "/policy/"):
        assert sends_to_code_page(client.get(path)), path
    # The page asked for is kept, encoded, for after the code.
    response = client.get("/cpl/", {"q": "a&b"})
    assert response["Location"] == f"{CODE_PAGE}?next=%2Fcpl%2F%3Fq%3Da%2526b"
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/")["Location"].startswith("/accounts/login/")


def test_a_fully_signed_in_user_is_sent_on_from_the_sign_in_page(client_for):
    client = client_for("supplier_a")
    response = client.get("/accounts/login/")
    assert response.status_code == 302 and response["Location"] == "/"


def test_every_demo_user_has_an_authenticator(settings):
    from django_otp.oath import totp

    from portal.demo import DEMO_PASSWORD, USERS, demo_totp_secret, load_demo_users

    settings.DEBUG = True
    load_demo_users()
    for username, *_ in USERS:
        device = TOTPDevice.objects.get(user__username=username, confirmed=True)
        key = base64.b32decode(demo_totp_secret(username))
        assert device.bin_key == key, username
    # A demo supplier, too, signs in with the password and then the code.
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "supplier_a", "password": DEMO_PASSWORD}
    )
    assert sends_to_code_page(response)
    assert sends_to_code_page(client.get("/"))
    key = base64.b32decode(demo_totp_secret("supplier_a"))
    client.post(CODE_PAGE, {"token": f"{totp(key, t0=0, step=30, digits=6):06d}"})
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("target", ["foo", "dashboard", "https://evil.example/", "//evil.example/"])
def test_a_next_that_is_not_a_path_on_this_site_leads_home(client, target):
    make_user("supplier_a")
    password_step(client, "supplier_a")
    verified = client.post(f"{CODE_PAGE}?next={target}", {"token": current_code()})
    assert verified.status_code == 302 and verified["Location"] == "/"
