"""Issue 11 walk fixes in the register: re-listing warns of a referral of the removal pending at
the Authority, and the removed entries show a case or referral reference only to those who may
see that case (cpl learns both through cpl.hooks, filled by governance)."""

import datetime

import pytest
from django.urls import reverse

from cpl.models import CPLRemoval
from cpl.services import certificate_add

from ..helpers import referral_pack_sent

pytestmark = pytest.mark.django_db
TODAY = datetime.date.today()


@pytest.fixture
def removed(committee):
    """A model removed by an SSC decision that supplier A referred (pack sent), then given a
    renewed CPA certificate: the secretariat may re-list it."""
    case, referral, _ = referral_pack_sent(committee, kind="remove", decision="suspend")
    model = case.device_models.get()
    certificate_add(
        actor=committee["secretariat"],
        device_model=model,
        kind="cpa",
        number="CPA-RENEWED",
        issued=TODAY,
        expiry=TODAY + datetime.timedelta(days=900),
    )
    return case, referral, model


def test_relisting_warns_of_a_pending_referral_of_the_removal(committee, client_for, removed):
    case, referral, model = removed
    page = client_for("secretariat").get(reverse("cpl:relist", args=[model.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert f"Referral {referral.reference}" in html and case.reference in html
    assert "with the Authority" in html


def test_no_warning_once_the_authority_has_determined(committee, client_for, removed):
    from governance.models import Referral

    case, referral, model = removed
    Referral.objects.filter(pk=referral.pk).update(state=Referral.State.DETERMINED)
    html = client_for("secretariat").get(reverse("cpl:relist", args=[model.pk])).content.decode()
    assert f"Referral {referral.reference}" not in html


def test_the_case_reference_is_shown_only_to_who_may_see_the_case(committee, client_for, removed):
    case, _, model = removed
    assert CPLRemoval.objects.get(device_model=model).reference == case.reference
    network = client_for("network")  # a Party the case is not addressed to
    html = network.get(reverse("cpl:removed-list")).content.decode()
    assert case.reference not in html and "SSC decision" in html
    html = removals_section(network.get(reverse("cpl:device-model", args=[model.pk])))
    assert case.reference not in html and "SSC decision" in html
    for key in ("secretariat", "supplier_a"):  # the SSC; a Party the case is addressed to
        client = client_for(key)
        assert case.reference in client.get(reverse("cpl:removed-list")).content.decode(), key
        page = client.get(reverse("cpl:device-model", args=[model.pk]))
        assert case.reference in removals_section(page), key


def removals_section(response) -> str:
    html = response.content.decode()
    start = html.index("Removals from the CPL")
    return html[start : html.index("</dl>", start)]
