"""A killed worker's job is run again at once, without the retry backoff: the crash was the
worker's, not the handler's. Real worker processes, SIGKILLed by PID; the backoff stays at its
production value (60 s), so only a re-run that skips it can finish within the test."""

from __future__ import annotations

import os
import signal

from conftest import ORG_A, wait_for

from dartwing.dartwing_core.background_jobs import get_job_history, get_job_status, submit_job
from dartwing.dartwing_core.background_jobs.sweeps import recover_orphans

DETECT_FAST = {"DARTWING_HEARTBEAT_SECONDS": "0.3", "DARTWING_ORPHAN_AFTER_SECONDS": "2"}


def status_of(rt, name):
    value = get_job_status(name)
    rt.rollback()
    return value


def kill_worker_running(rt, workers, job_name):
    victim = workers.start(extra_env=DETECT_FAST)
    wait_for(lambda: status_of(rt, job_name).status == "Running")
    os.kill(victim.pid, signal.SIGKILL)  # a worker this test started
    victim.wait()


def recover_when_silent(rt, job_name):
    wait_for(lambda: recover_orphans(runtime=rt) == 1, timeout=30, interval=0.2, message="orphan recovery")
    return status_of(rt, job_name)


def test_a_lost_workers_job_is_queued_again_in_the_same_sweep(rt, workers, monkeypatch):
    for key, value in DETECT_FAST.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DARTWING_BACKOFF_BASE_SECONDS", "60")
    job = submit_job("sleep", ORG_A, {"seconds": 3})
    rt.commit()
    kill_worker_running(rt, workers, job.name)
    after = recover_when_silent(rt, job.name)
    assert after.status == "Queued" and after.retry_count == 1 and after.next_retry_at is None
    steps = [(h["from_status"], h["to_status"]) for h in get_job_history(job.name)]
    assert steps[-2:] == [("Running", "Failed"), ("Failed", "Queued")]
    assert rt.messages_pending([f"{job.name}-{after.attempt}"])  # sent: a worker takes it now, no backoff
    workers.start(extra_env=DETECT_FAST)
    wait_for(lambda: status_of(rt, job.name).status == "Completed", timeout=30)


def test_a_job_that_keeps_killing_its_worker_ends_in_dead_letter(rt, workers, monkeypatch):
    for key, value in DETECT_FAST.items():
        monkeypatch.setenv(key, value)
    job = submit_job("sleep", ORG_A, {"seconds": 3}, max_retries=0)
    rt.commit()
    kill_worker_running(rt, workers, job.name)
    assert recover_when_silent(rt, job.name).status == "Dead Letter"
