"""Sign-in lockout on top of django-axes (settings: the AXES_* and LOGIN_* names).

- django-axes locks a (username, client address) pair after AXES_FAILURE_LIMIT failures for the
  cool-off time; a success resets only that pair. Neither the same user at another address nor
  another user at the same address is affected.
- Here: a progressive delay per username when failures come from many addresses (a distributed
  guess that the per-pair lock cannot stop), and an alert to the SSC Secretariat.
- A browser where the user completed sign-in (password and security code) carries a signed
  known-device cookie: the username-wide delay does not apply there, so an attacker spreading
  failures over many addresses slows down guessing, not the account's holder (OWASP's device
  cookies). The (username, address) lock still does.

Every answer depends only on the username as typed and the address, never on whether the account
exists: an unknown username is locked, slowed down and reported exactly like a real one.
"""

import datetime
import logging
import math
from dataclasses import dataclass

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Max, Sum
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UsernameFailures:
    """Failures for one username in the cool-off window, across client addresses."""

    addresses: tuple[str, ...]
    counted: int  # each address counts at most AXES_FAILURE_LIMIT: its own lock handles the rest
    latest: datetime.datetime | None

    def delay(self) -> datetime.timedelta | None:
        """How long after the latest failure the next attempt must wait, or None."""
        excess = self.counted - settings.LOGIN_THROTTLE_AFTER
        if excess < 0 or self.latest is None:
            return None
        seconds = settings.LOGIN_THROTTLE_BASE_SECONDS * 2 ** min(excess, 20)
        return datetime.timedelta(seconds=min(seconds, settings.LOGIN_THROTTLE_MAX_SECONDS))

    def wait(self, now: datetime.datetime) -> datetime.timedelta | None:
        delay = self.delay()
        if delay is None:
            return None
        remaining = self.latest + delay - now
        return remaining if remaining > datetime.timedelta(0) else None


def _window_start(request) -> datetime.datetime:
    return timezone.now() - get_cool_off(request)


def username_failures(request, username: str | None) -> UsernameFailures:
    if not username:
        return UsernameFailures((), 0, None)
    rows = (
        AccessAttempt.objects.filter(username=username, attempt_time__gte=_window_start(request))
        .values("ip_address")
        .annotate(failures=Sum("failures_since_start"), latest=Max("attempt_time"))
    )
    limit = settings.AXES_FAILURE_LIMIT
    addresses, counted, latest = [], 0, None
    for row in rows:
        addresses.append(row["ip_address"] or "unknown")
        counted += min(row["failures"], limit)
        latest = row["latest"] if latest is None else max(latest, row["latest"])
    return UsernameFailures(tuple(sorted(addresses)), counted, latest)


def _pair_wait(request, username: str | None) -> datetime.timedelta:
    """Time left on the (username, address) lock: the cool-off from its latest failure."""
    latest = AccessAttempt.objects.filter(
        username=username, ip_address=request.axes_ip_address
    ).aggregate(latest=Max("attempt_time"))["latest"]
    if latest is None:
        return get_cool_off(request)
    return max(latest + get_cool_off(request) - timezone.now(), datetime.timedelta(0))


KNOWN_DEVICE_COOKIE = "portal_known_device"
_KNOWN_DEVICE_SALT = "portal.lockout.known-device"
_KNOWN_DEVICE_AGE = datetime.timedelta(days=90)
_KNOWN_DEVICE_USERS = 5  # a shared browser remembers the last few accounts signed in on it


def _known_usernames(request) -> list[str]:
    try:
        value = request.get_signed_cookie(
            KNOWN_DEVICE_COOKIE, salt=_KNOWN_DEVICE_SALT, max_age=_KNOWN_DEVICE_AGE
        )
    except (KeyError, signing.BadSignature):
        return []
    return value.split("\n")


