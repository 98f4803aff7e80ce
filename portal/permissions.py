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


class PolicyRequiredMixin:
    """Pages guarded by a permission policy (portal.policies). Anonymous visitors are sent to
    sign in; a signed-in user who may not take `policy_action` on any object of the policy's
    model gets 403 with the policy's reason. Object pages then look the object up with
    `policy.get_or_404`, so an object the user may not see answers 404."""

    policy = None
    policy_action = "view"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        self.policy.require(request.user, self.policy_action, None)
        return super().dispatch(request, *args, **kwargs)
