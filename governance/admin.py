from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from portal.admin_site import ReadOnlyAdmin

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

# State changes go through the services (policies, transitions, audit), never through the
# admin: every governance model shown here is read-only, and plans, referrals and packs have
# no admin page at all.


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
