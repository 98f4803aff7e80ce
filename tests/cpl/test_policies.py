"""The CPL policies, every role × objects in every state: the answers cannot drift apart.

- `obj in policy.visible(user)` exactly when `policy.can(user, "view", obj)`, and `get_or_404`
  agrees;
- every state-changing action in `policy.actions(user, obj)` succeeds when POSTed through its
  real URL, and changes the state; every other is refused with nothing changed: 403 when the
  user may not take the action on any object, 404 when the object is not visible to them, 409
  when they may but the object's state does not allow it now (the page they acted on was stale);
- pages offer a button exactly when the action is in `actions`;
- every action of every policy is accounted for below (read, posted, system-only, or owned by a
  governance page), so a new action without a test fails here.
"""

import datetime
import io
import itertools

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django_fsm import has_transition_perm

from cpl.models import (
    AssuranceCertificate,
    CPLChangeNotice,
    CPLImport,
    CPLVersion,
    DeviceModel,
    InventorySnapshot,
    Manufacturer,
)
from cpl.services import cpl_version_publish
from portal.policies import NotNow, policy_for

from ..helpers import ROLE_USERS, cpl_csv, cpl_row, sign_in

pytestmark = pytest.mark.django_db

ROLES = list(ROLE_USERS)  # one user per role: the `users` fixture
TODAY = datetime.date.today()
_serial = itertools.count(1)


# --- objects in every state, built directly (protected FSM fields take a value at creation) ----


def device_model(users, status=DeviceModel.Status.LISTED) -> DeviceModel:
    manufacturer, _ = Manufacturer.objects.get_or_create(
        manufacturer_id="1A2B", defaults={"name": "Northfield Metering"}
    )
    n = next(_serial)
    model = DeviceModel.objects.create(
        device_type="CHF",
        manufacturer=manufacturer,
        model_id=f"{n:04X}",
        hardware_version="0100",
        firmware_version=f"{n:08X}",
        smets_chts_version="SMETS2 v5.0",
        date_added=datetime.date(2022, 1, 10),
        status=status,
    )
    if status == DeviceModel.Status.REMOVED:
        # Removed, and since renewed: the secretariat may re-list it.
        for kind in (AssuranceCertificate.Kind.CPA, AssuranceCertificate.Kind.ZIGBEE):
            AssuranceCertificate.objects.create(
                kind=kind,
                number=f"{kind.upper()}-R-{n}",
                expiry=TODAY + datetime.timedelta(days=365),
            ).device_models.add(model)
    return model


def certificate(users, state) -> AssuranceCertificate:
    kind, status = state
    cert = AssuranceCertificate.objects.create(
        kind=kind,
        number=f"{kind.upper()}-P-{next(_serial)}",
        issued=TODAY - datetime.timedelta(days=365),
        expiry=TODAY + datetime.timedelta(days=365 * 3),
        status=status,
    )
    cert.device_models.add(device_model(users))
    return cert


def cpl_import(users, status) -> CPLImport:
    return CPLImport.objects.create(
        status=status,
        file_name="cpl.csv",
        file_sha256="0" * 64,
        file_size=1,
        stored_name=f"stored-{next(_serial)}",
        uploaded_by=users["secretariat"],
    )


def version(users, _state=None) -> CPLVersion:
    device_model(users)  # something new to publish
    return cpl_version_publish(actor=users["secretariat"])


def change_notice(users, _state=None) -> CPLChangeNotice:
    return CPLChangeNotice.objects.create(
        device_model=device_model(users, DeviceModel.Status.REMOVED),
        from_status=DeviceModel.Status.LISTED,
        to_status=DeviceModel.Status.REMOVED,
        reason="A required non-CPA Assurance Certificate is no longer valid.",
    )


