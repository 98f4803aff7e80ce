"""Every URL of the project × every role → the one expected outcome, from a single table.

A URL pattern with no row here fails the test: no view ships without a decision on who may
use it. Later issues add their URLs (and object-level rows) to EXPECTED.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from cpl.models import AssuranceCertificate, CPLImport, DeviceModel
from cpl.services import cpl_version_publish

from ..helpers import import_sample, sign_in

ROLES = [
    "anonymous",
    "secretariat",
    "chair",
    "member",
    "expert",
    "supplier_a",
    "supplier_b",
    "dcc",
    "network",
    "authority",
]
OK, FORBIDDEN, NOT_FOUND, NOT_ALLOWED = 200, 403, 404, 405
LOGIN = "login"  # redirect to the sign-in page
REDIRECT = "redirect"  # redirect elsewhere


def row(default, **overrides):
    assert set(overrides) <= set(ROLES), overrides
    return {role: overrides.get(role, default) for role in ROLES}


SIGNED_IN = row(OK, anonymous=LOGIN)
REGISTER_READERS = row(OK, anonymous=LOGIN, expert=FORBIDDEN, authority=FORBIDDEN)
SECRETARIAT_ONLY = row(FORBIDDEN, anonymous=LOGIN, secretariat=OK)

EXPECTED = {
    "dashboard": SIGNED_IN,
    "login": row(REDIRECT, anonymous=OK),
    "logout": row(NOT_ALLOWED),  # POST only
    "mfa-verify": SIGNED_IN,
    "mfa-setup": row(REDIRECT, anonymous=LOGIN),  # enrolled already: on to the code page
    "password_change": SIGNED_IN,
    "password_change_done": SIGNED_IN,
    "audit-log": row(FORBIDDEN, anonymous=LOGIN, secretariat=OK, chair=OK),
    "cpl:register": REGISTER_READERS,
    "cpl:device-model": REGISTER_READERS,
    "cpl:certificate": REGISTER_READERS,
    "cpl:certificate-add": SECRETARIAT_ONLY,
    "cpl:import": SECRETARIAT_ONLY,
    "cpl:import-detail": SECRETARIAT_ONLY,
    "cpl:export": REGISTER_READERS,
    "cpl:version-list": REGISTER_READERS,
    "cpl:version-publish": row(FORBIDDEN, anonymous=LOGIN, secretariat=NOT_ALLOWED),  # POST only
    "cpl:version-detail": REGISTER_READERS,
    "cpl:version-download": REGISTER_READERS,
    # CPL change notices: the SSC and the DCC, not other Parties.
    "cpl:change-list": row(FORBIDDEN, anonymous=LOGIN, secretariat=OK, chair=OK, member=OK, dcc=OK),
    # Django admin: verified superusers only; every role is refused outright.
    "admin:*": row(FORBIDDEN, anonymous=LOGIN),
}


def iter_url_names(resolver=None, namespace=None):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace
            joined = f"{namespace}:{inner}" if namespace and inner else (inner or namespace)
            yield from iter_url_names(pattern, joined)
        elif isinstance(pattern, URLPattern):
            name = pattern.name or f"<unnamed {pattern.pattern}>"
            yield (f"{namespace}:{name}" if namespace else name), pattern


def expected_for(name):
    if name in EXPECTED:
        return EXPECTED[name]
    namespace = name.split(":")[0]
    return EXPECTED.get(f"{namespace}:*")


@pytest.fixture
def objects(users):
    import_sample(actor=users["secretariat"])
    cpl_version_publish(actor=users["secretariat"])
    job = CPLImport.objects.create(
        file_name="x.csv",
        file_sha256="0" * 64,
        file_size=1,
        stored_name="x",
        uploaded_by=users["secretariat"],
    )
    return {
        "cpl:device-model": {"pk": DeviceModel.objects.first().pk},
        "cpl:certificate-add": {"pk": DeviceModel.objects.first().pk},
        "cpl:certificate": {"pk": AssuranceCertificate.objects.first().pk},
        "cpl:import-detail": {"pk": job.pk},
    }


SAMPLE_KWARGS = {"number": 1, "fmt": "csv", "app_label": "portal"}


def url_for(name, pattern, objects):
    if "<unnamed" in name:  # the admin's catch-all
        return "/admin/portal/"
    params = list(pattern.pattern.regex.groupindex)
    kwargs = {key: objects.get(name, {}).get(key, SAMPLE_KWARGS.get(key, "1")) for key in params}
    return reverse(name, kwargs=kwargs)


def outcome(response):
    if response.status_code == 302:
        return LOGIN if response["Location"].startswith("/accounts/login/") else REDIRECT
    return response.status_code


@pytest.mark.django_db
def test_every_url_has_a_row_for_every_role(client, users, objects):
    names = list(iter_url_names())
    missing = [name for name, _ in names if expected_for(name) is None]
    assert not missing, f"URLs with no row in the access matrix: {missing}"
    failures = []
    for role in ROLES:
        client.logout()
        if role != "anonymous":
            sign_in(client, users[role])
        for name, pattern in names:
            url = url_for(name, pattern, objects)
            got = outcome(client.get(url))
            want = expected_for(name)[role]
            if got != want:
                failures.append(f"{role:12} {name:28} {url:40} expected {want}, got {got}")
    assert not failures, "\n".join(failures)
    assert len(names) > 20


def test_the_table_has_no_stale_rows():
    names = {name for name, _ in iter_url_names()}
    for key in EXPECTED:
        if key.endswith(":*"):
            assert any(n.startswith(key[:-1]) for n in names), key
        else:
            assert key in names, f"{key} is in the access matrix but no longer a URL"
