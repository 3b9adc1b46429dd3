"""explain_job under Frappe v15: RQ's worker registry for Frappe's own queue names, the RQ message
under Frappe's `<site>::<id>` job id, and the same tenancy rule."""

from __future__ import annotations

import frappe
import pytest
from frappe.utils.background_jobs import get_queue, get_redis_conn
from rq import Worker

from dartwing.dartwing_core.background_jobs import JobNotFoundError, submit_job
from dartwing.dartwing_core.background_jobs.waiting import explain_wait
from dartwing.dartwing_core.frappe_runtime import FrappeRuntime

from .conftest import BOB, ORG_A


def _reason(job_id: str) -> dict:
    return explain_wait(job_id)["reasons"][0]


def test_a_queued_job_is_explained_with_frappes_queues_and_job_ids(site):
    job = submit_job("echo", ORG_A, {"n": 1})
    frappe.db.commit()
    assert _reason(job.name)["reason"] == "no_worker"
    worker = Worker([get_queue("default")], connection=get_redis_conn())  # as `bench worker` registers
    worker.register_birth()
    try:
        reason = _reason(job.name)
        assert (reason["reason"], reason["queue"], reason["workers"]) == ("in_queue", "Normal", 1)
        FrappeRuntime().remove_message(f"{job.name}-0")
        assert _reason(job.name)["reason"] == "message_missing"
    finally:
        worker.register_death()


def test_another_tenants_job_is_not_found(site):
    job = submit_job("echo", ORG_A, {"n": 2})
    frappe.db.commit()
    frappe.set_user(BOB)
    with pytest.raises(JobNotFoundError):
        explain_wait(job.name)
