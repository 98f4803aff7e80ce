"""The register's rows and a device model's other firmware versions, written in Python: fifty
rows of eight cells through the template machinery cost more than the rest of the register
page (filters, query and layout), and a hardware model has dozens of firmware versions."""

from django import template
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from cpl.selectors import LineageEntry, RegisterRow
from portal.templatetags.page_tags import object_url
from portal.templatetags.portal_tags import status_tag

register = template.Library()

_ROW = (
    '\n      <tr class="govuk-table__row">\n'
    '        <td class="govuk-table__cell">'
    '<a class="govuk-link" href="{}">{} hw {} fw {}</a></td>\n'
    '        <td class="govuk-table__cell">{}</td>\n'
    '        <td class="govuk-table__cell">{} ({})</td>\n'
    '        <td class="govuk-table__cell">{}</td>\n'
    '        <td class="govuk-table__cell">{}</td>\n'
    '        <td class="govuk-table__cell"><strong class="govuk-tag {}">{}</strong>{}</td>\n'
    '        <td class="govuk-table__cell">{}</td>\n'
    '        <td class="govuk-table__cell">{}</td>\n'
    "      </tr>\n      "
)
_EMERGENCY = SafeString(' <strong class="govuk-tag govuk-tag--orange">Emergency entry</strong>')
_EMPTY = SafeString(
    '\n      <tr class="govuk-table__row"><td class="govuk-table__cell" colspan="8">'
    "No device models match these filters.</td></tr>\n      "
)


def _expiry(row: RegisterRow, dates: dict) -> SafeString | str:
    if not row.cpa_expiry:
        return "—"
    day = dates.get(row.cpa_expiry)
    if day is None:  # formatted once per date and page: the `date` filter's own formatting
        day = dates[row.cpa_expiry] = date_format(row.cpa_expiry, "j M Y")
    if row.cpa_is_valid:
        return day
    return format_html(
        '{} <strong class="govuk-tag {}">{}</strong>',
        day,
        status_tag(row.cpa_status),
        row.cpa_status_label,
    )


def _cells(row: RegisterRow, dates: dict) -> tuple:
    return (
        object_url("cpl:device-model", row.pk),
        row.model_id,
        row.hardware_version,
        row.firmware_version,
        row.device_type,
        row.manufacturer_name,
        row.manufacturer_id,
        row.smets_chts_version or "—",
        _expiry(row, dates),
        status_tag(row.status),
        row.status_label,
        _EMERGENCY if row.emergency_entry else "",
        row.smets_generation,
        row.gbcs_version or "—",
    )


@register.simple_tag
def register_rows(rows: list[RegisterRow]) -> SafeString:
    """The register table's body rows (each value escaped by format_html), or the row that
    says nothing matches."""
    if not rows:
        return _EMPTY
    dates: dict = {}
    return format_html_join("", _ROW, (_cells(row, dates) for row in rows))


_LINEAGE_ROW = (
    '\n  <tr class="govuk-table__row">\n'
    '    <td class="govuk-table__cell"><a class="govuk-link" href="{}">{}</a></td>\n'
    '    <td class="govuk-table__cell">{}</td>\n'
    '    <td class="govuk-table__cell"><strong class="govuk-tag {}">{}</strong>{}</td>\n'
    '    <td class="govuk-table__cell">{}</td>\n'
    "  </tr>\n  "
)


@register.simple_tag
def lineage_rows(entries: list[LineageEntry]) -> SafeString:
    """The rows of a device model's other firmware versions (each value escaped by
    format_html)."""
    dates: dict = {}

    def day(date) -> str:
        if date not in dates:
            dates[date] = date_format(date, "j M Y") if date else ""
        return dates[date]

    return format_html_join(
        "",
        _LINEAGE_ROW,
        (
            (
                object_url("cpl:device-model", entry.pk),
                entry.firmware_version,
                day(entry.date_added),
                status_tag(entry.status),
                entry.status_label,
                _EMERGENCY if entry.emergency_entry else "",
                "Newer" if entry.newer else "Older",
            )
            for entry in entries
        ),
    )
