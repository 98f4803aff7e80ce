"""Sign-in lockout (issue 10): per (username, client address), the client address through the
trusted proxy only, a progressive delay per username across addresses, and an alert to the
secretariat. Never an everyone-else lockout, never a hint whether a username exists."""

import datetime
import runpy

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client

from portal import settings as portal_settings
from portal.models import AuditEvent, Notice, NoticeDelivery

from ..helpers import PASSWORD, current_code, make_user

pytestmark = pytest.mark.django_db

ADDRESS_A = "81.2.69.160"
ADDRESS_B = "81.2.69.161"
BALANCER = "10.0.0.2"


def attempt(username, password=PASSWORD, address=ADDRESS_A, forwarded=None):
    """One sign-in from a fresh browser at `address` (and, behind the balancer, the
    X-Forwarded-For it sends on)."""
    extra = {"REMOTE_ADDR": address}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return Client().post("/accounts/login/", {"username": username, "password": password}, **extra)


def fail(username, times=1, **where):
    for _ in range(times):
        response = attempt(username, "wrong password", **where)
        assert response.status_code in (200, 429)
    return response


def signs_in(response) -> bool:
    """The password was accepted: on to the second factor."""
    return response.status_code == 302 and response["Location"].startswith("/accounts/")


def locked(response) -> bool:
    return response.status_code == 429 and "Try again in" in response.content.decode()


