from dataclasses import dataclass

from django.apps import apps
from django.urls import reverse

from .policies import policy_for


def _may(user, model: str, action: str = "view") -> bool:
    """The model's policy answers the page-level question (models named, not imported: the
    navigation links every app)."""
    return policy_for(apps.get_model(model)).can(user, action, None)


@dataclass
class NavItem:
    label: str
    href: str
    description: str  # on the home page, when nothing waits: where the link leads, in words
    current: str = ""  # "page" on the item's own page, "true" on a page below it, else ""


def _groups(user) -> list[tuple[str, list[NavItem]]]:
    """The service's sections, each with the pages the user's roles may reach (the policies
    say which), in the order the navigation shows them."""

    def item(label, url_name, allowed, description=""):
        return [NavItem(label, reverse(url_name), description or label)] if allowed else []

    register = _may(user, "cpl.DeviceModel")
    supplier_policies = _may(user, "governance.SupplierPolicy", "view_all") or _may(
        user, "governance.SupplierPolicy", "upload"
    )
    return [
        ("Home", item("Home", "dashboard", True)),
        (
            "Central Products List",
            [
                *item("Register", "cpl:register", register, "Browse the Central Products List"),
                *item("Published versions", "cpl:version-list", register, "Published CPL versions"),
                *item(
                    "Product combinations",
                    "cpl:combination-list",
                    _may(user, "cpl.ProductCombination"),
                ),
                *item(
                    "Emergency entries",
                    "cpl:emergency-list",
                    _may(user, "cpl.EmergencyEntryRequest"),
                    "Emergency CPL entries",
                ),
                *item("CPL changes", "cpl:change-list", _may(user, "cpl.CPLChangeNotice")),
                *item(
                    "Import",
                    "cpl:import",
                    _may(user, "cpl.CPLImport", "import"),
                    "Import the CPL from the CPA scheme",
                ),
                *item(
                    "Inventory",
                    "cpl:inventory",
                    _may(user, "cpl.InventorySnapshot", "import"),
                    "The DCC's device inventory",
                ),
            ],
        ),
        (
            "Cases",
            [
                *item("Cases", "governance:case-list", _may(user, "governance.Case")),
                *item(
                    "Remedial plans",
                    "governance:plan-list",
                    _may(user, "governance.PlanRequirement"),
                    "CPA Certificate Remedial Plans",
                ),
                *item(
                    "Referrals",
                    "governance:referral-list",
                    _may(user, "governance.Referral"),
                    "Referrals to the Authority",
                ),
                *item(
                    "G8.64 policies",
                    "governance:policy",
                    supplier_policies,
                    "Supplier policies under SEC G8.64",
                ),
                *item(
                    "Security Characteristics",
                    "governance:characteristics",
                    _may(user, "governance.SecurityCharacteristics"),
                ),
            ],
        ),
        (
            "Inbox",
            [
                *item("Inbox", "inbox", True, "Your inbox"),
                *item("Notices", "notice-list", _may(user, "portal.Notice"), "Notices sent"),
            ],
        ),
        ("Audit log", item("Audit log", "audit-log", _may(user, "portal.AuditEvent"))),
    ]


def _current(path: str, items: list[NavItem]) -> NavItem | None:
    """The item whose page this is, or the deepest item above it (today's rule: the same path,
    or one below a link other than Home)."""
    matches = [i for i in items if path == i.href or (i.href != "/" and path.startswith(i.href))]
    return max(matches, key=lambda i: len(i.href), default=None)


def navigation(request):
    """The service navigation: a few sections for the user's roles (a section with one page
    links straight to it; one with several links to its first page), and on any page of a
    section with several pages, those pages (`sub_nav`)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    if user.requires_second_factor and not user.is_verified():
        # Half signed in (password only): nothing but signing out leads anywhere yet.
        return {"nav_items": [], "half_signed_in": True}
    groups = [(label, items) for label, items in _groups(user) if items]
    path = request.path
    current = _current(path, [i for _, items in groups for i in items])
    if current is not None:
        current.current = "page" if path == current.href else "true"
    nav_items, sub_nav = [], None
    for label, items in groups:
        active = any(i is current for i in items)
        first = items[0]
        nav_items.append(
            {
                "label": label if len(items) > 1 else first.label,
                "href": first.href,
                "active": active,
                "current": ("page" if path == first.href else "true") if active else "",
            }
        )
        if active and len(items) > 1:
            sub_nav = {"label": label, "items": items}
    return {
        "nav_items": nav_items,
        "sub_nav": sub_nav,
        # Every page the user may reach, for a home page with nothing waiting.
        "nav_links": [i for _, items in groups[1:] for i in items],
    }
