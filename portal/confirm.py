"""Ask before an irreversible action (GOV.UK: a confirmation page with a warning). A POST
without `confirmed=yes` renders the page, carrying the submitted fields, and changes nothing;
the page's button posts them again with `confirmed=yes`. A guard against a slip of the mouse,
not an access rule: the policies decide who may act either way."""

from django.http import HttpResponse
from django.shortcuts import render

CONFIRMED = "confirmed"


def confirmation_page(
    request,
    *,
    title: str,
    warning: str,
    button: str,
    cancel_url: str,
    details: list[tuple[str, str]] | None = None,
    caption: str = "",
) -> HttpResponse | None:
    """None once the user has confirmed (the view acts); otherwise the confirmation page."""
    if request.POST.get(CONFIRMED) == "yes":
        return None
    carried = [
        (name, value)
        for name, values in request.POST.lists()
        if name not in ("csrfmiddlewaretoken", CONFIRMED)
        for value in values
    ]
    return render(
        request,
        "portal/confirm.html",
        {
            "title": title,
            "caption": caption,
            "warning": warning,
            "button": button,
            "cancel_url": cancel_url,
            "details": details or [],
            "carried": carried,
            "action": request.get_full_path(),
        },
    )
