import importlib
import os

import pytest
from django.apps import apps

from .helpers import ROLE_USERS, make_user, sign_in

# Playwright's sync API runs an event loop in the test thread; the ORM calls made by tests
# around it are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def users(db):
    """One user per role, each with a confirmed authenticator."""
    return {key: make_user(key) for key in ROLE_USERS}


@pytest.fixture
def client_for(client, users):
    def signed_in(key_or_user):
        client.logout()
        sign_in(client, users[key_or_user] if isinstance(key_or_user, str) else key_or_user)
        return client

    return signed_in


@pytest.fixture
def committed_db(transactional_db):
    """Real commits (live server, worker threads). A transactional test ends with a flush that
    empties every table, so put back the rows the migrations create: roles, the audit head."""
    importlib.import_module("portal.migrations.0003_roles").create_roles(apps, None)
    importlib.import_module("governance.migrations.0002_role_permissions").grant(apps, None)
    importlib.import_module("governance.migrations.0004_plan_permissions").grant(apps, None)
    importlib.import_module("governance.migrations.0006_referral_permissions").grant(apps, None)
    importlib.import_module("portal.migrations.0002_audit_chain_head").create_head(apps, None)


@pytest.fixture
def committee(users):
    """Three voting members (member, member2, member3) beside the chair and secretariat."""
    from .helpers import make_user

    members = [users["member"], make_user("member", "member2"), make_user("member", "member3")]
    return {**users, "member2": members[1], "member3": members[2], "members": members}


@pytest.fixture(autouse=True)
def audit_anchor_dir(settings, tmp_path):
    """Each test starts a new audit chain: its checkpoints go to a folder of its own."""
    settings.PORTAL_AUDIT_ANCHOR_DIR = tmp_path / "anchors"
    return settings.PORTAL_AUDIT_ANCHOR_DIR


@pytest.fixture(autouse=True, scope="session")
def test_audit_actions():
    """Names the audit tests write on purpose, declared like every app's."""
    from portal.audit import register_audit_actions

    register_audit_actions("test.event", "test.recorded", "kept", "kept.too", "rolled.back")