def known_device_remember(request, response, username: str):
    """After a complete sign-in: this browser is the account holder's (see the module's note)."""
    names = [username] + [n for n in _known_usernames(request) if n != username]
    response.set_signed_cookie(
        KNOWN_DEVICE_COOKIE,
        "\n".join(names[:_KNOWN_DEVICE_USERS]),
        salt=_KNOWN_DEVICE_SALT,
        max_age=int(_KNOWN_DEVICE_AGE.total_seconds()),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


class PortalLockoutHandler(AxesDatabaseHandler):
    """django-axes' database handler, plus the per-username delay and the secretariat alert."""

    def is_allowed(self, request, credentials=None) -> bool:
        username = get_client_username(request, credentials)
        if not super().is_allowed(request, credentials):
            request.portal_lockout = ("locked", _pair_wait(request, username))
            return False
        wait = username_failures(request, username).wait(timezone.now())
        if wait is not None and username not in _known_usernames(request):
            # Refused before the password is checked, and (AXES_RESET_COOL_OFF_ON_FAILURE_
            # DURING_LOCKOUT off) not recorded as a failure: the delay cannot be stretched.
            request.portal_lockout = ("slowed", wait)
            return False
        return True

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request=request, **kwargs)
        if request is None:
            return
        try:
            _alert_if_suspicious(request, get_client_username(request, credentials))
        except Exception:
            # The alert must never turn a refused sign-in into an error page.
            logger.exception("Could not alert the secretariat about failed sign-ins")


def _alert_if_suspicious(request, username: str | None) -> None:
    if not username:
        return
    failures = username_failures(request, username)
    lockout = getattr(request, "portal_lockout", None)  # set when this attempt was refused
    locked = bool(getattr(request, "axes_locked_out", False)) and (
        lockout is None or lockout[0] == "locked"
    )
    slowed = failures.delay() is not None
    many_addresses = len(failures.addresses) >= settings.LOGIN_ALERT_ADDRESSES
    if not (locked or slowed or many_addresses):
        return
    from .audit import audit_record
    from .models import AuditChainHead, AuditEvent, Notice, User
    from .notices import notice_send
    from .roles import Role

    # Only accounts that exist are reported (the person trying is told the same either way):
    # made-up usernames would otherwise let anyone write the secretariat's inbox.
    if not User.objects.filter(username=username).exists():
        return
    window = get_cool_off(request)
    with transaction.atomic():
        # Appends to the audit chain are serialised on its head: taking it first makes "once
        # per username per window" hold when several failures arrive at the same moment.
        AuditChainHead.objects.select_for_update().get(pk=1)
        recent = AuditEvent.objects.filter(
            action="login.suspicious", occurred_at__gte=timezone.now() - window
        )
        if recent.filter(object_repr=username[:300]).exists():
            return
        if recent.count() >= settings.LOGIN_ALERTS_PER_WINDOW:
            logger.warning("Sign-in alerts capped this window; %r not reported", username)
            return
        reasons = []
        if locked:
            reasons.append("locked from an address after repeated failures")
        if slowed:
            reasons.append("sign-in slowed down after failures from several addresses")
        if many_addresses:
            reasons.append(f"failures from {len(failures.addresses)} addresses")
        hours = window.total_seconds() / 3600
        shown = failures.addresses[:20]
        body = (
            f'There have been {failures.counted} failed attempts to sign in as "{username}" '
            f"in the last {hours:g} hour(s), from {len(failures.addresses)} address(es): "
            f"{', '.join(shown)}{' …' if len(failures.addresses) > len(shown) else ''}.\n\n"
            f"Why you are told: {'; '.join(reasons)}.\n\n"
            "Sign-in stays open for everyone else, and for the account's holder on a browser "
            "where they have signed in before; the attempts are in the audit log "
            "(login.failed). Contact the holder, and consider resetting the password."
        )
        secretariat = User.objects.filter(is_active=True, groups__name=Role.SECRETARIAT)
        notice_send(
            actor=None,
            kind=Notice.Kind.SIGN_IN_ALERT,
            subject=f'Failed sign-ins for "{username[:60]}"',
            body=body,
            users=list(secretariat),
            link=f"{reverse('audit-log')}?action=login.",
        )
        audit_record(
            actor=None,
            action="login.suspicious",
            object_type="portal.user",
            object_repr=username,
            after={
                "username": username,
                "failures": failures.counted,
                "addresses": list(failures.addresses),
                "locked": locked,
                "slowed": slowed,
            },
        )


def _in_words(wait: datetime.timedelta) -> str:
    seconds = max(math.ceil(wait.total_seconds()), 1)
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: 429 with when to try again (and Retry-After)."""
    reason, wait = getattr(request, "portal_lockout", ("locked", get_cool_off(request)))
    response = render(
        request,
        "registration/locked_out.html",
        {"slowed": reason == "slowed", "try_again_in": _in_words(wait)},
        status=429,
    )
    response["Retry-After"] = str(max(math.ceil(wait.total_seconds()), 1))
    return response
