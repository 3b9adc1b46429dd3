"""The app developers' test helpers inside a bench (as in a FrappeTestCase): the site's own
transaction, `frappe.db.commit`, and no RQ message sent."""

from __future__ import annotations

import frappe

from dartwing.dartwing_core.background_jobs import get_job_status, submit_job
from dartwing.dartwing_core.background_jobs.testing import assert_submitted, capture_jobs, drain_jobs

from .conftest import ORG_A, rq_messages


def test_captured_jobs_are_drained_in_the_site_context(site, redis_server):
    with capture_jobs():
        parent = submit_job("echo", ORG_A, {"step": "parent"})
        child = submit_job("echo", ORG_A, {"step": "child"}, depends_on=parent.name)
        flaky = submit_job("flaky", ORG_A, {"fail_times": 1})
        frappe.db.commit()
        assert assert_submitted("echo", step="child")["name"] == child.name
        assert drain_jobs() == {"Completed": 3, "Failed": 1}
    assert rq_messages(redis_server) == []
    assert [get_job_status(job.name)["status"] for job in (parent, child, flaky)] == ["Completed"] * 3


def test_inline_runs_jobs_after_frappe_db_commit_returns(site, redis_server):
    with capture_jobs(inline=True) as jobs:
        job = submit_job("progress_demo", ORG_A, {"steps": 2, "delay": 0})
        frappe.db.commit()
        assert get_job_status(job.name)["status"] == "Completed" and jobs.ran == {"Completed": 1}
    assert rq_messages(redis_server) == []
    after = submit_job("echo", ORG_A, {"n": 1})
    frappe.db.commit()  # plain again: the message goes to RQ
    assert len(rq_messages(redis_server)) == 1 and get_job_status(after.name)["status"] == "Queued"
