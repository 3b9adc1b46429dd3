"""The dead letter queue page, end to end in headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import ADMIN, ALICE, ORG_A, ORG_B

from dartwing.dartwing_core.background_jobs import get_job_status, submit_job
from dartwing.dartwing_core.background_jobs.execution import run_job

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (scripts/test.sh installs it)"
)


@pytest.fixture(params=["sqlite"])
def db_url(request, tmp_path):  # one backend is enough for a UI test; the API tests cover MariaDB
    return f"sqlite:///{tmp_path / 'dartwing.db'}"


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("dialog", lambda dialog: dialog.accept())
        yield page
        browser.close()


def dead_letter_jobs(rt, organization, count):
    names = []
    for i in range(count):
        job = submit_job("always_fails", organization, {"record": f"{organization}-{i}"})
        rt.commit()
        assert run_job(job.name, 0) == "Dead Letter"
        names.append(job.name)
    return names


def sign_in(page, api, user):
    page.goto(f"{api.client.base_url}/dlq")
    page.fill("#token", api.tokens[user].split(" ", 1)[1])
    page.click("#login button[type=submit]")
    page.wait_for_selector("#rows tr")


def test_operator_lists_inspects_retries_and_deletes(api, rt, browser_page):
    page = browser_page
    a_jobs = dead_letter_jobs(rt, ORG_A, 3)
    b_jobs = dead_letter_jobs(rt, ORG_B, 1)
    sign_in(page, api, ADMIN)
    assert page.locator("#rows tr").count() == 4
    assert f"signed in as {ADMIN}" in page.inner_text("#who")
    assert not page.is_visible("#login")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dlq.png"), full_page=True)

    page.click(f"text={a_jobs[0]}")
    page.wait_for_selector("#detail table")
    detail = page.inner_text("#detail")
    assert "PermanentError" in detail and "Dead Letter" in detail and "Submitted" in detail

    page.fill("#f-org", ORG_B)
    page.click("#filters button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 1")
    assert page.inner_text("#rows").count(b_jobs[0]) == 1
    page.fill("#f-org", "")
    page.select_option("#f-error", "Timeout")
    page.click("#filters button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 0")
    page.select_option("#f-error", "Permanent")
    page.click("#filters button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 4")

    page.click(f"tr[data-job='{a_jobs[0]}'] button.primary")  # Retry one
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Retried 1')")
    assert get_job_status(a_jobs[0]).status == "Queued"
    rt.rollback()

    page.check(f"tr[data-job='{a_jobs[1]}'] input")
    page.check(f"tr[data-job='{a_jobs[2]}'] input")
    page.click("#bulk-delete")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Deleted 2')")
    assert page.locator("#rows tr").count() == 1  # only org B's job is left in Dead Letter
    for name in a_jobs[1:]:
        with pytest.raises(Exception, match="not found"):
            get_job_status(name)
    page.screenshot(path=str(ARTIFACTS / "dlq-after.png"), full_page=True)


def test_a_member_sees_only_their_organization_and_cannot_retry(api, rt, browser_page):
    page = browser_page
    a_jobs = dead_letter_jobs(rt, ORG_A, 1)
    dead_letter_jobs(rt, ORG_B, 1)
    sign_in(page, api, ALICE)
    assert page.locator("#rows tr").count() == 1 and a_jobs[0] in page.inner_text("#rows")
    page.click(f"tr[data-job='{a_jobs[0]}'] button.primary")
    page.wait_for_function("document.getElementById('status').textContent.includes('failed')")
    assert "Only a System Manager or Job Administrator may retry jobs" in page.inner_text("#status")
    assert get_job_status(a_jobs[0]).status == "Dead Letter"


def test_a_wrong_token_is_refused(api, browser_page):
    page = browser_page
    page.goto(f"{api.client.base_url}/dlq")
    page.fill("#token", "nope:nope")
    page.click("#login button[type=submit]")
    page.wait_for_function("document.getElementById('status').textContent.length > 0")
    assert page.is_visible("#login") and "Invalid API key or secret" in page.inner_text("#status")
