"""Sweeps a backlog cannot starve (issue 20, part 2): Frappe enqueues cron events on its `default`
queue, so a backlog there holds the minute sweep's message for as long as it lasts. Every finished job
therefore asks whether the sweep is overdue, and the first worker to see it runs the sweep itself."""

from __future__ import annotations

import frappe

from dartwing.dartwing_core.background_jobs import submit_job
from dartwing.dartwing_core.background_jobs.overdue import claim_minute_sweep
from dartwing.dartwing_core.frappe_runtime import FrappeRuntime

from .conftest import ORG_A

FAST = {
    "DARTWING_BACKOFF_BASE_SECONDS": "0.2",
    "DARTWING_BACKOFF_CAP_SECONDS": "0.2",
    "DARTWING_SWEEP_OVERDUE_SECONDS": "1",
}


def _status(name: str) -> str:
    frappe.db.rollback()
    return frappe.db.sql("select status from `tabBackground Job` where name=%s", (name,))[0][0]


def test_a_due_retry_is_requeued_while_a_backlog_drains_with_no_scheduler_at_all(site):
    flaky = submit_job("flaky", ORG_A, {"fail_times": 1}, priority="High")
    backlog = [submit_job("noop", ORG_A, {"n": n}) for n in range(80)]
    frappe.db.commit()
    proc = site.start_worker(burst=True, extra_env=FAST)  # no scheduler runs every_minute here
    proc.wait(300)
    assert all(_status(job.name) == "Completed" for job in backlog)
    # its retry came due mid-backlog; only a sweep run by a worker could have put it back in the queue
    assert _status(flaky.name) == "Completed"


def test_without_overdue_sweeps_the_retry_waits(site):
    flaky = submit_job("flaky", ORG_A, {"fail_times": 1}, priority="High")
    frappe.db.commit()
    assert claim_minute_sweep(FrappeRuntime())  # held for the whole run: no worker takes a turn
    proc = site.start_worker(burst=True, extra_env={**FAST, "DARTWING_SWEEP_OVERDUE_SECONDS": "3600"})
    proc.wait(60)
    assert _status(flaky.name) == "Failed"  # the control: nothing else requeues it
