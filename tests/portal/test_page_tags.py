"""portal.templatetags.page_tags: the same markup as Django's own, made more cheaply."""

import pytest
from django import forms
from django.template import Context, Template
from django.urls import NoReverseMatch, reverse, set_script_prefix

from cpl.forms import RegisterFilterForm
from cpl.models import Manufacturer
from portal.templatetags.page_tags import object_url, renders_as_select, select_html

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name", ["cpl:device-model", "governance:case", "governance:plan", "inbox-detail", "notice"]
)
@pytest.mark.parametrize("pk", [1, 7, 1234567])
def test_object_url_is_reverse(name, pk):
    assert object_url(name, pk) == reverse(name, args=[pk])
    rendered = Template("{% load page_tags %}{% object_url name pk %}").render(
        Context({"name": name, "pk": pk})
    )
    assert rendered == reverse(name, args=[pk])


def test_object_url_follows_the_script_prefix():
    try:
        set_script_prefix("/portal/")
        assert object_url("governance:case", 3) == reverse("governance:case", args=[3])
        assert object_url("governance:case", 3).startswith("/portal/")
    finally:
        set_script_prefix("/")
    assert object_url("governance:case", 3) == reverse("governance:case", args=[3])


def test_object_url_refuses_a_url_without_one_id():
    with pytest.raises(NoReverseMatch):
        object_url("dashboard", 1)


class Choices(forms.Form):
    plain = forms.ChoiceField(
        choices=[("", "Any"), ("a<&", 'Label "<b>"'), ("Group", [("g1", "G1"), ("g2", "G2")])],
        required=False,
        help_text="Hint",
    )
    required = forms.ChoiceField(choices=[("1", "one"), ("2", "two")])


@pytest.mark.parametrize(
    "data",
    [None, {"plain": "g2", "required": "2"}, {"plain": "a<&"}, {"plain": "nope"}],
)
def test_select_html_is_djangos_select(data):
    form = Choices(data)
    form.is_valid()
    for field in form:
        assert renders_as_select(field.field.widget)
        for attrs in (
            {"class": "govuk-select"},
            {"class": "govuk-select govuk-select--error", "aria-describedby": "x-hint x-error"},
        ):
            assert select_html(field, dict(attrs)) == field.as_widget(attrs=dict(attrs))


def test_the_register_filter_selects_are_djangos(users):
    for name in ("Northfield", "Caledon & Sons", "<Severn>"):
        Manufacturer.objects.create(name=name, manufacturer_id=f"{len(name):04X}")
    chosen = Manufacturer.objects.get(name="<Severn>")
    for data in (None, {"manufacturer": str(chosen.pk), "status": "listed"}, {"manufacturer": "x"}):
        form = RegisterFilterForm(data)
        form.is_valid()
        for name in ("device_type", "manufacturer", "status"):
            field = form[name]
            attrs = {"class": "govuk-select"}
            assert select_html(field, dict(attrs)) == field.as_widget(attrs=dict(attrs))


def test_multiple_selects_keep_djangos_templates():
    assert not renders_as_select(forms.SelectMultiple())
    assert not renders_as_select(forms.RadioSelect())
    assert renders_as_select(forms.Select())
