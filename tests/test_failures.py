"""Failure semantics with real worker processes: classification, backoff, retries, Dead Letter,
timeouts, SIGKILLed workers, a restarted Redis, lost hand-offs, cancel, dependencies and caps."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa
from conftest import ADMIN, ALICE, BOB, ORG_A, ORG_B, wait_for
from test_submit import CRASH_AFTER_COMMIT

from dartwing.dartwing_core.background_jobs import (
    InvalidTransitionError,
    JobNotFoundError,
    NotPermittedError,
    PermanentError,
    TransientError,
    get_job_history,
    get_job_status,
    schema,
    submission,
    submit_job,
)
from dartwing.dartwing_core.background_jobs.execution import run_job
from dartwing.dartwing_core.background_jobs.operations import cancel_job, retry_job
from dartwing.dartwing_core.background_jobs.retry_policy import ErrorType, backoff_delay, classify
from dartwing.dartwing_core.background_jobs.scheduler import every_minute
from dartwing.dartwing_core.background_jobs.sweeps import recover_outbox
from dartwing.dartwing_core.standalone import admin
from dartwing.dartwing_core.standalone.runtime import QUEUE_NAMES, queue_name

FAST = {
    "DARTWING_HEARTBEAT_SECONDS": "0.3",
    "DARTWING_ORPHAN_AFTER_SECONDS": "2",
    "DARTWING_OUTBOX_GRACE_SECONDS": "0",
    "DARTWING_BACKOFF_BASE_SECONDS": "0.2",
    "DARTWING_BACKOFF_CAP_SECONDS": "1",
}


@pytest.fixture
def fast_sweeps(monkeypatch):
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)


def status_of(rt, name):
    value = get_job_status(name).status
    rt.rollback()
    return value


def sweep_until(rt, name, wanted, timeout=40):
    def check():
        every_minute()
        return status_of(rt, name) in wanted

    wait_for(check, timeout=timeout, interval=0.2, message=f"{name} to reach {wanted}")
    return status_of(rt, name)


def history(name):
    return [(h["from_status"], h["to_status"]) for h in get_job_history(name)]


# --- classification and backoff (no services) -------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TransientError("x"), ErrorType.TRANSIENT),
        (PermanentError("x"), ErrorType.PERMANENT),
        (ConnectionError("x"), ErrorType.TRANSIENT),
        (TimeoutError("x"), ErrorType.TRANSIENT),
        (TimeoutError("x"), ErrorType.TRANSIENT),
        (ValueError("x"), ErrorType.PERMANENT),
        (TypeError("x"), ErrorType.PERMANENT),
        (KeyError("x"), ErrorType.PERMANENT),
        (PermissionError("x"), ErrorType.PERMANENT),
        (RuntimeError("x"), ErrorType.TRANSIENT),
        (ZeroDivisionError("x"), ErrorType.TRANSIENT),
    ],
)
def test_classification_table(exc, expected):
    assert classify(exc) is expected


def test_backoff_is_exponential_capped_and_jittered_within_20_percent():
    rng = random.Random(7)
    for retry, minutes in enumerate([1, 2, 4, 8, 16, 16, 16]):
        for _ in range(200):
            seconds = backoff_delay(retry, base_seconds=60, cap_seconds=960, rng=rng).total_seconds()
            assert minutes * 60 * 0.8 <= seconds <= minutes * 60 * 1.2


# --- retries and Dead Letter --------------------------------------------------------------------


def test_exhaustion_goes_to_dead_letter_after_exactly_max_retries(rt, workers, fast_sweeps):
    workers.start(extra_env=FAST)
    job = submit_job("flaky", ORG_A, {"fail_times": 99}, max_retries=2)
    rt.commit()
    assert sweep_until(rt, job.name, {"Dead Letter"}) == "Dead Letter"
    view = get_job_status(job.name)
    assert view.retry_count == 2 and view.attempt == 3  # 1 run + 2 retries
    runs = [h for h in history(job.name) if h == ("Queued", "Running")]
    assert len(runs) == 3
    assert history(job.name)[-2:] == [("Running", "Failed"), ("Failed", "Dead Letter")]


def test_retry_waits_for_its_backoff(rt, workers, fast_sweeps, monkeypatch):
    slow = {"DARTWING_BACKOFF_BASE_SECONDS": "3", "DARTWING_BACKOFF_CAP_SECONDS": "60"}
    for key, value in slow.items():
        monkeypatch.setenv(key, value)
    workers.start(extra_env={**FAST, **slow})
    job = submit_job("flaky", ORG_A, {"fail_times": 1})
    rt.commit()
    wait_for(lambda: status_of(rt, job.name) == "Failed")
    failed = get_job_status(job.name)
    rt.rollback()
    delay = (failed.next_retry_at - failed.modified).total_seconds()
    assert 3 * 0.8 - 0.05 <= delay <= 3 * 1.2 + 0.05
    every_minute()
    assert status_of(rt, job.name) == "Failed"  # not due yet
    assert sweep_until(rt, job.name, {"Completed"}) == "Completed"


def test_timeout_ends_timed_out_and_is_retried(rt, workers, fast_sweeps):
    workers.start(extra_env=FAST)
    job = submit_job("sleep", ORG_A, {"seconds": 30}, timeout=1, max_retries=1)
    rt.commit()
    wait_for(lambda: status_of(rt, job.name) == "Timed Out", timeout=20)
    assert get_job_status(job.name).error_type == "Timeout"
    rt.rollback()
    assert sweep_until(rt, job.name, {"Dead Letter"}) == "Dead Letter"
    assert ("Timed Out", "Queued") in history(job.name)
    assert history(job.name)[-1] == ("Timed Out", "Dead Letter")
    assert get_job_status(job.name).attempt == 2


def test_manual_retry_of_dead_letter_is_admin_only_and_audited(rt, workers, fast_sweeps):
    workers.start(extra_env=FAST)
    rt.set_user(ALICE)
    job = submit_job("always_fails", ORG_A, {"r": 1})
    rt.commit()
    wait_for(lambda: status_of(rt, job.name) == "Dead Letter")
    with pytest.raises(NotPermittedError):
        retry_job(job.name)
    rt.rollback()
    rt.set_user(ADMIN)
    view = retry_job(job.name)
    rt.commit()  # the action joined this transaction: its message leaves at the commit
    assert view.status == "Queued" and view.retry_count == 0
    wait_for(lambda: status_of(rt, job.name) == "Dead Letter")
    log = schema.job_execution_log
    messages = [
        r["message"] for r in rt.execute(sa.select(log.c.message).where(log.c.background_job == job.name))
    ]
    assert f"Manual retry by {ADMIN}" in messages


def test_completed_job_cannot_be_retried(rt):
    job = submit_job("echo", ORG_A, {"x": 1})
    rt.commit()
    from dartwing.dartwing_core.background_jobs.execution import run_job

    assert run_job(job.name, 0) == "Completed"
    with pytest.raises(InvalidTransitionError):
        retry_job(job.name)


# --- crashes ---------------------------------------------------------------------------------


def test_sigkilled_worker_job_is_recovered_and_completes_once(rt, workers, fast_sweeps):
    victim = workers.start(extra_env=FAST)
    job = submit_job("sleep", ORG_A, {"seconds": 2.5})
    rt.commit()
    wait_for(lambda: status_of(rt, job.name) == "Running")
    time.sleep(0.5)
    os.kill(victim.pid, signal.SIGKILL)  # a worker this test started
    victim.wait()
    killed_at = time.monotonic()
    workers.start(extra_env=FAST)
    sweep_until(rt, job.name, {"Failed", "Queued", "Completed"}, timeout=30)  # left Running: recovered
    recovery_seconds = time.monotonic() - killed_at
    assert sweep_until(rt, job.name, {"Completed"}) == "Completed"
    steps = history(job.name)
    assert steps.count(("Running", "Completed")) == 1
    assert ("Running", "Failed") in steps and steps.count(("Queued", "Running")) == 2
    lost = get_job_status(job.name)
    assert lost.attempt == 2
    print(f"orphan recovered {recovery_seconds:.1f}s after SIGKILL (orphan_after=2s, heartbeat=0.3s)")


def test_redis_restart_with_jobs_queued_all_complete_after_the_sweep(rt, workers, redis_server, fast_sweeps):
    jobs = [submit_job("echo", ORG_A, {"i": i}) for i in range(10)]
    rt.commit()
    assert sum(rt.redis.llen(f"rq:queue:{q}") for q in QUEUE_NAMES) == 10
    redis_server.restart()  # our own redis-server: every RQ message is gone
    rt.redis.connection_pool.reset()
    assert sum(rt.redis.llen(f"rq:queue:{q}") for q in QUEUE_NAMES) == 0
    workers.start(extra_env=FAST)
    for job in jobs:
        assert sweep_until(rt, job.name, {"Completed"}) == "Completed"
        assert history(job.name).count(("Running", "Completed")) == 1


def test_a_worker_outlives_a_redis_restart_in_the_middle_of_a_job(rt, workers, redis_server, fast_sweeps):
    """RQ ends its loop when Redis vanishes while it finishes a job; the worker must work again."""
    worker = workers.start(extra_env=FAST)
    during = submit_job("sleep", ORG_A, {"seconds": 1.5})
    rt.commit()
    wait_for(lambda: status_of(rt, during.name) == "Running", timeout=30, message="the job to start")
    redis_server.stop()  # the job ends while Redis is down: RQ cannot record it and stops its loop
    time.sleep(3)
    redis_server.start()
    rt.redis.connection_pool.reset()

    after = submit_job("echo", ORG_A, {"after": "restart"})
    rt.commit()
    assert sweep_until(rt, after.name, {"Completed"}) == "Completed"
    assert sweep_until(rt, during.name, {"Completed"}) == "Completed"
    assert worker.poll() is None  # the same process, working again


def test_sigterm_stops_an_idle_worker_at_once(rt, workers):
    """The reconnect loop must not mistake a stop request for a lost Redis connection."""
    from rq import Worker

    worker = workers.start()
    # Idle, not just registered: RQ installs its signal handlers after registering the worker.
    idle = lambda: [w.get_state() for w in Worker.all(connection=rt.redis)] == ["idle"]  # noqa: E731
    wait_for(idle, message="the worker to wait for jobs")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=5) == 0


def test_crash_between_commit_and_enqueue_is_recovered_by_the_sweep(rt, workers, fast_sweeps):
    env = {**os.environ, **rt.config.environ()}
    out = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_COMMIT], env=env, capture_output=True, text=True, timeout=60
    )
    name = out.stdout.split()[0]
    assert status_of(rt, name) == "Queued"  # committed, but its RQ message never left
    assert sum(rt.redis.llen(f"rq:queue:{q}") for q in QUEUE_NAMES) == 0
    workers.start(extra_env=FAST)
    assert sweep_until(rt, name, {"Completed"}) == "Completed"


# --- cancel ----------------------------------------------------------------------------------


def test_cancel_pending_queued_failed_and_finished(rt, fast_sweeps):
    rt.set_user(ALICE)
    parent = submit_job("echo", ORG_A, {"p": 1})
    child = submit_job("echo", ORG_A, {"c": 1}, depends_on=parent.name)
    rt.commit()
    assert status_of(rt, child.name) == "Pending" and status_of(rt, parent.name) == "Queued"
    queued_before = sum(rt.redis.llen(f"rq:queue:{q}") for q in QUEUE_NAMES)
    assert cancel_job(child.name).status == "Canceled"
    assert cancel_job(parent.name).status == "Canceled"
    rt.commit()
    assert sum(rt.redis.llen(f"rq:queue:{q}") for q in QUEUE_NAMES) == queued_before - 1  # message removed
    for finished in (parent, child):
        with pytest.raises(InvalidTransitionError):
            cancel_job(finished.name)
    rt.set_user(BOB)
    other = submit_job("echo", ORG_B, {"b": 1})
    rt.commit()
    rt.set_user(ALICE)
    with pytest.raises(JobNotFoundError):
        cancel_job(other.name)
    rt.rollback()
    rt.set_user(BOB)
    assert status_of(rt, other.name) == "Queued"  # untouched by the foreign attempt


def test_cancel_failed_job_waiting_for_retry(rt, workers, fast_sweeps, monkeypatch):
    workers.start(
        extra_env={**FAST, "DARTWING_BACKOFF_BASE_SECONDS": "60", "DARTWING_BACKOFF_CAP_SECONDS": "60"}
    )
    job = submit_job("flaky", ORG_A, {"fail_times": 5})
    rt.commit()
    wait_for(lambda: status_of(rt, job.name) == "Failed")
    assert cancel_job(job.name).status == "Canceled"
    rt.commit()
    every_minute()
    assert status_of(rt, job.name) == "Canceled"


def test_cooperative_cancel_of_a_running_handler(rt, workers, fast_sweeps):
    workers.start(extra_env=FAST)
    job = submit_job("sleep", ORG_A, {"seconds": 30, "check_every": 0.1})
    rt.commit()
    wait_for(lambda: status_of(rt, job.name) == "Running")
    ack = cancel_job(job.name)
    rt.commit()
    assert ack.status == "Running" and ack.cancel_requested is True  # acknowledged at once
    wait_for(lambda: status_of(rt, job.name) == "Canceled", timeout=10)
    assert history(job.name)[-1] == ("Running", "Canceled")


def test_forced_cancel_stops_a_forking_worker_job(rt, workers, fast_sweeps):
    workers.start(forking=True, extra_env=FAST)
    job = submit_job("sleep", ORG_A, {"seconds": 60, "check_every": 30})
    rt.commit()
    wait_for(lambda: status_of(rt, job.name) == "Running")
    time.sleep(0.5)
    cancel_job(job.name, force=True)
    rt.commit()
    assert sweep_until(rt, job.name, {"Canceled"}) == "Canceled"


# --- dependencies ------------------------------------------------------------------------------


def test_dependency_chain_runs_in_order(rt, workers, fast_sweeps):
    a = submit_job("echo", ORG_A, {"step": "a"})
    b = submit_job("echo", ORG_A, {"step": "b"}, depends_on=a.name)
    c = submit_job("echo", ORG_A, {"step": "c"}, depends_on=b.name)
    rt.commit()
    assert [status_of(rt, j.name) for j in (a, b, c)] == ["Queued", "Pending", "Pending"]
    workers.start(extra_env=FAST)
    wait_for(lambda: status_of(rt, c.name) == "Completed")
    views = [get_job_status(j.name) for j in (a, b, c)]
    assert views[0].completed_at <= views[1].started_at and views[1].completed_at <= views[2].started_at
    assert ("Pending", "Queued") in history(b.name)


def test_failure_cascades_to_dependents(rt, workers, fast_sweeps):
    a = submit_job("always_fails", ORG_A, {"step": "a"})
    b = submit_job("echo", ORG_A, {"step": "b"}, depends_on=a.name)
    c = submit_job("echo", ORG_A, {"step": "c"}, depends_on=b.name)
    rt.commit()
    workers.start(extra_env=FAST)
    wait_for(lambda: status_of(rt, c.name) == "Canceled")
    assert status_of(rt, a.name) == "Dead Letter" and status_of(rt, b.name) == "Canceled"
    assert get_job_status(b.name).error_message == f"Dependency {a.name} ended Dead Letter"
    assert get_job_status(c.name).error_message == f"Dependency {b.name} ended Canceled"
    with pytest.raises(Exception, match="will never complete"):
        submit_job("echo", ORG_A, {"step": "d"}, depends_on=a.name)


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_child_committed_after_its_parent_died_is_canceled_not_stuck(rt, fast_sweeps):
    """The race the soak can hit: the child is validated while its parent is alive, the parent ends
    Dead Letter in a transaction that cannot see the uncommitted child, then the child commits."""
    parent = submit_job("always_fails", ORG_A, {"race": "parent"})
    rt.commit()
    child = submit_job("echo", ORG_A, {"race": "child"}, depends_on=parent.name)  # not committed yet
    ended: list[str] = []
    other = threading.Thread(target=lambda: ended.append(run_job(parent.name, 0)))  # its own connection
    other.start()
    other.join()
    assert ended == ["Dead Letter"]
    rt.commit()
    assert status_of(rt, child.name) in ("Pending", "Canceled")
    every_minute()
    assert status_of(rt, child.name) == "Canceled"
    assert get_job_status(child.name).error_message == f"Dependency {parent.name} ended Dead Letter"


# --- outbox sweep paging --------------------------------------------------------------------------


def test_outbox_sweep_reaches_a_stranded_job_behind_another_tenants_capped_flood(
    rt, fast_sweeps, monkeypatch
):
    """Org A's flood waits Pending at its cap (rightly); org B's job, stranded Pending by a crash
    after its commit, is newer than all of them and must still be released by the next sweep."""
    admin.add_organization(rt, ORG_A, max_concurrent_jobs=1)
    admin.add_organization(rt, ORG_B, max_concurrent_jobs=5)
    rt.commit()
    flood = [submit_job("echo", ORG_A, {"n": i}) for i in range(12)]
    rt.commit()
    monkeypatch.setattr(submission, "release_after_commit", lambda rt, job: None)  # the crash
    rt.set_user(BOB)
    stranded = submit_job("echo", ORG_B, {"tenant": "b"})
    rt.commit()
    rt.set_user(ADMIN)
    assert status_of(rt, stranded.name) == "Pending"

    assert recover_outbox(batch=3) == 1  # 11 of A's jobs fill more than three pages before B's
    assert status_of(rt, stranded.name) == "Queued"
    assert [status_of(rt, j.name) for j in flood].count("Queued") == 1  # A's cap still holds


def test_outbox_sweep_resends_a_lost_message_behind_a_backlog_rq_still_holds(rt, fast_sweeps):
    backlog = [submit_job("echo", ORG_A, {"n": i}) for i in range(10)]
    lost = submit_job("echo", ORG_A, {"lost": True})
    rt.commit()
    rt.remove_message(lost.rq_job_id)  # as if Redis had lost just this one

    assert recover_outbox(batch=3) == 1
    assert lost.rq_job_id.encode() in rt.redis.lrange(f"rq:queue:{queue_name('Normal')}", 0, -1)
    assert len(backlog) + 1 == sum(rt.redis.llen(f"rq:queue:{q}") for q in QUEUE_NAMES)


# --- per-organization caps ---------------------------------------------------------------------


def test_one_tenants_flood_does_not_delay_another_beyond_its_cap(rt, workers, fast_sweeps):
    admin.add_organization(rt, ORG_A, max_concurrent_jobs=2)
    rt.commit()
    flood = [submit_job("sleep", ORG_A, {"seconds": 0.05, "n": i}) for i in range(200)]
    rt.commit()
    bj = schema.background_job
    in_flight = rt.execute(
        sa.select(sa.func.count())
        .select_from(bj)
        .where(bj.c.organization == ORG_A, bj.c.status.in_(["Queued", "Running"]))
    ).scalar()
    rt.rollback()
    assert in_flight == 2  # the other 198 wait Pending, outside RQ
    workers.start(extra_env=FAST)
    rt.set_user(BOB)
    other = submit_job("echo", ORG_B, {"tenant": "b"})
    rt.commit()
    wait_for(lambda: status_of(rt, other.name) == "Completed", timeout=20)
    rt.set_user(ADMIN)
    done_a = rt.execute(
        sa.select(sa.func.count())
        .select_from(bj)
        .where(bj.c.organization == ORG_A, bj.c.status == "Completed")
    ).scalar()
    rt.rollback()
    assert done_a < 100, f"org B waited for {done_a} of org A's jobs"
    wait_for(lambda: status_of(rt, flood[-1].name) == "Completed", timeout=120)
    log = schema.job_execution_log
    order = [
        r["background_job"]
        for r in rt.execute(
            sa.select(log.c.background_job)
            .where(log.c.organization == ORG_A, log.c.to_status == "Running")
            .order_by(log.c.timestamp, log.c.name)
        )
    ]
    assert order == [j.name for j in flood]  # released in submission order


def test_the_retry_policy_decides_between_a_retry_and_dead_letter():
    from dartwing.dartwing_core.background_jobs.retry_policy import delay_before_retry

    policy = {"base_seconds": 60, "cap_seconds": 960}
    assert delay_before_retry({"retry_count": 0, "max_retries": 5}, ErrorType.PERMANENT, **policy) is None
    assert delay_before_retry({"retry_count": 5, "max_retries": 5}, ErrorType.TRANSIENT, **policy) is None
    third = delay_before_retry({"retry_count": 2, "max_retries": 5}, ErrorType.TIMEOUT, **policy)
    assert 0.8 * 240 <= third.total_seconds() <= 1.2 * 240
