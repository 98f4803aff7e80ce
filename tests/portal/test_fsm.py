"""Optimistic locking of the state machines (portal.fsm): a stale copy of a row whose state
another request changed cannot be saved over it, on every model with a state machine."""

import pytest
from django.apps import apps
from django.db import transaction
from django_fsm import ConcurrentTransition, FSMFieldMixin
from django_fsm import ConcurrentTransitionMixin as LibraryMixin

from governance import services
from governance.models import Case
from portal.fsm import ConcurrentTransitionMixin

from ..helpers import cpa_case

pytestmark = pytest.mark.django_db


def test_a_stale_copy_of_a_case_cannot_be_saved_after_its_state_changed(users):
    case = cpa_case(users)
    stale = Case.objects.get(pk=case.pk)
    services.case_transition(actor=users["secretariat"], case=case, name="start_assessment")
    stale.summary = "Written over a case that moved on."
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        stale.save()
    fresh = Case.objects.get(pk=case.pk)
    assert fresh.state == case.state and fresh.summary != stale.summary
    fresh.summary = "Written over the current state."
    fresh.save()  # a fresh copy saves, and stays current after saving
    fresh.save()


def test_every_state_machine_model_uses_the_project_mixin_with_its_own_state_fields():
    machines = [m for m in apps.get_models() if issubclass(m, LibraryMixin)]
    assert machines
    for model in machines:
        assert issubclass(model, ConcurrentTransitionMixin), model
        expected = [f for f in model._meta.fields if isinstance(f, FSMFieldMixin)]
        assert list(model().state_fields) == expected
        assert list(model().state_fields) == expected  # read again from the class's cache
