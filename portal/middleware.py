from django.shortcuts import redirect
from django.urls import reverse

# Paths an authenticated but not yet second-factor-verified user may still reach.
_OPEN_URL_NAMES = ("mfa-verify", "mfa-setup", "logout")


class SecondFactorRequiredMiddleware:
    """Privileged roles must pass TOTP before any page; the password alone is not enough."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._open_paths = None

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and user.requires_second_factor and not user.is_verified():
            if self._open_paths is None:
                self._open_paths = {reverse(name) for name in _OPEN_URL_NAMES}
            if request.path not in self._open_paths and not request.path.startswith("/static/"):
                return redirect(f"{reverse('mfa-verify')}?next={request.get_full_path()}")
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

        from .policies import ActionNotNow

        if not isinstance(exception, (ConcurrentTransition, TransitionNotAllowed, ActionNotNow)):
            return None
        back = request.META.get("HTTP_REFERER", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = request.path if request.method == "GET" else "/"
        return render(request, "409.html", {"reason": str(exception), "back": back}, status=409)
