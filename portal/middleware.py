from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse

# Paths a signed-in user who has not passed the second factor yet may still reach: sign-in,
# enrolment, the security code, sign-out, and the load balancer's probes (a half-signed-in
# browser must not be redirected from them). Static files are open too.
_OPEN_URL_NAMES = ("login", "mfa-verify", "mfa-setup", "logout", "healthz", "readyz")


class SecondFactorRequiredMiddleware:
    """Every signed-in user, of every role, passes TOTP before any page: the password alone
    opens nothing but the pages above. A user without an authenticator enrols one first."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._open_paths = None

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not user.is_verified():
            from django.conf import settings

            if self._open_paths is None:
                self._open_paths = {reverse(name) for name in _OPEN_URL_NAMES}
            static_url = "/" + settings.STATIC_URL.lstrip("/")
            if request.path not in self._open_paths and not request.path.startswith(static_url):
                return redirect(
                    f"{reverse('mfa-verify')}?{urlencode({'next': request.get_full_path()})}"
                )
        return self.get_response(request)


class ConcurrentChangeMiddleware:
    """Two people changed the same thing at once: the loser gets a clear 409, never a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.shortcuts import render
        from django.utils.http import url_has_allowed_host_and_scheme
        from django_fsm import ConcurrentTransition, TransitionNotAllowed

        from .forms import AlreadySubmitted
        from .policies import ActionNotNow

        if not isinstance(
            exception, (ConcurrentTransition, TransitionNotAllowed, ActionNotNow, AlreadySubmitted)
        ):
            return None
        back = request.META.get("HTTP_REFERER", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = request.path if request.method == "GET" else "/"
        if isinstance(exception, AlreadySubmitted):
            # A double click or replay: show what the first submission made, not a second one.
            from django.contrib import messages
            from django.shortcuts import redirect

            messages.info(request, str(exception))
            return redirect(exception.result_url or back)
        return render(request, "409.html", {"reason": str(exception), "back": back}, status=409)


class RequestInputMiddleware:
    """Hostile request input is refused here, before any view or form sees it.

    - A NUL character in a query or form value (or name) is a 400: PostgreSQL refuses NUL in
      text, so it would otherwise surface as a 500 wherever the value reaches a query. Files
      are not form values: an upload's bytes are judged by `portal.documents`.
    - An upload larger than the page allows is a 413 with a clear message, decided by
      `portal.documents.BoundedUploadHandler` while the body streams in, so it is never
      written to disk in full.

    It sits before CsrfViewMiddleware, which would otherwise be the first to read the body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _has_nul(request.GET):
            return _nul_refused(request)
        if request.method == "POST":
            from .documents import upload_limit_exceeded

            form_data = request.POST  # a malformed body raises here as it would in CSRF's check
            too_large = upload_limit_exceeded(request)
            if too_large is not None:
                return too_large
            if _has_nul(form_data):
                return _nul_refused(request)
        return self.get_response(request)


def _has_nul(data) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in data.lists())


def _nul_refused(request):
    from .errors import error_page

    return error_page(
        400, request, reason="The request contains a NUL character, which no field accepts."
    )


class NoStoreMiddleware:
    """Pages for a signed-in user can show vulnerability details, plans and device counts: no
    browser, proxy or shared cache may keep them (`private, no-store`). Downloads too. Static
    files (served by WhiteNoise before this runs, and skipped here anyway) keep their caching."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.conf import settings
        from django.utils.cache import patch_cache_control

        response = self.get_response(request)
        static_url = "/" + settings.STATIC_URL.lstrip("/")
        if request.path.startswith(static_url):
            return response
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        attachment = "attachment" in response.get("Content-Disposition", "")
        if signed_in or attachment:
            patch_cache_control(response, private=True, no_store=True)
        return response
