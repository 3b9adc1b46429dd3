"""Fan-in, batch callbacks and rate limits under Frappe v15 (REPEATABLE READ, `frappe.db`, real
`bench worker` processes): two parents finishing at once in two site contexts release their child
once, and workers racing at the claim never start more than the limit in a window."""

from __future__ import annotations

import json
import threading
import time

import frappe
from frappe.utils.background_jobs import get_redis_conn
from rq import Worker

from dartwing.dartwing_core.background_jobs import execution, submit_job, submit_jobs
from dartwing.dartwing_core.background_jobs.rate_limits import release_all_due
from dartwing.dartwing_core.frappe_runtime import FrappeRuntime

from . import handlers
from .conftest import ORG_A, ORG_B, add_job_type


def _status(name: str) -> str:
    frappe.db.rollback()
    return frappe.db.get_value("Background Job", name, "status")


def _run_in_own_context(site, name: str, out: list) -> None:
    site.connect()
    try:
        out.append(execution.run_job(name, 0))
        frappe.db.commit()
    finally:
        frappe.destroy()


def test_two_parents_finishing_at_once_release_the_child_exactly_once(site):
    add_job_type("meet", "frappe_contract.handlers.meet")
    rounds = []
    for n in range(6):
        pair = [submit_job("meet", ORG_A, {"n": f"{n}{side}"}) for side in "ab"]
        rounds.append((pair, submit_job("echo", ORG_A, {"child": n}, depends_on=[job.name for job in pair])))
    frappe.db.commit()
    for pair, _ in rounds:
        handlers.BARRIER = threading.Barrier(2)
        ended: list[str] = []
        threads = [threading.Thread(target=_run_in_own_context, args=(site, job.name, ended)) for job in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert ended == ["Completed", "Completed"]
    site.connect()
    for _, child in rounds:
        assert _status(child.name) == "Queued", child.name
        releases = frappe.db.sql(
            "select count(*) from `tabJob Execution Log` where background_job=%s and from_status='Pending'"
            " and to_status='Queued'",
            (child.name,),
        )[0][0]
        assert releases == 1


def test_a_batch_callback_gets_every_outcome(site):
    add_job_type("report_outcomes", "frappe_contract.handlers.report_outcomes")
    jobs = submit_jobs(
        [{"job_type": "echo", "organization": ORG_A, "parameters": {"n": n}} for n in range(2)]
        + [{"job_type": "always_fails", "organization": ORG_A, "max_retries": 0}],
        on_complete={"job_type": "report_outcomes", "organization": ORG_A},
    )
    frappe.db.commit()
    for job in jobs:
        execution.run_job(job.name, 0)
        frappe.db.commit()
    assert _status(jobs.on_complete.name) == "Queued"
    assert execution.run_job(jobs.on_complete.name, 0) == "Completed"
    frappe.db.commit()
    result = json.loads(frappe.db.get_value("Background Job", jobs.on_complete.name, "result"))
    assert result["outcomes"] == [[jobs[0].name, "Completed"], [jobs[1].name, "Completed"],
                                  [jobs[2].name, "Dead Letter"]]


def test_bench_workers_racing_never_start_more_than_the_limit_per_window(site):
    count, period = 2, 2
    add_job_type("limited", "dartwing.dartwing_core.background_jobs.handlers.examples.noop")
    for _ in range(3):
        site.start_worker()
    deadline = time.monotonic() + 60
    while len(Worker.all(connection=get_redis_conn())) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    jobs = submit_jobs([{"job_type": "limited", "organization": org, "parameters": {"n": n}}
                        for n in range(4) for org in (ORG_A, ORG_B)])
    # Limited from the same commit on: the jobs were queued at once and all race at the claim.
    frappe.db.sql("update `tabJob Type` set rate_limit_count=%s, rate_limit_period=%s where name='limited'",
                  (count, period))
    frappe.db.commit()
    names = [job.name for job in jobs]
    while time.monotonic() < deadline:
        release_all_due(FrappeRuntime())
        frappe.db.commit()
        done = frappe.db.sql("select count(*) from `tabBackground Job` where name in %(names)s and status='Completed'",
                             {"names": names})[0][0]
        if done == len(names):
            break
        time.sleep(0.2)
    starts = sorted(row[0] for row in frappe.db.sql(
        "select started_at from `tabBackground Job` where name in %(names)s", {"names": names}))
    assert len(starts) == len(names) and None not in starts
    for first, later in zip(starts, starts[count:], strict=False):
        assert (later - first).total_seconds() >= period, starts
    retried = frappe.db.sql("select count(*) from `tabBackground Job` where name in %(names)s and retry_count > 0",
                            {"names": names})[0][0]
    assert retried == 0
    held = frappe.db.sql("select count(*) from `tabJob Execution Log` where background_job in %(names)s"
                         " and from_status='Queued' and to_status='Pending'", {"names": names})[0][0]
    assert held > 0  # claims were refused and their jobs held, not failed
