"""Human labels for the codes the decision snapshot stores (the snapshot keeps codes, so it
reads the same whatever the labels become; pages show the labels)."""

from django import template

from cpl.models import AssuranceCertificate, DeviceModel

from ..models import Ballot, VoteChoice, VoteEvent

register = template.Library()

VOCABULARIES = {
    "vote": dict(VoteChoice.choices),
    "vote_event": dict(VoteEvent.Kind.choices),
    "majority": dict(Ballot.Majority.choices),
    "model_status": dict(DeviceModel.Status.choices),
    "certificate_status": dict(AssuranceCertificate.Status.choices),
    "certificate_kind": dict(AssuranceCertificate.Kind.choices),
}


@register.filter
def label(code, vocabulary: str) -> str:
    """`{{ vote.choice|label:"vote" }}`: the code's label, or the code itself when unknown."""
    return VOCABULARIES[vocabulary].get(code, code)
