"""Double submissions: a replayed or parallel state-changing form makes one effect, held by a
database constraint or a row lock, and the loser gets a clear message, never a 500."""

import datetime
import threading
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, transaction
from django.test import Client

from cpl.models import AssuranceCertificate
from governance import plans, policies, referrals, services
from governance.models import Case, PlanRequirement, Referral, RemedialPlan

from ..helpers import cpa_case, cpl_csv, cpl_row, decided_case, import_bytes, pdf_upload, sign_in

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="parallel requests need PostgreSQL (CI runs it there)"
)
MILESTONES = [
    {
        "description": "Firmware to all",
        "target_date": datetime.date(2027, 3, 1),
        "devices_covered": 1,
    }
]


def referral_files() -> set[str]:
    folder = Path(settings.PRIVATE_STORAGE_ROOT) / "referrals"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def expired_certificate() -> AssuranceCertificate:
    expired = (datetime.date.today() - datetime.timedelta(days=3)).isoformat()
    import_bytes(
        cpl_csv(
            [
                cpl_row(
                    700 + i,
                    **{
                        "CPA Certificate Number": "CPA-REPLAY-1",
                        "CPA Issue Date": "2020-01-01",
                        "CPA Expiry Date": expired,
                    },
                )
                for i in range(2)
            ]
        )
    )
    return AssuranceCertificate.objects.get(number="CPA-REPLAY-1")


def case_form(certificate, event_date=None) -> dict:
    return {
        "device_models": [m.pk for m in certificate.device_models.all()],
        "event": "expired",
        "event_date": (event_date or certificate.expiry).isoformat(),
        "reason": "Lapsed",
        "severity": "high",
        "summary": "Re-evaluation pending",
    }


def in_parallel(count: int, request) -> list:
    """`request(i)` in `count` threads released together; each thread's own connection."""
    start = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        try:
            start.wait()
            results[i] = request(i)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def signed_in_clients(user, count: int) -> list[Client]:
    clients = []
    for _ in range(count):
        client = Client()
        sign_in(client, user)
        clients.append(client)
    return clients


# --- referral lodge ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_lodge_that_passed_the_check_is_refused_by_the_constraint_and_leaves_no_file(committee):
    case = decided_case(committee, decision="suspend")
    referrals.referral_lodge(
        actor=committee["supplier_a"], case=case, kind="remove", grounds="Disproportionate"
    )
    files = referral_files()
    # The race: a second lodge read the referrals before the first committed.
    with (
        mock.patch.object(policies.cases, "why_not_refer_decision", return_value=None),
        pytest.raises(ValidationError, match="already referred this decision"),
    ):
        referrals.referral_lodge(
            actor=committee["supplier_a"],
            case=case,
            kind="remove",
            grounds="Again",
            uploads=[pdf_upload("grounds.pdf")],
        )
    assert Referral.objects.filter(case=case).count() == 1
    assert referral_files() == files
    # Another Party refers the same decision: its own referral.
    referrals.referral_lodge(actor=committee["dcc"], case=case, kind="remove", grounds="Also")
    assert Referral.objects.filter(case=case).count() == 2


@pytest.mark.django_db
def test_one_referral_per_plan_refusal_per_organisation_is_a_constraint(committee):
    case = decided_case(committee)
    requirement = PlanRequirement.objects.get(
        case=case, supplier=committee["supplier_a"].organisation
    )
    row = {
        "case": case,
        "kind": Referral.Kind.PLAN_NOT_APPROVED,
        "plan_requirement": requirement,
        "organisation": committee["supplier_a"].organisation,
        "lodged_by": committee["supplier_a"],
        "grounds": "g",
    }
    Referral.objects.create(reference="R-1", **row)
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.create(reference="R-2", **row)
    # The plan refusal and the case's decision are different decisions.
    Referral.objects.create(
        reference="R-3", **{**row, "kind": Referral.Kind.NOT_REMOVE, "plan_requirement": None}
    )


