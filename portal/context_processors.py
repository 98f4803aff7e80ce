from django.urls import reverse

from .roles import Role


def navigation(request):
    """Service navigation links for the user's roles."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    if user.requires_second_factor and not user.is_verified():
        return {"nav_items": []}
    items = [("Home", reverse("dashboard"))]
    if user.has_perm("cpl.view_devicemodel"):
        items.append(("Central Products List", reverse("cpl:register")))
        items.append(("Published versions", reverse("cpl:version-list")))
    if user.has_perm("governance.view_case"):
        items.append(("Cases", reverse("governance:case-list")))
    if user.has_perm("governance.view_planrequirement"):
        items.append(("Remedial plans", reverse("governance:plan-list")))
    if user.has_perm("governance.view_referral"):
        items.append(("Referrals", reverse("governance:referral-list")))
    items.append(("Inbox", reverse("governance:inbox")))
    if user.is_ssc:
        items.append(("Notices", reverse("governance:notice-list")))
    if user.has_role(Role.SUPPLIER) or user.is_ssc:
        items.append(("G8.64 policies", reverse("governance:policy")))
    if user.has_perm("cpl.import_inventory"):
        items.append(("Inventory", reverse("cpl:inventory")))
    if user.has_perm("cpl.import_cpl"):
        items.append(("Import", reverse("cpl:import")))
    if user.has_perm("cpl.view_cplchangenotice"):
        items.append(("CPL changes", reverse("cpl:change-list")))
    if user.has_perm("governance.view_securitycharacteristics"):
        items.append(("Security Characteristics", reverse("governance:characteristics")))
    if user.has_perm("portal.view_audit_log"):
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
