"""A non-forking worker's Completed outcome commits with the next job's claim (group_commit.py), and
RQ's own per-job bookkeeping is trimmed (standalone/worker.py): what stays true and what it saves."""

from __future__ import annotations

import time

import pytest
import redis
import sqlalchemy as sa
from conftest import ORG_A, wait_for
from rq.job import Job
from test_execution import EventRecorder

from dartwing.dartwing_core.background_jobs import (
    execution,
    get_job_history,
    group_commit,
    schema,
    submit_job,
)
from dartwing.dartwing_core.background_jobs.execution import flush_outcome, run_job
from dartwing.dartwing_core.background_jobs.overdue import claim_minute_sweep
from dartwing.dartwing_core.background_jobs.sweeps import recover_orphans
from dartwing.dartwing_core.standalone import worker as standalone_worker
from dartwing.dartwing_core.standalone.runtime import RQ_RESULT_TTL_SECONDS, StandaloneRuntime


@pytest.fixture
def grouped(rt, monkeypatch):
    """This process runs jobs as a non-forking worker does: outcomes held for the next claim. (The
    minute sweep's turn, which a run may take, commits a held outcome first: kept out of the way.)"""
    if not standalone_worker.groups_outcomes(rt):
        pytest.skip("SQLite workers commit each outcome at once (standalone/worker.groups_outcomes)")
    monkeypatch.setattr(group_commit, "_enabled", True)
    monkeypatch.setattr(execution, "run_minute_sweep_if_overdue", lambda rt, before=None: False)
    yield rt
    group_commit.committed()


def committed_status(rt: StandaloneRuntime, name: str) -> str:
    """The job's status as another connection sees it: what is durable, not what this one wrote."""
    bj = schema.background_job
    with rt.engine.connect() as other:
        return other.execute(sa.select(bj.c.status).where(bj.c.name == name)).scalar()


def completed_events(recorder: EventRecorder, name: str) -> list[dict]:
    return [e for e in recorder.for_job(name) if e["message"]["to_status"] == "Completed"]


def test_an_outcome_commits_with_the_next_claim_and_is_announced_only_then(grouped):
    rt = grouped
    events = EventRecorder(rt)
    try:
        first, second = (submit_job("echo", ORG_A, {"i": i}) for i in range(2))
        rt.commit()
        assert run_job(first.name, 0) == "Completed"
        time.sleep(0.3)
        assert committed_status(rt, first.name) == "Running"  # held: not durable yet...
        assert completed_events(events, first.name) == []  # ...so not announced either

        assert run_job(second.name, 0) == "Completed"  # its claim commits the first's outcome
        assert committed_status(rt, first.name) == "Completed"
        assert committed_status(rt, second.name) == "Running"
        wait_for(lambda: completed_events(events, first.name), timeout=5, message="first's Completed event")

        flush_outcome(rt)  # what the worker does before it waits for a message
        assert committed_status(rt, second.name) == "Completed"
        wait_for(lambda: completed_events(events, second.name), timeout=5, message="second's Completed event")
    finally:
        events.close()
    steps = [(h["from_status"], h["to_status"]) for h in get_job_history(first.name)]
    assert steps == [(None, "Pending"), ("Pending", "Queued"), ("Queued", "Running"), ("Running", "Completed")]


def test_a_message_that_cannot_be_claimed_still_commits_the_held_outcome(grouped):
    rt = grouped
    job = submit_job("echo", ORG_A, {"once": True})
    rt.commit()
    assert run_job(job.name, 0) == "Completed"
    assert run_job(job.name, 0) == "not claimed"  # a duplicate delivery: its claim writes nothing
    assert committed_status(rt, job.name) == "Completed"
    assert group_commit.pending() is None


def test_a_held_outcome_lost_with_its_worker_is_run_again_by_the_orphan_checks(grouped, monkeypatch):
    rt = grouped
    monkeypatch.setenv("DARTWING_ORPHAN_AFTER_SECONDS", "0.5")
    job = submit_job("echo", ORG_A, {"lost": True})
    rt.commit()
    assert run_job(job.name, 0) == "Completed"
    rt.rollback()  # the worker dies: its server rolls back the open transaction
    group_commit.committed()
    assert committed_status(rt, job.name) == "Running"  # the claim was durable before the handler ran
    time.sleep(0.6)
    assert recover_orphans(runtime=rt) == 1
    rt.commit()
    assert committed_status(rt, job.name) == "Queued"
    assert run_job(job.name, 1) == "Completed"
    flush_outcome(rt)
    steps = [(h["from_status"], h["to_status"]) for h in get_job_history(job.name)]
    assert steps[2:] == [
        ("Queued", "Running"),
        ("Running", "Failed"),  # the lost run is counted, as any worker lost
        ("Failed", "Queued"),
        ("Queued", "Running"),
        ("Running", "Completed"),
    ]


def test_a_finish_spares_the_children_read_only_for_jobs_without_children(rt, monkeypatch):
    ran: list[str] = []
    execute = StandaloneRuntime.execute

    def recording(self, statement, params=None):
        ran.append(getattr(statement, "key", "built"))
        return execute(self, statement, params)

    monkeypatch.setattr(StandaloneRuntime, "execute", recording)
    parent = submit_job("echo", ORG_A, {"role": "parent"})
    child = submit_job("echo", ORG_A, {"role": "child"}, depends_on=parent.name)
    lone = submit_job("echo", ORG_A, {"role": "lone"})
    rt.commit()
    ran.clear()
    assert run_job(lone.name, 0) == "Completed"
    assert "dependencies._WAITING_CHILDREN" not in ran
    assert ran.count("lifecycle._SET_IF_STATUS_AND_ATTEMPT_CHILDLESS") == 1
    ran.clear()
    assert run_job(parent.name, 0) == "Completed"  # the childless UPDATE matches nothing: the plain one runs
    assert "dependencies._WAITING_CHILDREN" in ran
    assert committed_status(rt, child.name) == "Queued"


