"""The pack's deadline beside a referral, rendered in Python: lists and dashboards show it on
every row, where an included template per row was slow."""

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from ..models import Referral

register = template.Library()


@register.simple_tag
def pack_due(referral) -> str:
    """While the SSC has not sent the pack: " · pack due to the Authority by <date>", tagged
    Overdue once the date has passed; nothing after."""
    due = referral.pack_due_date
    if referral.state != Referral.State.LODGED or due is None:
        return ""
    overdue = (
        format_html(' <strong class="govuk-tag govuk-tag--red">{}</strong>', "Overdue")
        if due < timezone.localdate()
        else ""
    )
    return format_html(
        '<span class="portal-pack-due"> · pack due to the Authority by <strong>{}</strong>{}'
        "</span>",
        date_format(due, "j M Y"),
        overdue,
    )
