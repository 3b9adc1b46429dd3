"""How long a SIGKILLed worker's job takes to be recovered with the production settings.

Heartbeat every 10 s, orphan after 45 s of silence, sweep from `dartwing-jobs scheduler` on its
minute schedule: the job must be back in the queue 45–105 s after the kill (DESIGN: within 60–120 s
of the sweep finding it). Runs on the embedded default in a temporary home; prints one line.

    python bench/orphan_recovery.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

from dartwing.dartwing_core.background_jobs import get_job_history, get_job_status, submit_job
from dartwing.dartwing_core.standalone import configure
from dartwing.dartwing_core.standalone.embedded_redis import EmbeddedRedis
from dartwing.dartwing_core.standalone.seed import DEMO_ORGANIZATION, seed


def main() -> int:
    home = tempfile.mkdtemp(prefix="dartwing-orphan-")
    rt = configure(home=home, create_schema=True)
    seed(rt)
    env = {**os.environ, **rt.config.environ()}
    cli = [sys.executable, "-m", "dartwing.dartwing_core.standalone.cli"]
    worker = subprocess.Popen([*cli, "worker", "--no-forking", "--log-level", "WARNING"], env=env)
    scheduler = subprocess.Popen([*cli, "scheduler"], env=env, stderr=subprocess.DEVNULL)
    try:
        job = submit_job("sleep", DEMO_ORGANIZATION, {"seconds": 600})
        rt.commit()
        while get_job_status(job.name).status != "Running":
            rt.rollback()
            time.sleep(0.2)
        time.sleep(11)  # let at least one heartbeat land
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        killed = time.monotonic()
        while get_job_status(job.name).status == "Running":
            rt.rollback()
            time.sleep(0.5)
        recovered = time.monotonic() - killed
        steps = [(h["from_status"], h["to_status"], h["message"]) for h in get_job_history(job.name)][-1:]
        print(
            f"orphan recovered {recovered:.1f}s after SIGKILL with production settings "
            f"(heartbeat 10s, orphan after 45s, minute sweep); last transition: {steps}"
        )
        return 0 if 45 <= recovered <= 120 else 1
    finally:
        for proc in (worker, scheduler):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        EmbeddedRedis(rt.config.home).stop()


if __name__ == "__main__":
    sys.exit(main())
