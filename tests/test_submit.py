"""submit_job on SQLite and MariaDB: validation, tenancy, transactions, outbox and dedup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from conftest import ADMIN, ALICE, BOB, ORG_A, ORG_B, free_port

from dartwing.dartwing_core.background_jobs import (
    DuplicateJobError,
    InvalidInputError,
    JobStatus,
    NotPermittedError,
    get_job_status,
    schema,
    submit_job,
)
from dartwing.dartwing_core.background_jobs.submission import MAX_PARAMETERS_BYTES
from dartwing.dartwing_core.background_jobs.sweeps import recover_outbox
from dartwing.dartwing_core.standalone import admin
from dartwing.dartwing_core.standalone.runtime import QUEUE_NAMES, queue_name


def snapshot(rt) -> dict:
    """Everything a rejected submit must leave untouched: job rows, log rows, RQ queues."""
    counts = {
        t.name: rt.execute(sa.select(sa.func.count()).select_from(t)).scalar()
        for t in (schema.background_job, schema.job_execution_log)
    }
    rt.rollback()
    counts["rq"] = {q: rt.redis.llen(f"rq:queue:{q}") for q in QUEUE_NAMES}
    return counts


def test_submit_queues_in_the_callers_transaction_and_sends_after_commit(rt):
    rt.set_user(ALICE)
    job = submit_job("echo", ORG_A, {"hello": "world"}, priority="High")
    assert job.name.startswith("JOB-") and job.status == "Queued"
    assert rt.redis.llen(f"rq:queue:{queue_name('High')}") == 0  # nothing leaves before the commit
    rt.commit()
    view = get_job_status(job.name)
    assert view.status == JobStatus.QUEUED.value
    assert view.owner == ALICE and view.priority == "High" and view.timeout == 300 and view.max_retries == 5
    assert rt.redis.lrange(f"rq:queue:{queue_name('High')}", 0, -1) == [f"{job.name}-0".encode()]
    log = schema.job_execution_log
    transitions = [
        (r["from_status"], r["to_status"])
        for r in rt.execute(
            sa.select(log.c.from_status, log.c.to_status)
            .where(log.c.background_job == job.name)
            .order_by(log.c.name)
        )
    ]
    assert transitions == [(None, "Pending"), ("Pending", "Queued")]


def test_names_follow_the_series(rt):
    first = submit_job("noop", ORG_A)
    second = submit_job("noop", ORG_A)
    rt.commit()
    year = rt.now().year
    assert first.name == f"JOB-{year}-00001" and second.name == f"JOB-{year}-00002"


def test_rollback_leaves_no_row_and_enqueues_nothing(rt):
    before = snapshot(rt)
    job = submit_job("echo", ORG_A, {"n": 1})
    rt.rollback()
    assert snapshot(rt) == before
    with pytest.raises(Exception, match="not found"):
        get_job_status(job.name)


def test_submit_inside_a_failing_transaction_block(rt):
    before = snapshot(rt)
    with pytest.raises(RuntimeError), rt.transaction():
        submit_job("echo", ORG_A, {"n": 2})
        raise RuntimeError("the caller's own work failed")
    assert snapshot(rt) == before


BAD_INPUTS = [
    pytest.param({"job_type": "no_such_type"}, InvalidInputError, "Unknown job type", id="unknown-type"),
    pytest.param({"job_type": ""}, InvalidInputError, "job_type is required", id="empty-type"),
    pytest.param({"job_type": "disabled_type"}, InvalidInputError, "disabled", id="disabled-type"),
    pytest.param({"organization": "Nope Inc"}, InvalidInputError, "Unknown organization", id="unknown-org"),
    pytest.param({"organization": "Old Org"}, InvalidInputError, "Inactive", id="inactive-org"),
    pytest.param({"organization": "Gone Org"}, InvalidInputError, "Dissolved", id="dissolved-org"),
    pytest.param({"parameters": [1, 2]}, InvalidInputError, "JSON object", id="params-list"),
    pytest.param({"parameters": "not json"}, InvalidInputError, "JSON object", id="params-bad-json"),
    pytest.param({"parameters": '"a string"'}, InvalidInputError, "JSON object", id="params-json-string"),
    pytest.param(
        {"parameters": {"blob": "x" * MAX_PARAMETERS_BYTES}},
        InvalidInputError,
        "limit",
        id="params-too-large",
    ),
    pytest.param(
        {"parameters": {"x": object()}}, InvalidInputError, "serialisable", id="params-unserialisable"
    ),
    pytest.param({"priority": "Urgent"}, InvalidInputError, "invalid priority", id="bad-priority"),
    pytest.param({"priority": 7}, InvalidInputError, "invalid priority", id="numeric-priority"),
    pytest.param({"timeout": 0}, InvalidInputError, "timeout", id="timeout-zero"),
    pytest.param({"timeout": "soon"}, InvalidInputError, "timeout", id="timeout-text"),
    pytest.param({"max_retries": -1}, InvalidInputError, "max_retries", id="retries-negative"),
    pytest.param({"max_retries": 1000}, InvalidInputError, "max_retries", id="retries-huge"),
    pytest.param({"depends_on": "JOB-2000-99999"}, InvalidInputError, "not found", id="unknown-parent"),
    pytest.param({"organization": ORG_B}, NotPermittedError, "not an active member", id="other-tenant"),
    pytest.param({"job_type": "admin_only"}, NotPermittedError, "requires the role", id="missing-role"),
    pytest.param(
        {"organization": "Org A'; DROP TABLE `tabBackground Job`; --"},
        InvalidInputError,
        "Unknown organization",
        id="sql-injection",
    ),
]


@pytest.mark.parametrize(("override", "error", "text"), BAD_INPUTS)
def test_bad_input_is_rejected_and_changes_nothing(rt, override, error, text):
    admin.add_organization(rt, "Old Org", status="Inactive")
    admin.add_organization(rt, "Gone Org", status="Dissolved")
    for org in ("Old Org", "Gone Org"):
        admin.add_member(rt, ALICE, org)
    admin.upsert_job_type(
        rt, "disabled_type", "dartwing.dartwing_core.background_jobs.handlers.examples.echo", is_enabled=False
    )
    admin.upsert_job_type(
        rt,
        "admin_only",
        "dartwing.dartwing_core.background_jobs.handlers.examples.echo",
        requires_role="Payroll Manager",
    )
    rt.commit()
    before = snapshot(rt)
    rt.set_user(ALICE)
    args = {"job_type": "echo", "organization": ORG_A, "parameters": {"ok": True}, **override}
    with pytest.raises(error, match=text):
        submit_job(**args)
    rt.commit()  # even a commit after the failure must find nothing to write
    assert snapshot(rt) == before
    assert rt.execute(sa.select(sa.func.count()).select_from(schema.background_job)).scalar() == 0


def test_parent_in_another_org_is_reported_missing(rt):
    rt.set_user(BOB)
    parent = submit_job("echo", ORG_B, {"p": 1})
    rt.commit()
    rt.set_user(ALICE)
    with pytest.raises(InvalidInputError, match="not found"):
        submit_job("echo", ORG_A, {"c": 1}, depends_on=parent.name)


def test_tenancy_member_of_a_cannot_submit_for_b_but_admin_can(rt):
    rt.set_user(ALICE)
    with pytest.raises(NotPermittedError):
        submit_job("echo", ORG_B, {"x": 1})
    admin.add_member(rt, ALICE, ORG_B, status="Inactive")  # an inactive membership grants nothing
    rt.commit()
    with pytest.raises(NotPermittedError):
        submit_job("echo", ORG_B, {"x": 1})
    rt.set_user(ADMIN)
    assert submit_job("echo", ORG_B, {"x": 1}).organization == ORG_B
    rt.commit()


def test_dedup_within_the_window_names_the_existing_job(rt):
    first = submit_job("echo", ORG_A, {"b": 2, "a": 1})
    rt.commit()
    with pytest.raises(DuplicateJobError) as caught:
        submit_job("echo", ORG_A, {"a": 1, "b": 2})
    assert caught.value.existing_job == first.name and caught.value.existing_status == "Queued"
    assert caught.value.http_status_code == 409
    rt.rollback()
    # Different parameters, organization or type are different jobs.
    submit_job("echo", ORG_A, {"a": 1, "b": 3})
    submit_job("echo", ORG_B, {"a": 1, "b": 2})
    rt.commit()


def test_dedup_slot_frees_after_the_window(rt):
    first = submit_job("echo", ORG_A, {"k": 1})
    rt.commit()
    bj = schema.background_job
    rt.execute(
        sa.update(bj).where(bj.c.name == first.name).values(creation=rt.now() - timedelta(seconds=301))
    )
    rt.commit()
    second = submit_job("echo", ORG_A, {"k": 1})
    rt.commit()
    assert second.name != first.name
    hashes = {r["name"]: r["job_hash"] for r in rt.execute(sa.select(bj.c.name, bj.c.job_hash))}
    assert hashes[first.name] is None and hashes[second.name] == second.parameters_hash


def test_dedup_slot_frees_when_the_holder_finishes(rt):
    first = submit_job("echo", ORG_A, {"k": 2})
    rt.commit()
    bj = schema.background_job
    rt.execute(sa.update(bj).where(bj.c.name == first.name).values(status="Completed", job_hash=None))
    rt.commit()
    assert submit_job("echo", ORG_A, {"k": 2}).name != first.name
    rt.commit()


def test_zero_window_disables_dedup(rt):
    a = submit_job("noop", ORG_A, {"same": True})
    b = submit_job("noop", ORG_A, {"same": True})
    rt.commit()
    assert a.job_hash is None and b.job_hash is None and a.parameters_hash == b.parameters_hash


CRASH_AFTER_COMMIT = """
import os, sys
from dartwing.dartwing_core.standalone import configure
from dartwing.dartwing_core.background_jobs import submit_job
rt = configure()
rt.after_commit(lambda: os._exit(0))   # registered first: the process dies right after COMMIT
job = submit_job("echo", "Org A", {"crash": True})
print(job.name, flush=True)
rt.commit()
print("unreachable", flush=True)
"""


def test_crash_between_commit_and_enqueue_leaves_a_queued_row_the_sweep_resends(rt, monkeypatch):
    env = {**os.environ, **rt.config.environ()}
    out = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_COMMIT], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    name = out.stdout.split()[0]
    assert "unreachable" not in out.stdout
    view = get_job_status(name)
    assert view.status == "Queued"  # committed, never handed to RQ: the minute sweep's work
    assert all(rt.redis.llen(f"rq:queue:{q}") == 0 for q in QUEUE_NAMES)
    monkeypatch.setenv("DARTWING_OUTBOX_GRACE_SECONDS", "0")
    assert recover_outbox() == 1
    assert rt.redis.lrange(f"rq:queue:{queue_name('Normal')}", 0, -1) == [f"{name}-0".encode()]


def test_redis_down_at_commit_leaves_queued_rows_the_sweep_resends(rt, monkeypatch):
    """The commit's RQ messages and events go to Redis in one batch; if Redis is down the commit
    still stands, the caller gets no error, and the outbox sweep sends the messages later."""
    jobs = [submit_job("noop", ORG_A, {"i": i}) for i in range(3)]
    reachable = rt.redis
    monkeypatch.setattr(rt, "redis", redis.Redis(port=free_port(), socket_connect_timeout=1))
    rt.commit()
    monkeypatch.setattr(rt, "redis", reachable)
    assert [get_job_status(job.name).status for job in jobs] == ["Queued"] * 3
    assert all(rt.redis.llen(f"rq:queue:{q}") == 0 for q in QUEUE_NAMES)
    monkeypatch.setenv("DARTWING_OUTBOX_GRACE_SECONDS", "0")
    assert recover_outbox() == 3
    queued = rt.redis.lrange(f"rq:queue:{queue_name('Normal')}", 0, -1)
    assert sorted(queued) == sorted(f"{job.name}-0".encode() for job in jobs)


def test_one_commit_sends_its_messages_and_events_in_one_redis_transaction(rt):
    jobs = [submit_job("noop", ORG_A, {"i": i}) for i in range(2)]
    before = rt.redis.info("commandstats")
    rt.commit()
    after = rt.redis.info("commandstats")
    queued = rt.redis.lrange(f"rq:queue:{queue_name('Normal')}", 0, -1)
    assert sorted(queued) == sorted(f"{job.name}-0".encode() for job in jobs)
    assert after["cmdstat_exec"]["calls"] - before.get("cmdstat_exec", {"calls": 0})["calls"] == 1
    # each job's Queued event goes to its organization's room (its document's room can have no
    # member before the submit returns its name)
    assert after["cmdstat_publish"]["calls"] - before.get("cmdstat_publish", {"calls": 0})["calls"] == 2


def test_parameters_are_stored_canonically(rt):
    job = submit_job("echo", ORG_A, '{"z": 1, "a": [1, 2]}')
    rt.commit()
    stored = rt.execute(
        sa.select(schema.background_job.c.parameters).where(schema.background_job.c.name == job.name)
    ).scalar()
    assert stored == '{"a":[1,2],"z":1}' and json.loads(stored) == {"a": [1, 2], "z": 1}
