from functools import update_wrapper

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse


class PortalAdminSite(admin.AdminSite):
    """Django admin for verified superusers only; everyone else is refused, never prompted."""

    site_header = "CPA/CPL Governance Portal administration"
    site_title = "Portal administration"

    def has_permission(self, request):
        user = request.user
        return user.is_active and user.is_superuser and user.is_verified()

    def _refuse(self, request):
        if request.user.is_authenticated:
            raise PermissionDenied
        return redirect_to_login(request.get_full_path(), reverse("login"))

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            if not self.has_permission(request):
                return self._refuse(request)
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, view)

    def login(self, request, extra_context=None):
        if self.has_permission(request):
            return super().login(request, extra_context)
        return self._refuse(request)

    def logout(self, request, extra_context=None):
        if self.has_permission(request):
            return super().logout(request, extra_context)
        return self._refuse(request)
