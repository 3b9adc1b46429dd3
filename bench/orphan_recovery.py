"""How long after a SIGKILL a worker's job runs again, with the production settings.

Heartbeat every 10 s, orphan after 30 s of silence, orphan check every 10 s by `dartwing-jobs
scheduler`: the re-run must begin within 60 s of the kill (the design gives 20-40 s plus the spare
worker's pick-up). Each round lets a worker take a job, starts a spare worker, kills the first one by
PID at a random moment of its heartbeat cycle, and times kill -> the re-run's Queued -> Running
transition; the re-run is then canceled, so the spare is the next round's victim. Runs in a temporary
home on the embedded default, or with `--mariadb` on a database of its own on this machine's
MariaDB (dropped at the end); prints p50 / p99 / max over the rounds and the environment.

    python bench/orphan_recovery.py [--kills 6] [--mariadb]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import datetime, timezone

import sqlalchemy as sa
from common import own_mariadb_database, percentiles, wait_until
from rq import Worker

from dartwing.dartwing_core.background_jobs import get_job_history, get_job_status, submit_job
from dartwing.dartwing_core.background_jobs.operations import cancel_job
from dartwing.dartwing_core.background_jobs.settings import settings
from dartwing.dartwing_core.standalone import configure
from dartwing.dartwing_core.standalone.embedded_redis import EmbeddedRedis
from dartwing.dartwing_core.standalone.seed import DEMO_ORGANIZATION, seed

BOUND_SECONDS = 60


def _status(rt, name: str):
    """The job's view, or None while SQLite is busy with another process's write (asked again)."""
    try:
        return get_job_status(name)
    except sa.exc.OperationalError:
        return None
    finally:
        rt.rollback()


def _one_kill(rt, victim: subprocess.Popen, start_worker, workers_up) -> tuple[float, subprocess.Popen]:
    """One round: `victim` (the only idle worker) takes a job, a spare starts, the victim is killed.
    Returns kill -> re-run in seconds, and the spare (the next round's victim)."""
    job = submit_job("sleep", DEMO_ORGANIZATION, {"seconds": 600, "check_every": 0.5})
    rt.commit()
    wait_until(lambda: getattr(_status(rt, job.name), "status", None) == "Running", 60, "claim")
    registered = workers_up()  # a killed worker stays registered until its key expires
    spare = start_worker()
    wait_until(lambda: workers_up() > registered, 60, "spare worker")
    time.sleep(random.uniform(0, settings().heartbeat_seconds))  # any phase of the heartbeat
    os.kill(victim.pid, signal.SIGKILL)  # a worker this run started
    killed = datetime.now(timezone.utc)
    victim.wait()
    wait_until(
        lambda: (view := _status(rt, job.name)) is not None and view.attempt == 2 and view.status == "Running",
        BOUND_SECONDS * 3,
        "re-run",
    )
    history = get_job_history(job.name)
    rt.rollback()
    rerun = [h for h in history if (h["from_status"], h["to_status"]) == ("Queued", "Running")][-1]
    cancel_job(job.name)  # the spare is free again once the handler sees it
    rt.commit()
    wait_until(lambda: getattr(_status(rt, job.name), "status", None) == "Canceled", 60, "cancel")
    return (rerun["timestamp"] - killed).total_seconds(), spare


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--mariadb", action="store_true", help="on MariaDB instead of the embedded SQLite")
    args = parser.parse_args()
    with own_mariadb_database("orphans") if args.mariadb else nullcontext(None) as db_url:
        return _measure(args.kills, db_url)


def _measure(kills: int, db_url: str | None) -> int:
    home = tempfile.mkdtemp(prefix="dartwing-orphan-")
    rt = configure(home=home, db_url=db_url, create_schema=True)
    seed(rt)
    env = {**os.environ, **rt.config.environ()}
    cli = [sys.executable, "-m", "dartwing.dartwing_core.standalone.cli"]

    processes: list[subprocess.Popen] = []  # every process this run starts, stopped at the end

    def start_worker() -> subprocess.Popen:
        processes.append(subprocess.Popen([*cli, "worker", "--no-forking", "--log-level", "WARNING"], env=env))
        return processes[-1]

    def workers_up() -> int:
        return len(Worker.all(connection=rt.redis))

    victim = start_worker()
    processes.append(subprocess.Popen([*cli, "scheduler"], env=env, stderr=subprocess.DEVNULL))
    delays: list[float] = []
    try:
        wait_until(lambda: workers_up() == 1, 60, "first worker")
        for _ in range(kills):
            delay, victim = _one_kill(rt, victim, start_worker, workers_up)
            delays.append(delay)
    finally:
        for proc in processes:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        EmbeddedRedis(rt.config.home).stop()
    figures = percentiles(delays)
    s = settings()
    print(
        f"kill -> re-run over {len(delays)} SIGKILLs: p50 {figures['p50']:.1f}s, p99 {figures['p99']:.1f}s, "
        f"max {max(delays):.1f}s (bound {BOUND_SECONDS}s); each: {', '.join(f'{d:.1f}' for d in delays)}"
    )
    print(
        f"settings: heartbeat {s.heartbeat_seconds:g}s, orphan after {s.orphan_after_seconds:g}s, "
        f"orphan check every {s.orphan_check_seconds:g}s; environment: Python {platform.python_version()}, "
        f"{platform.platform()}, {os.cpu_count()} CPUs, {'MariaDB' if db_url else 'embedded SQLite'} + embedded Redis"
    )
    return 0 if max(delays) <= BOUND_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
