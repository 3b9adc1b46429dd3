"""`dartwing-jobs scheduler`: the hooks.py schedule, standalone, safe to run on several hosts.

Each tick of each schedule runs once across all schedulers: before running, a scheduler takes a
Redis key named after the schedule and the tick's minute (SET NX with an expiry); whoever gets it
runs the tick, everyone else skips it.
"""

from __future__ import annotations

import importlib
import logging
import time
from datetime import datetime, timezone

from croniter import croniter

from dartwing.dartwing_core.background_jobs.scheduler import SCHEDULE

from .runtime import StandaloneRuntime

log = logging.getLogger("dartwing.scheduler")
LOCK_SECONDS = 3600


def _function(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def claim_tick(rt: StandaloneRuntime, path: str, tick: datetime) -> bool:
    """True for exactly one caller per (schedule, tick) across every scheduler on this Redis."""
    key = f"dartwing:scheduler:{path.rsplit('.', 1)[-1]}:{tick:%Y%m%d%H%M}"
    return bool(rt.redis.set(key, "1", nx=True, ex=LOCK_SECONDS))


def run_scheduler(
    rt: StandaloneRuntime, *, ticks: int | None = None, clock=time.time, sleep=time.sleep
) -> int:
    """Run the schedule until stopped (or for `ticks` due ticks). Returns how many ticks this process ran."""
    start = datetime.fromtimestamp(clock(), timezone.utc)
    upcoming = {path: croniter(expr, start).get_next(datetime) for expr, path in SCHEDULE.items()}
    crons = {path: expr for expr, path in SCHEDULE.items()}
    seen = ran = 0
    while ticks is None or seen < ticks:
        path, due = min(upcoming.items(), key=lambda item: item[1])
        wait = due.timestamp() - clock()
        if wait > 0:
            sleep(wait)
        upcoming[path] = croniter(crons[path], due).get_next(datetime)
        seen += 1
        if claim_tick(rt, path, due):
            ran += 1
            log.info("running %s for %s", path, due.isoformat())
            result = _function(path)()
            log.info("%s -> %s", path, result)
    return ran
