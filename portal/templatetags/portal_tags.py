import datetime
import re

from django import template
from django.conf import settings
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from portal.widgets import GovukDateInput, wrong_parts

from .page_tags import renders_as_select, select_html

register = template.Library()

_WIDGET_CLASSES = {
    "select": "govuk-select",
    "textarea": "govuk-textarea",
    "clearablefile": "govuk-file-upload",
    "file": "govuk-file-upload",
    "radioselect": "govuk-radios__input",
    "checkbox": "govuk-checkboxes__input",
}
_ERROR_CLASSES = {
    "select": "govuk-select--error",
    "textarea": "govuk-textarea--error",
    "clearablefile": "govuk-file-upload--error",
    "file": "govuk-file-upload--error",
}


@register.simple_tag
def govuk_widget(field, extra_class=""):
    """Render a bound field's widget with GOV.UK classes and accessible descriptions."""
    widget = field.field.widget
    if isinstance(widget, GovukDateInput):  # described by its fieldset; errors mark the boxes
        value = field.value()
        attrs = {"id": field.auto_id or field.html_name}
        return widget.render(field.html_name, value, attrs, wrong=wrong_parts(value, field.errors))
    kind = field.widget_type
    classes = [_WIDGET_CLASSES.get(kind, "govuk-input")]
    if field.errors:
        classes.append(_ERROR_CLASSES.get(kind, "govuk-input--error"))
    if extra_class:
        classes.append(extra_class)
    described = []
    if field.help_text:
        described.append(f"{field.auto_id}-hint")
    if field.errors:
        described.append(f"{field.auto_id}-error")
    attrs = {"class": " ".join(classes)}
    if described:
        attrs["aria-describedby"] = " ".join(described)
    if renders_as_select(field.field.widget):
        return select_html(field, attrs)  # a filter's long option list, without an include each
    return field.as_widget(attrs=attrs)


@register.filter
def error_target(field) -> str:
    """Where an error summary link goes: the field's input, or the first of its boxes, radios
    or checkboxes (Django gives radio groups no label target); for a date, the first box
    that is wrong (a month of 13 leads to the month)."""
    if isinstance(field.field.widget, GovukDateInput) and field.auto_id:
        return f"{field.auto_id}-{wrong_parts(field.value(), bool(field.errors))[0]}"
    return field.id_for_label or (f"{field.auto_id}_0" if field.auto_id else "")


@register.filter
def status_tag(status: str) -> str:
    """GOV.UK tag colour for a state."""
    return {
        "listed": "govuk-tag--green",
        "valid": "govuk-tag--green",
        "succeeded": "govuk-tag--green",
        "suspended": "govuk-tag--red",
        "withdrawn": "govuk-tag--red",
        "cancelled": "govuk-tag--red",
        "rejected": "govuk-tag--red",
        "failed": "govuk-tag--red",
        "expired": "govuk-tag--orange",
        "removed": "govuk-tag--grey",
        "pending": "govuk-tag--blue",
        "queued": "govuk-tag--blue",
        "running": "govuk-tag--blue",
        "opened": "govuk-tag--blue",
        "assessment": "govuk-tag--light-blue",
        "voting": "govuk-tag--purple",
        "open": "govuk-tag--purple",
        "decided": "govuk-tag--turquoise",
        "remediation": "govuk-tag--yellow",
        "suspension": "govuk-tag--red",
        "awaiting_casting_vote": "govuk-tag--orange",
        "closed": "govuk-tag--grey",
        "notified": "govuk-tag--blue",
        "submitted": "govuk-tag--purple",
        "resubmitted": "govuk-tag--purple",
        "approved": "govuk-tag--green",
        "not_approved": "govuk-tag--red",
        "completed": "govuk-tag--grey",
        "overdue": "govuk-tag--red",
        "lodged": "govuk-tag--blue",
        "pack_sent": "govuk-tag--purple",
        "information_requested": "govuk-tag--orange",
        "information_provided": "govuk-tag--purple",
        "determined": "govuk-tag--green",
    }.get(str(status), "govuk-tag--grey")


@register.filter
def get_item(mapping, key):
    return mapping.get(key, "") if hasattr(mapping, "get") else ""


_BR = SafeString("<br>")
_LINK_LINE = re.compile(r"(?P<label>[^:\n]{1,80}): (?P<url>\S+)")


@register.filter
def notice_body(body: str) -> SafeString:
    """A notice's text in paragraphs, as `linebreaks` would; a line "Label: <portal address>"
    (how a notice gives a further step, as its e-mail gives links) becomes a link so labelled."""
    base = settings.PORTAL_BASE_URL.rstrip("/")

    def line_html(line: str):
        match = _LINK_LINE.fullmatch(line.strip())
        if match and match["url"].startswith(f"{base}/"):
            path = match["url"][len(base) :]
            return format_html('<a class="govuk-link" href="{}">{}</a>', path, match["label"])
        return line

    paragraphs = [p for p in re.split(r"\n\s*\n", (body or "").replace("\r\n", "\n")) if p.strip()]
    return format_html_join(
        "\n",
        "<p>{}</p>",
        (
            (format_html_join(_BR, "{}", ((line_html(li),) for li in p.split("\n"))),)
            for p in paragraphs
        ),
    )


@register.filter
def mid_sentence(title: str) -> str:
    """A title inside a sentence ("See all plans waiting for the SSC's review"): its first
    letter lowered unless the first word is an abbreviation (CPL, SSC); the rest as written."""
    first = (title or "").split(" ", 1)[0]
    if len(first) > 1 and first[:2].isupper():
        return title
    return title[:1].lower() + title[1:]


@register.filter
def long_date(value) -> str:
    """A date, or one stored as ISO text in a JSON record, as people write it: 1 November 2026."""
    if isinstance(value, str):
        try:
            value = datetime.date.fromisoformat(value[:10])
        except ValueError:
            return value
    return f"{value:%-d %B %Y}" if value else ""
