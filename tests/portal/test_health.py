"""The load balancer's probes: /healthz (the process is alive) and /readyz (the database and
the broker answer). Open to anyone, never cached, no session written."""

import socket

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ..helpers import make_user


def _no_store(response):
    assert "no-store" in response["Cache-Control"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.django_db
def test_healthz_answers_ok_without_touching_the_database(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert len(queries) == 0  # no session, no user: nothing
    _no_store(response)
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies


@pytest.mark.django_db
def test_readyz_reports_the_database_and_that_no_broker_is_used(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "not used"},
    }
    _no_store(response)
    assert not response.cookies


@pytest.mark.django_db
def test_readyz_is_503_naming_the_broker_when_redis_is_down(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "broker": "unreachable"},
    }
    assert "127.0.0.1" not in response.content.decode()  # which failed, never the details
    _no_store(response)


@pytest.mark.django_db
def test_readyz_is_503_naming_the_database_when_it_does_not_answer(client, settings, monkeypatch):
    from portal import views

    settings.REDIS_URL = ""
    monkeypatch.setattr(views, "_database_answers", lambda: False)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "unreachable", "broker": "not used"}


@pytest.mark.django_db
def test_probes_are_open_before_the_second_factor_and_write_no_session(client):
    # Password step done, security code not yet entered: every other page redirects.
    client.force_login(make_user("chair"))
    session_key = client.session.session_key
    assert client.get("/").status_code == 302
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "sessionid" not in response.cookies, path
    assert client.session.session_key == session_key


@pytest.mark.django_db
def test_probes_answer_get_and_head_only(client):
    for path in ("/healthz", "/readyz"):
        assert client.head(path).status_code == 200
        assert client.post(path).status_code == 405
