"""Stakeholder representations (the Parties' views on a case, made while the SSC assesses it) and
recommendations (the secretariat's or an invited expert's, made before the ballot): writes, reads
through the case policy, and the frozen lists the decision record keeps."""

import hashlib

from django.db import transaction
from django.db.models import Prefetch
from django.urls import reverse

from portal.audit import audit_record
from portal.documents import stored_documents
from portal.models import Notice
from portal.notices import notice_send
from portal.roles import Role

from . import policies
from .models import Case, Recommendation, Representation, RepresentationDocument

FOLDER = "representations"


def _locked_case(case: Case) -> Case:
    """The case's row, locked and fresh, with what the policy reads: a ballot opened meanwhile
    ends the time for representations and recommendations."""
    locked = (
        Case.objects.select_for_update(of=("self",))
        .select_related("certificate", "acting_chair")
        .get(pk=case.pk)
    )
    return locked


def representation_submit(
    *, actor, case: Case, text: str, classification: str, uploads=()
) -> Representation:
    """A Party puts its views to the SSC; its documents are classified with it."""
    if classification not in Representation.Classification.values:
        raise ValueError(f"unknown classification {classification!r}")
    with stored_documents(folder=FOLDER) as store, transaction.atomic():
        case = _locked_case(case)
        policies.cases.require(actor, "submit_representation", case)
        representation = Representation.objects.create(
            case=case,
            organisation=actor.organisation,
            text=text,
            classification=classification,
            submitted_by=actor,
        )
        documents = []
        for upload in uploads:
            stored = store(upload)
            documents.append(
                RepresentationDocument.objects.create(
                    representation=representation, **stored.fields()
                )
            )
        audit_record(
            actor=actor,
            action="representation.submitted",
            obj=case,
            after={
                "representation": representation.pk,
                "organisation": actor.organisation.name,
                "classification": classification,
                "text_sha256": _sha256(text),
                "documents": [{"name": d.original_name, "sha256": d.sha256} for d in documents],
            },
        )
        _notify_ssc(actor, case, representation)
    return representation


def _notify_ssc(actor, case: Case, representation: Representation) -> None:
    """The secretariat and the case's non-conflicted SSC members hear that views arrived; the
    notice names who and how classified, never the text (it may be `ssc-only`)."""
    path = reverse("governance:case", args=[case.pk]) + "#representations"
    notice_send(
        actor=actor,
        kind=Notice.Kind.REPRESENTATION,
        subject=f"{case.reference}: a representation from {representation.organisation}",
        body=(
            f"{representation.organisation} made a representation on case {case.reference} "
            f"(who may read it: {representation.get_classification_display()}). The SSC "
            "considers it before the ballot; it is read on the case page."
        ),
        users=policies.cases.users_with("view_deliberation", case, policies.ssc_users()),
        about=case,
        link=path,
        action_link=path,
        action_label="Read the representations",
    )


def recommendation_record(*, actor, case: Case, recommendation: str, reasons: str):
    """The author's recommendation on the case; revised in place until the ballot (audited)."""
    with transaction.atomic():
        case = _locked_case(case)
        policies.cases.require(actor, "record_recommendation", case)
        existing = Recommendation.objects.filter(case=case, author=actor).first()
        before = (
            {"recommendation": existing.recommendation, "reasons": existing.reasons}
            if existing
            else None
        )
        made, _ = Recommendation.objects.update_or_create(
            case=case,
            author=actor,
            defaults={"recommendation": recommendation, "reasons": reasons},
        )
        audit_record(
            actor=actor,
            action="recommendation.recorded",
            obj=case,
            before=before,
            after={
                "author": actor.username,
                "capacity": _capacity(actor),
                "recommendation": recommendation,
                "reasons": reasons,
            },
        )
    return made


# --- reads -------------------------------------------------------------------------------------


def representations_for(user, case: Case) -> list[Representation]:
    """The case's representations this user may read (policies.representations), with their
    documents (two queries)."""
    found = (
        policies.representations.visible(user)
        .filter(case=case)
        .select_related("organisation", "submitted_by")
        .prefetch_related(
            Prefetch("documents", queryset=RepresentationDocument.objects.order_by("id"))
        )
    )
    return list(found)


def recommendations_for(user, case: Case) -> list[Recommendation]:
    """The SSC's deliberation sees every recommendation; an author sees their own."""
    found = case.recommendations.select_related("author")
    if policies.cases.can(user, "view_deliberation", case):
        return list(found)
    return [r for r in found if r.author_id == user.pk]


# --- frozen into the decision record at the ballot's close -------------------------------------


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _capacity(user) -> str:
    return "expert" if user.has_role(Role.EXPERT) else "secretariat"


def representations_considered(case: Case) -> list[dict]:
    """Every representation before the SSC when it decided, with hashes of its text and
    documents: a later change to a row cannot change what the record says was considered."""
    found = case.representations.select_related("organisation").prefetch_related("documents")
    return [
        {
            "id": r.pk,
            "organisation": r.organisation.name,
            "submitted_at": r.submitted_at.isoformat(),
            "classification": r.classification,
            "text_sha256": _sha256(r.text),
            "documents": [
                {"name": d.original_name, "sha256": d.sha256, "size": d.size}
                for d in r.documents.all()
            ],
        }
        for r in found
    ]


def recommendations_made(case: Case) -> list[dict]:
    return [
        {
            "author": r.author.get_full_name() or r.author.username,
            "capacity": _capacity(r.author),
            "recommendation": r.recommendation,
            "reasons": r.reasons,
            "recorded_at": r.recorded_at.isoformat(),
        }
        for r in case.recommendations.select_related("author")
    ]
