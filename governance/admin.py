from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from .models import (
    Ballot,
    Case,
    CaseComment,
    ConflictDeclaration,
    DecisionRecord,
    EvidenceDocument,
    ExpertInvitation,
    SecurityCharacteristics,
    Vote,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """State changes go through the services (audit, permissions), never through the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Case)
class CaseAdmin(GuardedModelAdmin, ReadOnlyAdmin):
    list_display = ["reference", "certificate", "state", "decision", "severity", "opened_at"]
    list_filter = ["state", "decision", "severity"]


@admin.register(EvidenceDocument)
class EvidenceDocumentAdmin(GuardedModelAdmin, ReadOnlyAdmin):
    list_display = ["title", "case", "classification", "content_type", "size", "uploaded_at"]
    list_filter = ["classification"]


for model in (
    Ballot,
    Vote,
    ConflictDeclaration,
    DecisionRecord,
    ExpertInvitation,
    CaseComment,
    SecurityCharacteristics,
):
    admin.site.register(model, ReadOnlyAdmin)
