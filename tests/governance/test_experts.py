"""SEC G7.16(b): invited technical experts read one case, until their access ends."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from governance import services
from governance.models import ExpertInvitation

from ..helpers import cpa_case, pdf_upload

pytestmark = pytest.mark.django_db


def invite(users, case, days=7, documents=()):
    return services.expert_invite(
        actor=users["chair"],
        case=case,
        expert=users["expert"],
        expires_at=timezone.now() + datetime.timedelta(days=days),
        documents=documents,
    )


def test_an_invited_expert_reads_the_case_and_granted_documents_only(users, client_for):
    case = cpa_case(users)
    other_case = cpa_case(users, addressed=())
    named = services.evidence_upload(
        actor=users["secretariat"],
        case=case,
        title="Lab report",
        classification="named-recipients",
        upload=pdf_upload(),
    )
    ssc_only = services.evidence_upload(
        actor=users["secretariat"],
        case=case,
        title="NCSC",
        classification="ssc-only",
        upload=pdf_upload(),
    )
    invite(users, case, documents=[named])
    client = client_for("expert")
    assert client.get(f"/cases/{case.pk}/").status_code == 200
    assert client.get(f"/cases/{case.pk}/evidence/{named.pk}/").status_code == 200
    assert client.get(f"/cases/{case.pk}/evidence/{ssc_only.pk}/").status_code == 404
    assert client.get(f"/cases/{other_case.pk}/").status_code == 404
    assert (
        client.post(
            f"/cases/{case.pk}/comments/", {"text": "Exploit needs physical access"}
        ).status_code
        == 302
    )
    assert case.comments.get().author == users["expert"]


def test_access_ends_at_expiry_without_any_job_running(users, client_for):
    case = cpa_case(users)
    named = services.evidence_upload(
        actor=users["secretariat"],
        case=case,
        title="Lab report",
        classification="named-recipients",
        upload=pdf_upload(),
    )
    invite(users, case, documents=[named])
    ExpertInvitation.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    client = client_for("expert")
    assert client.get(f"/cases/{case.pk}/").status_code == 404
    assert client.get(f"/cases/{case.pk}/evidence/{named.pk}/").status_code == 404
    assert client.get("/cases/").context["cases"].count() == 0


def test_experts_cannot_vote_and_only_the_chair_or_secretariat_invites(users):
    case = cpa_case(users)
    for key in ("member", "supplier_a"):
        with pytest.raises(PermissionDenied):
            services.expert_invite(
                actor=users[key],
                case=case,
                expert=users["expert"],
                expires_at=timezone.now() + datetime.timedelta(days=1),
            )
    invite(users, case)
    services.case_transition(actor=users["secretariat"], case=case, name="start_assessment")
    ballot = services.ballot_open(
        actor=users["chair"], case=case, closes_at=timezone.now() + datetime.timedelta(days=1)
    )
    with pytest.raises(PermissionDenied):
        services.vote_cast(actor=users["expert"], ballot=ballot, choice="suspend")
