"""explain_job: why a job is not running, read from the rules that hold it (both stores, real Redis)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from conftest import ADMIN, ALICE, BOB, ORG_A

from dartwing.dartwing_core.api import service
from dartwing.dartwing_core.background_jobs import JobNotFoundError, schema, submit_job
from dartwing.dartwing_core.background_jobs.execution import run_job
from dartwing.dartwing_core.background_jobs.waiting import explain_wait
from dartwing.dartwing_core.standalone.runtime import QUEUE_NAMES


def _reasons(job_id: str) -> list[str]:
    return [reason["reason"] for reason in explain_wait(job_id)["reasons"]]


def _as(rt, user):
    rt.set_user(user)


def test_a_child_waits_for_its_parent_then_is_released(rt):
    parent = submit_job("echo", ORG_A, {"step": 1})
    child = submit_job("echo", ORG_A, {"step": 2}, depends_on=parent.name)
    rt.commit()
    answer = explain_wait(child.name)
    assert answer["waiting"] and answer["status"] == "Pending"
    assert answer["reasons"][0] | {"message": None} == {
        "reason": "parent", "message": None, "parent": parent.name, "parent_status": "Queued",
    }
    assert run_job(parent.name, 0) == "Completed"
    assert _reasons(child.name) == ["no_worker"]  # released to the queue; no worker here


def test_a_job_over_its_organizations_cap_names_the_cap(rt):
    rt.execute(sa.update(schema.organization).where(schema.organization.c.name == ORG_A).values(max_concurrent_jobs=1))
    rt.commit()
    first = submit_job("echo", ORG_A, {"n": 1})
    second = submit_job("echo", ORG_A, {"n": 2})
    rt.commit()
    reason = explain_wait(second.name)["reasons"][0]
    assert (reason["reason"], reason["limit"], reason["in_flight"]) == ("organization_cap", 1, 1)
    assert _reasons(first.name) == ["no_worker"]


def test_a_queued_job_knows_whether_a_worker_serves_its_queue_and_whether_rq_holds_it(rt):
    from rq import Worker

    job = submit_job("echo", ORG_A, {"n": 1})
    rt.commit()
    assert _reasons(job.name) == ["no_worker"]
    worker = Worker(list(QUEUE_NAMES), connection=rt.redis)  # a real registration in our Redis
    worker.register_birth()
    try:
        reason = explain_wait(job.name)["reasons"][0]
        assert (reason["reason"], reason["queue"], reason["workers"]) == ("in_queue", "Normal", 1)
        rt.remove_message(f"{job.name}-0")  # as if the process died between commit and send
        assert _reasons(job.name) == ["message_missing"]
    finally:
        worker.register_death()


def test_a_failed_job_shows_its_planned_retry_and_running_and_finished_jobs_do_not_wait(rt):
    flaky = submit_job("flaky", ORG_A, {"fail_times": 1})
    done = submit_job("echo", ORG_A, {"n": 1})
    rt.commit()
    assert run_job(flaky.name, 0) == "Failed"
    answer = explain_wait(flaky.name)
    assert answer["waiting"] and answer["reasons"][0]["reason"] == "retry_planned"
    assert answer["reasons"][0]["until"] is not None and "simulated outage" in answer["reasons"][0]["error_message"]
    assert run_job(done.name, 0) == "Completed"
    assert explain_wait(done.name) == {
        "job_id": done.name, "status": "Completed", "waiting": False,
        "reasons": [{"reason": "finished", "message": "Finished: Completed"}],
    }


def test_another_tenants_job_is_not_found(rt):
    _as(rt, ALICE)
    job = submit_job("echo", ORG_A, {"n": 1})
    rt.commit()
    _as(rt, BOB)
    with pytest.raises(JobNotFoundError):
        explain_wait(job.name)
    _as(rt, ADMIN)
    assert explain_wait(job.name)["job_id"] == job.name


def test_http_answers_the_explanation_and_404_across_tenants(api, rt):
    created = api.call("POST", "submit_job", json={"job_type": "echo", "organization": ORG_A, "parameters": {}})
    job_id = created.json()["message"]["job_id"]
    mine = api.call("GET", "explain_job", params={"job_id": job_id})
    assert mine.status_code == 200 and mine.json()["message"]["reasons"][0]["reason"] == "no_worker"
    assert api.call("GET", "explain_job", user=BOB, params={"job_id": job_id}).status_code == 404
    assert api.call("GET", "explain_job", params={"job_id": "nope"}).status_code == 400


def test_the_api_gives_the_planned_retry_time_with_its_offset(rt):
    """Finding 9 on this answer too: `until` names an instant (standalone stores UTC)."""
    flaky = submit_job("flaky", ORG_A, {"fail_times": 1})
    rt.commit()
    assert run_job(flaky.name, 0) == "Failed"
    until = service.explain_job(job_id=flaky.name)["reasons"][0]["until"]
    rt.rollback()
    assert datetime.fromisoformat(until).utcoffset() == timedelta(0) and "T" in until
