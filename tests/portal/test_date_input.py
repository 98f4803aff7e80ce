"""Every date is typed in the GOV.UK date input: day, month and year boxes, specific errors."""

import datetime
import re

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from cpl.forms import CertificateEventForm
from cpl.models import DeviceModel
from governance.forms import PlanReviewForm
from tests.helpers import cpl_csv, cpl_row, import_bytes

YESTERDAY = timezone.localdate() - datetime.timedelta(days=1)


def _input(page: str, name: str) -> str:
    return re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', page).group(0)


def _boxes(page: str, name: str) -> dict[str, str]:
    return {
        part: re.search(r'value="([^"]*)"', _input(page, f"{name}-{part}")).group(1)
        for part in ("day", "month", "year")
    }


def test_the_widget_renders_three_numeric_boxes_with_the_date_split():
    form = CertificateEventForm(initial={"on": datetime.date(2025, 3, 7)})
    html = render_to_string("includes/field.html", {"field": form["on"]})

    assert '<fieldset class="govuk-fieldset" role="group"' in html
    assert '<legend class="govuk-fieldset__legend' in html and "Date of the event" in html
    assert 'id="id_on-hint"' in html and 'aria-describedby="id_on-hint"' in html
    assert _boxes(html, "on") == {"day": "7", "month": "3", "year": "2025"}
    for part, width in (("day", 2), ("month", 2), ("year", 4)):
        box = _input(html, f"on-{part}")
        assert f'id="id_on-{part}"' in box
        assert 'inputmode="numeric"' in box and 'type="text"' in box
        assert f"govuk-date-input__input govuk-input--width-{width}" in box
        assert f'<label class="govuk-label govuk-date-input__label" for="id_on-{part}">' in html
    assert 'type="date"' not in html


@pytest.mark.parametrize(
    "data",
    [
        {"on-day": "2", "on-month": "1", "on-year": "2025"},
        {"on-day": " 02 ", "on-month": "Jan", "on-year": "2025"},
        {"on": "2025-01-02"},  # the single ISO field still works (links, scripts)
        {"on": "1999-12-31", "on-day": "2", "on-month": "1", "on-year": "2025"},  # parts win
    ],
)
def test_parts_and_the_iso_field_are_both_read(data):
    form = CertificateEventForm(data={"event": "withdraw", "reason": "Retest failed", **data})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["on"] == datetime.date(2025, 1, 2)


def test_an_optional_date_left_empty_is_no_date():
    form = PlanReviewForm(
        data={"version": 1, "decision": "approve", "expires_on-day": "", "expires_on-month": ""}
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["expires_on"] is None


@pytest.fixture
def certificate_page(users):
    import_bytes(cpl_csv([cpl_row(1)]))
    zigbee = DeviceModel.objects.get().certificates.get(kind="zigbee")
    return f"/cpl/certificates/{zigbee.pk}/"


def _post_event(client, url, **parts):
    data = {"event": "withdraw", "reason": "Failed interoperability retest"}
    data.update({f"on-{part}": value for part, value in parts.items()})
    return client.post(url, data)


@pytest.mark.parametrize(
    ("parts", "message", "wrong"),
    [
        ({}, "Enter the date of the event", {"day", "month", "year"}),
        (
            {"day": "3", "year": "2025"},
            "Date of the event must include a month",
            {"month"},
        ),
        ({"month": "3"}, "Date of the event must include a day and year", {"day", "year"}),
        (
            {"day": "31", "month": "2", "year": "2025"},
            "Date of the event must be a real date",
            {"day"},
        ),
        (
            {"day": "1", "month": "13", "year": "2025"},
            "Date of the event must be a real date",
            {"month"},
        ),
        (
            {"day": "x", "month": "2", "year": "2025"},
            "Date of the event must be a real date",
            {"day"},
        ),
        (
            {"day": "1", "month": "2", "year": "20255"},
            "Date of the event must have a year with 4 numbers",
            {"year"},
        ),
        (
            {"day": "1", "month": "2", "year": str(timezone.localdate().year + 1)},
            "Date of the event must be today or in the past",
            {"day", "month", "year"},
        ),
        (
            {"day": "1", "month": "2", "year": "1999"},
            "Date of the event must be the same as or after 1 January 2000",
            {"day", "month", "year"},
        ),
    ],
)
def test_a_wrong_date_gets_a_specific_message_on_the_page(
    client_for, certificate_page, parts, message, wrong
):
    response = _post_event(client_for("secretariat"), certificate_page, **parts)

    assert response.status_code == 400
    page = response.content.decode()
    assert page.count(message) == 2  # in the error summary and at the field
    # The summary links to the first wrong box (a month of 13: the month), which exists; the
    # boxes keep what was typed.
    first = next(p for p in ("day", "month", "year") if p in wrong)
    assert f'<a href="#id_on-{first}">{message}</a>' in page
    assert 'id="id_on-day"' in page
    assert _boxes(page, "on") == {p: parts.get(p, "") for p in ("day", "month", "year")}
    marked = {
        p for p in ("day", "month", "year") if "govuk-input--error" in _input(page, f"on-{p}")
    }
    assert marked == wrong
    assert 'aria-describedby="id_on-hint id_on-error"' in page


def test_a_real_date_in_parts_reaches_the_confirmation(client_for, certificate_page):
    day = YESTERDAY
    response = _post_event(
        client_for("secretariat"),
        certificate_page,
        day=str(day.day),
        month=str(day.month),
        year=str(day.year),
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Record this withdrawal?" in page
    # The confirmation carries the three parts, so confirming posts the same date.
    for part, value in (("day", day.day), ("month", day.month), ("year", day.year)):
        assert re.search(rf'name="on-{part}"[^>]*value="{value}"', page) or re.search(
            rf'value="{value}"[^>]*name="on-{part}"', page
        )


def test_the_error_summary_links_to_the_first_radio_too(client_for, certificate_page):
    response = client_for("secretariat").post(certificate_page, {"on": "2025-01-02", "reason": "x"})
    page = response.content.decode()
    assert response.status_code == 400
    target = re.search(r'<a href="#([^"]+)">[^<]*</a></li>', page).group(1)
    assert f'id="{target}"' in page


def test_a_prefilled_date_shows_in_the_three_boxes(client_for):
    expired = timezone.localdate() - datetime.timedelta(days=3)
    import_bytes(
        cpl_csv(
            [
                cpl_row(
                    700,
                    **{
                        "CPA Certificate Number": "CPA-DATES-1",
                        "CPA Issue Date": "2020-01-01",
                        "CPA Expiry Date": expired.isoformat(),
                    },
                )
            ]
        )
    )
    from cpl.models import AssuranceCertificate

    certificate = AssuranceCertificate.objects.get(number="CPA-DATES-1")
    page = client_for("secretariat").get(f"/cases/open/{certificate.pk}/").content.decode()
    on = certificate.status_date
    assert _boxes(page, "event_date") == {
        "day": str(on.day),
        "month": str(on.month),
        "year": str(on.year),
    }
