"""The admin cannot change regulated data (the CPL, governance records, the audit log, notices);
what it can still change (users, organisations, roles) goes on the audit chain."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import RequestFactory

from cpl.models import AssuranceCertificate, CPLChangeNotice, DeviceModel
from cpl.services import device_model_change_status
from portal.audit import audit_verify_chain
from portal.models import AuditEvent, Notice, Organisation
from portal.roles import Role

from ..helpers import import_sample, make_user, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client, users):
    root = make_user("secretariat", "root")
    root.is_superuser = root.is_staff = True
    root.save()
    sign_in(client, root)
    client.root = root
    return client


@pytest.fixture
def change_notice(users):
    import_sample(actor=users["secretariat"])
    model = DeviceModel.objects.filter(status=DeviceModel.Status.LISTED).first()
    return device_model_change_status(
        actor=None,
        model=model,
        transition="remove",
        reason="NCSC advice",
        consequence_of="certificate.check",
        notify_dcc=False,
        basis=DeviceModel.RemovalBasis.SSC_DECISION,
    )


def test_a_certificate_cannot_be_changed_or_deleted(superuser_client, change_notice):
    certificate = AssuranceCertificate.objects.first()
    url = f"/admin/cpl/assurancecertificate/{certificate.pk}/"
    events = AuditEvent.objects.count()
    response = superuser_client.post(
        f"{url}change/",
        {"number": certificate.number, "kind": certificate.kind, "expiry": "2099-12-31"},
    )
    assert response.status_code == 403
    assert superuser_client.get(f"{url}delete/").status_code == 403
    assert superuser_client.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    assert superuser_client.get("/admin/cpl/assurancecertificate/add/").status_code == 403
    superuser_client.post(
        "/admin/cpl/assurancecertificate/",
        {"action": "delete_selected", "_selected_action": [certificate.pk], "post": "yes"},
    )
    certificate.refresh_from_db()
    assert certificate.expiry.year != 2099
    assert AuditEvent.objects.count() == events


def test_a_change_notice_cannot_be_changed_or_deleted(superuser_client, change_notice):
    url = f"/admin/cpl/cplchangenotice/{change_notice.pk}/"
    assert superuser_client.post(f"{url}change/", {"reason": "nothing"}).status_code == 403
    assert superuser_client.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    superuser_client.post(
        "/admin/cpl/cplchangenotice/",
        {"action": "delete_selected", "_selected_action": [change_notice.pk], "post": "yes"},
    )
    assert CPLChangeNotice.objects.filter(pk=change_notice.pk, reason="NCSC advice").exists()


def test_every_regulated_model_is_read_only_in_the_admin(superuser_client):
    request = RequestFactory().get("/admin/")
    request.user = superuser_client.root
    regulated = [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in {"cpl", "governance"} or model in (AuditEvent, Notice)
    ]
    assert {m._meta.model_name for m, _ in regulated} >= {
        "case",
        "ballot",
        "vote",
        "decisionrecord",
        "devicemodel",
        "assurancecertificate",
        "cplchangenotice",
        "cplversion",
        "auditevent",
        "notice",
    }
    for model, model_admin in regulated:
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request), model
        assert not model_admin.has_delete_permission(request), model


def _user_form(user, **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "groups": [g.pk for g in user.groups.all()],
        "organisation": user.organisation_id,
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_a_user_changed_through_the_admin_is_audited(superuser_client, users):
    supplier = users["supplier_a"]
    authority = Group.objects.get(name=Role.AUTHORITY)
    response = superuser_client.post(
        f"/admin/portal/user/{supplier.pk}/change/",
        _user_form(supplier, email="new@example.org", groups=[authority.pk]),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = AuditEvent.objects.get(action="admin.changed", object_type="portal.user")
    assert event.actor == superuser_client.root
    assert event.object_id == str(supplier.pk)
    assert event.before["email"] == "supplier_a@example.org"
    assert event.after["email"] == "new@example.org"
    assert event.before["groups"] == [Role.SUPPLIER]
    assert event.after["groups"] == [Role.AUTHORITY]
    assert audit_verify_chain().ok


def test_a_password_set_through_the_admin_is_audited_without_the_hash(superuser_client, users):
    supplier = users["supplier_a"]
    response = superuser_client.post(
        f"/admin/portal/user/{supplier.pk}/password/",
        {"password1": "a new long passphrase 42", "password2": "a new long passphrase 42"},
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin.changed", object_id=str(supplier.pk))
    supplier.refresh_from_db()
    assert supplier.password not in str(event.before) + str(event.after)


def test_organisations_added_and_deleted_through_the_admin_are_audited(superuser_client):
    response = superuser_client.post(
        "/admin/portal/organisation/add/",
        {"name": "New Supplier Ltd", "party_type": "small_supplier", "party_id": "NEWS"},
    )
    assert response.status_code == 302
    organisation = Organisation.objects.get(name="New Supplier Ltd")
    added = AuditEvent.objects.get(action="admin.added", object_id=str(organisation.pk))
    assert added.after["name"] == "New Supplier Ltd"
    response = superuser_client.post(
        f"/admin/portal/organisation/{organisation.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Organisation.objects.filter(pk=organisation.pk).exists()
    deleted = AuditEvent.objects.get(action="admin.deleted", object_id=str(organisation.pk))
    assert deleted.before["name"] == "New Supplier Ltd"
    assert deleted.actor == superuser_client.root


def test_a_role_changed_through_the_admin_is_audited(superuser_client):
    group = Group.objects.get(name=Role.AUTHORITY)
    response = superuser_client.post(
        f"/admin/auth/group/{group.pk}/change/", {"name": group.name, "permissions": []}
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin.changed", object_type="auth.group")
    assert event.after["permissions"] == []
    assert event.before["permissions"]
