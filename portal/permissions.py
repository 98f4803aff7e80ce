from django.contrib.auth.mixins import PermissionRequiredMixin
from django.contrib.auth.views import redirect_to_login


class PortalPermissionRequiredMixin(PermissionRequiredMixin):
    """Anonymous visitors are sent to sign in; signed-in users without the permission get 403
    (never a login redirect, which would hide a missing grant)."""

    raise_exception = True

    def handle_no_permission(self):
        if not self.request.user.is_authenticated:
            return redirect_to_login(
                self.request.get_full_path(), self.get_login_url(), self.get_redirect_field_name()
            )
        return super().handle_no_permission()
