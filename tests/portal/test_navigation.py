"""The service navigation, grouped per role (issue 12): a few sections at the top, only the
pages the role may reach (the policies say which); a section with one page links straight to
it, one with several links to its first page and, on any page of that section, a second row
lists its pages with the current one marked."""

import re
from html import unescape

import pytest

from governance.models import PlanRequirement

from ..helpers import decided_case

pytestmark = pytest.mark.django_db

CPL_READER = ["Register", "Published versions", "Product combinations"]
SSC_CPL = [*CPL_READER, "Emergency entries", "CPL changes"]
SSC_CASES = ["Cases", "Remedial plans", "Referrals", "G8.64 policies", "Security Characteristics"]
PARTY_CASES = ["Cases", "Referrals", "Security Characteristics"]

# role: {top-level label: the section's pages (one page: the link leads straight to it)}
EXPECTED = {
    "secretariat": {
        "Home": ["Home"],
        "Central Products List": [*SSC_CPL, "Import", "Inventory"],
        "Cases": SSC_CASES,
        "Inbox": ["Inbox", "Notices"],
        "Audit log": ["Audit log"],
    },
    "chair": {
        "Home": ["Home"],
        "Central Products List": SSC_CPL,
        "Cases": SSC_CASES,
        "Inbox": ["Inbox", "Notices"],
        "Audit log": ["Audit log"],
    },
    "member": {
        "Home": ["Home"],
        "Central Products List": SSC_CPL,
        "Cases": SSC_CASES,
        "Inbox": ["Inbox", "Notices"],
    },
    "expert": {"Home": ["Home"], "Cases": ["Cases"], "Inbox": ["Inbox"]},
    "supplier_a": {
        "Home": ["Home"],
        "Central Products List": [*CPL_READER, "Emergency entries"],
        "Cases": SSC_CASES,
        "Inbox": ["Inbox"],
    },
    "dcc": {
        "Home": ["Home"],
        "Central Products List": SSC_CPL,
        "Cases": PARTY_CASES,
        "Inbox": ["Inbox"],
    },
    "network": {
        "Home": ["Home"],
        "Central Products List": CPL_READER,
        "Cases": PARTY_CASES,
        "Inbox": ["Inbox"],
    },
    "authority": {"Home": ["Home"], "Referrals": ["Referrals"], "Inbox": ["Inbox"]},
}


def _links(fragment: str) -> list[tuple[str, str, str]]:
    """(text, href, aria-current) of each link."""
    return [
        (unescape(re.sub(r"<[^>]+>", "", text)).strip(), href, current)
        for href, current, text in re.findall(
            r'<a [^>]*href="([^"]+)"(?: aria-current="([^"]+)")?[^>]*>(.*?)</a>', fragment, re.S
        )
    ]


def top_navigation(page: str) -> list[tuple[str, str, str]]:
    match = re.search(
        r'<ul class="govuk-service-navigation__list" id="navigation">(.*?)</ul>', page, re.S
    )
    return _links(match.group(1)) if match else []


def sub_navigation(page: str) -> tuple[str, list[tuple[str, str, str]]] | None:
    """(the nav's accessible name, its links), or None when the page has none."""
    match = re.search(
        r'<nav class="portal-sub-navigation" aria-label="([^"]+)">(.*?)</nav>', page, re.S
    )
    return (unescape(match.group(1)), _links(match.group(2))) if match else None


@pytest.mark.parametrize("role", EXPECTED)
def test_each_role_sees_its_sections_and_their_pages(client_for, role):
    client = client_for(role)
    home = client.get("/").content.decode()
    top = top_navigation(home)
    assert [label for label, _, _ in top] == list(EXPECTED[role])
    assert len(top) <= 6
    assert sub_navigation(home) is None  # Home is a section of one page
    assert top[0] == ("Home", "/", "page")
    for label, href, _ in top[1:]:
        pages = EXPECTED[role][label]
        page = client.get(href)
        assert page.status_code == 200, f"{role}: {label} -> {href}"
        html = page.content.decode()
        # The section is marked current at the top, on its own first page.
        assert (label, href, "page") in top_navigation(html)
        sub = sub_navigation(html)
        if len(pages) == 1:
            assert sub is None, f"{role}: {label} has one page, yet a second row"
            continue
        name, links = sub
        assert name == label
        assert [text for text, _, _ in links] == pages
        assert links[0] == (pages[0], href, "page")  # the section leads to its first page
        assert all(not current for _, _, current in links[1:])
        # Every page of the section shows the same row, with itself current, and the section
        # current (not as this page) at the top.
        for text, sub_href, _ in links[1:]:
            html = client.get(sub_href).content.decode()
            assert (label, href, "true") in top_navigation(html), f"{role}: {sub_href}"
            name, again = sub_navigation(html)
            assert [(t, h) for t, h, _ in again] == [(t, h) for t, h, _ in links]
            assert [t for t, _, current in again if current] == [text]


def test_a_page_below_a_section_page_marks_that_page(committee, client_for):
    decided_case(committee)
    requirement = PlanRequirement.objects.get(supplier=committee["supplier_a"].organisation)
    html = client_for("supplier_a").get(f"/plans/{requirement.pk}/").content.decode()
    assert ("Cases", "/cases/", "true") in top_navigation(html)
    _, links = sub_navigation(html)
    assert [(t, c) for t, _, c in links if c] == [("Remedial plans", "true")]


def test_the_navigation_waits_for_the_second_factor(client, users):
    client.force_login(users["secretariat"])
    response = client.get("/cases/", follow=True)  # to setting up the authenticator
    page = response.content.decode()
    assert response.status_code == 200 and "Sign out" in page
    assert top_navigation(page) == [] and sub_navigation(page) is None
