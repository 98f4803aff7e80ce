"""Issue 12: a case opened from a flagged certificate is pre-filled from what the portal knows
(the event, its date and reason, the certificate's device models, the suppliers with devices of
them in the latest DCC inventory); the secretariat writes the summary and gives the severity."""

import datetime
import io
from html.parser import HTMLParser

import pytest

from cpl.inventory import inventory_import
from cpl.models import AssuranceCertificate
from cpl.services import certificate_record_event
from governance.models import Case
from portal.models import Organisation

from ..helpers import cpl_csv, cpl_row, import_bytes

pytestmark = pytest.mark.django_db

TODAY = datetime.date.today()
WITHDRAWN_ON = TODAY - datetime.timedelta(days=2)
REASON = "NCSC found a key-handling weakness in re-evaluation"


class FormValues(HTMLParser):
    """What a browser would send for the page's case form, untouched: checked boxes and radios,
    text inputs and textareas as rendered."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "textarea" and name:
            self._textarea = name
            self.data.setdefault(name, [""])
        elif tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.data.setdefault(name, []).append(attrs.get("value", "on"))
            elif kind not in ("submit", "button"):
                self.data.setdefault(name, []).append(attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            text = self.data[self._textarea][-1] + data
            # A browser drops the one newline that follows <textarea>.
            self.data[self._textarea][-1] = text.removeprefix("\n")


def form_values(response) -> dict[str, list[str]]:
    parser = FormValues()
    parser.feed(response.content.decode())
    return parser.data


def certificate_on_models(number, *, models=2, expiry=None, first=950):
    expiry = expiry or TODAY + datetime.timedelta(days=400)
    rows = [
        cpl_row(
            first + i,
            **{
                "CPA Certificate Number": number,
                "CPA Issue Date": "2020-01-01",
                "CPA Expiry Date": expiry.isoformat(),
            },
        )
        for i in range(models)
    ]
    import_bytes(cpl_csv(rows))
    return AssuranceCertificate.objects.get(number=number)


def inventory(users, counts):
    """A DCC inventory extract: (device model, supplier party id, devices)."""
    extract = "Device Model,Supplier Party ID,Device Count,As Of\n" + "".join(
        f"{'/'.join(model.identity)},{party},{n},{TODAY - datetime.timedelta(days=30)}\n"
        for model, party, n in counts
    )
    inventory_import(
        actor=users["secretariat"],
        binary=io.BytesIO(extract.encode()),
        file_name="inventory.csv",
        file_sha256="0" * 64,
    )


@pytest.fixture
def withdrawn(users):
    """A CPA certificate on two models, withdrawn with a reason; Supplier A and B have devices
    of its first model (B only in an older extract), the network operator none."""
    certificate = certificate_on_models("CPA-PREFILL-1")
    first, second = certificate.device_models.order_by("pk")
    inventory(users, [(first, "SUPB", 40)])
    inventory(users, [(first, "SUPA", 1200), (second, "SUPA", 30)])  # the latest extract
    certificate_record_event(
        actor=users["secretariat"],
        certificate=certificate,
        event="withdraw",
        on=WITHDRAWN_ON,
        reason=REASON,
    )
    certificate.refresh_from_db()
    return certificate


def test_the_form_shows_what_the_portal_knows(withdrawn, users, client_for):
    response = client_for("secretariat").get(f"/cases/open/{withdrawn.pk}/")
    assert response.status_code == 200
    form = response.context["form"]
    assert form["event"].value() == Case.Event.WITHDRAWN
    assert form["event_date"].value() == WITHDRAWN_ON
    assert form["reason"].value() == REASON
    models = sorted(withdrawn.device_models.values_list("pk", flat=True))
    assert sorted(form["device_models"].value()) == models
    assert form["addressed_to"].value() == [users["supplier_a"].organisation.pk]
    # As the browser shows it: every model ticked, Supplier A ticked, Supplier B not.
    sent = form_values(response)
    assert sent["event"] == ["withdrawn"]
    assert sorted(map(int, sent["device_models"])) == models
    assert sent["addressed_to"] == [str(users["supplier_a"].organisation.pk)]
    assert sent["reason"] == [REASON]
    assert sent["summary"] == [""]
    page = response.content.decode()
    assert "Chosen for you: the suppliers responsible for devices" in page


def test_posting_the_form_with_only_the_summary_written_opens_the_case(
    withdrawn, users, client_for
):
    client = client_for("secretariat")
    url = f"/cases/open/{withdrawn.pk}/"
    data = form_values(client.get(url))
    data["summary"] = ["Remote key extraction possible on both models."]
    data["severity"] = ["high"]  # the NCSC's assessment: the portal does not know it
    response = client.post(url, data)
    case = Case.objects.get(certificate=withdrawn)
    assert response.status_code == 302 and response.url == f"/cases/{case.pk}/"
    assert (case.event, case.event_date, case.reason) == ("withdrawn", WITHDRAWN_ON, REASON)
    assert set(case.device_models.all()) == set(withdrawn.device_models.all())
    assert list(case.addressed_to.all()) == [users["supplier_a"].organisation]
    assert case.summary == "Remote key extraction possible on both models."
    page = client.get(response.url).content.decode()
    assert f"Case {case.reference} opened for CPA-PREFILL-1" in page
    assert "start the assessment" in page


def test_the_validation_still_stands(withdrawn, client_for):
    client = client_for("secretariat")
    url = f"/cases/open/{withdrawn.pk}/"
    data = form_values(client.get(url))  # no summary, no severity
    response = client.post(url, data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"summary", "severity"}
    data.update(summary=["s"], severity=["low"], device_models=[])
    response = client.post(url, data)
    assert response.status_code == 400
    assert "Choose at least one device model" in response.content.decode()
    assert not Case.objects.exists()


def test_an_expired_certificate_is_filled_in_with_its_expiry(users, client_for):
    expiry = TODAY - datetime.timedelta(days=5)
    certificate = certificate_on_models("CPA-PREFILL-2", models=1, expiry=expiry, first=970)
    certificate.refresh_from_db()
    assert certificate.status == "expired"
    form = client_for("secretariat").get(f"/cases/open/{certificate.pk}/").context["form"]
    assert form["event"].value() == Case.Event.EXPIRED
    assert form["event_date"].value() in (expiry, certificate.status_date)
    assert form["reason"].value() == f"The CPA certificate expired on {expiry:%-d %B %Y}."
    # No inventory extract yet: nobody is chosen for the secretariat.
    assert form["addressed_to"].value() == []
    assert not Organisation.objects.filter(cases__isnull=False).exists()
