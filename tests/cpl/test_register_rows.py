"""The register's rows and the dashboard's certificate panels are read as plain values: they
must say what the model instances say (the CPA certificate held now, status labels, device
model names and links)."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import dateformat

from cpl import selectors
from cpl.models import AssuranceCertificate, DeviceModel

from ..helpers import cpl_csv, cpl_row, import_bytes, import_sample

pytestmark = pytest.mark.django_db


def _rows(body: str) -> dict[int, str]:
    """The register table's rows, by the device model each links to."""
    rows = re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', body, re.S)
    found = {}
    for row in rows:
        link = re.search(r'href="/cpl/models/(\d+)/"', row)
        if link:
            found[int(link.group(1))] = row
    return found


def _cells(row: str) -> list[str]:
    return [c.strip() for c in re.findall(r'<td class="govuk-table__cell">(.*?)</td>', row, re.S)]


def test_each_row_shows_the_cpa_certificate_held_now(client_for):
    import_sample()
    withdrawn = AssuranceCertificate.objects.filter(kind="cpa").order_by("pk").first()
    AssuranceCertificate.objects.filter(pk=withdrawn.pk).update(status="withdrawn")
    rows = _rows(client_for("secretariat").get("/cpl/").content.decode())
    models = DeviceModel.objects.filter(pk__in=rows).select_related("manufacturer")
    assert len(models) == len(rows) > 10
    labels = dict(AssuranceCertificate.Status.choices)
    shown_not_valid = 0
    for model in models.prefetch_related("certificates"):
        cells = _cells(rows[model.pk])
        assert f"{model.manufacturer.name} ({model.manufacturer.manufacturer_id})" == cells[2]
        assert model.get_status_display() in cells[5]
        cpa = selectors.current_certificates(model.certificates.all()).get("cpa")
        if cpa is None:
            assert cells[4] == "—"
            continue
        assert cells[4].startswith(dateformat.format(cpa.expiry, "j M Y"))
        if cpa.is_valid:
            assert "govuk-tag" not in cells[4]
        else:
            shown_not_valid += 1
            assert labels[cpa.status] in cells[4]
    assert shown_not_valid  # the withdrawn certificate (or another not valid) was shown


def test_the_latest_cpa_certificate_is_the_one_shown(client_for):
    soon = datetime.date.today() + datetime.timedelta(days=400)
    later = soon + datetime.timedelta(days=365)
    import_bytes(cpl_csv([cpl_row(1, **{"CPA Expiry Date": soon.isoformat()})]))
    model = DeviceModel.objects.get()
    renewal = AssuranceCertificate.objects.create(
        kind="cpa", number="CPA-RENEWED", expiry=later, status="valid"
    )
    renewal.device_models.add(model)
    cells = _cells(_rows(client_for("supplier_a").get("/cpl/").content.decode())[model.pk])
    assert cells[4] == dateformat.format(later, "j M Y")


def test_dashboard_certificate_panels_link_every_device_model(client_for):
    import_sample()
    soon = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    import_bytes(
        cpl_csv([cpl_row(7, **{"CPA Expiry Date": soon, "CPA Certificate Number": "CPA-SOON"})])
    )
    body = client_for("secretariat").get("/").content.decode()
    certificate = AssuranceCertificate.objects.get(number="CPA-SOON")
    models = list(certificate.device_models.all())
    assert models
    for model in models:
        link = reverse("cpl:device-model", args=[model.pk])
        assert f'<a class="govuk-link" href="{link}">{model}</a>' in body
