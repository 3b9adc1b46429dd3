"""`dartwing-jobs demo`: the whole engine on the embedded default, in about half a minute.

Creates a fresh store, starts one worker process, submits a job that reports progress, one that fails
transiently once and then succeeds, one that fails permanently and lands in Dead Letter (then
retries it by hand) and one delayed by a few seconds, creates a Job Schedule and fires its first
occurrence at once, prints the live events the Flutter clients would receive, and ends with a table.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from dartwing.dartwing_core.background_jobs import get_job_status, schema, submit_job
from dartwing.dartwing_core.background_jobs.delays import release_due
from dartwing.dartwing_core.background_jobs.events import organization_of
from dartwing.dartwing_core.background_jobs.operations import retry_job
from dartwing.dartwing_core.background_jobs.schedule_tick import fire_due_schedules
from dartwing.dartwing_core.background_jobs.schedules import create_schedule, get_schedule
from dartwing.dartwing_core.background_jobs.status import TERMINAL, JobStatus
from dartwing.dartwing_core.background_jobs.sweeps import requeue_due_retries

from . import configure
from .embedded_redis import EmbeddedRedis
from .runtime import EVENTS_CHANNEL
from .seed import ADMIN_USER, DEMO_ORGANIZATION, DEMO_USER, seed

# Short backoff so the demo's retry happens in a second or two instead of a minute.
DEMO_SETTINGS = {"DARTWING_BACKOFF_BASE_SECONDS": "1", "DARTWING_BACKOFF_CAP_SECONDS": "4"}
# (job type, parameters, the status it should end in, submit_job's other arguments)
DEMO_JOBS = (
    ("progress_demo", {"steps": 5, "delay": 0.4}, JobStatus.COMPLETED, {}),
    ("flaky", {"fail_times": 1}, JobStatus.COMPLETED, {}),
    ("always_fails", {"record": "INV-0042"}, JobStatus.DEAD_LETTER, {}),
    ("echo", {"reminder": "in 3 s"}, JobStatus.COMPLETED, {"delay": 3}),
)
DEMO_SCHEDULE = ("echo", "0 6 * * 1-5", "America/New_York", {"report": "morning"})


def _say(text: str) -> None:
    print(text, flush=True)


def _event_line(envelope: dict, job_types: dict[str, str]) -> str:
    message = envelope["message"]
    job = message["job_id"]
    label = f"{job} {job_types.get(job, ''):<13}"
    if envelope["event"] == "job_progress":
        return f"  progress  {label} {message['progress']:>5.0f}%  {message.get('progress_message') or ''}"
    detail = message.get("error_message") or message.get("output_reference") or ""
    if message["to_status"] == JobStatus.FAILED.value:
        detail += _backoff_note(job)
    return f"  status    {label} {message['from_status'] or '—'} → {message['to_status']}  {detail}"


def _backoff_note(job: str) -> str:
    """How long the retry policy waits before the next attempt (empty when none is planned)."""
    view = get_job_status(job)
    if not view.next_retry_at:
        return ""
    wait = (view.next_retry_at - view.modified).total_seconds()
    return f" — retry {view.retry_count} of {view.max_retries} in {wait:.1f}s (backoff)"


def _print_events(pubsub, job_types: dict[str, str], *, wait: float) -> None:
    """Print every event received so far, waiting up to `wait` seconds for the first one (as the
    organization's room carries them; each also goes to its job's own room)."""
    message = pubsub.get_message(timeout=wait)
    while message is not None:
        envelope = json.loads(message["data"]) if message["type"] == "message" else None
        if envelope is not None and organization_of(envelope["room"]) is not None:
            _say(_event_line(envelope, job_types))
        message = pubsub.get_message(timeout=0.01)


def run_demo(home: str | None = None, *, timeout: float = 120) -> int:
    os.environ.update(DEMO_SETTINGS)
    temporary = home is None
    home_path = Path(home or tempfile.mkdtemp(prefix="dartwing-demo-"))
    if not temporary and (home_path / "dartwing.db").exists():
        (home_path / "dartwing.db").unlink()
    worker = None
    try:
        rt = configure(
            home=home_path,
            db_url=f"sqlite:///{home_path / 'dartwing.db'}",
            user=ADMIN_USER,
            create_schema=True,
        )
        seed(rt)
        _say(f"Store: {rt.config.db_url}\nRedis: embedded ({rt.redis_url})")
        pubsub = rt.redis.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(EVENTS_CHANNEL)

        env = {**os.environ, **rt.config.environ(), **DEMO_SETTINGS}
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dartwing.dartwing_core.standalone.cli",
                "worker",
                "--no-forking",
                "--log-level",
                "WARNING",
            ],
            env=env,
        )
        _say(f"Worker: pid {worker.pid} (RQ SimpleWorker on critical, high, normal, low)\n")

        rt.set_user(DEMO_USER)
        job_types: dict[str, str] = {}
        delayed = ""
        with rt.transaction():
            for job_type, params, _expected, options in DEMO_JOBS:
                job = submit_job(job_type, DEMO_ORGANIZATION, params, **options)
                job_types[job.name] = job_type
                if job.get("run_at"):
                    until = rt.aware(job["run_at"]).isoformat(timespec="seconds")
                    delayed = f"; {job.name} ({job_type}) is delayed until {until}"
        expected = {name: DEMO_JOBS[i][2] for i, name in enumerate(job_types)}
        scheduled = _fire_demo_schedule(rt)
        job_types[scheduled] = f"{DEMO_SCHEDULE[0]} (sched)"
        expected[scheduled] = JobStatus.COMPLETED
        _say(f"Submitted {len(DEMO_JOBS)} jobs and 1 scheduled job as {DEMO_USER} for {DEMO_ORGANIZATION!r}{delayed};"
             " live events:")

        dead_letter_job = next(name for name, status in expected.items() if status is JobStatus.DEAD_LETTER)
        retried_by_hand = False
        deadline = time.monotonic() + timeout
        next_sweep = 0.0
        while time.monotonic() < deadline:
            _print_events(pubsub, job_types, wait=0.2)
            if time.monotonic() >= next_sweep:  # what the scheduler does, sped up for the demo
                requeue_due_retries(runtime=rt)
                release_due(rt)  # the delay releaser's pass
                next_sweep = time.monotonic() + 0.5
            statuses = {name: get_job_status(name).status for name in job_types}
            rt.rollback()
            if statuses[dead_letter_job] == JobStatus.DEAD_LETTER.value and not retried_by_hand:
                rt.set_user(ADMIN_USER)
                _say(f"  operator  {dead_letter_job} is in Dead Letter: retrying it by hand as {ADMIN_USER}")
                retry_job(dead_letter_job)
                rt.commit()
                retried_by_hand = True
                continue
            if retried_by_hand and all(JobStatus(s) in TERMINAL for s in statuses.values()):
                break
        _print_events(pubsub, job_types, wait=0.3)
        return _summary(job_types, expected)
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
        EmbeddedRedis(home_path).stop()
        if temporary:
            shutil.rmtree(home_path, ignore_errors=True)


def _fire_demo_schedule(rt) -> str:
    """Create the demo's schedule, make its next occurrence due now (instead of waiting for 06:00 New
    York time) and run the tick the minute sweep runs; returns the job it submitted."""
    job_type, cron, zone, params = DEMO_SCHEDULE
    with rt.transaction():
        schedule = create_schedule(job_type, DEMO_ORGANIZATION, cron, params, timezone=zone, description="demo")
    _say(f"Schedule {schedule['name']}: {job_type} at '{cron}' {zone}, next run {schedule['next_run_at'].isoformat()}")
    with rt.transaction():
        rt.execute(sa.update(schema.job_schedule).where(schema.job_schedule.c.name == schedule["name"])
                   .values(next_run_at=rt.now().replace(second=0, microsecond=0)))
    fire_due_schedules(runtime=rt)
    fired = get_schedule(schedule["name"])
    rt.rollback()
    run = fired["recent_runs"][0]
    _say(f"  tick      {schedule['name']} fired its occurrence {run['occurrence'].isoformat()}: {run['outcome']}"
         f" {fired['last_job']}; next run {fired['next_run_at'].isoformat()}")
    return fired["last_job"]


def _summary(job_types: dict[str, str], expected: dict[str, JobStatus]) -> int:
    _say("\nSummary")
    header = f"{'job':<16} {'type':<14} {'status':<12} {'attempts':>8} {'retries':>7}  result / error"
    _say(header)
    _say("-" * len(header))
    ok = True
    for name, job_type in job_types.items():
        view = get_job_status(name)
        detail = (
            view.output_reference or (view.result and json.dumps(view.result)) or view.error_message or ""
        )
        _say(f"{name:<16} {job_type:<14} {view.status:<12} {view.attempt:>8} {view.retry_count:>7}  {detail}")
        ok &= view.status == expected[name].value
    _say("\nDemo finished as expected." if ok else "\nDemo did NOT finish as expected.")
    return 0 if ok else 1
