import base64
import logging
from urllib.parse import urlencode

import segno
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import FormView, ListView
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from .audit import audit_record
from .audit_policy import AUDIT_EVENTS
from .forms import LoginForm, SecurityCodeForm
from .lockout import known_device_remember
from .permissions import PolicyRequiredMixin

logger = logging.getLogger(__name__)


def _safe_next(request, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    # A path on this site only: `redirect()` would read a bare word ("foo") as a view name.
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


class LogoutView(auth_views.LogoutView):
    """Signing out is a POST (a link or a prefetch must not sign anyone out); a GET, from a
    bookmark or a typed address, asks to confirm instead of answering a bare 405."""

    http_method_names = ["get", "post", "options"]

    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect("login")
        return TemplateResponse(request, "registration/logout_confirm.html")


class LoginView(auth_views.LoginView):
    """The password step. Every user then passes the second factor (SecondFactorRequired-
    Middleware): the security code, or at first sign-in the enrolment of an authenticator."""

    template_name = "registration/login.html"
    authentication_form = LoginForm

    def dispatch(self, request, *args, **kwargs):
        # Fully signed in: nothing to do here. Half signed in (password only): the form, so
        # that another person can still sign in on this browser.
        user = request.user
        if user.is_authenticated and user.is_verified():
            return redirect(self.get_success_url())
        return super().dispatch(request, *args, **kwargs)

    def form_invalid(self, form):
        username = (form.data.get("username") or "")[:150]
        with transaction.atomic():
            audit_record(
                actor=None,
                action="login.failed",
                object_type="portal.user",
                object_repr=username,
                after={"username": username},
            )
        return super().form_invalid(form)

    def form_valid(self, form):
        super().form_valid(form)
        user = form.get_user()
        return redirect(f"{_mfa_url(user)}?{urlencode({'next': self.get_success_url()})}")


def _mfa_url(user) -> str:
    return reverse("mfa-verify" if user_has_device(user, confirmed=True) else "mfa-setup")


class SecondFactorVerifyView(LoginRequiredMixin, FormView):
    template_name = "registration/mfa_verify.html"
    form_class = SecurityCodeForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not user_has_device(request.user, confirmed=True):
            return redirect(f"{_mfa_url(request.user)}?{urlencode({'next': _safe_next(request)})}")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(next=_safe_next(self.request), **kwargs)

    def form_valid(self, form):
        user = self.request.user
        devices = [
            d
            for d in TOTPDevice.objects.devices_for_user(user, confirmed=True)
            if d.verify_is_allowed()[0]
        ]
        if not devices:
            form.add_error(
                "token",
                "Too many attempts with a wrong code. Wait a minute, then "
                "enter the code your app shows.",
            )
            return self.form_invalid(form)
        device = next((d for d in devices if d.verify_token(form.cleaned_data["token"])), None)
        if device is None:
            with transaction.atomic():
                audit_record(actor=user, action="mfa.failed", obj=user)
            form.add_error(
                "token",
                "The security code is not correct, or it has expired. "
                "Wait for a new code and try again.",
            )
            return self.form_invalid(form)
        otp_login(self.request, device)
        return known_device_remember(
            self.request, redirect(_safe_next(self.request)), user.get_username()
        )


class SecondFactorSetupView(LoginRequiredMixin, FormView):
    """First sign-in of a user (any role) who has no authenticator yet: enrol one, then verify
    with it. Once a device is confirmed this page only redirects: it cannot replace it."""

    template_name = "registration/mfa_setup.html"
    form_class = SecurityCodeForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and user_has_device(request.user, confirmed=True):
            return redirect(f"{_mfa_url(request.user)}?{urlencode({'next': _safe_next(request)})}")
        return super().dispatch(request, *args, **kwargs)

    def _device(self) -> TOTPDevice:
        device = TOTPDevice.objects.filter(user=self.request.user, confirmed=False).first()
        return device or TOTPDevice.objects.create(
            user=self.request.user, name="Authenticator app", confirmed=False
        )

    def get_context_data(self, **kwargs):
        device = self._device()
        secret = base64.b32encode(device.bin_key).decode()
        qr = segno.make(device.config_url, error="m")
        return super().get_context_data(
            secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            qr_data_uri=qr.svg_data_uri(scale=4),
            next=_safe_next(self.request),
            **kwargs,
        )

    def form_valid(self, form):
        device = self._device()
        if not device.verify_token(form.cleaned_data["token"]):
            form.add_error(
                "token",
                "The security code is not correct. Check the time on your phone and try again.",
            )
            return self.form_invalid(form)
        with transaction.atomic():
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            audit_record(actor=self.request.user, action="mfa.enrolled", obj=self.request.user)
        otp_login(self.request, device)
        messages.success(self.request, "Your authenticator app is set up.")
        return known_device_remember(
            self.request, redirect(_safe_next(self.request)), self.request.user.get_username()
        )


class AuditLogView(PolicyRequiredMixin, ListView):
    policy = AUDIT_EVENTS
    template_name = "portal/audit_log.html"
    context_object_name = "events"
    paginate_by = 100

    def get_queryset(self):
        events = AUDIT_EVENTS.visible(self.request.user).order_by("-seq")
        action = self.request.GET.get("action", "").strip()
        if action:
            events = events.filter(action__startswith=action)
        return events

    def get_context_data(self, **kwargs):
        action = self.request.GET.get("action", "")
        return super().get_context_data(
            action=action, querystring=urlencode({"action": action}), **kwargs
        )


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change.html"

    def form_valid(self, form):
        response = super().form_valid(form)
        with transaction.atomic():
            audit_record(actor=self.request.user, action="password.changed", obj=self.request.user)
        messages.success(self.request, "Your password has been changed.")
        return response


# --- Load balancer probes -------------------------------------------------------------------
# Open to anyone (no sign-in, no second factor, see SecondFactorRequiredMiddleware), GET/HEAD
# only, no session touched, never cached. They say which dependency failed, never why: the
# exception (host names, credentials in URLs) goes to the log.

_PROBE_TIMEOUT = 1.0  # seconds: the load balancer's check must not hang on a dead dependency


def _probe_response(body: dict, status: int = 200):
    from django.http import JsonResponse
    from django.utils.cache import add_never_cache_headers

    response = JsonResponse(body, status=status)
    add_never_cache_headers(response)  # Cache-Control: max-age=0, no-cache, no-store, ...
    return response


def _database_answers() -> bool:
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.warning("readyz: the database does not answer", exc_info=True)
        return False


def _broker_state() -> str:
    """One of "ok", "unreachable", or "not used" (no REDIS_URL: tasks run in-process)."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return "not used"
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=_PROBE_TIMEOUT,
        socket_timeout=_PROBE_TIMEOUT,
        retry=Retry(NoBackoff(), 0),  # one attempt: redis-py otherwise backs off and retries
    )
    try:
        return "ok" if client.ping() else "unreachable"
    except Exception:
        logger.warning("readyz: the task broker does not answer", exc_info=True)
        return "unreachable"
    finally:
        client.close()


class HealthView(View):
    """The process is alive: no database, no broker. GET (and HEAD) only."""

    def get(self, request):
        return _probe_response({"status": "ok"})


class ReadyView(View):
    """Ready for traffic: the database answers `SELECT 1` and the broker a PING, each within
    about a second; 503 naming the one that failed otherwise. GET (and HEAD) only."""

    def get(self, request):
        return _readiness()


def _readiness():
    checks = {
        "database": "ok" if _database_answers() else "unreachable",
        "broker": _broker_state(),
    }
    ready = all(state in ("ok", "not used") for state in checks.values())
    return _probe_response(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
