"""The operators' dashboard end to end in headless Chromium (Debian's, driven by Playwright), against
a real `dartwing-jobs server` holding 105,000 jobs: each panel renders (at 1280 and 390 px), filters
are exact past 100 rows, a bulk retry of 5,000 matching jobs completes, and a member sees and acts
only on their organizations. Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa
from conftest import ADMIN, ALICE, BOB, ORG_A, ORG_B, Workers, seeded_runtime, start_server, wait_for
from job_rows import insert_in_chunks, mixed_jobs, utcnow

from dartwing.dartwing_core.background_jobs import schema
from dartwing.dartwing_core.background_jobs.runtime import set_runtime
from dartwing.dartwing_core.standalone import admin
from dartwing.dartwing_core.standalone.http.auth import issue_credentials

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "dashboard"
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
ORG_C = "Org C"
ROWS = 100_000
BULK_SLICE = 5_000  # Dead Letter `always_fails` jobs of Org C, the bulk retry's target
bj = schema.background_job

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (scripts/test.sh installs it)"
)


@dataclasses.dataclass
class Site:
    rt: object
    client: httpx.Client
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return str(self.client.base_url)

    def scalar(self, stmt):
        try:
            return self.rt.execute(stmt).scalar()
        finally:
            self.rt.rollback()

    def names(self, *where, limit: int):
        try:
            stmt = sa.select(bj.c.name).where(*where).order_by(bj.c.modified.desc(), bj.c.name.desc()).limit(limit)
            return [row["name"] for row in self.rt.execute(stmt)]
        finally:
            self.rt.rollback()


@pytest.fixture(scope="module")
def site(redis_server, tmp_path_factory):
    redis.Redis.from_url(redis_server.url).flushdb()  # our own redis-server
    home = tmp_path_factory.mktemp("dashboard")
    rt = seeded_runtime(home / "home", f"sqlite:///{home / 'dartwing.db'}", redis_server.url)
    admin.add_organization(rt, ORG_C)
    rt.commit()
    started = time.monotonic()
    # Log rows for the last day only: the charts' window (and the detail's timeline of a recent job).
    day_ago = utcnow() - timedelta(days=1)
    jobs = mixed_jobs(ROWS, [ORG_A, ORG_B, ORG_C], seed=21, spread=timedelta(days=2))
    insert_in_chunks(rt.engine, jobs, logged_since=day_ago)
    target = list(mixed_jobs(BULK_SLICE, [ORG_C], seed=5, spread=timedelta(hours=3), prefix="JOB-2024-"))
    for job in target:
        job.update(status="Dead Letter", job_type="always_fails", error_type="Permanent",
                   error_message="bulk slice", completed_at=job["modified"], progress=0)
    insert_in_chunks(rt.engine, target)
    print(f"seeded {ROWS + BULK_SLICE} jobs in {time.monotonic() - started:.1f} s")
    tokens = {}
    for user in (ALICE, BOB, ADMIN):
        key, secret = issue_credentials(rt, user)
        tokens[user] = f"{key}:{secret}"
    rt.commit()
    proc, client = start_server(rt)
    yield Site(rt, client, tokens)
    client.close()
    proc.terminate()
    proc.wait(10)
    set_runtime(None)
    rt.engine.dispose()


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        yield context.new_page()
        browser.close()


def sign_in(page, site, user):
    page.goto(f"{site.url}/dashboard/")
    page.fill("#token", site.tokens[user])
    page.press("#token", "Enter")  # the keyboard is enough
    page.wait_for_selector("body[data-ready=overview]")


def open_panel(page, hash_):
    page.evaluate("document.body.dataset.ready = ''")
    page.evaluate(f"location.hash = {hash_!r}")
    panel = "detail" if hash_.startswith("#job/") else hash_[1:].split("?")[0]
    page.wait_for_selector(f"body[data-ready={panel}]")


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def shown_ids(page):
    return page.eval_on_selector_all("#job-rows tr[data-job]", "rows => rows.map(r => r.dataset.job)")


def every_page(page):
    """Job ids of this page and every older one (clicking Older until the last page)."""
    ids = shown_ids(page)
    number = 1
    while page.is_enabled("#page-next"):
        number += 1
        page.click("#page-next")
        page.wait_for_function(f"document.getElementById('page-info').textContent.startsWith('Page {number}:')")
        ids += shown_ids(page)
    return ids


def test_each_panel_renders_at_1280_and_390_px(site, page):
    env = {**os.environ, **site.rt.config.environ()}
    workers = Workers(site.rt, env)
    workers.start()
    try:
        sign_in(page, site, ADMIN)
        completed = site.scalar(sa.select(sa.func.count()).select_from(bj).where(bj.c.status == "Completed"))
        assert page.inner_text("[data-count=Completed] .n") == str(completed)
        assert page.locator("#chart-completed rect.bar").count() == 60
        assert "administrator" in page.inner_text("#who")
        shot(page, "overview")
        page.click("[data-window=day]")
        page.wait_for_function("document.querySelectorAll('#chart-completed rect.bar').length === 96")

        wait_for(lambda: site.rt.redis.keys("rq:worker:*"), message="the worker to register")
        open_panel(page, "#workers")
        page.wait_for_selector("#worker-rows tr[data-worker]")
        assert "idle" in page.inner_text("#worker-rows") or "busy" in page.inner_text("#worker-rows")
        assert page.locator("#worker-rows time").count() == 2  # started, heartbeat
        shot(page, "workers")

        open_panel(page, "#jobs")
        assert page.locator("#job-rows tr[data-job]").count() == 50
        assert "ago" in page.inner_text("#job-rows")
        title = page.get_attribute("#job-rows time", "title")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", title), title
        shot(page, "jobs")

        dead = site.names(bj.c.status == "Dead Letter", bj.c.job_type == "echo", limit=1)[0]
        open_panel(page, f"#job/{dead}")
        detail = page.inner_text("#detail")
        assert "Traceback" in detail and "Dead Letter" in detail and "cust-" in detail
        assert page.locator("#timeline li").count() >= 1
        assert "Finished: Dead Letter" in page.inner_text("#wait")
        shot(page, "detail")

        page.set_viewport_size({"width": 390, "height": 844})
        for hash_, name in (("#overview", "overview-390"), ("#jobs", "jobs-390"), (f"#job/{dead}", "detail-390")):
            open_panel(page, hash_)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
            shot(page, name)
    finally:
        workers.stop_all()


def test_filters_are_right_past_100_rows(site, page):
    sign_in(page, site, ADMIN)
    open_panel(page, "#jobs")
    page.select_option("#f-status", "Completed")
    page.select_option("#f-org", ORG_B)
    page.select_option("#f-type", "echo")
    page.evaluate("document.body.dataset.ready = ''")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("body[data-ready=jobs]")
    ids = shown_ids(page)
    for number in (2, 3, 4):
        page.click("#page-next")
        page.wait_for_function(f"document.getElementById('page-info').textContent.startsWith('Page {number}:')")
        ids += shown_ids(page)
    expected = site.names(bj.c.status == "Completed", bj.c.organization == ORG_B, bj.c.job_type == "echo", limit=200)
    assert len(ids) == 200 and ids == expected
    took = int(re.search(r"in (\d+) ms", page.inner_text("#page-info")).group(1))
    assert took < 1000, page.inner_text("#page-info")  # a page of a 105,000-row table, SQLite, 2 shared cores

    page.click("#page-first")
    page.wait_for_function("document.getElementById('page-info').textContent.startsWith('Page 1:')")
    assert shown_ids(page) == expected[:50]

    # Parameter text has no index: each page reads a bounded stretch and the pages go on from there
    # (about 14 pages of one organization's Completed jobs here).
    open_panel(page, f"#jobs?q=cust-0042&status=Completed&organization={ORG_A.replace(' ', '+')}")
    ids = every_page(page)
    assert ids == site.names(
        bj.c.status == "Completed", bj.c.organization == ORG_A, bj.c.parameters.contains("cust-0042"), limit=1000
    )
    assert len(ids) > 0


def test_a_bulk_retry_of_5000_matching_jobs_completes(site, page):
    sign_in(page, site, ADMIN)
    open_panel(page, f"#jobs?status=Dead+Letter&job_type=always_fails&organization={ORG_C.replace(' ', '+')}")
    assert page.locator("#job-rows tr[data-job]").count() == 50
    page.click("#retry-matching")
    assert page.is_visible("#confirm") and "every job matching this filter" in page.inner_text("#confirm")
    assert page.evaluate("document.activeElement.id") == "confirm-no"  # the safe choice has the focus
    started = time.monotonic()
    page.click("#confirm-yes")
    page.wait_for_function(
        "document.getElementById('status').textContent.startsWith('Retried 5000; 0 still match')", timeout=180_000
    )
    print(f"bulk retry of {BULK_SLICE} jobs: {time.monotonic() - started:.1f} s")
    queued = sa.select(sa.func.count()).select_from(bj).where(
        bj.c.job_type == "always_fails", bj.c.organization == ORG_C, bj.c.status == "Queued"
    )
    assert site.scalar(queued) == BULK_SLICE
    page.wait_for_function("document.querySelectorAll('#job-rows tr[data-job]').length === 0")
    shot(page, "bulk-retry")


def test_a_member_sees_and_acts_only_on_their_organizations(site, page):
    sign_in(page, site, ALICE)
    mine = site.scalar(
        sa.select(sa.func.count()).select_from(bj).where(bj.c.status == "Completed", bj.c.organization == ORG_A)
    )
    assert page.inner_text("[data-count=Completed] .n") == str(mine)
    assert "administrator" not in page.inner_text("#who")

    open_panel(page, "#jobs")
    options = page.eval_on_selector_all("#f-org option", "os => os.map(o => o.value)")
    assert options == ["", ORG_A]
    rows = page.eval_on_selector_all("#job-rows tr[data-job] td:nth-child(4)", "cells => cells.map(c => c.textContent)")
    assert len(rows) == 50 and set(rows) == {ORG_A}
    assert shown_ids(page) == site.names(bj.c.organization == ORG_A, limit=50)

    other = site.names(bj.c.organization == ORG_B, bj.c.status == "Queued", limit=1)[0]
    open_panel(page, f"#jobs?organization={ORG_B.replace(' ', '+')}")
    assert page.locator("#job-rows tr[data-job]").count() == 0
    open_panel(page, f"#job/{other}")
    assert "not found" in page.inner_text("#detail-body").lower()

    answer = page.evaluate(
        """async ([job]) => {
            const post = (body) => fetch('/dashboard/api/actions', {method: 'POST', body: JSON.stringify(body),
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': state.csrf}}).then(r => r.json());
            return [await post({action: 'cancel', job_ids: [job]}),
                    await post({action: 'cancel', filters: {organization: 'Org B'}}),
                    await post({action: 'retry', filters: {}})];
        }""",
        [other],
    )
    assert "not found" in answer[0]["message"]["failed"][0]["error"].lower()
    assert answer[1]["message"] == {"canceled": 0, "failed": [], "remaining": 0}
    assert "Only a System Manager" in answer[2]["exception"]
    assert site.scalar(sa.select(bj.c.status).where(bj.c.name == other)) == "Queued"


def test_sign_in_sessions_and_csrf(site):
    client = httpx.Client(base_url=site.url)
    assert client.get("/dashboard/api/overview").status_code == 401
    assert client.post("/dashboard/session", json={"token": "nope:nope"}).status_code == 401
    signed = client.post("/dashboard/session", json={"token": site.tokens[BOB]})
    assert signed.status_code == 200
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dashboard" in cookie
    csrf = signed.json()["message"]["csrf"]
    assert signed.json()["message"]["organizations"] == [ORG_B]
    action = {"action": "cancel", "job_ids": ["JOB-2025-0000001"]}
    assert client.post("/dashboard/api/actions", json=action).status_code == 403  # no CSRF token
    assert client.post("/dashboard/api/actions", json=action, headers={"X-CSRF-Token": "x"}).status_code == 403
    assert client.post("/dashboard/api/actions", json=action, headers={"X-CSRF-Token": csrf}).status_code == 200
    token = {"Authorization": f"token {site.tokens[BOB]}"}  # the API's token works without a session
    assert httpx.get(f"{site.url}/dashboard/api/workers", headers=token).status_code == 200
    assert client.get("/dashboard/api/jobs", params={"status": "Nope"}).status_code == 400
    assert client.get("/dashboard/api/jobs", params={"colour": "red"}).status_code == 400
    assert client.get("/dashboard/api/jobs/JOB-1").status_code == 400
    assert client.post("/dashboard/api/actions", json={"action": "retry"}, headers={"X-CSRF-Token": csrf}).status_code == 400
    assert client.post("/dashboard/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/dashboard/api/overview").status_code == 401
    redirect = client.get("/dlq")
    assert redirect.status_code == 308 and redirect.headers["location"].startswith("/dashboard/#jobs?status=Dead")
    client.close()


def test_live_events_carry_only_the_viewers_organizations(site):
    import json

    from dartwing.dartwing_core.background_jobs import submit_job

    headers = {"Authorization": f"token {site.tokens[BOB]}"}
    with httpx.stream("GET", f"{site.url}/dashboard/api/events", headers=headers, timeout=30) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")  # the stream is open: now the jobs
        site.rt.set_user(ADMIN)
        hidden = submit_job("noop", ORG_A, {"live": 1})
        shown = submit_job("noop", ORG_B, {"live": 2})
        site.rt.commit()
        events = []
        for line in lines:
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1]["job_id"] == shown.name:
                    break
    assert {event["organization"] for event in events} == {ORG_B}
    assert hidden.name not in {event["job_id"] for event in events}