def time_passes(seconds):
    """The clock moves on for every recorded failure (django-axes dates each one)."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - datetime.timedelta(seconds=seconds)
    )


def client_address_settings(settings, monkeypatch, **environ):
    """portal.settings' client-address settings as they come out under `environ`."""
    for name in ("DJANGO_BEHIND_PROXY", "DJANGO_TRUSTED_PROXY_COUNT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    production = runpy.run_path(portal_settings.__file__)
    for name in ("AXES_IPWARE_META_PRECEDENCE_ORDER", "AXES_IPWARE_PROXY_COUNT", "IPWARE_STRICT"):
        setattr(settings, name, production[name])


@pytest.fixture
def chair_and_supplier():
    return make_user("chair"), make_user("supplier_b")


def test_interleaved_sign_ins_of_another_user_do_not_clear_the_victims_failures(
    chair_and_supplier,
):
    # The reported attack: 16 wrong `chair` passwords, each followed by a `supplier_b` sign-in
    # from the same address, used to reset the address's failures every time.
    for _ in range(16):
        fail("chair")
        assert signs_in(attempt("supplier_b"))
    assert locked(attempt("chair"))  # even the right password, from this address
    assert signs_in(attempt("supplier_b"))  # the other user at this address is not affected


def test_a_success_resets_only_that_users_failures_from_that_address(chair_and_supplier):
    fail("chair", 4, address=ADDRESS_A)
    fail("chair", 4, address=ADDRESS_B)
    assert signs_in(attempt("chair", address=ADDRESS_A))
    fail("chair", 4, address=ADDRESS_A)  # the count started again at A
    assert signs_in(attempt("chair", address=ADDRESS_A))
    assert locked(fail("chair", address=ADDRESS_B))  # B's four were kept: the fifth locks


def test_five_failures_from_one_address_lock_only_that_user_there(chair_and_supplier):
    assert locked(fail("chair", 5, address=ADDRESS_A))
    assert locked(attempt("chair", address=ADDRESS_A))
    assert signs_in(attempt("chair", address=ADDRESS_B))
    assert signs_in(attempt("supplier_b", address=ADDRESS_A))


def test_the_lock_says_when_to_try_again_and_ends(chair_and_supplier):
    response = fail("chair", 5)
    assert locked(response) and "Try again in 60 minutes" in response.content.decode()
    assert response["Retry-After"] == "3600"
    # Attempts while locked are refused without counting: they cannot stretch the lock.
    for _ in range(3):
        assert locked(attempt("chair"))
    time_passes(3601)
    assert signs_in(attempt("chair"))


def test_unknown_usernames_are_locked_exactly_like_real_ones(chair_and_supplier):
    real, unknown = fail("chair", 5), fail("nobody-here", 5)
    assert locked(real) and locked(unknown)
    assert real["Retry-After"] == unknown["Retry-After"]
    heading = '<h1 class="govuk-heading-l">Sign-in paused</h1>'
    assert heading in real.content.decode() and heading in unknown.content.decode()
    assert attempt("chair", "x", ADDRESS_B).status_code == 200
    assert attempt("nobody-here", "x", ADDRESS_B).status_code == 200


def test_behind_the_balancer_each_client_is_told_apart(chair_and_supplier, settings, monkeypatch):
    client_address_settings(settings, monkeypatch, DJANGO_BEHIND_PROXY="1")
    # Every request arrives from the balancer; it appends the address it saw.
    fail("chair", 5, address=BALANCER, forwarded=ADDRESS_A)
    assert AccessAttempt.objects.get().ip_address == ADDRESS_A
    assert locked(attempt("chair", address=BALANCER, forwarded=ADDRESS_A))
    assert signs_in(attempt("chair", address=BALANCER, forwarded=ADDRESS_B))
    assert signs_in(attempt("supplier_b", address=BALANCER, forwarded=ADDRESS_A))
    # A client cannot pose as another by sending the header itself: the balancer appends the
    # real address after it, and that entry is the one taken.
    spoofed = f"{ADDRESS_B}, {ADDRESS_A}"
    assert locked(attempt("chair", address=BALANCER, forwarded=spoofed))


def test_two_trusted_proxies_take_the_second_entry_from_the_right(settings, monkeypatch):
    make_user("chair")
    client_address_settings(
        settings, monkeypatch, DJANGO_BEHIND_PROXY="1", DJANGO_TRUSTED_PROXY_COUNT="2"
    )
    # A CDN saw the client and the balancer saw the CDN (203.0.113.9).
    fail("chair", address=BALANCER, forwarded=f"198.51.100.1, {ADDRESS_A}, 203.0.113.9")
    assert AccessAttempt.objects.get().ip_address == ADDRESS_A


def test_without_the_proxy_setting_the_header_is_ignored(chair_and_supplier, settings, monkeypatch):
    client_address_settings(settings, monkeypatch)
    fail("chair", 5, address=ADDRESS_A, forwarded=ADDRESS_B)
    assert AccessAttempt.objects.get().ip_address == ADDRESS_A
    # A different header does not make a different client.
    assert locked(attempt("chair", address=ADDRESS_A, forwarded="81.2.69.200"))


def test_failures_from_many_addresses_slow_the_username_down_progressively(
    chair_and_supplier, settings
):
    settings.LOGIN_THROTTLE_AFTER = 10
    addresses = [f"81.2.70.{n}" for n in range(1, 6)]
    for address in addresses:
        fail("chair", 2, address=address)  # ten failures, none of the addresses locked
    clean = "81.2.71.1"
    slowed = attempt("chair", address=clean)  # even the right password, from a clean address
    assert locked(slowed) and "Try again in 30 seconds" in slowed.content.decode()
    assert "from several places" in slowed.content.decode()
    assert slowed["Retry-After"] == "30"
    # Refused attempts do not count, so they cannot keep the username slowed down for ever.
    for _ in range(5):
        assert locked(attempt("chair", "wrong password", address=clean))
    # Other usernames are not slowed down, at any address.
    assert signs_in(attempt("supplier_b", address=addresses[0]))

    time_passes(31)
    assert attempt("chair", "wrong password", address=clean).status_code == 200
    longer = attempt("chair", address="81.2.71.2")
    assert locked(longer) and int(longer["Retry-After"]) > 30  # the delay has grown
    time_passes(int(longer["Retry-After"]) + 1)
    assert signs_in(attempt("chair", address="81.2.71.3"))  # never a permanent lock


def test_the_delay_has_a_ceiling(chair_and_supplier, settings):
    settings.LOGIN_THROTTLE_AFTER = 2
    settings.AXES_COOLOFF_TIME = 24  # hours: the failures below stay in the window
    ceiling = settings.LOGIN_THROTTLE_MAX_SECONDS
    for n in range(1, 12):
        time_passes(ceiling)  # each failure waits out whatever delay there is
        assert attempt("chair", "wrong password", address=f"81.2.72.{n}").status_code == 200
    response = attempt("chair", address="81.2.73.1")
    assert locked(response) and "Try again in 15 minutes" in response.content.decode()
    assert int(response["Retry-After"]) <= ceiling


def secretariat_alerts():
    return Notice.objects.filter(kind=Notice.Kind.SIGN_IN_ALERT)


def test_the_secretariat_is_alerted_once_when_failures_come_from_several_addresses(users):
    for address in ("81.2.74.1", "81.2.74.2"):
        fail("chair", address=address)
    assert not secretariat_alerts().exists()
    fail("chair", address="81.2.74.3")
    alert = secretariat_alerts().get()
    assert '"chair"' in alert.subject and "3 address(es)" in alert.body
    recipients = set(
        NoticeDelivery.objects.filter(notice=alert).values_list("recipient", flat=True)
    )
    assert recipients == {users["secretariat"].pk}
    event = AuditEvent.objects.get(action="login.suspicious")
    assert event.object_repr == "chair" and len(event.after["addresses"]) == 3
    # More failures, more addresses, a lock: still the one alert in this window.
    fail("chair", 5, address="81.2.74.4")
    fail("chair", address="81.2.74.5")
    assert secretariat_alerts().count() == 1
    assert AuditEvent.objects.filter(action="login.suspicious").count() == 1


def test_the_secretariat_is_alerted_when_a_username_is_locked(users):
    fail("member", 4)
    assert not secretariat_alerts().exists()
    fail("member")
    alert = secretariat_alerts().get()
    assert "locked" in alert.body
    # Another account gets its own alert; a made-up username none (the person trying is told
    # the same either way), so nobody can write the secretariat's inbox by failing to sign in.
    fail("ghost", 5)
    fail("URGENT: reset at http://evil.example now", 5)
    assert secretariat_alerts().count() == 1
    fail("chair", 5)
    assert secretariat_alerts().count() == 2


def test_alerts_are_capped_per_window(users, settings):
    settings.LOGIN_ALERTS_PER_WINDOW = 2
    for key in ("member", "chair", "supplier_a"):
        fail(users[key].username, 5)
    assert secretariat_alerts().count() == 2


def test_the_holder_signs_in_on_a_known_browser_while_the_username_is_slowed(
    chair_and_supplier, settings
):
    """Failures spread over many addresses slow guessing, not the holder's own browser."""
    settings.LOGIN_THROTTLE_AFTER = 10
    holder = Client()
    holder.post(
        "/accounts/login/", {"username": "chair", "password": PASSWORD}, REMOTE_ADDR=ADDRESS_B
    )
    holder.post("/accounts/security-code/", {"token": current_code()})
    assert holder.get("/").status_code == 200
    holder.post("/accounts/logout/")
    for n in range(1, 6):
        fail("chair", 2, address=f"81.2.75.{n}")
    assert locked(attempt("chair", address="81.2.76.1"))  # a fresh browser waits
    again = holder.post(
        "/accounts/login/", {"username": "chair", "password": PASSWORD}, REMOTE_ADDR="81.2.76.1"
    )
    assert signs_in(again)
    # A forged or copied-to-another-user cookie is no key.
    forged = Client()
    forged.cookies["portal_known_device"] = "chair"
    refused = forged.post(
        "/accounts/login/", {"username": "chair", "password": PASSWORD}, REMOTE_ADDR="81.2.76.2"
    )
    assert locked(refused)
