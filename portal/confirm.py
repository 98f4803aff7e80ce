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
    carry: dict[str, str] | None = None,
) -> HttpResponse | None:
    """None once the user has confirmed (the view acts); otherwise the confirmation page.
    `carry`: fields to send again in place of the posted ones (a chosen file's kept token: a
    file cannot be carried by the page)."""
    if request.POST.get(CONFIRMED) == "yes":
        return None
    carry = carry or {}
    carried = [
        (name, value)
        for name, values in request.POST.lists()
        if name not in ("csrfmiddlewaretoken", CONFIRMED, *carry)
        for value in values
    ] + list(carry.items())
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
