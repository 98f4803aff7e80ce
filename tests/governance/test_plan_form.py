"""The supplier's plan form (issue 12): the chosen file is kept across errors, a revision starts
from the previous version, milestone rows are added and removed without JavaScript (and with
htmx), at most MAX_MILESTONES rows, and an error summary links to every wrong field."""

import datetime
import hashlib
import html
import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core import signing

from governance.forms import MAX_MILESTONES
from governance.models import PlanRequirement, RemedialPlan
from portal.documents import PENDING_FOLDER

from ..helpers import PDF_BYTES, decided_case, pdf_upload

pytestmark = pytest.mark.django_db

TARGET = (datetime.date.today() + datetime.timedelta(days=90)).isoformat()


def requirement_of(committee, key="supplier_a"):
    return PlanRequirement.objects.get(supplier=committee[key].organisation)


def form_data(rows, **fields):
    """The plan form as a browser without JavaScript posts it; rows are (description, date,
    devices). Dates go in the single ISO field, which the date input accepts too."""
    data = {
        "action": "submit",
        "summary": "Firmware 2.1 over the air, then replacements",
        "milestones-TOTAL_FORMS": str(len(rows)),
        "milestones-INITIAL_FORMS": "0",
        "milestones-MIN_NUM_FORMS": "1",
        "milestones-MAX_NUM_FORMS": str(MAX_MILESTONES),
    }
    for i, (description, target, devices) in enumerate(rows):
        data[f"milestones-{i}-description"] = description
        data[f"milestones-{i}-target_date"] = target
        data[f"milestones-{i}-devices_covered"] = devices
    data.update(fields)
    return data


GOOD = ("Firmware 2.1 to every meter", TARGET, "1000")


def kept_token(page: str) -> str:
    match = re.search(r'name="kept_file" value="([^"]+)"', page)
    assert match, "the page keeps no chosen file"
    return html.unescape(match.group(1))


def pending_files() -> set[str]:
    folder = Path(settings.PRIVATE_STORAGE_ROOT) / PENDING_FOLDER
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


@pytest.fixture
def plan_page(committee, client_for):
    decided_case(committee)
    requirement = requirement_of(committee)
    return requirement, f"/plans/{requirement.pk}/", client_for("supplier_a")


def test_file_is_kept_across_a_milestone_error_and_used_by_the_next_post(plan_page):
    requirement, url, client = plan_page
    before = pending_files()
    wrong = client.post(url, form_data([("Firmware", TARGET, "lots")], file=pdf_upload("plan.pdf")))
    page = wrong.content.decode()
    assert wrong.status_code == 400
    assert "File chosen: <strong>plan.pdf</strong>" in page
    assert "Enter the number of devices as a whole number" in page
    assert len(pending_files() - before) == 1  # stored once, outside the web root
    assert not RemedialPlan.objects.exists()

    done = client.post(url, form_data([GOOD], kept_file=kept_token(page)))
    assert done.status_code == 302
    plan = RemedialPlan.objects.get(requirement=requirement)
    assert plan.version == 1 and plan.original_name == "plan.pdf"
    assert plan.sha256 == hashlib.sha256(PDF_BYTES).hexdigest()
    assert pending_files() == before  # moved into the plans, not copied
    assert (Path(settings.PRIVATE_STORAGE_ROOT) / "plans" / plan.stored_name).read_bytes() == (
        PDF_BYTES
    )


def test_a_file_chosen_again_replaces_the_kept_one(plan_page):
    requirement, url, client = plan_page
    before = pending_files()
    page = client.post(url, form_data([], file=pdf_upload("first.pdf"))).content.decode()
    other = PDF_BYTES + b"% second\n"
    done = client.post(
        url, form_data([GOOD], kept_file=kept_token(page), file=pdf_upload("second.pdf", other))
    )
    assert done.status_code == 302
    plan = RemedialPlan.objects.get(requirement=requirement)
    assert plan.original_name == "second.pdf"
    assert plan.sha256 == hashlib.sha256(other).hexdigest()
    assert pending_files() == before  # the first file is not left behind


def test_a_refused_file_is_not_kept(plan_page):
    _, url, client = plan_page
    before = pending_files()
    exe = pdf_upload("plan.pdf", b"MZ\x90\x00" + b"\0" * 64)
    page = client.post(url, form_data([], file=exe)).content.decode()
    assert "not an allowed document type" in page and "File chosen" not in page
    assert pending_files() == before