def snapshot(users, _state=None) -> InventorySnapshot:
    return InventorySnapshot.objects.create(
        as_of=TODAY,
        file_name="inventory.csv",
        file_sha256="0" * 64,
        format=InventorySnapshot.Format.AGGREGATED,
        rows_read=0,
        device_count=0,
        imported_by=users["secretariat"],
    )


Cert = AssuranceCertificate
STATES = {
    DeviceModel: (device_model, list(DeviceModel.Status)),
    AssuranceCertificate: (
        certificate,
        [(k, s) for k in (Cert.Kind.CPA, Cert.Kind.ZIGBEE) for s in Cert.Status],
    ),
    CPLImport: (cpl_import, list(CPLImport.Status)),
    CPLVersion: (version, [None]),
    CPLChangeNotice: (change_notice, [None]),
    InventorySnapshot: (snapshot, [None]),
}
CASES = [(model, state) for model, (_, states) in STATES.items() for state in states]


def case_id(value):
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, tuple):
        return "-".join(value)
    return str(value)


# --- the real URL of every state-changing action ------------------------------------------------


class Post:
    """How to POST an action through its page, and what it changes."""

    def __init__(self, url, data, fingerprint, prepare=None):
        self.url, self.data, self.fingerprint, self.prepare = url, data, fingerprint, prepare


def _event(event):
    return Post(
        url=lambda obj: f"/cpl/certificates/{obj.pk}/",
        data=lambda obj: {"event": event, "on": TODAY.isoformat(), "reason": "Retest failed"},
        fingerprint=lambda obj: Cert.objects.get(pk=obj.pk).status,
    )


def _inventory_file(obj):
    model = DeviceModel.objects.order_by("pk").first() or device_model(None)
    key = "/".join(model.identity)
    text = f"Device Model,Supplier Party ID,Device Count,As Of\n{key},SUPA,10,{TODAY}\n"
    return {"file": SimpleUploadedFile("inventory.csv", text.encode()), "as_of": ""}


POSTS = {
    (DeviceModel, "record_certificate"): Post(
        url=lambda obj: f"/cpl/models/{obj.pk}/certificates/new/",
        data=lambda obj: {
            "kind": "zigbee",
            "number": f"ZB-NEW-{next(_serial)}",
            "issued": (TODAY - datetime.timedelta(days=1)).isoformat(),
            "expiry": (TODAY + datetime.timedelta(days=900)).isoformat(),
        },
        fingerprint=lambda obj: obj.certificates.count(),
    ),
    (DeviceModel, "relist"): Post(
        url=lambda obj: f"/cpl/models/{obj.pk}/relist/",
        data=lambda obj: {"reason": "Certificates renewed"},
        fingerprint=lambda obj: DeviceModel.objects.get(pk=obj.pk).status,
    ),
    (Cert, "record_event"): _event("withdraw"),
    (Cert, "withdraw"): _event("withdraw"),
    (Cert, "cancel"): _event("cancel"),
    (CPLImport, "import"): Post(
        url=lambda obj: "/cpl/import/",
        data=lambda obj: {"file": SimpleUploadedFile("cpl.csv", cpl_csv([cpl_row(70000)]))},
        fingerprint=lambda obj: CPLImport.objects.count(),
    ),
    (CPLVersion, "publish"): Post(
        url=lambda obj: "/cpl/versions/publish/",
        data=lambda obj: {},
        fingerprint=lambda obj: CPLVersion.objects.count(),
        prepare=lambda users: device_model(users),  # the register changed since the last one
    ),
    (InventorySnapshot, "import"): Post(
        url=lambda obj: "/cpl/inventory/",
        data=_inventory_file,
        fingerprint=lambda obj: InventorySnapshot.objects.count(),
    ),
}
# Actions that change nothing (pages and downloads: the access matrix GETs them).
READS = {"view", "export", "view_cases"}
# Actions whose page belongs to governance (it asks this policy; its tests POST the form).
GOVERNANCE_PAGES = {(Cert, "open_case")}


# --- 1. the list and the object agree ----------------------------------------------------------


