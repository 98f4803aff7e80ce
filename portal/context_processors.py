from django.apps import apps
from django.urls import reverse

from .policies import policy_for
from .roles import Role


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
        return {"nav_items": []}
    items = [("Home", reverse("dashboard"))]
    if _may(user, "cpl.DeviceModel"):
        items.append(("Central Products List", reverse("cpl:register")))
        items.append(("Published versions", reverse("cpl:version-list")))
    if user.has_perm("governance.view_case"):
        items.append(("Cases", reverse("governance:case-list")))
    if user.has_perm("governance.view_planrequirement"):
        items.append(("Remedial plans", reverse("governance:plan-list")))
    if user.has_perm("governance.view_referral"):
        items.append(("Referrals", reverse("governance:referral-list")))
    items.append(("Inbox", reverse("inbox")))
    if user.is_ssc:
        items.append(("Notices", reverse("notice-list")))
    if user.has_role(Role.SUPPLIER) or user.is_ssc:
        items.append(("G8.64 policies", reverse("governance:policy")))
    if _may(user, "cpl.InventorySnapshot", "import"):
        items.append(("Inventory", reverse("cpl:inventory")))
    if _may(user, "cpl.CPLImport", "import"):
        items.append(("Import", reverse("cpl:import")))
    if _may(user, "cpl.CPLChangeNotice"):
        items.append(("CPL changes", reverse("cpl:change-list")))
    if user.has_perm("governance.view_securitycharacteristics"):
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
