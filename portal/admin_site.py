"""The Django admin: for verified superusers only, read-only for regulated data, and every
change it can still make (users, organisations, roles, devices) written to the audit chain."""

import json
import re
from functools import update_wrapper

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.urls import reverse

from .audit import AuditEntry, audit_record, audit_record_many, to_json_value

# Form fields whose values never enter the log (password hashes, TOTP seeds, tokens): the log
# records that they changed, not what to.
_SECRET_FIELD = re.compile(r"password|key|secret|token|seed", re.IGNORECASE)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Regulated data (cases, ballots, votes, decisions, plans, referrals, notices, the CPL, the
    audit log) changes only through the services, with their policies, transitions and audit:
    the admin may show it, never add, change or delete it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _admin_value(value):
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, (models.QuerySet, list, tuple, set)):
        values = [_admin_value(v) for v in value]
        return sorted(values, key=str)
    return to_json_value(value)


def _form_changes(form) -> tuple[dict, dict]:
    before, after = {}, {}
    for name in form.changed_data:
        if _SECRET_FIELD.search(name):
            before[name], after[name] = "(not recorded)", "(changed)"
            continue
        before[name] = _admin_value(form.initial.get(name))
        after[name] = _admin_value(form.cleaned_data.get(name))
    return before, after


def _message(message) -> object:
    """The admin's change message (a list of dicts of labels, or a sentence) as JSON."""
    return json.loads(json.dumps(message, default=str))


class AuditedAdminMixin:
    """Every add, change and delete made through any admin page goes on the audit chain, in the
    same transaction as the change (the admin's change and delete views are atomic)."""

    def save_model(self, request, obj, form, change):
        obj._admin_changes = _form_changes(form) if form is not None else ({}, {})
        super().save_model(request, obj, form, change)

    def _audit(self, request, action, obj, message):
        before, after = getattr(obj, "_admin_changes", (None, None))
        audit_record(
            actor=request.user,
            action=action,
            obj=obj,
            before=before or None,
            after=after or None,
            extra={"admin": _message(message)},
        )

    def log_addition(self, request, obj, message):
        self._audit(request, "admin.added", obj, message)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit(request, "admin.changed", obj, message)
        return super().log_change(request, obj, message)

    def _audit_deletions(self, request, objects):
        entries = [
            AuditEntry(
                action="admin.deleted",
                obj=obj,
                before={
                    f.name: _admin_value(f.value_from_object(obj))
                    for f in obj._meta.concrete_fields
                    if not _SECRET_FIELD.search(f.name)
                },
            )
            for obj in objects
        ]
        audit_record_many(actor=request.user, entries=entries)

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._audit_deletions(request, [obj])
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            self._audit_deletions(request, list(queryset))
            super().delete_queryset(request, queryset)


class PortalAdminSite(admin.AdminSite):
    """Django admin for verified superusers only; everyone else is refused, never prompted."""

    site_header = "CPA/CPL Governance Portal administration"
    site_title = "Portal administration"

    def register(self, model_or_iterable, admin_class=None, **options):
        # Every registration, the apps' own and third-party ones (groups, authenticator devices,
        # lockouts), is audited: a new admin page cannot change anything silently.
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, AuditedAdminMixin):
            admin_class = type(
                admin_class.__name__,
                (AuditedAdminMixin, admin_class),
                {"__module__": admin_class.__module__},
            )
        super().register(model_or_iterable, admin_class, **options)

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
