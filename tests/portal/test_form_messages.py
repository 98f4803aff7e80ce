"""Every required field says what is missing in GOV.UK words ("Enter the reasons for the
decision", "Select a severity"), never Django's "This field is required."."""

import importlib
import inspect

import pytest
from django import forms

from governance.forms import DecisionIssueForm, EvidenceUploadForm
from portal.forms import LoginForm
from portal.widgets import GovukDateField

GENERIC = str(forms.Field.default_error_messages["required"])


def _form_classes():
    for module in ("governance.forms", "cpl.forms", "portal.forms"):
        loaded = importlib.import_module(module)
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, forms.BaseForm) and cls.__module__ == module:
                yield cls


@pytest.mark.parametrize("form", list(_form_classes()), ids=lambda cls: cls.__name__)
def test_no_required_field_says_only_that_it_is_required(form):
    generic = [
        name
        for name, field in getattr(form, "base_fields", {}).items()
        if field.required
        and not isinstance(field.widget, forms.HiddenInput)
        # A date names itself: "Enter the date of the event" (portal.widgets.GovukDateField).
        and not isinstance(field, GovukDateField)
        and field.error_messages["required"] == GENERIC
        and form is not LoginForm  # set in its __init__, asserted below
    ]
    assert not generic, f"{form.__name__}: {generic} say only {GENERIC!r}"


def test_empty_forms_name_each_missing_answer():
    errors = DecisionIssueForm(data={}).errors
    assert errors["reasons"] == ["Enter the reasons for the decision"]
    assert errors["party_summary"] == ["Enter the reasons for Parties"]
    errors = EvidenceUploadForm(data={}).errors
    assert errors["classification"] == ["Select who may open the document"]
    assert errors["title"] == ["Enter a title for the document"]
    errors = LoginForm(data={}).errors
    assert errors["username"] == ["Enter your username"]
    assert GENERIC not in str(errors)