@pytest.mark.parametrize("model, state", CASES, ids=case_id)
def test_visible_exactly_when_the_user_may_view(users, model, state):
    factory, _ = STATES[model]
    obj = factory(users, state)
    policy = policy_for(model)
    for key in ROLES:
        user = users[key]
        may_view = policy.can(user, "view", obj)
        assert (obj in policy.visible(user)) is may_view, (key, state)
        if may_view:
            assert policy.get_or_404(user, obj.pk) == obj
        else:
            with pytest.raises(Http404):
                policy.get_or_404(user, obj.pk)
        # Pages ask the page-level question first (403): it never refuses what the object allows.
        for action in policy.ACTIONS:
            if policy.can(user, action, obj):
                assert policy.can(user, action, None), (key, action)


# --- 2. every offered action works through its URL; every other is refused ----------------------


POSTED_CASES = [(model, state, action) for (model, action) in POSTS for state in STATES[model][1]]


@pytest.mark.parametrize("model, state, action", POSTED_CASES, ids=case_id)
def test_actions_offered_succeed_and_others_are_refused(client, users, model, state, action):
    factory, _ = STATES[model]
    policy, post = policy_for(model), POSTS[(model, action)]
    shared = factory(users, state)
    allowed_somewhere = False
    for key in ROLES:
        user = users[key]
        client.logout()
        sign_in(client, user)
        if action in policy.actions(user, shared):
            allowed_somewhere = True
            obj = factory(users, state)  # a fresh object in this state for each success
            assert action in policy.actions(user, obj)
            if post.prepare:
                post.prepare(users)
            before = post.fingerprint(obj)
            response = client.post(post.url(obj), {**post.data(obj), "confirmed": "yes"})
            assert response.status_code < 400, (key, response.status_code)
            assert post.fingerprint(obj) != before, (key, "nothing changed")
        else:
            if post.prepare:
                post.prepare(users)
            before = post.fingerprint(shared)
            response = client.post(post.url(shared), {**post.data(shared), "confirmed": "yes"})
            if not policy.can(user, action, None):
                expected = 403
            elif not policy.can(user, "view", shared):
                expected = 404
            else:
                # Allowed in another state: the page the user acted on was out of date.
                assert isinstance(policy.why_not(user, action, shared), NotNow), key
                expected = 409
            assert response.status_code == expected, (key, response.status_code)
            assert post.fingerprint(shared) == before, (key, "changed although refused")
    # The secretariat keeps the register: somebody may do each of these, in the state it is for
    # (a certificate event on a valid certificate, re-listing on a removed model).
    if model is Cert:
        applies = state[1] == Cert.Status.VALID
    elif (model, action) == (DeviceModel, "relist"):
        applies = state == DeviceModel.Status.REMOVED
    else:
        applies = True
    if applies:
        assert allowed_somewhere, (model, state, action)


# --- 3. every action is accounted for -----------------------------------------------------------


@pytest.mark.parametrize("model", list(STATES), ids=case_id)
def test_every_action_is_accounted_for(users, model):
    factory, states = STATES[model]
    policy = policy_for(model)
    objects = [factory(users, state) for state in states]
    for action in policy.ACTIONS:
        known = action in READS or (model, action) in POSTS or (model, action) in GOVERNANCE_PAGES
        assert known, f"{model.__name__}.{action} has no test"
    # What no page offers is the system's alone (beat tasks, the import worker, decisions).
    for action in policy.SYSTEM_ACTIONS - set(policy.ACTIONS):
        for obj, key in itertools.product(objects, ROLES):
            assert not policy.can(users[key], action, obj), (action, key)
            assert action not in policy.actions(users[key], obj)
        assert all(policy.can(None, action, obj) for obj in objects)


