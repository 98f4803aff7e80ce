"""Journey: the secretariat signs in with TOTP, imports a CPL file, publishes and downloads it."""

import csv
import io

import pytest
from playwright.sync_api import expect

from cpl.models import CPLVersion, DeviceModel

from ..helpers import PASSWORD, SAMPLE_CPL, current_code, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("committed_db")]


def test_secretariat_imports_publishes_and_downloads_the_cpl(page, tmp_path):
    make_user("secretariat")

    page.goto("/")
    page.get_by_label("Username").fill("secretariat")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Enter your security code")).to_be_visible()
    page.get_by_label("Security code").fill(current_code())
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="What is waiting for you")).to_be_visible()

    page.get_by_role("link", name="Central Products List").first.click()
    page.get_by_role("navigation", name="Central Products List").get_by_role(
        "link", name="Import", exact=True
    ).click()
    expect(page.get_by_role("heading", name="Import the CPL")).to_be_visible()
    page.get_by_label("CPL file (CSV or XLSX)").set_input_files(str(SAMPLE_CPL))
    page.get_by_role("button", name="Upload and import").click()
    expect(page.get_by_role("heading", name="Import complete")).to_be_visible()
    expect(page.get_by_text("40 device models in the file")).to_be_visible()
    assert DeviceModel.objects.count() == 40
    # Models removed for lapsed non-CPA certificates are not in the published CPL.
    listed = DeviceModel.objects.filter(status="listed").count()
    assert 0 < listed < 40

    page.get_by_role("link", name="Publish a CPL version").click()
    page.get_by_role("button", name="Publish a new version").click()
    page.get_by_role("button", name="Publish the version").click()
    expect(page.get_by_role("heading", name="CPL version 1")).to_be_visible()
    expect(
        page.get_by_text(f"Version 1 published: {listed} added, 0 removed, 0 status changes.")
    ).to_be_visible()
    version = CPLVersion.objects.get()
    expect(page.get_by_text(version.content_hash)).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV").click()
    download = download_info.value
    assert download.suggested_filename == "cpl-version-1.csv"
    path = tmp_path / "cpl.csv"
    download.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert len(rows) == listed
    assert {r["CPL Status"] for r in rows} == {"Listed"}
    assert CPLVersion.hash_rows(rows) == version.content_hash
