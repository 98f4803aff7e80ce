"""Fault drill: every state-changing form submitted twice at once (a double click, a replayed
request) has the effect of one submission, on PostgreSQL with each request on its own
connection.

The scenarios and their states come from the POST access matrix: for each state-changing URL,
the first state in which some role may POST it. The browser's double click is modelled as it
happens: the form is fetched once (with whatever hidden fields the page issued), then the same
data is sent twice in parallel. One submission alone, in a rolled-back savepoint, gives the
yardstick: the state and the number of audit events after the double submission must be the
same as after one."""

import html.parser
import threading

import pytest
from django.db import connections, transaction
from django.test import Client
from django.urls import reverse

from portal.models import AuditEvent

from ..helpers import sign_in
from ..portal.test_access_matrix_post import DONE, SCENARIOS, Story
from .stack import real_stack

pytestmark = [pytest.mark.faults, real_stack, pytest.mark.usefixtures("committed_db")]

# Signing in, out and the second factor are not forms with an effect to double; the admin and
# evidence grants are covered by the access matrix (a grant twice is the same grant).
NOT_DRILLED = {"login", "logout", "mfa-verify", "mfa-setup", "password_change"}


def drilled_scenarios():
    chosen, seen = [], set()
    for scenario in SCENARIOS:
        if scenario.url in seen or scenario.url in NOT_DRILLED:
            continue
        if scenario.url.startswith("admin:"):
            continue
        if DONE in scenario.expected.values():
            chosen.append(scenario)
            seen.add(scenario.url)
    return chosen


DRILLED = drilled_scenarios()

# Forms shown on another page than the one they post to.
FORM_PAGES = {
    "governance:comment": ("governance:case", "case_pk"),
    "governance:conflict": ("governance:case", "case_pk"),
    "governance:ballot-open": ("governance:case", "case_pk"),
    "governance:case-action": ("governance:case", "case_pk"),
    "governance:vote": ("governance:ballot", "ballot_pk"),
    "governance:ballot-close": ("governance:ballot", "ballot_pk"),
    "governance:casting-vote": ("governance:ballot", "ballot_pk"),
    "cpl:version-publish": ("cpl:version-list", None),
}


class _HiddenFields(html.parser.HTMLParser):
    """The hidden fields (other than the CSRF token) of the form that posts to `action`."""

    def __init__(self, page_path: str, action: str):
        super().__init__()
        self.page_path, self.action = page_path, action
        self.inside = False
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            target = attrs.get("action") or self.page_path
            self.inside = target == self.action and attrs.get("method", "").lower() == "post"
        elif tag == "input" and self.inside and attrs.get("type") == "hidden":
            name = attrs.get("name") or ""
            if name and name != "csrfmiddlewaretoken" and name not in self.fields:
                self.fields[name] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def issued_fields(client, scenario, kwargs, url) -> dict:
    page_name, key = FORM_PAGES.get(scenario.url, (scenario.url, "*"))
    page = url if key == "*" else reverse(page_name, kwargs={key: kwargs[key]} if key else {})
    response = client.get(page)
    if response.status_code != 200:
        return {}
    parser = _HiddenFields(page, url)
    parser.feed(response.content.decode())
    return parser.fields


def twice_at_once(clients, url, payloads) -> list:
    start = threading.Barrier(len(clients))
    results: list = [None] * len(clients)

    def post(i):
        try:
            start.wait()
            results[i] = clients[i].post(url, payloads[i])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def test_the_drill_covers_the_forms_named_in_the_issue():
    urls = {scenario.url for scenario in DRILLED}
    assert {
        "governance:case-open",
        "governance:evidence-upload",
        "governance:comment",
        "governance:conflict",
        "governance:ballot-open",
        "governance:vote",
        "governance:ballot-close",
        "governance:decision-issue",
        "governance:plan",
        "governance:referral-lodge",
        "governance:referral",
        "governance:characteristics",
        "governance:policy",
        "cpl:version-publish",
        "cpl:certificate",
        "cpl:import",
        "cpl:inventory",
        "inbox-detail",
    } <= urls


@pytest.mark.parametrize("scenario", DRILLED, ids=lambda s: s.id)
def test_a_form_sent_twice_at_once_has_one_effect(scenario, people):
    story = Story(people)
    target = scenario.build(story)
    role = next(role for role, outcome in scenario.expected.items() if outcome == DONE)
    user = {**story.p, **target.extra_roles}[role]
    url = reverse(scenario.url, kwargs=target.kwargs)
    clients = [Client(raise_request_exception=False) for _ in range(2)]
    for client in clients:
        sign_in(client, user)
    hidden = issued_fields(clients[0], scenario, target.kwargs, url)

    def payload():
        return {**target.data(), **hidden, "confirmed": "yes"}

    ctx = type("Ctx", (), {"user": user, "client": clients[0]})()
    before, events = target.probe(ctx), AuditEvent.objects.count()
    with transaction.atomic():  # the yardstick: one submission, then rolled back
        once = clients[0].post(url, payload())
        after_once = target.probe(ctx)
        events_once = AuditEvent.objects.count() - events
        transaction.set_rollback(True)
    assert once.status_code < 400, f"one submission answered {once.status_code}"
    assert after_once != before or not target.audited, "one submission changed nothing"

    responses = twice_at_once(clients, url, [payload(), payload()])
    statuses = [r.status_code for r in responses]
    assert all(status < 500 for status in statuses), statuses
    assert target.probe(ctx) == after_once, f"two submissions ({statuses}) made two effects"
    if target.audited:  # an import is audited by its task, after commit: not in the yardstick
        assert AuditEvent.objects.count() - events == events_once, statuses


def test_two_different_characteristics_uploads_at_once_leave_one_current_and_no_500(users):
    """Not a double click: two tabs, two versions for the same device type at the same time.
    Whichever way the race goes, one version is current and nobody sees a 500."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from governance.models import SecurityCharacteristics

    from ..helpers import PDF_BYTES

    clients = [Client(raise_request_exception=False) for _ in range(2)]
    for client in clients:
        sign_in(client, users["secretariat"])

    def upload(label):
        return {
            "device_type": "ESME",
            "version_label": label,
            "effective_date": "2026-01-01",
            "ncsc_reference": f"NCSC-{label}",
            "file": SimpleUploadedFile(f"{label}.pdf", PDF_BYTES, content_type="application/pdf"),
        }

    responses = twice_at_once(
        clients, reverse("governance:characteristics"), [upload("9.9"), upload("9.10")]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses in ([302, 302], [302, 400]), statuses
    current = SecurityCharacteristics.objects.filter(device_type="ESME", is_current=True)
    assert current.count() == 1
    assert SecurityCharacteristics.objects.count() == statuses.count(302)