def test_status_transitions_ask_the_policy(users):
    """The FSM `permission=` hooks are the policy: no user removes a model by hand."""
    model = device_model(users)
    for key in ROLES:
        assert not has_transition_perm(model.remove, users[key])
    assert has_transition_perm(model.remove, None)
    cert = certificate(users, (Cert.Kind.ZIGBEE, Cert.Status.VALID))
    assert has_transition_perm(cert.withdraw, users["secretariat"])
    assert not has_transition_perm(cert.withdraw, users["chair"])
    assert not has_transition_perm(cert.expire, users["secretariat"])


def test_cases_are_opened_on_cpa_certificates_that_expired_or_were_withdrawn_or_cancelled(users):
    policy = policy_for(Cert)
    for kind, status in STATES[Cert][1]:
        cert = certificate(users, (kind, status))
        for key in ROLES:
            expected = (
                key == "secretariat"
                and kind == Cert.Kind.CPA
                and status in (Cert.Status.EXPIRED, Cert.Status.WITHDRAWN, Cert.Status.CANCELLED)
            )
            assert policy.can(users[key], "open_case", cert) is expected, (key, kind, status)


def test_technical_experts_and_the_authority_do_not_use_the_register(users, client_for):
    """An expert reads the device models of the case they are invited to on the case page, which
    asks this policy before linking a device model page."""
    model = device_model(users)
    for key in ("expert", "authority"):
        assert not policy_for(DeviceModel).can(users[key], "view", model)
        assert client_for(key).get(f"/cpl/models/{model.pk}/").status_code == 403


# --- 4. pages offer exactly the actions ---------------------------------------------------------


def test_certificate_page_offers_exactly_the_actions(users, client_for):
    policy = policy_for(Cert)
    for state in STATES[Cert][1]:
        cert = certificate(users, state)
        for key in ROLES:
            response = client_for(key).get(f"/cpl/certificates/{cert.pk}/")
            if not policy.can(users[key], "view", cert):
                assert response.status_code == 403
                continue
            body = response.content.decode()
            actions = policy.actions(users[key], cert)
            assert ("Record event" in body) is ("record_event" in actions), (key, state)
            assert ("Open a case" in body) is ("open_case" in actions), (key, state)


def test_device_model_and_version_pages_offer_exactly_the_actions(users, client_for):
    models, versions = policy_for(DeviceModel), policy_for(CPLVersion)
    for status in DeviceModel.Status:
        model = device_model(users, status)
        for key in ROLES:
            if not models.can(users[key], "view", model):
                continue
            body = client_for(key).get(f"/cpl/models/{model.pk}/").content.decode()
            offered = "Record a certificate" in body
            assert offered is ("record_certificate" in models.actions(users[key], model))
    for key in ROLES:
        if versions.can(users[key], "view", None):
            body = client_for(key).get("/cpl/versions/").content.decode()
            offered = "Publish a new version" in body
            assert offered is ("publish" in versions.actions(users[key], None)), key


def test_change_notices_shown_on_a_device_model_follow_their_policy(users, client_for):
    notice = change_notice(users)
    notices = policy_for(CPLChangeNotice)
    for key in ROLES:
        if not policy_for(DeviceModel).can(users[key], "view", notice.device_model):
            continue
        page = client_for(key).get(f"/cpl/models/{notice.device_model_id}/")
        assert (notice in page.context["change_notices"]) is notices.can(users[key], "view", notice)


def test_the_inventory_command_imports_as_the_system(users):
    from cpl.inventory import inventory_import

    key = "/".join(device_model(users).identity)
    data = f"Device Model,Supplier Party ID,Device Count,As Of\n{key},SUPA,3,{TODAY}\n"
    summary = inventory_import(
        actor=None, binary=io.BytesIO(data.encode()), file_name="x.csv", file_sha256="0" * 64
    )
    assert summary.devices == 3
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        inventory_import(
            actor=users["chair"],
            binary=io.BytesIO(data.encode()),
            file_name="x.csv",
            file_sha256="0" * 64,
        )
