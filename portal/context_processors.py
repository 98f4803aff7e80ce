from django.apps import apps
from django.urls import reverse

from .policies import policy_for


def _may(user, model: str, action: str = "view") -> bool:
    """The model's policy answers the page-level question (models named, not imported: the
    navigation links every app)."""
    return policy_for(apps.get_model(model)).can(user, action, None)


def navigation(request):
    """Service navigation links for the user's roles."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    if user.requires_second_factor and not user.is_verified():
        # Half signed in (password only): nothing but signing out leads anywhere yet.
        return {"nav_items": [], "half_signed_in": True}
    items = [("Home", reverse("dashboard"))]
    if _may(user, "cpl.DeviceModel"):
        items.append(("Central Products List", reverse("cpl:register")))
        items.append(("Published versions", reverse("cpl:version-list")))
    if _may(user, "cpl.ProductCombination"):
        items.append(("Product combinations", reverse("cpl:combination-list")))
    if _may(user, "cpl.EmergencyEntryRequest"):
        items.append(("Emergency entries", reverse("cpl:emergency-list")))
    if _may(user, "governance.Case"):
        items.append(("Cases", reverse("governance:case-list")))
    if _may(user, "governance.PlanRequirement"):
        items.append(("Remedial plans", reverse("governance:plan-list")))
    if _may(user, "governance.Referral"):
        items.append(("Referrals", reverse("governance:referral-list")))
    items.append(("Inbox", reverse("inbox")))
    if _may(user, "portal.Notice"):
        items.append(("Notices", reverse("notice-list")))
    if _may(user, "governance.SupplierPolicy", "view_all") or _may(
        user, "governance.SupplierPolicy", "upload"
    ):
        items.append(("G8.64 policies", reverse("governance:policy")))
    if _may(user, "cpl.InventorySnapshot", "import"):
        items.append(("Inventory", reverse("cpl:inventory")))
    if _may(user, "cpl.CPLImport", "import"):
        items.append(("Import", reverse("cpl:import")))
    if _may(user, "cpl.CPLChangeNotice"):
        items.append(("CPL changes", reverse("cpl:change-list")))
    if _may(user, "governance.SecurityCharacteristics"):
        items.append(("Security Characteristics", reverse("governance:characteristics")))
    if _may(user, "portal.AuditEvent"):
        items.append(("Audit log", reverse("audit-log")))
    path = request.path
    return {
        "nav_items": [
            {
                "label": label,
                "href": href,
                "active": path == href or (href != "/" and path.startswith(href)),
            }
            for label, href in items
        ],
    }
