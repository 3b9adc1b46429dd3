"""A killed worker's job is run again at once, without the retry backoff: the crash was the
worker's, not the handler's. Real worker processes, SIGKILLed by PID; the backoff stays at its
production value (60 s), so only a re-run that skips it can finish within the test. With the
scheduler's orphan checks, the re-run begins within a minute of the kill (scaled down here)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from conftest import ORG_A, wait_for
from rq import Worker

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


# The production settings (heartbeat 10 s, orphan after 30 s, orphan check every 10 s) divided by SCALE:
# the bound on kill -> re-run, 60 s in production, becomes 60 / SCALE.
SCALE = 10
SCALED = {
    "DARTWING_HEARTBEAT_SECONDS": "1",
    "DARTWING_ORPHAN_AFTER_SECONDS": "3",
    "DARTWING_ORPHAN_CHECK_SECONDS": "1",
    "DARTWING_BACKOFF_BASE_SECONDS": "60",
}


def test_a_killed_workers_job_runs_again_within_a_scaled_minute_of_the_kill(rt, workers):
    """Finding 6: kill -> re-run within 60 s with production settings; here scaled by 1/SCALE, with
    the scheduler process (`dartwing-jobs scheduler`) doing the orphan checks."""
    job = submit_job("sleep", ORG_A, {"seconds": 30})
    rt.commit()
    victim = workers.start(extra_env=SCALED)
    wait_for(lambda: status_of(rt, job.name).status == "Running")
    spare = workers.start(extra_env=SCALED)  # the spare that takes the re-run
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "dartwing.dartwing_core.standalone.cli", "scheduler"],
        env={**workers.env, **SCALED},
        stderr=subprocess.DEVNULL,
    )
    workers.processes.append(scheduler)  # stopped (by PID) with the workers
    wait_for(lambda: len(Worker.all(connection=rt.redis)) == 2, message="spare worker up")
    os.kill(victim.pid, signal.SIGKILL)  # a worker this test started
    killed = datetime.now(timezone.utc)
    victim.wait()
    wait_for(lambda: status_of(rt, job.name).attempt == 2 and status_of(rt, job.name).status == "Running")
    history = get_job_history(job.name)
    rt.rollback()
    rerun = [h for h in history if (h["from_status"], h["to_status"]) == ("Queued", "Running")][-1]
    assert [h["message"] for h in history if h["to_status"] == "Queued"][-1] == "Re-run after the worker was lost"
    assert rerun["timestamp"] - killed < timedelta(seconds=60 / SCALE), rerun["timestamp"] - killed
    spare.kill()  # its re-run sleeps on for half a minute, which a SIGTERM would wait for
    spare.wait()
