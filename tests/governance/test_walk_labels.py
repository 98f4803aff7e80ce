"""What a browser walk found shown to people as codes or dead ends: the case state after a
removal, the ballot result, a device model's history, the CPL version diff, a vote withdrawn by
a conflict declared during the ballot, and a member's own declaration during an open ballot."""

import datetime
import re

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from cpl.services import cpl_version_publish, device_model_remove
from governance import services
from governance.models import Case, ConflictDeclaration, VoteEvent
from portal.policies import ActionNotNow
from tests.helpers import cpa_case

REMOVED_STATE = "Removed from the CPL (devices suspended)"


def removal_decided(committee):
    """A case on one device model whose removal the SSC decided and issued: the summary for
    Parties approved, the committee unanimous, the inventory covering the model."""
    import io

    from cpl.inventory import inventory_import
    from governance import record
    from tests.helpers import vote_unanimously

    case = cpa_case(committee, models=1)
    model = case.device_models.get()
    inventory_import(
        actor=committee["secretariat"],
        binary=io.BytesIO(
            f"Device Model,Supplier Party ID,Device Count,As Of\n{'/'.join(model.identity)},"
            f"SUPA,1200,2026-11-01\n".encode()
        ),
        file_name="inventory.csv",
        file_sha256="0" * 64,
    )
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    record.case_party_summary_write(
        actor=committee["secretariat"], case=case, party_summary="A CPA certificate lapsed."
    )
    case.refresh_from_db()
    record.case_party_summary_approve(
        actor=committee["chair"], case=case, read_sha256=record.party_summary_sha256(case)
    )
    vote_unanimously(committee, case, "suspend")
    case.refresh_from_db()
    services.decision_issue(
        actor=committee["chair"],
        case=case,
        reasons="Proportionate",
        security_factors="Local access",
        operational_impact="Large",
    )
    case.refresh_from_db()
    return case


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def named(user, first, last):
    user.first_name, user.last_name = first, last
    user.save(update_fields=["first_name", "last_name"])


def test_a_case_after_a_removal_decision_reads_as_removed_with_devices_suspended(
    committee, client_for
):
    case = removal_decided(committee)
    assert case.state == Case.State.SUSPENSION == "suspension"  # the value stays
    for who in ("supplier_a", "chair"):
        page = text(client_for(who).get(reverse("governance:case", args=[case.pk])))
        assert REMOVED_STATE in page
        assert " Suspension " not in page
    assert REMOVED_STATE in text(client_for("chair").get(reverse("governance:case-list")))


def test_the_ballot_result_names_the_options_not_their_codes(committee, client_for):
    case = removal_decided(committee)
    page = text(client_for("chair").get(reverse("governance:ballot", args=[case.ballots.get().pk])))
    result = page[page.index("Result") : page.index("Quorum")]
    assert "Remove from the CPL 3" in result
    assert "Require CPA Certificate Remedial Plans 0" in result
    assert "Suspend" not in result and "remedial_plan" not in result


def test_a_device_models_history_speaks_in_labels_and_names(committee, client_for):
    named(committee["chair"], "Ada", "Chair")
    case = removal_decided(committee)
    model = case.device_models.get()
    for who in ("supplier_a", "dcc", "secretariat"):
        page = text(client_for(who).get(reverse("cpl:device-model", args=[model.pk])))
        history = page[page.index("History") :]
        assert "Removed from the CPL" in history
        assert "by Ada Chair" in history
        assert "SSC decision" in history
        assert "Added to the CPL" in history
        for code in (
            "devicemodel.",
            "ssc_decision",
            "consequence_of",
            "decision.issue",
            "[&#x27;",
            "cpa:",
            "by chair",
            "by system",
        ):
            assert code not in history, code


def test_a_removed_model_is_listed_as_removed_in_the_version_diff(committee, client_for):
    case = cpa_case(committee, models=1)
    cpl_version_publish(actor=committee["secretariat"])
    model = case.device_models.get()
    with transaction.atomic():
        device_model_remove(
            actor=None,
            model=model,
            basis="ssc_decision",
            reference=case.reference,
            reason="SSC decision",
            consequence_of="decision.issue",
        )
    version = cpl_version_publish(actor=committee["secretariat"])
    page = text(client_for("secretariat").get(reverse("cpl:version-detail", args=[version.number])))
    removed = page[page.index("Removed (1)") : page.index("Status changed")]
    assert model.model_id in removed
    assert "(removed from the CPL)" in removed
    assert "(Listed)" not in removed


@pytest.fixture
def voted(committee):
    """member has voted in the open ballot of a case, declaring no conflict."""
    case = cpa_case(committee)
    services.case_transition(actor=committee["secretariat"], case=case, name="start_assessment")
    ballot = services.ballot_open(
        actor=committee["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(days=1)
    )
    services.conflict_declare(actor=committee["member"], case=case, has_conflict=False, reason="")
    services.vote_cast(actor=committee["member"], ballot=ballot, choice="suspend")
    return case, ballot


def test_a_vote_withdrawn_by_a_conflict_says_so_and_every_link_leads_somewhere(
    committee, client_for, voted
):
    case, ballot = voted
    client = client_for("member")
    response = client.post(
        reverse("governance:conflict", args=[case.pk]),
        {"has_conflict": "yes", "reason": "I advised the manufacturer"},
        follow=True,
    )
    assert response.status_code == 200
    page = text(response)
    assert "Your vote was withdrawn" in page
    assert VoteEvent.objects.filter(ballot=ballot, kind=VoteEvent.Kind.REMOVED).exists()
    links = set(re.findall(r'href="(/[^"#]*)', response.content.decode()))
    for link in links - {link for link in links if link.startswith("/static/")}:
        assert client.get(link).status_code in (200, 302), link
    # The ballot notice in the member's inbox still opens the case.
    from portal.models import Notice

    notice = Notice.objects.get(subject__startswith=f"Vote: ballot {ballot.number}")
    assert client.get(notice.link).status_code == 200


def test_a_member_sees_and_updates_their_own_declaration_during_an_open_ballot(
    committee, client_for, voted
):
    case, ballot = voted
    services.conflict_declare(
        actor=committee["member"], case=case, has_conflict=True, reason="Advised the maker"
    )
    client = client_for("member")
    page = text(client.get(reverse("governance:case", args=[case.pk])))
    assert "Your conflict of interest declaration" in page
    assert "You declared: a conflict of interest (Advised the maker)" in page
    # Others' votes stay sealed: no tallies, no ballot page.
    assert client.get(reverse("governance:ballot", args=[ballot.pk])).status_code == 404
    response = client.post(
        reverse("governance:conflict", args=[case.pk]),
        {"has_conflict": "yes", "reason": "Advised the maker in 2024"},
    )
    assert response.status_code == 302
    declaration = ConflictDeclaration.objects.get(case=case, member=committee["member"])
    assert declaration.reason == "Advised the maker in 2024" and declaration.has_conflict
    # The conflict itself stands while the ballot is open.
    with pytest.raises(ActionNotNow, match="stands: a ballot has opened"):
        services.conflict_declare(
            actor=committee["member"], case=case, has_conflict=False, reason=""
        )
    response = client.post(
        reverse("governance:conflict", args=[case.pk]), {"has_conflict": "no", "reason": ""}
    )
    assert response.status_code == 409  # not now: the form says why
    assert "stands: a ballot has opened" in text(response)
