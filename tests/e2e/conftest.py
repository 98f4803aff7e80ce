import os
import shutil

import pytest
from playwright.sync_api import expect

from ..helpers import PASSWORD, TOTP_SECRET, current_code

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing at {CHROMIUM}: .ci/run installs it with apt-get.")
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def expected_console_errors():
    """Substrings of console errors a journey causes on purpose (a refused request's status)."""
    return []


@pytest.fixture
def page(browser, live_server, expected_console_errors):
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # CSP violations and failed asset loads show up as console errors.
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    yield page
    context.close()
    unexpected = [e for e in errors if not any(s in e for s in expected_console_errors)]
    assert not unexpected, f"errors in the browser console: {unexpected}"


_SIGN_INS: dict[str, int] = {}


def sign_in(page, username, *, password=PASSWORD, secret=TOTP_SECRET):
    """Password and TOTP through the real pages, for every user whatever the role (each made
    by `make_user` has an authenticator with TOTP_SECRET; demo users pass theirs). A code is
    accepted once, so a second sign-in within the same 30 seconds uses the next step's code."""
    step = _SIGN_INS[username] = _SIGN_INS.get(username, -1) + 1
    page.context.clear_cookies()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Security code").fill(current_code(secret, offset=step))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="What is waiting for you")).to_be_visible()


@pytest.fixture(autouse=True)
def _fresh_sign_in_steps():
    _SIGN_INS.clear()


def fill_date(scope, legend, date):
    """Type a date into a GOV.UK date input: the day, month and year boxes of its fieldset."""
    group = scope.get_by_role("group", name=legend, exact=True)
    group.get_by_label("Day").fill(str(date.day))
    group.get_by_label("Month").fill(str(date.month))
    group.get_by_label("Year").fill(str(date.year))
