from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .admin_site import ReadOnlyAdmin
from .models import AuditEvent, Notice, Organisation, User

# Users and organisations are the admin's to change; each change is audited (admin_site).


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "party_type", "party_id"]
    list_filter = ["party_type"]
    search_fields = ["name", "party_id"]


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    fieldsets = [*UserAdmin.fieldsets, ("Organisation", {"fields": ["organisation"]})]
    list_display = ["username", "email", "organisation", "is_active", "is_superuser"]
    list_filter = ["groups", "organisation", "is_active", "is_superuser"]
    list_select_related = ["organisation"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "occurred_at", "actor_label", "action", "object_type", "object_repr"]
    list_filter = ["action"]
    search_fields = ["object_repr", "actor_label", "action"]


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    """Notices are written by the services, with their deliveries and audit."""

    list_display = ["subject", "kind", "reference", "created_at"]
    list_filter = ["kind"]
    search_fields = ["subject", "reference"]