@postgresql_only
@pytest.mark.usefixtures("committed_db")
def test_twenty_parallel_referral_lodges_make_one_referral(committee):
    case = decided_case(committee, decision="suspend")
    clients = signed_in_clients(committee["supplier_a"], 20)
    files = referral_files()

    def lodge(i):
        response = clients[i].post(
            f"/referrals/new/{case.pk}/",
            {
                "kind": "remove",
                "grounds": f"Disproportionate ({i})",
                "document": pdf_upload(),
                "confirmed": "yes",
            },
        )
        return response.status_code, response.content.decode()

    results = in_parallel(20, lodge)
    assert Referral.objects.filter(case=case).count() == 1
    assert sorted(status for status, _ in results) == [302] + [400] * 19
    assert all(
        "already referred this decision" in body for status, body in results if status == 400
    )
    assert len(referral_files() - files) == 1  # the one referral's grounds; no orphan


# --- case open ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_replayed_case_open_makes_one_case_and_names_it(committee, client_for):
    certificate = expired_certificate()
    client = client_for("secretariat")
    first = client.post(f"/cases/open/{certificate.pk}/", case_form(certificate))
    assert first.status_code == 302
    case = Case.objects.get(certificate=certificate)
    replay = client.post(f"/cases/open/{certificate.pk}/", case_form(certificate))
    assert replay.status_code == 400
    assert f"Case {case.reference} already covers this event" in replay.content.decode()
    assert Case.objects.filter(certificate=certificate).count() == 1
    # A later event on the same certificate is another case.
    later = datetime.date.today()
    assert (
        client.post(f"/cases/open/{certificate.pk}/", case_form(certificate, later)).status_code
        == 302
    )
    assert Case.objects.filter(certificate=certificate).count() == 2


@pytest.mark.django_db
def test_an_opening_that_passed_the_check_is_refused_by_the_constraint(committee):
    case = cpa_case(committee)
    real, calls = services._refuse_second_case, []

    def check_late(*args):
        calls.append(args)
        if len(calls) > 1:
            real(*args)

    # The race: the check ran before the other opening committed; the constraint catches it.
    with (
        mock.patch.object(services, "_refuse_second_case", side_effect=check_late),
        pytest.raises(ValidationError, match=f"Case {case.reference} already covers"),
    ):
        services.case_open(
            actor=committee["secretariat"],
            certificate=case.certificate,
            device_models=case.device_models.all(),
            event=case.event,
            event_date=case.event_date,
            reason="r",
            severity="low",
            summary="s",
        )
    assert Case.objects.count() == 1


@postgresql_only
@pytest.mark.usefixtures("committed_db")
def test_parallel_case_opens_for_one_event_make_one_case(committee):
    certificate = expired_certificate()
    clients = signed_in_clients(committee["secretariat"], 10)

    def open_case(i):
        response = clients[i].post(f"/cases/open/{certificate.pk}/", case_form(certificate))
        return response.status_code, response.content.decode()

    results = in_parallel(10, open_case)
    case = Case.objects.get(certificate=certificate)
    assert sorted(status for status, _ in results) == [302] + [400] * 9
    assert all(
        f"Case {case.reference} already covers this event" in body
        for status, body in results
        if status == 400
    )


# --- plan submit -------------------------------------------------------------------------------


@postgresql_only
@pytest.mark.usefixtures("committed_db")
def test_parallel_plan_submits_make_consecutive_versions(committee):
    decided_case(committee)
    requirement = PlanRequirement.objects.get(supplier=committee["supplier_a"].organisation)

    def submit(i):
        return plans.plan_submit(
            actor=committee["supplier_a"],
            requirement=requirement,
            summary=f"Plan {i}",
            upload=pdf_upload(),
            milestones=MILESTONES,
        ).version

    versions = in_parallel(6, submit)
    assert sorted(versions) == [1, 2, 3, 4, 5, 6]
    assert sorted(
        RemedialPlan.objects.filter(requirement=requirement).values_list("version", flat=True)
    ) == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
