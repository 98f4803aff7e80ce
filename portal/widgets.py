"""The GOV.UK date input: a date typed as day, month and year in three boxes.

The browser's own date picker drops what it cannot read (25/11/2026) and reads badly with a
screen reader; three numeric boxes do neither. A post may still send the single ISO field
(`name=YYYY-MM-DD`, as links, tests and scripts do): the three parts win when present.
"""

import datetime
import re
from typing import NamedTuple

from django import forms
from django.utils.html import format_html, format_html_join

PARTS = ("day", "month", "year")
_WIDTHS = {"day": 2, "month": 2, "year": 4}
_MONTHS = {
    name: number
    for number, month in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ),
        start=1,
    )
    for name in (month, month[:3], "sept" if month == "september" else month)
}
_ISO = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")


class DateParts(NamedTuple):
    """What was typed in the three boxes, as typed."""

    day: str
    month: str
    year: str

    def strip(self) -> "DateParts":
        return DateParts(*(part.strip() for part in self))


class DateProblem(NamedTuple):
    code: str  # required, incomplete, year, invalid
    wrong: tuple[str, ...]  # the boxes to highlight


def _number(text: str, part: str) -> int | None:
    if text.isdigit():
        return int(text)
    if part == "month":
        return _MONTHS.get(text.lower().rstrip("."))
    return None


def read_date(parts: DateParts) -> tuple[datetime.date | None, DateProblem | None]:
    """The date the boxes hold, or what is wrong with them (GOV.UK's order of checks)."""
    parts = parts.strip()
    missing = tuple(name for name, text in zip(PARTS, parts, strict=True) if not text)
    if len(missing) == 3:
        return None, DateProblem("required", PARTS)
    if missing:
        return None, DateProblem("incomplete", missing)
    day, month, year = (_number(text, name) for name, text in zip(PARTS, parts, strict=True))
    unreadable = tuple(
        name
        for name, value, low, high in (("day", day, 1, 31), ("month", month, 1, 12))
        if value is None or not low <= value <= high
    )
    if year is None:
        unreadable += ("year",)
    if unreadable:
        return None, DateProblem("invalid", unreadable if len(unreadable) < 3 else PARTS)
    if len(parts.year) != 4:
        return None, DateProblem("year", ("year",))
    try:
        return datetime.date(year, month, day), None
    except ValueError:  # 31 February
        return None, DateProblem("invalid", ("day",))


def wrong_parts(value, has_errors: bool) -> tuple[str, ...]:
    """The boxes an error message is about: one box when the problem is in it, else all three."""
    if not has_errors:
        return ()
    if isinstance(value, DateParts):
        _, problem = read_date(value)
        if problem:
            return problem.wrong
    return PARTS


def _as_parts(value) -> DateParts:
    if isinstance(value, DateParts):
        return value
    if isinstance(value, datetime.date):
        return DateParts(str(value.day), str(value.month), str(value.year))
    if isinstance(value, str) and _ISO.fullmatch(value.strip()):
        year, month, day = value.strip().split("-")
        return DateParts(day.lstrip("0") or "0", month.lstrip("0") or "0", year)
    return DateParts("", "", "")


class GovukDateInput(forms.Widget):
    """Three boxes named `<name>-day`, `<name>-month`, `<name>-year` (govuk-frontend markup).

    The field's label, hint and errors go in the fieldset around it (templates/includes/field.html).
    """

    def value_from_datadict(self, data, files, name):
        parts = DateParts(*(data.get(f"{name}-{part}") or "" for part in PARTS))
        if any(part.strip() for part in parts) or name not in data:
            return parts
        return data.get(name)

    def value_omitted_from_data(self, data, files, name):
        return name not in data and not any(f"{name}-{part}" in data for part in PARTS)

    def use_required_attribute(self, initial):
        return False  # GOV.UK forms say what is missing in an error message instead

    def id_for_label(self, id_):
        return f"{id_}-day" if id_ else id_

    def render(self, name, value, attrs=None, renderer=None, wrong=()):
        id_ = (attrs or {}).get("id") or self.attrs.get("id") or name
        items = format_html_join(
            "\n",
            '<div class="govuk-date-input__item"><div class="govuk-form-group">'
            '<label class="govuk-label govuk-date-input__label" for="{0}-{1}">{2}</label>'
            '<input class="govuk-input govuk-date-input__input govuk-input--width-{3}{4}" '
            'id="{0}-{1}" name="{5}-{1}" type="text" inputmode="numeric" value="{6}">'
            "</div></div>",
            (
                (
                    id_,
                    part,
                    part.capitalize(),
                    _WIDTHS[part],
                    " govuk-input--error" if part in wrong else "",
                    name,
                    text,
                )
                for part, text in zip(PARTS, _as_parts(value), strict=True)
            ),
        )
        return format_html('<div class="govuk-date-input" id="{}">\n{}\n</div>', id_, items)


class GovukDateField(forms.DateField):
    """A date from the GOV.UK date input, with GOV.UK's specific error messages.

    `subject` names the date in messages ("Date of the event must include a month"); it
    defaults to the label. The bounds validators' messages are given the same subject.
    """

    widget = GovukDateInput

    def __init__(self, *, subject: str = "", **kwargs):
        super().__init__(**kwargs)
        self.subject = subject
        self.own_messages = set(kwargs.get("error_messages") or ())  # a form's words win

    def _subject(self) -> str:
        text = self.subject or str(self.label or "The date").removesuffix(" (optional)")
        return text[:1].upper() + text[1:]

    def _error(self, code: str, wrong: tuple[str, ...] = ()) -> forms.ValidationError:
        subject = self._subject()
        if code in self.own_messages:
            return forms.ValidationError(self.error_messages[code], code=code)
        if code == "required":
            lower = subject[:1].lower() + subject[1:]
            text = f"Enter {lower}" if lower.startswith(("the ", "your ")) else f"Enter the {lower}"
        elif code == "incomplete":
            text = f"{subject} must include a {' and '.join(wrong)}"
        elif code == "year":
            text = f"{subject} must have a year with 4 numbers"
        else:
            text = f"{subject} must be a real date"
        return forms.ValidationError(text, code=code)

    def to_python(self, value):
        if isinstance(value, DateParts):
            date, problem = read_date(value)
            if problem and problem.code == "required":
                return None  # validate() says so when the date is required
            if problem:
                raise self._error(problem.code, problem.wrong)
            return date
        try:
            return super().to_python(value)
        except forms.ValidationError:
            raise self._error("invalid") from None

    def validate(self, value):
        if value in self.empty_values and self.required:
            raise self._error("required")
        super().validate(value)

    def run_validators(self, value):
        try:
            super().run_validators(value)
        except forms.ValidationError as error:
            # Bounds validators write "%(subject)s must be …": the subject is this field's.
            raise forms.ValidationError(
                [
                    forms.ValidationError(
                        e.message,
                        code=e.code,
                        params={**(e.params or {}), "subject": self._subject()},
                    )
                    for e in error.error_list
                ]
            ) from None
