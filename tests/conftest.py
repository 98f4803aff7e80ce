import os

import pytest

from .helpers import make_user, sign_in

# Playwright's sync API runs an event loop in the test thread; the ORM calls made by tests
# around it are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def users(db):
    """One user per role, each with a confirmed authenticator."""
    return {key: make_user(key) for key in
            ("secretariat", "chair", "member", "expert", "supplier_a", "supplier_b", "dcc",
             "network", "authority")}


@pytest.fixture
def client_for(client, users):
    def signed_in(key):
        client.logout()
        sign_in(client, users[key])
        return client
    return signed_in
