from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
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


class ObjectActionMixin(LoginRequiredMixin):
    """A view about one object (`object_attr`, looked up by the subclass, 404 when hidden) on
    which the user must be allowed `required_action` by `policy` now: 403 with the policy's
    reason, or 409 when only the object's state refuses it. Asked only of the methods the view
    answers, so a GET on a POST-only URL stays a 405."""

    policy = None
    object_attr = ""
    required_action: str | None = None

    def dispatch(self, request, *args, **kwargs):
        method = request.method.lower()
        if request.user.is_authenticated and self.required_action and hasattr(self, method):
            self.policy.require(request.user, self.required_action, getattr(self, self.object_attr))
        return super().dispatch(request, *args, **kwargs)