def test_another_suppliers_token_is_refused(committee, plan_page, client_for):
    _, url, client = plan_page
    page = client.post(url, form_data([], file=pdf_upload("plan.pdf"))).content.decode()
    token = kept_token(page)
    other = requirement_of(committee, "supplier_b")
    refused = client_for("supplier_b").post(
        f"/plans/{other.pk}/", form_data([GOOD], kept_file=token)
    )
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "The file you chose earlier cannot be used on this form. Choose the file again." in body
    assert "File chosen" not in body
    assert not RemedialPlan.objects.exists()
    # Nor can a token be altered: its signature no longer matches.
    client = client_for("supplier_a")
    forged = client.post(url, form_data([GOOD], kept_file=token[:-2] + "xx"))
    assert forged.status_code == 400 and "cannot be used on this form" in forged.content.decode()
    # The owner still can.
    assert client.post(url, form_data([GOOD], kept_file=token)).status_code == 302


def test_a_used_token_is_refused_when_replayed(plan_page):
    requirement, url, client = plan_page
    page = client.post(url, form_data([], file=pdf_upload("plan.pdf"))).content.decode()
    token = kept_token(page)
    assert client.post(url, form_data([GOOD], kept_file=token)).status_code == 302
    # Revising the submitted plan with the file already used for version 1:
    replay = client.post(url, form_data([GOOD], kept_file=token, action="revise"))
    assert replay.status_code == 400
    body = replay.content.decode()
    assert (
        '<a href="#id_file">The file you chose earlier has already been used. Choose the file'
        in (body)
    )
    assert "File chosen" not in body
    # Replayed into a form with another mistake, it is not shown as chosen either.
    wrong = client.post(
        url, form_data([("", TARGET, "1")], kept_file=token, action="revise")
    ).content.decode()
    assert "has already been used" in wrong and "File chosen" not in wrong
    assert RemedialPlan.objects.filter(requirement=requirement).count() == 1


def test_a_double_click_is_answered_with_the_first_submission(plan_page):
    requirement, url, client = plan_page
    page = client.post(url, form_data([], file=pdf_upload("plan.pdf"))).content.decode()
    once = form_data([GOOD], kept_file=kept_token(page), submission_token=str(uuid.uuid4()))
    assert client.post(url, once).status_code == 302
    again = client.post(url, once, follow=True)
    assert "This form was already sent, so it was not saved a second time." in (
        again.content.decode()
    )
    assert RemedialPlan.objects.filter(requirement=requirement).count() == 1


def test_a_kept_file_expires(plan_page, monkeypatch):
    _, url, client = plan_page
    before = pending_files()
    page = client.post(url, form_data([], file=pdf_upload("plan.pdf"))).content.decode()
    later = signing.time.time() + settings.SESSION_COOKIE_AGE + 60

    class Later:
        @staticmethod
        def time():
            return later

    monkeypatch.setattr(signing, "time", Later)
    expired = client.post(url, form_data([GOOD], kept_file=kept_token(page)))
    assert expired.status_code == 400
    assert "The file you chose earlier has expired. Choose the file again." in (
        expired.content.decode()
    )
    assert not RemedialPlan.objects.exists()
    assert pending_files() == before  # removed at once, not left to the sweep


def test_unused_kept_files_are_swept(plan_page):
    from portal.documents import private_files_sweep

    _, url, client = plan_page
    before = pending_files()
    client.post(url, form_data([], file=pdf_upload("plan.pdf")))
    (kept,) = pending_files() - before
    assert not any(p.name == kept for p in private_files_sweep(dry_run=True))  # not yet
    assert any(p.name == kept for p in private_files_sweep(grace_hours=-1))
    assert kept not in pending_files()


def test_revising_starts_from_the_latest_version(plan_page):
    requirement, url, client = plan_page
    client.post(
        url,
        form_data(
            [GOOD, ("Replace meters that cannot update", TARGET, "200")],
            summary="Version one summary",
            file=pdf_upload(),
        ),
    )
    page = client.get(url).content.decode()
    assert "Revise the plan" in page
    assert re.search(r">\s*Version one summary</textarea>", page)
    assert 'value="Firmware 2.1 to every meter"' in page
    assert 'value="Replace meters that cannot update"' in page
    assert 'name="milestones-TOTAL_FORMS" value="2"' in page
    assert 'value="200"' in page
    assert "File chosen" not in page  # the new version's document is chosen anew
    # Sent as it stands with a new document, it is version 2 with the same milestones.
    done = client.post(
        url,
        form_data(
            [GOOD, ("Replace meters that cannot update", TARGET, "200")],
            summary="Version one summary",
            file=pdf_upload("v2.pdf"),
            action="revise",
        ),
    )
    assert done.status_code == 302
    latest = requirement.plans.order_by("-version").first()
    assert latest.version == 2 and latest.milestones.count() == 2


