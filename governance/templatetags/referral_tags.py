"""The pack's deadline beside a referral, and the referrals list's rows, rendered in Python:
lists and dashboards show them on every row, where the template machinery per row (an
included template, or a row's five cells) cost more than the rest of the page."""

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from portal.templatetags.page_tags import object_url
from portal.templatetags.portal_tags import status_tag

from ..models import Referral

register = template.Library()


def _pack_due(referral, today, days: dict | None = None) -> str:
    """`days`: dates formatted already on this page (formatting a date is the costly part)."""
    due = referral.pack_due_date
    if referral.state != Referral.State.LODGED or due is None:
        return ""
    days = {} if days is None else days
    if due not in days:
        days[due] = date_format(due, "j M Y")
    overdue = (
        format_html(' <strong class="govuk-tag govuk-tag--red">{}</strong>', "Overdue")
        if due < today
        else ""
    )
    return format_html(
        '<span class="portal-pack-due"> · pack due to the Authority by <strong>{}</strong>{}'
        "</span>",
        days[due],
        overdue,
    )


@register.simple_tag
def pack_overdue(referral) -> str:
    """Only the Overdue tag: for a page that states the pack's due date in words already."""
    due = referral.pack_due_date
    if referral.state != Referral.State.LODGED or due is None or due >= timezone.localdate():
        return ""
    return format_html(' <strong class="govuk-tag govuk-tag--red">{}</strong>', "Overdue")


@register.simple_tag
def pack_due(referral) -> str:
    """While the SSC has not sent the pack: " · pack due to the Authority by <date>", tagged
    Overdue once the date has passed; nothing after."""
    return _pack_due(referral, timezone.localdate())


_ROW = (
    '\n  <tr class="govuk-table__row">\n'
    '    <td class="govuk-table__cell"><a class="govuk-link" href="{}">{}</a></td>\n'
    '    <td class="govuk-table__cell">{}</td>\n'
    '    <td class="govuk-table__cell">{}</td>\n'
    '    <td class="govuk-table__cell">{}</td>\n'
    '    <td class="govuk-table__cell"><strong class="govuk-tag {}">{}</strong>{}</td>\n'
    "  </tr>\n  "
)
_EMPTY = SafeString(
    '<tr class="govuk-table__row"><td class="govuk-table__cell" colspan="5">No referrals.</td>'
    "</tr>\n  "
)


@register.simple_tag
def referral_rows(referrals) -> SafeString:
    """The referrals table's body rows (each value escaped by format_html), or the row that
    says there are none."""
    if not referrals:
        return _EMPTY
    today, days = timezone.localdate(), {}  # each date formatted once a page
    return format_html_join(
        "",
        _ROW,
        (
            (
                object_url("governance:referral", r.pk),
                r.reference,
                r.case.reference,
                r.organisation,
                r.get_kind_display(),
                status_tag(r.state),
                r.get_state_display(),
                _pack_due(r, today, days),
            )
            for r in referrals
        ),
    )