def test_an_idle_worker_commits_its_last_outcome_before_it_waits(rt, workers):
    assert claim_minute_sweep(rt)  # the sweep's turn, which would commit it too, is taken
    workers.start()
    job = submit_job("echo", ORG_A, {"last": True})
    rt.commit()
    wait_for(lambda: committed_status(rt, job.name) == "Completed", timeout=30, message="the outcome committed")


def test_the_rq_hash_of_a_finished_message_expires_instead_of_being_deleted(rt, workers):
    workers.start()
    job = submit_job("echo", ORG_A, {"hash": True})
    rt.commit()
    wait_for(lambda: committed_status(rt, job.name) == "Completed", timeout=30)
    rq_id = f"{job.name}-0"
    wait_for(lambda: Job.fetch(rq_id, connection=rt.redis).get_status() == "finished", timeout=10)
    assert 0 < rt.redis.ttl(f"rq:job:{rq_id}") <= RQ_RESULT_TTL_SECONDS
    assert rt.messages_pending([rq_id]) == set()  # a finished message is not one waiting for delivery


def test_outcomes_are_grouped_on_a_database_server_only(rt):
    assert standalone_worker.groups_outcomes(rt) is (rt.engine.dialect.name != "sqlite")


def test_the_worker_key_is_stamped_at_most_once_a_second(rt):
    worker = standalone_worker.new_worker(rt, standalone_worker.StopAwareSimpleWorker)
    worker.register_birth()
    try:
        worker.heartbeat()
        first = rt.redis.hget(worker.key, "last_heartbeat")
        worker.heartbeat()
        assert rt.redis.hget(worker.key, "last_heartbeat") == first
        worker._last_stamp -= standalone_worker.WORKER_HEARTBEAT_SECONDS
        time.sleep(0.01)
        worker.heartbeat()
        assert rt.redis.hget(worker.key, "last_heartbeat") != first
        assert rt.redis.ttl(worker.key) > 0
    finally:
        worker.register_death()


def test_idle_is_written_when_the_worker_waits_and_a_state_already_written_is_not_written_again(rt):
    worker = standalone_worker.new_worker(rt, standalone_worker.StopAwareSimpleWorker)
    worker.register_birth()
    state = lambda: rt.redis.hget(worker.key, "state")  # noqa: E731
    try:
        worker.set_state("busy")
        assert state() == b"busy"
        rt.redis.hset(worker.key, "state", "marker")  # shows whether the next write happens
        worker.set_state("busy")
        assert state() == b"marker"
        worker.set_state("idle")  # a job ended: written only if the worker is about to wait
        assert state() == b"marker" and worker.get_state() == "idle"
        worker.queue_class.lpop(worker.queue_keys(), None, connection=rt.redis)  # nothing there
        assert state() == b"idle"
        worker.write_deferred_state()
        rt.redis.hset(worker.key, "state", "marker")
        worker.write_deferred_state()  # written once
        assert state() == b"marker"
        worker.set_state("idle")
        with rt.redis.pipeline() as pipeline:
            worker.set_state("busy", pipeline=pipeline)  # the next job starts: idle is dropped
            pipeline.execute()
        worker.write_deferred_state()
        assert state() == b"busy"
        with rt.redis.pipeline() as pipeline:
            worker.set_state("busy", pipeline=pipeline)  # not executed: nothing was written
        rt.redis.hset(worker.key, "state", "marker")
        worker.set_state("busy")
        assert state() == b"busy"
    finally:
        worker.register_death()


def test_the_workers_connection_skips_rqs_persist_and_dependents_watch_only(rt):
    connection = standalone_worker.new_worker(rt, standalone_worker.StopAwareSimpleWorker).connection
    rt.redis.set("rq:job:JOB-1-0", "x", ex=100)
    rt.redis.set("other", "x", ex=100)
    connection.persist("rq:job:JOB-1-0")
    connection.persist("other")
    assert rt.redis.ttl("rq:job:JOB-1-0") > 0 and rt.redis.ttl("other") == -1
    for key, changed_meanwhile_fails in (("rq:job:JOB-1-0:dependents", False), ("other", True)):
        with connection.pipeline() as pipeline:
            pipeline.watch(key)
            rt.redis.set(key, "changed")
            pipeline.multi()
            pipeline.get(key)
            if changed_meanwhile_fails:
                with pytest.raises(redis.exceptions.WatchError):
                    pipeline.execute()
            else:
                assert pipeline.execute() == [b"changed"]


def test_rq_suspend_is_looked_for_at_most_once_a_second(rt):
    from rq.suspension import resume, suspend
    from rq.worker import StopRequested

    worker = standalone_worker.new_worker(rt, standalone_worker.StopAwareSimpleWorker)
    worker.register_birth()
    try:
        worker.check_for_suspension(burst=True)
        suspend(rt.redis)
        worker.check_for_suspension(burst=True)  # looked less than a second ago: not seen yet
        worker._suspension_checked -= standalone_worker.SUSPENSION_CHECK_SECONDS
        with pytest.raises(StopRequested):
            worker.check_for_suspension(burst=True)
    finally:
        resume(rt.redis)
        worker.register_death()


def test_an_idle_worker_shows_idle_after_its_jobs(rt, workers):
    workers.start()
    job = submit_job("echo", ORG_A, {"state": True})
    rt.commit()
    wait_for(lambda: committed_status(rt, job.name) == "Completed", timeout=30)
    wait_for(lambda: [w["state"] for w in standalone_worker.describe_workers(rt)] == ["idle"], timeout=10)