def test_add_a_milestone_without_javascript_keeps_everything_and_submits_nothing(plan_page):
    _, url, client = plan_page
    before = pending_files()
    response = client.post(
        url,
        form_data(
            [("Firmware", TARGET, "1000")],
            summary="Typed summary",
            add_milestone="1",
            file=pdf_upload("plan.pdf"),
        ),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="milestones-TOTAL_FORMS" value="2"' in page
    assert "Milestone 2</legend>" in page
    assert re.search(r">\s*Typed summary</textarea>", page) and 'value="Firmware"' in page
    assert 'name="milestones-1-description"' in page
    assert "There is a problem" not in page  # nothing was checked but the file
    assert "File chosen: <strong>plan.pdf</strong>" in page  # not to be chosen again
    assert len(pending_files() - before) == 1
    assert not RemedialPlan.objects.exists()


def test_remove_a_milestone_without_javascript(plan_page):
    _, url, client = plan_page
    rows = [("First", TARGET, "1"), ("Second", TARGET, "2"), ("Third", TARGET, "3")]
    response = client.post(url, form_data(rows, remove_milestone="1"))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="milestones-TOTAL_FORMS" value="2"' in page
    assert 'value="First"' in page and 'value="Third"' in page and "Second" not in page
    assert 'name="remove_milestone" value="1"' in page  # the row now second can go too
    assert 'name="remove_milestone" value="0"' not in page  # the first row stays
    assert not RemedialPlan.objects.exists()


def test_rows_change_in_place_with_htmx(plan_page):
    _, url, client = plan_page
    response = client.post(
        url, form_data([("Firmware", TARGET, "1000")], add_milestone="1"), HTTP_HX_REQUEST="true"
    )
    fragment = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in fragment
    assert '<div id="milestones"' in fragment
    assert 'value="Firmware"' in fragment and "Milestone 2</legend>" in fragment
    assert re.search(r'name="milestones-1-description"[^>]*autofocus', fragment)
    assert 'hx-post="' + url + '"' in fragment
    assert not RemedialPlan.objects.exists()


def test_more_than_the_most_milestones_are_refused(plan_page):
    _, url, client = plan_page
    rows = [(f"Step {i}", TARGET, "1") for i in range(MAX_MILESTONES + 1)]
    refused = client.post(url, form_data(rows, file=pdf_upload()))
    assert refused.status_code == 400
    assert f"A plan can have at most {MAX_MILESTONES} milestones" in refused.content.decode()
    assert not RemedialPlan.objects.exists()
    # The form offers no row beyond the most, and says so.
    full = client.post(url, form_data(rows[:MAX_MILESTONES], add_milestone="1")).content.decode()
    assert f'name="milestones-TOTAL_FORMS" value="{MAX_MILESTONES}"' in full
    assert "Add another milestone" not in full
    assert f"A plan can have at most {MAX_MILESTONES} milestones." in full
    # Exactly the most is accepted.
    done = client.post(url, form_data(rows[:MAX_MILESTONES], file=pdf_upload()))
    assert done.status_code == 302
    assert RemedialPlan.objects.get().milestones.count() == MAX_MILESTONES


def test_error_summary_links_to_each_wrong_field(plan_page):
    _, url, client = plan_page
    response = client.post(
        url, form_data([GOOD, ("", TARGET, "-5")], summary="", file=pdf_upload())
    )
    page = response.content.decode()
    assert response.status_code == 400
    start = page.index("govuk-error-summary")
    summary = page[start : page.index("</ul>", start)]
    links = dict(re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary))
    assert links == {
        "id_summary": "Enter a summary of the plan",
        "id_milestones-1-description": "Milestone 2: Describe the milestone",
        "id_milestones-1-devices_covered": "Milestone 2: The number of devices cannot be negative",
    }
    for target in links:
        assert f'id="{target}"' in page  # each link reaches its field
    assert page.index("govuk-error-summary") < page.index('name="summary"')  # at the top
    assert "<title>Error: " in page


def test_error_summary_for_no_milestone_and_no_file(plan_page):
    _, url, client = plan_page
    page = client.post(url, form_data([("", "", "")])).content.decode()
    assert '<a href="#id_file">Choose the plan document</a>' in page
    assert '<a href="#milestones">Enter at least one milestone</a>' in page
    assert 'id="milestones"' in page
