"""What a signed-in user may do, cached across requests.

Without it every page paid for the user's groups, user and group permissions and the second
factor's device, each a query on every request. The cache is keyed by `User.access_version`, a
column of the row AuthenticationMiddleware reads anyway: every change to the user's groups, a
group's permissions, the user's permissions, an object permission or an authenticator bumps it,
so a revoked role or grant takes effect on the user's next request, in every worker, with any
cache backend (a worker's local memory is as correct as Redis, only colder).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.core.cache import caches
from django.db.models import F
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.middleware import OTPMiddleware

CACHE_ALIAS = "default"
# Entries of an old access version are never read again; they only wait to expire.
TIMEOUT = 8 * 60 * 60


def _key(user, part: str) -> str:
    # date_joined tells apart two users that had the same primary key (a restored database).
    joined = user.date_joined.timestamp() if user.date_joined else 0
    flags = f"{int(user.is_active)}{int(user.is_superuser)}"
    return f"access:{user.pk}:{joined}:{user.access_version}:{flags}:{part}"


def cached(user, part: str, compute):
    """`compute()` for this user's current access version, from the cache when it holds it."""
    cache = caches[CACHE_ALIAS]
    key = _key(user, part)
    # Stored boxed: a cache that is down answers None (django-redis IGNORE_EXCEPTIONS), which
    # must read as a miss, not as a cached None.
    boxed = cache.get(key)
    if boxed is None:
        boxed = (compute(),)
        cache.set(key, boxed, TIMEOUT)
    return boxed[0]


def user_roles(user) -> frozenset[str]:
    """The names of the user's groups (portal.roles)."""
    return cached(user, "roles", lambda: frozenset(user.groups.values_list("name", flat=True)))


# --- invalidation ------------------------------------------------------------------------------


def access_changed(user_ids) -> None:
    """What these users may do changed: their cached roles and permissions are stale."""
    User = get_user_model()

    user_ids = [pk for pk in set(user_ids) if pk is not None]
    if user_ids:
        User.objects.filter(pk__in=user_ids).update(access_version=F("access_version") + 1)


def _refresh(user) -> None:
    """The instance in memory follows too (a service may check again in the same request)."""
    User = get_user_model()

    user.access_version = User.objects.values_list("access_version", flat=True).get(pk=user.pk)
    for name in ("roles", "_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(name, None)


def _group_members(group_ids) -> list[int]:
    User = get_user_model()

    return list(User.objects.filter(groups__in=group_ids).values_list("pk", flat=True))


def _on_user_groups_or_permissions(sender, instance, action, reverse, pk_set, **kwargs):
    User = get_user_model()

    if action not in ("post_add", "post_remove", "pre_clear", "post_clear"):
        return
    if isinstance(instance, User):  # user.groups / user.user_permissions
        access_changed([instance.pk])
        if action != "pre_clear" and instance.pk is not None:
            _refresh(instance)
    elif action == "pre_clear":  # group.user_set.clear(): the members are gone afterwards
        column = f"{type(instance)._meta.model_name}_id"
        members = sender.objects.filter(**{column: instance.pk}).values_list("user_id", flat=True)
        instance._access_members = list(members)
    elif action == "post_clear":
        access_changed(getattr(instance, "_access_members", []))
    else:  # group.user_set.add/remove(users) or permission.user_set…
        access_changed(pk_set or [])


def _on_group_permissions(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if isinstance(instance, Group):
        access_changed(_group_members([instance.pk]))
    else:  # permission.group_set…: every member of those groups
        access_changed(_group_members(pk_set or []))


def _on_group_deleted(sender, instance, **kwargs):
    access_changed(_group_members([instance.pk]))


def _on_object_permission(sender, instance, **kwargs):
    user_id = getattr(instance, "user_id", None)
    if user_id is not None:
        access_changed([user_id])
    group_id = getattr(instance, "group_id", None)
    if group_id is not None:
        access_changed(_group_members([group_id]))


def _on_device(sender, instance, **kwargs):
    access_changed([instance.user_id])


def connect_signals() -> None:
    """From portal's AppConfig.ready: every change to what a user may do bumps the version."""
    from django.apps import apps
    from django_otp.models import Device
    from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

    User = get_user_model()

    uid = "portal.permission_cache"
    m2m_changed.connect(_on_user_groups_or_permissions, User.groups.through, dispatch_uid=uid)
    m2m_changed.connect(
        _on_user_groups_or_permissions, User.user_permissions.through, dispatch_uid=uid + ".p"
    )
    m2m_changed.connect(_on_group_permissions, Group.permissions.through, dispatch_uid=uid)
    pre_delete.connect(_on_group_deleted, Group, dispatch_uid=uid)
    for model in apps.get_models():
        if issubclass(model, (UserObjectPermissionBase, GroupObjectPermissionBase)):
            post_save.connect(_on_object_permission, model, dispatch_uid=uid)
            post_delete.connect(_on_object_permission, model, dispatch_uid=uid)
        elif issubclass(model, Device) and not model._meta.proxy:
            post_save.connect(_on_device, model, dispatch_uid=uid)
            post_delete.connect(_on_device, model, dispatch_uid=uid)


# --- the authentication backends and the second factor -------------------------------------------


class CachedModelBackend(ModelBackend):
    """Django's model permissions, read once per access version instead of once per request."""

    def _get_permissions(self, user_obj, obj, from_name):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        name = f"_{from_name}_perm_cache"
        if not hasattr(user_obj, name):
            perms = cached(
                user_obj,
                f"{from_name}-perms",
                lambda: frozenset(
                    super(CachedModelBackend, self)._get_permissions(user_obj, obj, from_name)
                ),
            )
            setattr(user_obj, name, set(perms))
        return getattr(user_obj, name)


class CachedOTPMiddleware(OTPMiddleware):
    """django-otp's middleware, with the session's verified device read once per access version
    (a device deleted, replaced or unconfirmed bumps it) instead of once per request."""

    def _verify_user_sync(self, request, user):
        self._init_user_fields(user)
        if user.is_authenticated:
            persistent_id = request.session.get(DEVICE_ID_SESSION_KEY)
            device = None
            if persistent_id:
                device = cached(
                    user,
                    f"device:{persistent_id}",
                    lambda: self._device_from_persistent_id(persistent_id),
                )
            user.otp_device = self._finalize_device(request, user, device)
        return user
